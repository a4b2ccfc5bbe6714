/**
 * Issue #10 item 3: tokens billed by an attempt that then failed are not lost. Design: one ledger
 * row per model tried (as before), whose tokens and cost sum every attempt of that model; the
 * result's cost_usd sums every row of the call. An attempt the provider was answering that broke
 * without any usage makes the cost unknown (null), even if a later attempt succeeded.
 */
import { describe, expect, it } from 'vitest';
import { harnessPerTest } from '../support/harness.js';
import { readRows, structured, textOf } from '../ledger-integration/fixtures/helpers.js';

const startHarness = harnessPerTest();
const stream = { onprogress: () => {} };

// claude-haiku-4-5: $1 in, $5 out per MTok. gpt-4o-mini: $0.15 in, $0.6 out.
describe('usage of failed attempts is billed', () => {
  it('anthropic: message_start reported 1000 input tokens, then the stream broke; the retry answered', async () => {
    const h = await startHarness();
    h.upstream.enqueue(
      { kind: 'anthropic', usage: { input_tokens: 1000, output_tokens: 1 }, cutAfterChunks: 0 },
      { kind: 'anthropic', usage: { input_tokens: 1000, output_tokens: 200 } },
    );
    const result = await h.callTool('chat', { prompt: 'hi', model: 'claude-haiku-4-5' }, stream);
    expect(result.isError, textOf(result)).toBeFalsy();
    const out = structured(result);
    expect(out.attempts).toBe(2);
    // (1000 + 1000) x $1 + (1 + 200) x $5 per MTok = 3005 micro-dollars.
    expect(out.cost_usd).toBe(0.003005);
    expect(out.usage).toMatchObject({ prompt_tokens: 2000, completion_tokens: 201 });
    const rows = readRows(h.dbPath);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'ok', attempts: 2, prompt_tokens: 2000, completion_tokens: 201, cost_micro_usd: 3005 });
    // Each billed attempt's raw usage is kept, in order.
    expect(JSON.parse(rows[0]!.raw_usage!).attempts).toHaveLength(2);
    const cost = structured(await h.callTool('get_cost', {}));
    expect(cost.total.cost_usd).toBe(0.003005);
  });

  it('openai: a usage chunk came, then the stream ended without its finish_reason; the retry answered', async () => {
    const h = await startHarness();
    const usageChunk = JSON.stringify({
      id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini', choices: [],
      usage: { prompt_tokens: 1000, completion_tokens: 1000, total_tokens: 2000 },
    });
    h.upstream.enqueue({ kind: 'openai-stream', rawEvents: [`data: ${usageChunk}\n\n`] }, { kind: 'openai', usage: { prompt_tokens: 1000, completion_tokens: 10 } });
    const result = await h.callTool('chat', { prompt: 'hi', model: 'gpt-4o-mini' }, stream);
    expect(result.isError, textOf(result)).toBeFalsy();
    // 2000 x 0.15 + 1010 x 0.6 = 906 micro-dollars.
    expect(structured(result).cost_usd).toBe(0.000906);
    expect(readRows(h.dbPath)[0]).toMatchObject({ attempts: 2, prompt_tokens: 2000, completion_tokens: 1010, cost_micro_usd: 906 });
  });

  it('an attempt broke while answering with no usage at all: the cost is unknown although the retry reported usage', async () => {
    const h = await startHarness();
    h.upstream.enqueue({ kind: 'openai', cutAfterChunks: 0 }, { kind: 'openai', usage: { prompt_tokens: 1000, completion_tokens: 10 } });
    const result = await h.callTool('chat', { prompt: 'hi', model: 'gpt-4o-mini' }, stream);
    expect(result.isError, textOf(result)).toBeFalsy();
    const out = structured(result);
    expect(out.attempts).toBe(2);
    expect(out.cost_usd).toBeNull();
    expect(out.notes.join(' ')).toMatch(/was answering ended \(.*\) without reporting its usage, so the cost is unknown/);
    // The tokens that are known are still recorded.
    expect(readRows(h.dbPath)[0]).toMatchObject({ attempts: 2, prompt_tokens: 1000, completion_tokens: 10, cost_micro_usd: null });
  });

  it('fallback: the first model billed input tokens before failing; the result costs both models', async () => {
    const h = await startHarness({ config: { retry: { retries: 0 } } });
    h.upstream.enqueue(
      { kind: 'anthropic', usage: { input_tokens: 1000, output_tokens: 1 }, cutAfterChunks: 0 },
      { kind: 'openai', usage: { prompt_tokens: 1000, completion_tokens: 10 } },
    );
    const result = await h.callTool('chat', { prompt: 'hi', model: 'claude-haiku-4-5', fallback_models: ['gpt-4o-mini'] }, stream);
    expect(result.isError, textOf(result)).toBeFalsy();
    // anthropic: 1000 x 1 + 1 x 5 = 1005; openai: 1000 x 0.15 + 10 x 0.6 = 156.
    expect(structured(result).cost_usd).toBe(0.001161);
    const rows = readRows(h.dbPath);
    expect(rows.map((row) => [row.model, row.status, row.cost_micro_usd])).toEqual([
      ['claude-haiku-4-5', 'error', 1005],
      ['gpt-4o-mini', 'ok', 156],
    ]);
  });
});
