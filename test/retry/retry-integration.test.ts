/**
 * The one retry layer, end to end: MCP Client → real server → real provider SDKs → loopback fake
 * upstream. Each test asserts the tool result and what the upstream received (how many requests,
 * and when). Classification of failures (retried or not), final error texts, connection errors
 * and the ledger row of a final failure. Waits, timeouts, fallbacks, progress and cancellation
 * live in the sibling files.
 */
import net from 'node:net';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { FAKE_KEYS, resultText, startHarness, type Harness } from '../support/harness.js';
import type { Reply } from '../support/upstream.js';

interface CallRow {
  call_id: string;
  model: string;
  provider: string;
  attempts: number;
  status: string;
  error: string | null;
  latency_ms: number;
}

/** The ledger's rows written after the first `skip` rows, read through a separate connection. */
function ledgerRows(h: Harness, skip = 0): CallRow[] {
  const db = new Database(h.dbPath, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT * FROM calls ORDER BY id').all() as CallRow[]).slice(skip);
  } finally {
    db.close();
  }
}

function rowCount(h: Harness): number {
  return ledgerRows(h).length;
}

/** Runs one chat call and reports what the upstream received during it. */
async function chat(
  h: Harness,
  replies: Reply[],
  args: Record<string, unknown> = {},
): Promise<{ result: CallToolResult; text: string; requests: Harness['upstream']['requests']; rows: CallRow[]; elapsedMs: number }> {
  const before = h.upstream.requests.length;
  const rowsBefore = rowCount(h);
  h.upstream.enqueue(...replies);
  const started = Date.now();
  const result = await h.callTool('chat', { prompt: 'hello', ...args });
  const elapsedMs = Date.now() - started;
  return {
    result,
    text: resultText(result),
    requests: h.upstream.requests.slice(before),
    rows: ledgerRows(h, rowsBefore),
    elapsedMs,
  };
}

function structured(result: CallToolResult): { model: string; provider: string; attempts: number; content: string } {
  expect(result.isError ?? false).toBe(false);
  return result.structuredContent as { model: string; provider: string; attempts: number; content: string };
}

function expectNoKeys(text: string): void {
  for (const key of Object.values(FAKE_KEYS)) expect(text).not.toContain(key);
}

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ config: { retry: { retries: 2, minDelayMs: 10, maxDelayMs: 200, factor: 2 } } });
});

afterAll(async () => {
  await h?.close();
});

describe('retried failures', () => {
  it.each([408, 409, 429, 500, 502, 503, 504, 599])('OpenAI HTTP %i is retried, then the answer is returned', async (status) => {
    const { result, requests, rows } = await chat(h, [{ kind: 'error', status }, { kind: 'openai' }]);
    const out = structured(result);
    expect(out.content).toBe('echo: hello');
    expect(out.attempts).toBe(2);
    expect(requests).toHaveLength(2);
    expect(requests.every((r) => r.path === '/v1/chat/completions')).toBe(true);
    // The retry sends the same request again.
    expect(requests[1]!.body).toEqual(requests[0]!.body);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'ok', attempts: 2, model: 'gpt-4o-mini' });
  });

  it('500, then 503, then success: 3 attempts', async () => {
    const { result, requests, rows } = await chat(h, [
      { kind: 'error', status: 500 },
      { kind: 'error', status: 503 },
      { kind: 'openai', content: 'third time lucky' },
    ]);
    const out = structured(result);
    expect(out.content).toBe('third time lucky');
    expect(out.attempts).toBe(3);
    expect(requests).toHaveLength(3);
    expect(rows).toMatchObject([{ status: 'ok', attempts: 3 }]);
    // Backoff waits (10–200 ms here) separate the attempts.
    expect(requests[1]!.receivedAt - requests[0]!.receivedAt).toBeGreaterThanOrEqual(10);
    expect(requests[2]!.receivedAt - requests[1]!.receivedAt).toBeGreaterThanOrEqual(10);
  });

  it.each([429, 500, 529])('Anthropic HTTP %i is retried, then the answer is returned', async (status) => {
    const { result, requests } = await chat(h, [{ kind: 'error', status }, { kind: 'anthropic', content: 'recovered' }], {
      model: 'claude-haiku-4-5',
    });
    const out = structured(result);
    expect(out).toMatchObject({ content: 'recovered', attempts: 2, model: 'claude-haiku-4-5', provider: 'anthropic' });
    expect(requests).toHaveLength(2);
    expect(requests.every((r) => r.path === '/v1/messages')).toBe(true);
  });

  it('x-should-retry: true makes a 400 retryable', async () => {
    const { result, requests } = await chat(h, [
      { kind: 'error', status: 400, headers: { 'x-should-retry': 'true' } },
      { kind: 'openai' },
    ]);
    expect(structured(result).attempts).toBe(2);
    expect(requests).toHaveLength(2);
  });

  it('a connection reset is retried', async () => {
    const { result, requests } = await chat(h, [{ kind: 'reset' }, { kind: 'openai', content: 'after reset' }]);
    const out = structured(result);
    expect(out).toMatchObject({ content: 'after reset', attempts: 2 });
    expect(requests).toHaveLength(2);
    expect(requests[0]!.closedBy).toBe('server');
  });
});

