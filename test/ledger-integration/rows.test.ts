/**
 * Every chat call through the MCP client becomes a ledger row, whatever its outcome: ok, error,
 * cancelled, fallback (one row per model, sharing call_id), streamed or not, priced or not.
 */
import { describe, expect, it } from 'vitest';
import { testClock } from '../support/clock.js';
import { FAKE_KEYS, harnessPerTest, progressDelta, type Harness } from '../support/harness.js';
import { readRows, structured, textOf, waitForRows, type CallRow } from './fixtures/helpers.js';

const startHarness = harnessPerTest();
const harness = (): Promise<Harness> => startHarness();

function onlyRow(h: Harness, callId: string): CallRow {
  const rows = readRows(h.dbPath, 'call_id = ?', callId);
  expect(rows).toHaveLength(1);
  return rows[0]!;
}

function expectNoKeys(row: CallRow): void {
  const text = JSON.stringify(row);
  for (const key of Object.values(FAKE_KEYS)) expect(text).not.toContain(key);
}

describe('one row per chat call', () => {
  it('ok: tokens, cached tokens, cost, prices, latency, attempts, finish reason and raw usage', async () => {
    const h = await harness();
    h.upstream.enqueue({ kind: 'error', status: 500 }, { kind: 'openai', delayMs: 60, usage: { prompt_tokens: 1200, completion_tokens: 300, cached_tokens: 1000, reasoning_tokens: 40 } });
    const before = testClock(); // the server's clock (test/support/clock.ts)
    const result = await h.callTool('chat', { prompt: 'hello', model: 'gpt-4o-mini' });
    expect(result.isError).toBeFalsy();
    const out = structured(result);

    const row = onlyRow(h, out.call_id);
    // 200 uncached x 0.15 + 1000 cached x 0.075 + 300 out x 0.6 = 285 micro-dollars.
    expect(row).toMatchObject({
      call_id: out.call_id,
      session_id: h.ledger.sessionId,
      model: 'gpt-4o-mini',
      provider: 'openai',
      provider_model: out.provider_model,
      prompt_tokens: 1200,
      completion_tokens: 300,
      cached_tokens: 1000,
      cache_write_tokens: 0,
      reasoning_tokens: 40,
      cost_micro_usd: 285,
      input_price_per_mtok: 0.15,
      output_price_per_mtok: 0.6,
      cached_input_price_per_mtok: 0.075,
      cache_write_price_per_mtok: null,
      attempts: 2,
      status: 'ok',
      finish_reason: 'stop',
      error: null,
    });
    expect(out.cost_usd).toBe(0.000285);
    expect(row.cost_micro_usd).toBe(Math.round(out.cost_usd * 1e6));
    expect(out.attempts).toBe(2);
    expect(out.usage).toMatchObject({ prompt_tokens: 1200, completion_tokens: 300, cached_tokens: 1000 });
    // Retries and their waits are inside the latency; the upstream delay alone is 60 ms.
    expect(row.latency_ms).toBeGreaterThanOrEqual(60);
    expect(row.latency_ms).toBeLessThanOrEqual(out.latency_ms);
    expect(Date.parse(row.started_at)).toBeGreaterThanOrEqual(before - 5);
    expect(row.started_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const raw = JSON.parse(row.raw_usage!);
    expect(raw).toMatchObject({ prompt_tokens: 1200, completion_tokens: 300, prompt_tokens_details: { cached_tokens: 1000 } });
    expectNoKeys(row);
  });

  it('error: a 401 is one row with status error, the error text, no finish reason and cost 0', async () => {
    const h = await harness();
    h.upstream.enqueue({ kind: 'error', status: 401 });
    const result = await h.callTool('chat', { prompt: 'hello', model: 'gpt-4o-mini' });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/401/);

    const rows = readRows(h.dbPath);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      model: 'gpt-4o-mini',
      provider: 'openai',
      status: 'error',
      attempts: 1,
      finish_reason: null,
      prompt_tokens: 0,
      completion_tokens: 0,
      // The price is known and nothing was billed.
      cost_micro_usd: 0,
      input_price_per_mtok: 0.15,
      raw_usage: null,
    });
    expect(rows[0]!.error).toMatch(/401/);
    expect(h.upstream.requests).toHaveLength(1);
    expectNoKeys(rows[0]!);
  });

  it('cancelled: aborting a hanging call records a cancelled row of unknown cost (the provider may have billed)', async () => {
    const h = await harness();
    h.upstream.enqueue({ kind: 'hang' });
    const controller = new AbortController();
    const outcome = h.callTool('chat', { prompt: 'hello', model: 'claude-haiku-4-5' }, { signal: controller.signal }).then(
      () => 'answered',
      () => 'rejected',
    );
    await h.upstream.waitForRequests(1);
    controller.abort();
    expect(await outcome).toBe('rejected');

    const rows = await waitForRows(h.dbPath, 1);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      model: 'claude-haiku-4-5',
      provider: 'anthropic',
      status: 'cancelled',
      finish_reason: null,
      attempts: 1,
      // The request reached the provider, which may have generated the answer we never read.
      cost_micro_usd: null,
    });
    expect(rows[0]!.error).toBeTruthy();
    await h.upstream.waitForClose(0, 2_000);
    expect(h.upstream.requests[0]!.closedBy).toBe('client');
  });

  it('fallback: one row per model, sharing the call_id of the result', async () => {
    const h = await harness();
    h.upstream.enqueue(
      { kind: 'error', status: 500 },
      { kind: 'error', status: 500 },
      { kind: 'error', status: 500 },
      { kind: 'anthropic', usage: { input_tokens: 400, output_tokens: 100, cache_read_input_tokens: 600 } },
    );
    const result = await h.callTool('chat', { prompt: 'hello', model: 'gpt-4o-mini', fallback_models: ['claude-haiku-4-5'] });
    expect(result.isError).toBeFalsy();
    const out = structured(result);
    expect(out.model).toBe('claude-haiku-4-5');
    expect(out.attempts).toBe(4);

    const rows = readRows(h.dbPath);
    expect(rows).toHaveLength(2);
    expect(rows.map((r) => r.call_id)).toEqual([out.call_id, out.call_id]);
    expect(rows[0]).toMatchObject({ model: 'gpt-4o-mini', provider: 'openai', status: 'error', attempts: 3, cost_micro_usd: 0, finish_reason: null });
    expect(rows[0]!.error).toMatch(/500/);
    // 400 x 1 + 600 cached x 0.1 + 100 out x 5 = 960 micro-dollars.
    expect(rows[1]).toMatchObject({
      model: 'claude-haiku-4-5',
      provider: 'anthropic',
      status: 'ok',
      attempts: 1,
      prompt_tokens: 1000,
      cached_tokens: 600,
      completion_tokens: 100,
      cost_micro_usd: 960,
      finish_reason: 'stop',
      error: null,
    });
    expect(out.cost_usd * 1e6).toBeCloseTo(rows[1]!.cost_micro_usd!, 6);
  });
});

