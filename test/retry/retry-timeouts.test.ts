/**
 * `timeoutMs` bounds one attempt; a timed-out attempt is retried like a 408, and the final error
 * says that it timed out and after how long. End to end through the MCP Client against a fake
 * upstream that never answers (`hang`), answers late, or goes silent mid-stream.
 */
import Database from 'better-sqlite3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { resultText, startHarness, type Harness } from '../support/harness.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ config: { timeoutMs: 300, retry: { retries: 2, minDelayMs: 10, maxDelayMs: 50 } } });
});

afterAll(async () => {
  await h?.close();
});

function lastRow(): Record<string, unknown> {
  const db = new Database(h.dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT * FROM calls ORDER BY id DESC LIMIT 1').get() as Record<string, unknown>;
  } finally {
    db.close();
  }
}

it('a hang on every attempt: 3 attempts of 300 ms, then "timed out … 0.3 s"', async () => {
  const before = h.upstream.requests.length;
  h.upstream.enqueue({ kind: 'hang' }, { kind: 'hang' }, { kind: 'hang' });
  const started = Date.now();
  const result = await h.callTool('chat', { prompt: 'hello' });
  const elapsed = Date.now() - started;
  const text = resultText(result);

  expect(result.isError).toBe(true);
  expect(text).toContain('timed out');
  expect(text).toContain('0.3 s');
  expect(text).toContain('timeoutMs');
  expect(text).toContain('after 3 attempts');
  expect(text).toMatch(/^openai /);

  const requests = h.upstream.requests.slice(before);
  expect(requests).toHaveLength(3);
  for (let i = 0; i < 3; i++) {
    const closedAt = await h.upstream.waitForClose(before + i);
    // Our side gave up on each request after about timeoutMs. (The 300 ms run from the start of
    // the attempt, a little before the upstream has read the request, hence the lower slack.)
    expect(requests[i]!.closedBy).toBe('client');
    expect(closedAt - requests[i]!.receivedAt).toBeGreaterThanOrEqual(150);
    expect(closedAt - requests[i]!.receivedAt).toBeLessThan(600);
    // The next attempt starts only once this one has been given up.
    if (i > 0) expect(requests[i]!.receivedAt).toBeGreaterThanOrEqual(requests[i - 1]!.closedAt!);
  }
  // 3 × 300 ms plus two waits of 10–50 ms.
  expect(elapsed).toBeGreaterThanOrEqual(900);
  expect(elapsed).toBeLessThan(1700);
  expect(lastRow()).toMatchObject({ status: 'error', attempts: 3 });
  expect(String(lastRow().error)).toContain('timed out');
});

it('a timed-out attempt is retried, and the next one answers', async () => {
  const before = h.upstream.requests.length;
  h.upstream.enqueue({ kind: 'hang' }, { kind: 'openai', content: 'on time' });
  const result = await h.callTool('chat', { prompt: 'hello' });
  expect(result.isError ?? false).toBe(false);
  expect(result.structuredContent).toMatchObject({ content: 'on time', attempts: 2 });
  const requests = h.upstream.requests.slice(before);
  expect(requests).toHaveLength(2);
  expect(requests[0]!.closedBy).toBe('client');
  const closedAt = await h.upstream.waitForClose(before);
  expect(closedAt - requests[0]!.receivedAt).toBeGreaterThanOrEqual(150);
  expect(requests[1]!.receivedAt).toBeGreaterThanOrEqual(closedAt);
});

it('an answer slower than timeoutMs counts as a timeout (Anthropic)', async () => {
  const before = h.upstream.requests.length;
  h.upstream.enqueue({ kind: 'anthropic', content: 'too late', delayMs: 800 }, { kind: 'anthropic', content: 'quick' });
  const result = await h.callTool('chat', { prompt: 'hello', model: 'claude-haiku-4-5' });
  expect(result.structuredContent).toMatchObject({ content: 'quick', attempts: 2, provider: 'anthropic' });
  const requests = h.upstream.requests.slice(before);
  expect(requests).toHaveLength(2);
  await h.upstream.waitForClose(before);
  expect(requests[0]!.closedBy).toBe('client');
});

it('a stream that goes silent before any text is retried like a timeout', async () => {
  const before = h.upstream.requests.length;
  h.upstream.enqueue({ kind: 'openai', content: 'never sent', stallAfterChunks: 0 }, { kind: 'openai', content: 'streamed fine' });
  const notices: Array<{ progress: number; message?: string }> = [];
  const result = await h.callTool('chat', { prompt: 'hello' }, { onprogress: (p) => void notices.push(p) });
  expect(result.isError ?? false).toBe(false);
  expect(result.structuredContent).toMatchObject({ content: 'streamed fine', attempts: 2 });
  const requests = h.upstream.requests.slice(before);
  expect(requests).toHaveLength(2);
  expect(requests[0]!.body.stream).toBe(true);
  const closedAt = await h.upstream.waitForClose(before);
  expect(requests[0]!.closedBy).toBe('client');
  expect(closedAt - requests[0]!.receivedAt).toBeGreaterThanOrEqual(150);
  expect(requests[1]!.receivedAt).toBeGreaterThanOrEqual(closedAt);
  // The retry was announced, with the reason.
  expect(notices[0]!.message).toMatch(/timed out/);
  expect(notices[0]!.message).toMatch(/retrying gpt-4o-mini in/);
});