describe('failures that are never retried', () => {
  it.each([400, 401, 403, 404, 422])('OpenAI HTTP %i: exactly one request, isError', async (status) => {
    const { result, requests, rows, text } = await chat(h, [{ kind: 'error', status }]);
    expect(result.isError).toBe(true);
    expect(requests).toHaveLength(1);
    expect(text).toContain(`(${status})`);
    expect(text).toMatch(/^openai /);
    expect(text).not.toMatch(/after \d+ attempts/);
    expect(rows).toMatchObject([{ status: 'error', attempts: 1 }]);
    expectNoKeys(text);
  });

  it('x-should-retry: false stops a 503 after one request', async () => {
    const { result, requests, text } = await chat(h, [{ kind: 'error', status: 503, headers: { 'x-should-retry': 'false' } }]);
    expect(result.isError).toBe(true);
    expect(requests).toHaveLength(1);
    expect(text).toContain('503');
    expect(text).toContain('x-should-retry: false');
  });

  it('OpenAI 401 names the provider, the status, the provider message and OPENAI_API_KEY', async () => {
    const { result, requests, text } = await chat(h, [{ kind: 'error', status: 401, message: 'Incorrect API key provided: sk-test-o***cdef.' }]);
    expect(result.isError).toBe(true);
    expect(requests).toHaveLength(1);
    // SPEC §5's example, word for word, followed by the provider's own words.
    expect(text).toMatch(/^openai rejected the API key \(401\): check OPENAI_API_KEY\b/);
    expect(text).toContain('Incorrect API key provided');
    expectNoKeys(text);
  });

  it('Anthropic 401 names ANTHROPIC_API_KEY', async () => {
    const { result, requests, text } = await chat(h, [{ kind: 'error', status: 401 }], { model: 'claude-haiku-4-5' });
    expect(result.isError).toBe(true);
    expect(requests).toHaveLength(1);
    expect(requests[0]!.path).toBe('/v1/messages');
    expect(text).toMatch(/^anthropic rejected the API key \(401\): check ANTHROPIC_API_KEY\b/);
    expect(text).toContain('invalid x-api-key');
  });

  it('a 400 says to fix the request and quotes the provider', async () => {
    const { text } = await chat(h, [{ kind: 'error', status: 400, message: "Invalid value for 'temperature'" }]);
    expect(text).toMatch(/^openai rejected the request \(400\)/);
    expect(text).toContain("Invalid value for 'temperature'");
    expect(text).toMatch(/fix the request/);
  });

  it('a 404 names the model', async () => {
    const { text } = await chat(h, [{ kind: 'error', status: 404 }]);
    expect(text).toContain("'gpt-4o-mini'");
    expect(text).toContain('(404)');
    expect(text).toContain('list_models');
  });
});

