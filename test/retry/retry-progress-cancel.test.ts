/**
 * Visible retries and host cancellation, end to end through the MCP Client. With a progress
 * token (`onprogress` in callTool's options) each retry and each fallback is announced as a
 * progress notification saying what failed and how long the wait is. Cancelling (an
 * AbortController's signal in callTool's options → `notifications/cancelled`) stops the call at
 * once: no further upstream request, whether it lands in a retry wait or in a request.
 */
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { progressDelta, startHarness, type Harness } from '../support/harness.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ config: { retry: { retries: 2, minDelayMs: 10, maxDelayMs: 2000 } } });
});

afterAll(async () => {
  await h?.close();
});

interface Notice {
  progress: number;
  message?: string;
  at: number;
}

function lastRow(): Record<string, unknown> | undefined {
  const db = new Database(h.dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT * FROM calls ORDER BY id DESC LIMIT 1').get() as Record<string, unknown> | undefined;
  } finally {
    db.close();
  }
}

function rowCount(): number {
  const db = new Database(h.dbPath, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM calls').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** Resolves with the time the ledger got a new row, polling every 5 ms. */
async function nextRowAt(rowsBefore: number, timeoutMs = 2000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (rowCount() > rowsBefore) return Date.now();
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error('no ledger row was written');
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('retries announced as progress notifications', () => {
  it('each retry says what failed and how long the wait is; progress strictly increases', async () => {
    const before = h.upstream.requests.length;
    h.upstream.enqueue(
      { kind: 'error', status: 503, message: 'Service unavailable' },
      { kind: 'error', status: 429, headers: { 'retry-after-ms': '250' } },
      { kind: 'openai', chunks: ['Hello ', 'world'] },
    );
    const notices: Notice[] = [];
    const result = await h.callTool('chat', { prompt: 'hello' }, { onprogress: (p) => void notices.push({ ...p, at: Date.now() }) });

    expect(result.isError ?? false).toBe(false);
    expect(result.structuredContent).toMatchObject({ content: 'Hello world', attempts: 3 });
    const requests = h.upstream.requests.slice(before);
    expect(requests).toHaveLength(3);
    expect(requests.every((r) => r.body.stream === true)).toBe(true);

    const [first, second, ...text] = notices;
    expect(first!.message).toContain('503');
    expect(first!.message).toContain('Service unavailable');
    expect(first!.message).toMatch(/retrying gpt-4o-mini in \d+(\.\d+)? s \(attempt 2 of 3\)/);
    expect(second!.message).toContain('429');
    expect(second!.message).toContain('retrying gpt-4o-mini in 0.25 s (attempt 3 of 3)');
    // Announced before the wait, not after it.
    expect(second!.at).toBeLessThanOrEqual(requests[2]!.receivedAt);
    expect(requests[2]!.receivedAt - requests[1]!.receivedAt).toBeGreaterThanOrEqual(250);
    expect(text.map((n) => progressDelta(n)).join('')).toBe('Hello world');
    expect(text.at(-1)!.message).toBe('Hello world');

    const progress = notices.map((n) => n.progress);
    for (let i = 1; i < progress.length; i++) expect(progress[i]).toBeGreaterThan(progress[i - 1]!);
  });

  it('a fallback is announced with the reason', async () => {
    const down = { kind: 'error' as const, status: 503 };
    h.upstream.enqueue(down, down, down, { kind: 'anthropic', chunks: ['from ', 'haiku'] });
    const notices: Notice[] = [];
    const result = await h.callTool(
      'chat',
      { prompt: 'hello', fallback_models: ['claude-haiku-4-5'] },
      { onprogress: (p) => void notices.push({ ...p, at: Date.now() }) },
    );
    expect(result.structuredContent).toMatchObject({ content: 'from haiku', model: 'claude-haiku-4-5', attempts: 4 });
    const messages = notices.map((n) => n.message ?? '');
    expect(messages.filter((m) => m.includes('retrying gpt-4o-mini'))).toHaveLength(2);
    const fallback = messages.find((m) => m.includes('falling back to claude-haiku-4-5'));
    expect(fallback).toBeDefined();
    expect(fallback).toContain('gpt-4o-mini');
    expect(fallback).toContain('503');
    // The answer's text follows the announcement (in one or more notices, as coalescing allows).
    const after = notices.slice(messages.indexOf(fallback!) + 1);
    expect(after.map((n) => progressDelta(n) ?? '').join('')).toBe('from haiku');
    expect(after.at(-1)!.message).toBe('from haiku');
    const progress = notices.map((n) => n.progress);
    for (let i = 1; i < progress.length; i++) expect(progress[i]).toBeGreaterThan(progress[i - 1]!);
  });
});

describe('streamed attempts', () => {
  it('an overloaded_error event before any text is retried (Anthropic)', async () => {
    const before = h.upstream.requests.length;
    h.upstream.enqueue(
      { kind: 'anthropic', content: 'lost', errorAfterChunks: { type: 'overloaded_error', message: 'Overloaded', after: 0 } },
      { kind: 'anthropic', chunks: ['second ', 'try'] },
    );
    const notices: Notice[] = [];
    const result = await h.callTool(
      'chat',
      { prompt: 'hello', model: 'claude-haiku-4-5' },
      { onprogress: (p) => void notices.push({ ...p, at: Date.now() }) },
    );
    expect(result.isError ?? false).toBe(false);
    expect(result.structuredContent).toMatchObject({ content: 'second try', attempts: 2 });
    expect(h.upstream.requests.length - before).toBe(2);
    expect(notices[0]!.message).toContain('overloaded_error');
    expect(notices[0]!.message).toContain('retrying claude-haiku-4-5');
  });

  it('a stream that breaks after text was relayed is not retried (the host already has that text)', async () => {
    const before = h.upstream.requests.length;
    h.upstream.enqueue({ kind: 'openai', chunks: ['partial ', 'answer ', 'never finished'], cutAfterChunks: 2 });
    const notices: Notice[] = [];
    const result = await h.callTool('chat', { prompt: 'hello' }, { onprogress: (p) => void notices.push({ ...p, at: Date.now() }) });
    expect(result.isError).toBe(true);
    expect(h.upstream.requests.length - before).toBe(1);
    const text = result.content[0]!.type === 'text' ? result.content[0]!.text : '';
    expect(text).toContain('partial answer');
    expect(text).toContain('not retried');
    expect(notices.map((n) => progressDelta(n)).join('')).toBe('partial answer ');
  });
});

describe('host cancellation', () => {
  it('during a retry wait: stops at once, no further upstream request, ledger row "cancelled"', async () => {
    const before = h.upstream.requests.length;
    const rowsBefore = rowCount();
    // The provider asks for 800 ms; we cancel ~50 ms into that wait.
    h.upstream.enqueue({ kind: 'error', status: 429, headers: { 'retry-after-ms': '800' } });
    const controller = new AbortController();
    const call = h.callTool('chat', { prompt: 'hello' }, { signal: controller.signal });
    const settled = call.then(
      () => 'resolved',
      () => 'rejected',
    );
    await h.upstream.waitForRequests(before + 1);
    await h.upstream.waitForClose(before);
    await sleep(50);
    const abortedAt = Date.now();
    controller.abort();
    expect(await settled).toBe('rejected');

    // The server stops promptly: the call's ledger row is written well before the 800 ms are up.
    const rowAt = await nextRowAt(rowsBefore);
    expect(rowAt - abortedAt).toBeLessThan(300);
    expect(lastRow()).toMatchObject({ status: 'cancelled', attempts: 1 });

    // Past the moment the retry would have gone out: still one request.
    const first = h.upstream.requests[before]!;
    await sleep(Math.max(0, first.receivedAt + 800 + 250 - Date.now()));
    expect(h.upstream.requests.length).toBe(before + 1);
  });

  it('during a request: the request is aborted at once and never retried', async () => {
    const before = h.upstream.requests.length;
    const rowsBefore = rowCount();
    h.upstream.enqueue({ kind: 'hang' });
    const controller = new AbortController();
    const call = h.callTool('chat', { prompt: 'hello' }, { signal: controller.signal });
    const settled = call.then(
      () => 'resolved',
      () => 'rejected',
    );
    await h.upstream.waitForRequests(before + 1);
    await sleep(50);
    const abortedAt = Date.now();
    controller.abort();
    expect(await settled).toBe('rejected');

    const closedAt = await h.upstream.waitForClose(before, 2000);
    expect(h.upstream.requests[before]!.closedBy).toBe('client');
    expect(closedAt - abortedAt).toBeLessThan(300);
    await nextRowAt(rowsBefore);
    expect(lastRow()).toMatchObject({ status: 'cancelled', attempts: 1 });
    await sleep(200);
    expect(h.upstream.requests.length).toBe(before + 1);
  });
});
