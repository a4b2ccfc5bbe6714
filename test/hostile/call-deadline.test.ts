/**
 * Issue #9 item 5 (bounded answers): the whole call (every attempt on every model, retries and
 * their waits) has a deadline, callTimeoutMs. Past it the call ends as a clear isError naming
 * the setting, the provider request is aborted, the call is recorded, and no progress
 * notification (heartbeat or relay) follows the result.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { buildSettings, DEFAULT_CALL_TIMEOUT_MS, MAX_TIMER_MS, parseConfigFile } from '../../src/config.js';
import { harnessPerTest, resultText } from '../support/harness.js';
import { readRows } from '../ledger-integration/fixtures/helpers.js';

const startHarness = harnessPerTest();
const DEADLINE = /The call took longer than 2 s \(callTimeoutMs\), all attempts and retries included; it was stopped during gpt-4o-mini \(openai\)\. Raise callTimeoutMs/;

describe('callTimeoutMs', () => {
  it('a stream that keeps answering slowly is stopped at the deadline: aborted, recorded, cost unknown, no progress after', async () => {
    const h = await startHarness({ config: { timeoutMs: 5000, callTimeoutMs: 2000 } });
    // 200 deltas 50 ms apart: 10 s of steady progress, so only the call's deadline can end it.
    h.upstream.enqueue({ kind: 'openai', chunks: Array.from({ length: 200 }, (_, i) => `w${i} `), chunkDelayMs: 50 });
    let notices = 0;
    const started = Date.now();
    const result = await h.callTool('chat', { prompt: 'x', model: 'gpt-4o-mini' }, { onprogress: () => void notices++ });
    const elapsed = Date.now() - started;
    expect(result.isError).toBe(true);
    expect(resultText(result)).toMatch(DEADLINE);
    expect(elapsed).toBeGreaterThanOrEqual(1980);
    expect(elapsed).toBeLessThan(6000);
    await h.upstream.waitForClose(0, 2000);
    expect(h.upstream.requests[0]!.closedBy).toBe('client');
    const row = readRows(h.dbPath)[0]!;
    expect(row).toMatchObject({ status: 'error' });
    // The provider was answering (text had been relayed) but never reported usage: unknown, not $0.
    if (notices > 0) expect(row.cost_micro_usd, JSON.stringify(row)).toBeNull();
    expect(String(row.error)).toContain('callTimeoutMs');
    const atResult = notices;
    await sleep(400);
    expect(notices).toBe(atResult);
    expect(h.upstream.requests).toHaveLength(1);
  });

  it('retries and their waits count: a call retrying 429s ends at the deadline, during a wait', async () => {
    const h = await startHarness({ config: { callTimeoutMs: 2000, retry: { retries: 5, minDelayMs: 1000, maxDelayMs: 1000 } } });
    h.upstream.setDefault({ kind: 'error', status: 429 });
    const started = Date.now();
    const result = await h.callTool('chat', { prompt: 'x', model: 'gpt-4o-mini' });
    const elapsed = Date.now() - started;
    expect(result.isError).toBe(true);
    expect(resultText(result)).toMatch(DEADLINE);
    expect(elapsed).toBeLessThan(4500);
    // At most three attempts fit in 2 s with 1 s waits; all six would take over 5 s.
    expect(h.upstream.requests.length).toBeLessThanOrEqual(3);
    expect(readRows(h.dbPath)[0]).toMatchObject({ status: 'error' });
    // The server goes on answering.
    h.upstream.setDefault({ kind: 'openai', content: 'fine' });
    expect((await h.callTool('chat', { prompt: 'again', model: 'gpt-4o-mini' })).structuredContent).toMatchObject({ content: 'fine' });
  });

  it('a non-streamed request still waiting at the deadline is aborted and recorded with unknown cost', async () => {
    const h = await startHarness({ config: { callTimeoutMs: 2000 } });
    h.upstream.enqueue({ kind: 'openai', content: 'late', delayMs: 10_000 });
    const result = await h.callTool('chat', { prompt: 'x', model: 'gpt-4o-mini' });
    expect(result.isError).toBe(true);
    expect(resultText(result)).toMatch(DEADLINE);
    await h.upstream.waitForClose(0, 2000);
    expect(h.upstream.requests[0]!.closedBy).toBe('client');
    expect(readRows(h.dbPath)[0]).toMatchObject({ status: 'error', cost_micro_usd: null });
  });

  it('is validated like the other timers, and defaults to 30 minutes', () => {
    expect(() => parseConfigFile(JSON.stringify({ callTimeoutMs: 2 ** 31 }), 'c.json')).toThrow(
      `Config file c.json: callTimeoutMs: at most ${MAX_TIMER_MS} ms (about 24.8 days)`,
    );
    expect(() => parseConfigFile(JSON.stringify({ callTimeoutMs: 0 }), 'c.json')).toThrow('callTimeoutMs');
    expect(buildSettings({}, {}).callTimeoutMs).toBe(DEFAULT_CALL_TIMEOUT_MS);
    expect(DEFAULT_CALL_TIMEOUT_MS).toBe(1_800_000);
  });
});