describe('final errors after the retries', () => {
  it('Anthropic 529 three times: "anthropic overloaded (529) after 3 attempts over …; try again later or add fallback_models"', async () => {
    const overloaded: Reply = { kind: 'error', status: 529 };
    const { result, requests, text, rows } = await chat(h, [overloaded, overloaded, overloaded], { model: 'claude-haiku-4-5' });
    expect(result.isError).toBe(true);
    expect(requests).toHaveLength(3);
    expect(text).toMatch(/^anthropic overloaded \(529\) after 3 attempts over \d+(\.\d+)? s; try again later or add fallback_models/);
    expect(text).toContain('Overloaded'); // the provider's own message
    expect(rows).toMatchObject([{ status: 'error', attempts: 3, model: 'claude-haiku-4-5', provider: 'anthropic' }]);
  });

  it('the ledger row of a final failure: status error, attempts 3, an error text', async () => {
    const down: Reply = { kind: 'error', status: 503, message: 'The engine is currently overloaded' };
    const { result, requests, rows, text } = await chat(h, [down, down, down]);
    expect(result.isError).toBe(true);
    expect(requests).toHaveLength(3);
    expect(text).toMatch(/^openai server error \(503\) after 3 attempts over /);
    expect(text).toContain('The engine is currently overloaded');
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    expect(row.status).toBe('error');
    expect(row.attempts).toBe(3);
    expect(row.error).toEqual(expect.stringContaining('503'));
    expect(row.error).toEqual(expect.stringContaining('The engine is currently overloaded'));
    // latency covers the three attempts and the two waits between them.
    expect(row.latency_ms).toBeGreaterThanOrEqual(requests[2]!.receivedAt - requests[0]!.receivedAt - 5);
  });

  it('a connection reset on every attempt: 3 attempts, then a message naming the base URL variable', async () => {
    const { result, requests, text, rows } = await chat(h, [{ kind: 'reset' }, { kind: 'reset' }, { kind: 'reset' }]);
    expect(result.isError).toBe(true);
    expect(requests).toHaveLength(3);
    expect(text).toContain('openai');
    expect(text).toContain('after 3 attempts');
    expect(text).toContain('OPENAI_BASE_URL');
    expect(rows).toMatchObject([{ status: 'error', attempts: 3 }]);
  });
});

describe('connection refused (a closed port on 127.0.0.1)', () => {
  /** A port that was free a moment ago: nothing listens on it. */
  async function closedPort(): Promise<number> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
  }

  it('is retried, and the final error says it could not connect, after 3 attempts', async () => {
    const port = await closedPort();
    const local = await startHarness({
      upstream: h.upstream,
      env: { OPENAI_BASE_URL: `http://127.0.0.1:${port}/v1` },
      config: { retry: { retries: 2, minDelayMs: 100, maxDelayMs: 100 } },
    });
    try {
      const before = h.upstream.requests.length;
      const started = Date.now();
      const result = await local.callTool('chat', { prompt: 'hello' });
      const elapsed = Date.now() - started;
      const text = resultText(result);
      expect(result.isError).toBe(true);
      expect(text).toContain('ECONNREFUSED');
      expect(text).toContain(`127.0.0.1:${port}`);
      expect(text).toContain('after 3 attempts');
      expect(text).toContain('OPENAI_BASE_URL');
      // Two 100 ms waits between three refused attempts.
      expect(elapsed).toBeGreaterThanOrEqual(195);
      expect(h.upstream.requests.length).toBe(before);
      expect(ledgerRows(local)).toMatchObject([{ status: 'error', attempts: 3 }]);
    } finally {
      await local.close();
    }
  });

  it('is retried until the port answers', async () => {
    const port = await closedPort();
    const upstreamPort = Number(new URL(h.upstream.url).port);
    const local = await startHarness({
      upstream: h.upstream,
      env: { OPENAI_BASE_URL: `http://127.0.0.1:${port}/v1` },
      config: { retry: { retries: 2, minDelayMs: 1_000, maxDelayMs: 1_000 } },
    });
    // A TCP relay to the fake upstream that starts listening while the first retry wait runs.
    const relay = net.createServer((socket) => {
      const to = net.connect(upstreamPort, '127.0.0.1');
      socket.pipe(to).pipe(socket);
      socket.on('error', () => to.destroy());
      to.on('error', () => socket.destroy());
    });
    try {
      const before = h.upstream.requests.length;
      const call = local.callTool('chat', { prompt: 'hello' });
      // Once the first attempt was refused and its retry wait began (the service logs it), not after
      // a fixed time: on a loaded machine the first attempt could still be on its way (and reach
      // the relay), or the wait already over (and the second attempt refused too).
      await expect.poll(() => local.logLines.some((line) => line.includes('retrying gpt-4o-mini in 1 s')), { timeout: 10_000, interval: 10 }).toBe(true);
      expect(h.upstream.requests.length).toBe(before); // the first attempt was refused
      await new Promise<void>((resolve) => relay.listen(port, '127.0.0.1', resolve));
      const result = await call;
      expect(structured(result)).toMatchObject({ content: 'echo: hello', attempts: 2 });
      expect(h.upstream.requests.length).toBe(before + 1);
    } finally {
      relay.close();
      await local.close();
    }
  });
});
