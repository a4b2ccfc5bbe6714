/**
 * `timeoutMs` bounds one attempt; a timed-out attempt is retried like a 408, and the final error
 * says that it timed out and after how long. End to end through the MCP Client against a fake
 * upstream that never answers (`hang`), answers late, or goes silent mid-stream.
 */
import Database from 'better-sqlite3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { resultText, startHarness, type Harness } from '../support/harness.js';
import { startStallMeter } from '../support/load-slack.js';

let h: Harness;

// timeoutMs 600, not less: under a load average of 15 a timer-bound attempt saw its request read
// by the upstream 250 ms late and an answering attempt outlive 300 ms, so with 300 an attempt
// could time out before its request arrived and a reply meant to be on time came late.
beforeAll(async () => {
  h = await startHarness({ config: { timeoutMs: 600, retry: { retries: 2, minDelayMs: 10, maxDelayMs: 50 } } });
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

it('a hang on every attempt: 3 attempts of 600 ms, then "timed out … 0.6 s"', async () => {
  const before = h.upstream.requests.length;
  // The upper bounds below allow for a loaded machine: their fixed part plus the time this
  // process was held up during the call (load-slack.ts). A missing or ignored timeout would hang
  // to the test's own timeout, far past them; the lower bounds need no slack (a timer never
  // fires early).
  const meter = startStallMeter();
  h.upstream.enqueue({ kind: 'hang' }, { kind: 'hang' }, { kind: 'hang' });
  const started = Date.now();
  const result = await h.callTool('chat', { prompt: 'hello' });
  const elapsed = Date.now() - started;
  const text = resultText(result);
  const stalled = meter.stalledMs;
  meter.stop();

  expect(result.isError).toBe(true);
  expect(text).toContain('timed out');
  expect(text).toContain('0.6 s');
  expect(text).toContain('timeoutMs');
  expect(text).toContain('after 3 attempts');
  expect(text).toMatch(/^openai /);

  const requests = h.upstream.requests.slice(before);
  expect(requests).toHaveLength(3);
  for (let i = 0; i < 3; i++) {
    const closedAt = await h.upstream.waitForClose(before + i);
    // Our side gave up on each request after about timeoutMs. Not early: attempt i's timer
    // starts after attempt i-1's fired and a wait of >= 10 ms, so by the time of our call's start
    // (a cause of everything after it, hence no scheduling slack needed) close i comes no sooner
    // than (i + 1) × 600 ms + i × 10 ms (less 2 ms a timer for clock rounding). The upstream's
    // receivedAt is not used for that: on a loaded machine it read the request up to 250 ms
    // after the attempt, and its timer, had started.
    expect(requests[i]!.closedBy).toBe('client');
    expect(closedAt - started).toBeGreaterThanOrEqual((i + 1) * 600 + i * 10 - (i + 1) * 2);
    expect(closedAt - requests[i]!.receivedAt).toBeLessThan(1200 + stalled);
    // The next attempt starts only once this one has been given up.
    if (i > 0) expect(requests[i]!.receivedAt).toBeGreaterThanOrEqual(requests[i - 1]!.closedAt!);
  }
  // 3 × 600 ms plus two waits of 10–50 ms.
  expect(elapsed).toBeGreaterThanOrEqual(1800);
  expect(elapsed).toBeLessThan(2400 + 100 + stalled);
  expect(lastRow()).toMatchObject({ status: 'error', attempts: 3 });
  expect(String(lastRow().error)).toContain('timed out');
});

it('a timed-out attempt is retried, and the next one answers', async () => {
  const before = h.upstream.requests.length;
  h.upstream.enqueue({ kind: 'hang' }, { kind: 'openai', content: 'on time' });
  const started = Date.now();
  const result = await h.callTool('chat', { prompt: 'hello' });
  expect(result.isError ?? false).toBe(false);
  expect(result.structuredContent).toMatchObject({ content: 'on time', attempts: 2 });
  const requests = h.upstream.requests.slice(before);
  expect(requests).toHaveLength(2);
  expect(requests[0]!.closedBy).toBe('client');
  const closedAt = await h.upstream.waitForClose(before);
  // Given up after timeoutMs, not sooner (from our call's start: see the first test).
  expect(closedAt - started).toBeGreaterThanOrEqual(598);
  expect(requests[1]!.receivedAt).toBeGreaterThanOrEqual(closedAt);
});

it('an answer slower than timeoutMs counts as a timeout (Anthropic)', async () => {
  const before = h.upstream.requests.length;
  h.upstream.enqueue({ kind: 'anthropic', content: 'too late', delayMs: 1800 }, { kind: 'anthropic', content: 'quick' });
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
  const started = Date.now();
  const result = await h.callTool('chat', { prompt: 'hello' }, { onprogress: (p) => void notices.push(p) });
  expect(result.isError ?? false).toBe(false);
  expect(result.structuredContent).toMatchObject({ content: 'streamed fine', attempts: 2 });
  const requests = h.upstream.requests.slice(before);
  expect(requests).toHaveLength(2);
  expect(requests[0]!.body.stream).toBe(true);
  const closedAt = await h.upstream.waitForClose(before);
  expect(requests[0]!.closedBy).toBe('client');
  // Silent for timeoutMs before it was given up, not less (from our call's start: see the first test).
  expect(closedAt - started).toBeGreaterThanOrEqual(598);
  expect(requests[1]!.receivedAt).toBeGreaterThanOrEqual(closedAt);
  // The retry was announced, with the reason.
  expect(notices[0]!.message).toMatch(/timed out/);
  expect(notices[0]!.message).toMatch(/retrying gpt-4o-mini in/);
});