describe('streamed calls are costed exactly like non-streamed ones', () => {
  it.each([
    {
      wire: 'openai' as const,
      model: 'gpt-4o-mini',
      usage: { prompt_tokens: 1000, completion_tokens: 500, cached_tokens: 200 },
      // 800 x 0.15 + 200 x 0.075 + 500 x 0.6
      micro: 435,
      tokens: { prompt_tokens: 1000, completion_tokens: 500, cached_tokens: 200, cache_write_tokens: 0 },
    },
    {
      wire: 'anthropic' as const,
      model: 'claude-haiku-4-5',
      usage: { input_tokens: 800, output_tokens: 500, cache_read_input_tokens: 200, cache_creation_input_tokens: 100 },
      // 800 x 1 + 200 x 0.1 + 100 x 1.25 + 500 x 5
      micro: 3445,
      tokens: { prompt_tokens: 1100, completion_tokens: 500, cached_tokens: 200, cache_write_tokens: 100 },
    },
  ])('$wire wire', async ({ wire, model, usage, micro, tokens }) => {
    const h = await harness();
    const reply = { kind: wire, usage, chunks: ['The ', 'answer ', 'is ', 'forty-two.'], chunkDelayMs: 5 } as const;
    h.upstream.enqueue(reply as never, reply as never);

    const plain = structured(await h.callTool('chat', { prompt: 'q', model }));
    const progress: string[] = [];
    const streamed = structured(await h.callTool('chat', { prompt: 'q', model }, { onprogress: (p) => void progress.push(progressDelta(p) ?? '') }));

    expect(h.upstream.requests.map((r) => r.body?.stream === true)).toEqual([false, true]);
    expect(progress.join('')).toContain('forty-two');
    expect(streamed.content).toBe(plain.content);
    for (const out of [plain, streamed]) {
      expect(out.cost_usd).toBe(micro / 1e6);
      const row = onlyRow(h, out.call_id);
      expect(row).toMatchObject({ ...tokens, cost_micro_usd: micro, status: 'ok', finish_reason: 'stop' });
      expect(row.raw_usage).not.toBeNull();
    }
  });
});

describe('unpriced models', () => {
  it('an unlisted provider:model costs NULL, never $0, and counts in unpriced_calls', async () => {
    const h = await harness();
    h.upstream.enqueue(
      { kind: 'openai', usage: { prompt_tokens: 100, completion_tokens: 50 } },
      { kind: 'error', status: 401 },
      { kind: 'openai', usage: { prompt_tokens: 1000, completion_tokens: 1000 } },
    );
    const ok = await h.callTool('chat', { prompt: 'hi', model: 'openai:gpt-4.1-nano' });
    expect(ok.isError).toBeFalsy();
    expect(structured(ok).cost_usd).toBeNull();
    expect(textOf(ok)).toMatch(/cost is unknown/);
    const failed = await h.callTool('chat', { prompt: 'hi', model: 'openai:gpt-4.1-nano' });
    expect(failed.isError).toBe(true);
    const priced = structured(await h.callTool('chat', { prompt: 'hi', model: 'gpt-4o-mini' }));
    expect(priced.cost_usd).toBe(0.00075);

    const rows = readRows(h.dbPath);
    expect(rows).toHaveLength(3);
    expect(rows[0]).toMatchObject({
      model: 'openai:gpt-4.1-nano',
      provider_model: 'gpt-4.1-nano',
      status: 'ok',
      prompt_tokens: 100,
      completion_tokens: 50,
      cost_micro_usd: null,
      input_price_per_mtok: null,
      output_price_per_mtok: null,
    });
    // Unknown is never $0: a failed call on a model without a price is unpriced too.
    expect(rows[1]).toMatchObject({ model: 'openai:gpt-4.1-nano', status: 'error', cost_micro_usd: null });
    expect(rows[2]).toMatchObject({ model: 'gpt-4o-mini', cost_micro_usd: 750 });

    const report = structured(await h.callTool('get_cost', {}));
    expect(report.total).toMatchObject({ calls: 3, failed_calls: 1, unpriced_calls: 2, cost_usd: 0.00075, prompt_tokens: 1100, completion_tokens: 1050 });
    const nano = report.groups.find((g: { key: string }) => g.key === 'openai:gpt-4.1-nano');
    expect(nano).toMatchObject({ calls: 2, failed_calls: 1, unpriced_calls: 2, cost_usd: 0 });
    const text = textOf(await h.callTool('get_cost', {}));
    expect(text).toMatch(/unpriced/);
  });
});
