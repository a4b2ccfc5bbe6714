/**
 * Issue #9 item 6: absurd usage cannot poison the ledger. Negative, string, non-finite-looking or
 * impossible token counts make the cost unknown (null) with a note; a fraction is rounded up;
 * no NaN or Infinity reaches a row; get_cost, the budget check and the `cost` CLI keep working.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkUsage } from '../../src/llm/check-usage.js';
import { startHarness, type Harness } from '../support/harness.js';
import { childEnv, ensureBuilt, readRows, runCli, structured, textOf } from '../ledger-integration/fixtures/helpers.js';

let h: Harness;
let dir: string;
beforeAll(async () => {
  await ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'absurd-usage-'));
  h = await startHarness({ config: { budget: { dailyUsd: 100, monthlyUsd: 1000 } } });
}, 120_000);
afterAll(async () => {
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

// gpt-4o-mini: 128,000 context + 16,384 output = 144,384 tokens at most.
const ABSURD: Array<[string, Record<string, unknown>]> = [
  ['negative prompt_tokens', { prompt_tokens: -5000 }],
  ['a string', { completion_tokens: '12' }],
  ['1e15', { prompt_tokens: 1e15 }],
  ['1e308', { completion_tokens: 1e308 }],
  ['more than context + output', { prompt_tokens: 144_385 }],
];

describe('absurd usage from a provider', () => {
  it.each(ABSURD)('%s: answered, cost null with a note naming the count, the server still answers', async (_name, extra) => {
    for (const stream of [false, true]) {
      h.upstream.enqueue({ kind: 'openai', content: 'fine', usage: { extra } });
      const result = await h.callTool('chat', { prompt: 'hi', model: 'gpt-4o-mini' }, stream ? { onprogress: () => {} } : undefined);
      expect(result.isError, textOf(result)).toBeFalsy();
      const out = structured(result);
      expect(out.content).toBe('fine');
      expect(out.cost_usd).toBeNull();
      expect(out.notes.join(' ')).toMatch(/openai reported impossible token usage \(.+\), so the cost is unknown/);
      for (const value of Object.values(out.usage)) expect(Number.isSafeInteger(value) && (value as number) >= 0).toBe(true);
    }
    const next = await h.callTool('chat', { prompt: 'next', model: 'gpt-4o-mini' });
    expect(structured(next).cost_usd).toBeGreaterThan(0);
  });

  it('a fractional count is rounded up and costed', async () => {
    h.upstream.enqueue({ kind: 'openai', usage: { prompt_tokens: 1000, extra: { completion_tokens: 99.5 } } });
    const out = structured(await h.callTool('chat', { prompt: 'hi', model: 'gpt-4o-mini' }));
    expect(out.usage).toMatchObject({ prompt_tokens: 1000, completion_tokens: 100 });
    expect(out.cost_usd).toBe(0.00021);
  });

  it('every row holds finite numbers; get_cost, the budget check and the cost CLI still work', async () => {
    for (const row of readRows(h.dbPath)) {
      for (const [column, value] of Object.entries(row)) {
        if (typeof value === 'number') expect(Number.isFinite(value), `${column} = ${value}`).toBe(true);
      }
    }
    // An explicit window: the server runs on the test clock, the CLI on the real one.
    const cost = await h.callTool('get_cost', { since: '2000-01-01' });
    expect(cost.isError).toBeFalsy();
    const report = structured(cost);
    expect(Number.isFinite(report.total.cost_usd)).toBe(true);
    expect(report.total.cost_usd).toBeLessThan(1);
    expect(report.budget.spent_today_usd).toBeLessThan(1);
    // The budget check still admits calls.
    expect((await h.callTool('chat', { prompt: 'hi', model: 'gpt-4o-mini' })).isError).toBeFalsy();
    const run = await runCli(['cost', '--since', '2000-01-01', '--json'], childEnv(undefined, dir, { LLM_SERVICE_DB: h.dbPath }), dir);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).total.cost_usd).toBe(report.total.cost_usd + 0.000006);
  });
});

describe('checkUsage', () => {
  const base = { promptTokens: 10, completionTokens: 5, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, totalTokens: 15 };
  it('keeps sane usage, recomputes the total and clamps parts to their wholes', () => {
    expect(checkUsage({ ...base, totalTokens: 999, cachedTokens: 50 }, 1000)).toEqual({ usage: { ...base, cachedTokens: 10, totalTokens: 15 } });
  });
  it('names each bad count', () => {
    const checked = checkUsage({ ...base, promptTokens: Number.NaN, completionTokens: 2000 }, 1000);
    expect(checked.problem).toBe('prompt tokens = NaN, completion tokens = 2000, more than the 1000 a call to this model can use');
    expect(checked.usage).toMatchObject({ promptTokens: 0, completionTokens: 0, totalTokens: 0 });
  });
});
