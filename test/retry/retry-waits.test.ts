/**
 * How long the retry layer waits, end to end through the MCP Client: `retry-after-ms`, then
 * `retry-after` (seconds or HTTP date), capped by `retry.maxDelayMs` (longer asks fail at once),
 * otherwise exponential backoff with jitter between `minDelayMs` and `maxDelayMs`. Gaps are
 * measured on the fake upstream (`receivedAt` of consecutive requests), in real time.
 */
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { ConfigFile } from '../../src/config.js';
import { startStallMeter } from '../support/load-slack.js';
import { resultText, startHarness, type Harness } from '../support/harness.js';
import type { RecordedRequest, Reply } from '../support/upstream.js';
import { useUpstream } from '../support/use-upstream.js';

const upstream = useUpstream();

/** A fresh server (own config and ledger) on the shared upstream; one chat call; then closes it. */
async function chatWith(
  config: ConfigFile,
  replies: Reply[],
): Promise<{ result: CallToolResult; text: string; requests: RecordedRequest[]; elapsedMs: number; stalledMs: number; rows: Array<Record<string, unknown>> }> {
  const h: Harness = await startHarness({ upstream, config });
  try {
    const before = upstream.requests.length;
    upstream.enqueue(...replies);
    // Client, server and upstream all run in this process: the upper bounds below get the time it
    // was held up during the call on top (load-slack.ts), so a loaded machine's scheduling is not
    // taken for a wait that was too long (waiting is not stalling: a wrong wait still shows).
    const meter = startStallMeter();
    const started = Date.now();
    const result = await h.callTool('chat', { prompt: 'hello' });
    const elapsedMs = Date.now() - started;
    const stalledMs = meter.stalledMs;
    meter.stop();
    const db = new Database(h.dbPath, { readonly: true, fileMustExist: true });
    const rows = db.prepare('SELECT * FROM calls ORDER BY id').all() as Array<Record<string, unknown>>;
    db.close();
    return { result, text: resultText(result), requests: upstream.requests.slice(before), elapsedMs, stalledMs, rows };
  } finally {
    await h.close();
  }
}

function gaps(requests: RecordedRequest[]): number[] {
  return requests.slice(1).map((r, i) => r.receivedAt - requests[i]!.receivedAt);
}

function attemptsOf(result: CallToolResult): number {
  expect(result.isError ?? false).toBe(false);
  return (result.structuredContent as { attempts: number }).attempts;
}

