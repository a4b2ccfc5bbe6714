/**
 * "No price" and "unknown cost" are different things and get_cost keeps them apart, in the
 * structured totals and in the table: a model without a price is unpriced; a priced call whose
 * bill nobody knows (an OpenAI stream cut after text, before its usage) is of unknown cost.
 * Both rows have cost NULL; the row's input price tells them apart (migration 8).
 */
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { harnessPerTest } from '../support/harness.js';

const startHarness = harnessPerTest();

describe('unpriced vs unknown cost', () => {
  it('are counted apart in get_cost totals, groups, session and table; neither counts as $0', async () => {
    const h = await startHarness();
    h.upstream.enqueue(
      { kind: 'openai', content: 'priced', usage: { prompt_tokens: 1000, completion_tokens: 100 } },
      { kind: 'openai', content: 'no price known' },
      { kind: 'openai', chunks: ['partial ', 'answer'], cutAfterChunks: 1 },
    );
    expect((await h.callTool('chat', { prompt: 'a', model: 'gpt-4o-mini' })).isError).toBeFalsy();
    expect((await h.callTool('chat', { prompt: 'b', model: 'openai:gpt-unlisted' })).isError).toBeFalsy();
    const cut = await h.callTool('chat', { prompt: 'c', model: 'gpt-4o-mini' }, { onprogress: () => undefined });
    expect(cut.isError).toBe(true);

    const db = new Database(h.dbPath, { readonly: true });
    const rows = db.prepare('SELECT model, cost_micro_usd, input_price_per_mtok FROM calls ORDER BY id').all();
    db.close();
    expect(rows).toEqual([
      { model: 'gpt-4o-mini', cost_micro_usd: 210, input_price_per_mtok: 0.15 },
      { model: 'openai:gpt-unlisted', cost_micro_usd: null, input_price_per_mtok: null },
      { model: 'gpt-4o-mini', cost_micro_usd: null, input_price_per_mtok: 0.15 },
    ]);

    const result = await h.callTool('get_cost', { group_by: 'model' });
    const report = result.structuredContent as {
      total: Record<string, number>;
      session: Record<string, number>;
      groups: Array<Record<string, number | string>>;
    };
    expect(report.total).toMatchObject({ calls: 3, cost_usd: 0.00021, unpriced_calls: 1, unknown_cost_calls: 1 });
    expect(report.session).toMatchObject({ unpriced_calls: 1, unknown_cost_calls: 1 });
    expect(report.groups).toEqual([
      expect.objectContaining({ key: 'gpt-4o-mini', calls: 2, cost_usd: 0.00021, unpriced_calls: 0, unknown_cost_calls: 1 }),
      expect.objectContaining({ key: 'openai:gpt-unlisted', calls: 1, cost_usd: 0, unpriced_calls: 1, unknown_cost_calls: 0 }),
    ]);
    const text = result.content[0]!.type === 'text' ? result.content[0]!.text : '';
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^model\s+calls\s+failed\s+prompt tok\s+completion tok\s+unpriced\s+unknown cost\s+cost \$$/);
    // Exact amounts: the rows add up to the total as shown.
    expect(lines.find((line) => line.startsWith('gpt-4o-mini'))).toMatch(/\s0\s+1\s+0\.00021$/);
    expect(lines.find((line) => line.startsWith('openai:gpt-unlisted'))).toMatch(/\s1\s+0\s+0\.00000$/);
    expect(lines.find((line) => line.startsWith('total'))).toMatch(/\s1\s+1\s+0\.00021$/);
    expect(text).toContain('unpriced: calls whose model has no known price');
    expect(text).toContain('unknown cost: priced calls whose bill nobody knows');
  });
});
