/**
 * Issue #9 item 4 and #10 item 4: unknown cost never means free, and never slips past a budget.
 * A completion without usage costs `null`; under a budget its worst-case hold stays counted as
 * spent; the hold estimate does not undercount Chinese, emoji or code; a call cancelled or timed
 * out while the provider had it costs `null`, one that never reached the provider costs 0.
 */
import { createServer, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { ConfigFile } from '../../src/config.js';
import { estimateTokens } from '../../src/llm/estimate-tokens.js';
import { harnessPerTest } from '../support/harness.js';
import { heldMicro, readRows, structured, textOf } from '../ledger-integration/fixtures/helpers.js';

const startHarness = harnessPerTest();

function metered(pricing: { inputPerMTok: number; outputPerMTok: number }, budget?: ConfigFile['budget']): ConfigFile {
  return { budget, models: { metered: { provider: 'openai', providerModel: 'metered-1', contextWindow: 200_000, maxOutputTokens: 10_000, pricing } } };
}

/** A loopback port nothing listens on (one just closed): connecting to it is refused (ECONNREFUSED). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('a completion without usage', () => {
  it.each([
    ['openai, non-streamed', 'gpt-4o-mini', { kind: 'openai', omitUsage: true } as const, false],
    ['openai, streamed', 'gpt-4o-mini', { kind: 'openai', omitUsage: true } as const, true],
    ['anthropic, non-streamed', 'claude-haiku-4-5', { kind: 'anthropic', omitUsage: true } as const, false],
  ])('%s: the answer comes back with cost_usd null and a note, the row is NULL, the server still answers', async (_name, model, reply, stream) => {
    const h = await startHarness();
    h.upstream.enqueue(reply);
    const result = await h.callTool('chat', { prompt: 'hello', model }, stream ? { onprogress: () => {} } : undefined);
    expect(result.isError, textOf(result)).toBeFalsy();
    const out = structured(result);
    expect(out.content).toBe('echo: hello');
    expect(out.cost_usd).toBeNull();
    expect(out.notes.join(' ')).toMatch(/reported no token usage, so the cost is unknown/);
    const rows = readRows(h.dbPath);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.cost_micro_usd).toBeNull();
    // get_cost counts it apart, never as $0.
    const cost = structured(await h.callTool('get_cost', {}));
    // A priced model whose bill nobody knows: unknown cost, not unpriced.
    expect(cost.total.unknown_cost_calls).toBe(1);
    expect(cost.total.unpriced_calls).toBe(0);
    const again = await h.callTool('chat', { prompt: 'again', model });
    expect(structured(again).cost_usd).toBeGreaterThan(0);
  });
});

describe('unknown cost under a budget keeps its worst-case hold as spent', () => {
  it('100 calls without usage against a cap that fits 17 worst cases: exactly 17 reach the provider', async () => {
    // Output-only price: the worst case is exactly max_tokens x price = 1000 x $10/MTok = $0.01.
    const h = await startHarness({ config: metered({ inputPerMTok: 0, outputPerMTok: 10 }, { dailyUsd: 0.17 }) });
    h.upstream.setDefault({ kind: 'openai', omitUsage: true });
    const chat = () => h.callTool('chat', { prompt: 'spend', model: 'metered', max_tokens: 1000 });
    // In waves of 10, so most calls start after earlier ones have finished (and been recorded).
    const results = [];
    for (let wave = 0; wave < 10; wave++) results.push(...(await Promise.all(Array.from({ length: 10 }, chat))));
    const admitted = results.filter((r) => !r.isError);
    expect(admitted).toHaveLength(17);
    expect(h.upstream.requests).toHaveLength(17);
    for (const r of admitted) {
      expect(structured(r).cost_usd).toBeNull();
      expect(structured(r).notes.join(' ')).toContain('its worst-case hold of $0.0100 stays counted against the budget');
    }
    for (const r of results.filter((r) => r.isError)) expect(textOf(r)).toMatch(/^Daily budget of \$0\.17 reached \(\$0\.00 spent, \$0\.17 held by calls in flight\)$/);
    // The holds outlive the calls: 17 x $0.01 still held, and the rows say unknown.
    expect(heldMicro(h.dbPath)).toBe(170_000);
    expect(readRows(h.dbPath).every((row) => row.cost_micro_usd === null)).toBe(true);
    // get_cost still works and the server still answers.
    expect((await h.callTool('get_cost', {})).isError).toBeFalsy();
    expect((await h.callTool('list_models', {})).isError).toBeFalsy();
  });

  it('a call with known usage still drops its hold', async () => {
    const h = await startHarness({ config: metered({ inputPerMTok: 0, outputPerMTok: 10 }, { dailyUsd: 0.17 }) });
    h.upstream.enqueue({ kind: 'openai', usage: { prompt_tokens: 5, completion_tokens: 100 } });
    const result = await h.callTool('chat', { prompt: 'spend', model: 'metered', max_tokens: 1000 });
    expect(structured(result).cost_usd).toBe(0.001);
    expect(heldMicro(h.dbPath)).toBe(0);
  });
});

describe('the worst-case hold does not undercount non-Latin prompts', () => {
  it('estimates at least as many tokens as real tokenizers for Chinese, emoji and code', () => {
    // Real counts (o200k/cl100k) are about 1-1.5 tokens a common CJK character, up to 4 an emoji.
    const chinese = '我们需要一个能够处理多种语言的服务，包括中文、日文和韩文。'.repeat(10);
    expect(estimateTokens(chinese)).toBeGreaterThanOrEqual(1.5 * [...chinese].length);
    const emoji = '😀🎉👍🏽🚀'.repeat(10);
    expect(estimateTokens(emoji)).toBeGreaterThanOrEqual(4 * [...emoji].length);
    const code = 'for (let i = 0; i < n; i++) { total += values[i] * 2; }\n'.repeat(10);
    // cl100k: 24 tokens a line.
    expect(estimateTokens(code)).toBeGreaterThanOrEqual(24 * 10);
    const english = 'The quick brown fox jumps over the lazy dog. '.repeat(10);
    // cl100k: 10 tokens a sentence; the estimate stays within about 2x of it.
    expect(estimateTokens(english)).toBeGreaterThanOrEqual(100);
    expect(estimateTokens(english)).toBeLessThanOrEqual(250);
  });

  it('20 concurrent Chinese prompts against a cap: spend stays within one call of the cap', async () => {
    // Input-only price, $1000/MTok; the provider bills 1.5 tokens a character (a 1000-character
    // prompt costs $1.50). Counted at 3 characters a token, each hold was $0.35, and all 20 calls
    // ($30) passed a $10 cap.
    const h = await startHarness({ config: metered({ inputPerMTok: 1000, outputPerMTok: 0 }, { dailyUsd: 10 }) });
    const prompt = '这是一个很长的中文提示，用来测试预算。'.repeat(50).slice(0, 1000);
    h.upstream.setDefault({ kind: 'openai', delayMs: 150, usage: { prompt_tokens: 1500, completion_tokens: 1 } });
    const results = await Promise.all(Array.from({ length: 20 }, () => h.callTool('chat', { prompt, model: 'metered', max_tokens: 1 })));
    const admitted = results.filter((r) => !r.isError);
    expect(admitted.length).toBeGreaterThan(0);
    const spent = readRows(h.dbPath).reduce((sum, row) => sum + (row.cost_micro_usd ?? 0), 0);
    expect(spent).toBeLessThanOrEqual(10_000_000 + 1_500_000);
    expect(admitted.length).toBeLessThanOrEqual(7);
  });
});

describe('a call cancelled or timed out while the provider had it', () => {
  it('non-streamed, timed out on every attempt: cost null in the row (the provider may have billed)', async () => {
    const h = await startHarness({ config: { timeoutMs: 150, retry: { retries: 1 } } });
    h.upstream.setDefault({ kind: 'hang' });
    const result = await h.callTool('chat', { prompt: 'slow', model: 'gpt-4o-mini' });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/timed out/);
    const rows = readRows(h.dbPath);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'error', attempts: 2, cost_micro_usd: null });
    h.upstream.setDefault({ kind: 'auto' });
    expect((await h.callTool('chat', { prompt: 'fast', model: 'gpt-4o-mini' })).isError).toBeFalsy();
  });

  it('never reached the provider (connection refused): cost 0', async () => {
    const h = await startHarness({ env: { OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' }, config: { retry: { retries: 0 } } });
    const result = await h.callTool('chat', { prompt: 'hi', model: 'gpt-4o-mini' });
    expect(result.isError).toBe(true);
    expect(readRows(h.dbPath)[0]).toMatchObject({ status: 'error', cost_micro_usd: 0 });
  });

  // One rule for both paths: once the request was sent, the bill is unknown unless the provider
  // reported usage or refused it with an error status, whether or not its answer had begun.
  for (const streamed of [false, true]) {
    const how = streamed ? 'streamed' : 'non-streamed';
    const options = streamed ? { onprogress: () => {} } : undefined;

    it(`${how}: the call's deadline falls before the response headers: cost null`, async () => {
      const h = await startHarness({ config: { callTimeoutMs: 300 } });
      h.upstream.enqueue({ kind: 'openai', content: 'late', delayMs: 5_000 });
      const result = await h.callTool('chat', { prompt: 'x', model: 'gpt-4o-mini', fallback_models: [] }, options);
      expect(result.isError).toBe(true);
      expect(textOf(result)).toContain('callTimeoutMs');
      expect(h.upstream.requests[0]!.body.stream === true).toBe(streamed);
      expect(readRows(h.dbPath)[0]).toMatchObject({ status: 'error', cost_micro_usd: null });
    });

    it(`${how}: the connection dropped after the request was read, before any answer: cost null`, async () => {
      const h = await startHarness({ config: { retry: { retries: 0 } } });
      h.upstream.enqueue({ kind: 'reset' });
      const result = await h.callTool('chat', { prompt: 'x', model: 'gpt-4o-mini', fallback_models: [] }, options);
      expect(result.isError).toBe(true);
      expect(readRows(h.dbPath)[0]).toMatchObject({ status: 'error', cost_micro_usd: null });
    });

    it(`${how}: refused with an error status, or the connection refused: cost 0`, async () => {
      const h = await startHarness({ config: { retry: { retries: 0 } } });
      h.upstream.enqueue({ kind: 'error', status: 400 });
      expect((await h.callTool('chat', { prompt: 'x', model: 'gpt-4o-mini', fallback_models: [] }, options)).isError).toBe(true);
      const refused = await startHarness({ env: { OPENAI_BASE_URL: `http://127.0.0.1:${await closedPort()}/v1` }, config: { retry: { retries: 0 } } });
      expect((await refused.callTool('chat', { prompt: 'x', model: 'gpt-4o-mini', fallback_models: [] }, options)).isError).toBe(true);
      expect(readRows(h.dbPath)[0]).toMatchObject({ status: 'error', cost_micro_usd: 0 });
      expect(readRows(refused.dbPath)[0]).toMatchObject({ status: 'error', cost_micro_usd: 0 });
    });
  }
});