describe('the wait the provider asks for', () => {
  it('429 with retry-after: 1 waits at least 1 s before the second request', async () => {
    const { result, requests, stalledMs } = await chatWith({ retry: { minDelayMs: 10, maxDelayMs: 2000 } }, [
      { kind: 'error', status: 429, headers: { 'retry-after': '1' } },
      { kind: 'openai' },
    ]);
    expect(attemptsOf(result)).toBe(2);
    expect(requests).toHaveLength(2);
    const [gap] = gaps(requests);
    expect(gap).toBeGreaterThanOrEqual(1000);
    expect(gap).toBeLessThan(1500 + stalledMs);
  });

  it('retry-after-ms: 150 is honoured (not the 10 ms backoff)', async () => {
    const { result, requests, stalledMs } = await chatWith({ retry: { minDelayMs: 10, maxDelayMs: 1000 } }, [
      { kind: 'error', status: 429, headers: { 'retry-after-ms': '150' } },
      { kind: 'openai' },
    ]);
    expect(attemptsOf(result)).toBe(2);
    const [gap] = gaps(requests);
    expect(gap).toBeGreaterThanOrEqual(150);
    expect(gap).toBeLessThan(450 + stalledMs);
  });

  it('retry-after-ms wins over retry-after', async () => {
    // retry-after: 30 alone would exceed the 1 s cap and fail at once.
    const { result, requests, stalledMs } = await chatWith({ retry: { minDelayMs: 10, maxDelayMs: 1000 } }, [
      { kind: 'error', status: 503, headers: { 'retry-after-ms': '120', 'retry-after': '30' } },
      { kind: 'openai' },
    ]);
    expect(attemptsOf(result)).toBe(2);
    const [gap] = gaps(requests);
    expect(gap).toBeGreaterThanOrEqual(120);
    expect(gap).toBeLessThan(450 + stalledMs);
  });

  it('retry-after as an HTTP date is obeyed', async () => {
    // HTTP dates have whole seconds: "2 s from now" is between 1 and 2 s from now.
    const date = new Date(Date.now() + 2000);
    const { result, requests, stalledMs } = await chatWith({ retry: { minDelayMs: 10, maxDelayMs: 3000 } }, [
      { kind: 'error', status: 429, headers: { 'retry-after': date.toUTCString() } },
      { kind: 'openai' },
    ]);
    expect(attemptsOf(result)).toBe(2);
    const second = Math.floor(date.getTime() / 1000) * 1000;
    expect(requests[1]!.receivedAt).toBeGreaterThanOrEqual(second - 5);
    expect(gaps(requests)[0]).toBeGreaterThanOrEqual(500);
    expect(gaps(requests)[0]).toBeLessThan(2500 + stalledMs);
  });

  it('retry-after: 999 with maxDelayMs 60000 fails at once, saying how long it asked for and the cap', async () => {
    const { result, text, requests, elapsedMs, stalledMs, rows } = await chatWith({ retry: { minDelayMs: 10, maxDelayMs: 60_000 } }, [
      { kind: 'error', status: 429, headers: { 'retry-after': '999' } },
    ]);
    expect(result.isError).toBe(true);
    expect(requests).toHaveLength(1);
    expect(elapsedMs).toBeLessThan(500 + stalledMs);
    expect(text).toMatch(/^openai rate limited the call \(429\)/);
    expect(text).toContain('999 s');
    expect(text).toContain('60 s');
    expect(text).toContain('retry.maxDelayMs');
    expect(rows).toMatchObject([{ status: 'error', attempts: 1 }]);
    // Nothing else arrives later either.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(upstream.requests.at(-1)).toBe(requests[0]);
  });

  it('retry-after-ms above the cap fails at once too (on a 503)', async () => {
    const { result, text, requests } = await chatWith({ retry: { minDelayMs: 10, maxDelayMs: 200 } }, [
      { kind: 'error', status: 503, headers: { 'retry-after-ms': '5000' } },
    ]);
    expect(result.isError).toBe(true);
    expect(requests).toHaveLength(1);
    expect(text).toContain('5 s');
    expect(text).toContain('0.2 s');
  });
});

describe('exponential backoff with jitter', () => {
  it('delays grow by factor from minDelayMs, each within [max(min, base/2), base]', async () => {
    // base: 100, 300, 900 → waits in [100,100], [150,300], [450,900]
    const down: Reply = { kind: 'error', status: 500 };
    const { result, requests, stalledMs } = await chatWith({ retry: { retries: 3, minDelayMs: 100, maxDelayMs: 1000, factor: 3 } }, [
      down,
      down,
      down,
      { kind: 'openai' },
    ]);
    expect(attemptsOf(result)).toBe(4);
    expect(requests).toHaveLength(4);
    const [g1, g2, g3] = gaps(requests) as [number, number, number];
    // Time to answer, read the error and send again, plus the time this process was held up.
    const slack = 200 + stalledMs;
    expect(g1).toBeGreaterThanOrEqual(100);
    expect(g1).toBeLessThan(100 + slack);
    expect(g2).toBeGreaterThanOrEqual(150);
    expect(g2).toBeLessThan(300 + slack);
    expect(g3).toBeGreaterThanOrEqual(450);
    expect(g3).toBeLessThan(900 + slack);
  });

  it('no backoff wait exceeds maxDelayMs', async () => {
    const down: Reply = { kind: 'error', status: 502 };
    const { result, requests, stalledMs } = await chatWith({ retry: { retries: 3, minDelayMs: 100, maxDelayMs: 150, factor: 10 } }, [
      down,
      down,
      down,
      { kind: 'openai' },
    ]);
    expect(attemptsOf(result)).toBe(4);
    for (const gap of gaps(requests)) {
      expect(gap).toBeGreaterThanOrEqual(100);
      expect(gap).toBeLessThan(150 + 200 + stalledMs); // uncapped, the second wait would be ≥ 500 ms
    }
  });

  it('retries: 0 means a single attempt', async () => {
    const { result, requests, text } = await chatWith({ retry: { retries: 0, minDelayMs: 10, maxDelayMs: 100 } }, [
      { kind: 'error', status: 503 },
    ]);
    expect(result.isError).toBe(true);
    expect(requests).toHaveLength(1);
    expect(text).toMatch(/^openai server error \(503\); try again later or add fallback_models/);
  });
});
