/**
 * `get_cost` through the MCP client, over calls made through `chat` on a clock that stands on
 * known days: totals are the sum of the calls; groups, filters and spans select the right rows;
 * the session block is this process only and survives no restart; the budget block appears
 * only with caps.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigFile } from '../../src/config.js';
import { harnessPerTest, type Harness } from '../support/harness.js';
import type { Reply } from '../support/upstream.js';
import { openServerOn, readRows, structured, textOf } from './fixtures/helpers.js';
import { useUpstream } from '../support/use-upstream.js';

const HOUR = 3_600_000;
const BASE = Date.parse('2026-03-15T12:00:00.000Z');

/** A clock at BASE + offset that still ticks in real time (so latencies stay real). */
function movableClock(): { now: () => number; set: (offsetMs: number) => void } {
  let offset = 0;
  const t0 = Date.now();
  return { now: () => BASE + offset + (Date.now() - t0), set: (value) => void (offset = value) };
}

const startHarness = harnessPerTest();

// deepseek-chat (an alias of deepseek-flash since DeepSeek retired the name) keeps a flat price
// here: these tests are about sums and groupings, not DeepSeek's peak hours.
const FLAT_DEEPSEEK: ConfigFile['models'] = { 'deepseek-chat': { pricing: { inputPerMTok: 0.28, outputPerMTok: 0.42 } } };

async function harness(config?: ConfigFile): Promise<{ h: Harness; clock: ReturnType<typeof movableClock> }> {
  const clock = movableClock();
  const h = await startHarness({ config: { ...config, models: { ...FLAT_DEEPSEEK, ...config?.models } }, now: clock.now });
  return { h, clock };
}

interface Planned {
  offsetHours: number;
  model: string;
  reply: Reply;
  micro: number;
}

// Costs: gpt-4o-mini 0.15/0.6, claude-haiku-4-5 1/5, deepseek-chat 0.28/0.42 USD per MTok.
const PLAN: Planned[] = [
  { offsetHours: -54, model: 'gpt-4o-mini', reply: { kind: 'openai', usage: { prompt_tokens: 1000, completion_tokens: 1000 } }, micro: 750 },
  { offsetHours: -30, model: 'claude-haiku-4-5', reply: { kind: 'anthropic', usage: { input_tokens: 1000, output_tokens: 1000 } }, micro: 6000 },
  { offsetHours: 0, model: 'gpt-4o-mini', reply: { kind: 'openai', usage: { prompt_tokens: 2000, completion_tokens: 0 } }, micro: 300 },
  { offsetHours: 0, model: 'gpt-4o-mini', reply: { kind: 'error', status: 401 }, micro: 0 },
  { offsetHours: 0, model: 'deepseek-chat', reply: { kind: 'openai', usage: { prompt_tokens: 1000, completion_tokens: 1000 } }, micro: 700 },
];

/** Makes the planned calls; returns the summed cost the chat results reported. */
async function makeCalls(h: Harness, clock: ReturnType<typeof movableClock>, plan: Planned[] = PLAN): Promise<number> {
  let reportedMicro = 0;
  for (const call of plan) {
    clock.set(call.offsetHours * HOUR);
    h.upstream.enqueue(call.reply);
    const result = await h.callTool('chat', { prompt: 'how much?', model: call.model });
    const out = structured(result);
    if (!result.isError) reportedMicro += Math.round(out.cost_usd * 1e6);
  }
  clock.set(0);
  return reportedMicro;
}

async function getCost(h: Harness, args: Record<string, unknown> = {}): Promise<Record<string, any>> {
  const result = await h.callTool('get_cost', args);
  expect(result.isError, textOf(result)).toBeFalsy();
  return structured(result);
}

describe('get_cost over real chat calls', () => {
  it('totals equal the sum of the calls, by every grouping', async () => {
    const { h, clock } = await harness();
    const reportedMicro = await makeCalls(h, clock);
    expect(reportedMicro).toBe(7750);
    const rows = readRows(h.dbPath);
    expect(rows.reduce((sum, row) => sum + (row.cost_micro_usd ?? 0), 0)).toBe(7750);

    const total = { calls: 5, failed_calls: 1, prompt_tokens: 5000, completion_tokens: 3000, total_tokens: 8000, cost_usd: 0.00775, unpriced_calls: 0, unknown_cost_calls: 0 };
    const byModel = await getCost(h);
    expect(byModel.total).toEqual(total);
    expect(byModel.groups.map((g: any) => [g.key, g.calls, Math.round(g.cost_usd * 1e6)])).toEqual([
      ['claude-haiku-4-5', 1, 6000],
      ['gpt-4o-mini', 3, 1050],
      ['deepseek-chat', 1, 700],
    ]);
    expect(byModel.groups.find((g: any) => g.key === 'gpt-4o-mini')).toMatchObject({ failed_calls: 1, prompt_tokens: 3000, completion_tokens: 1000 });
    for (const field of ['calls', 'failed_calls', 'prompt_tokens', 'completion_tokens', 'total_tokens'] as const) {
      expect(byModel.groups.reduce((sum: number, g: any) => sum + g[field], 0)).toBe(total[field]);
    }

    const byProvider = await getCost(h, { group_by: 'provider' });
    expect(byProvider.total).toEqual(total);
    expect(byProvider.groups.map((g: any) => [g.key, g.calls, Math.round(g.cost_usd * 1e6)])).toEqual([
      ['anthropic', 1, 6000],
      ['openai', 3, 1050],
      ['deepseek', 1, 700],
    ]);

    const byDay = await getCost(h, { group_by: 'day' });
    expect(byDay.total).toEqual(total);
    expect(byDay.groups.map((g: any) => [g.key, g.calls, Math.round(g.cost_usd * 1e6)])).toEqual([
      ['2026-03-13', 1, 750],
      ['2026-03-14', 1, 6000],
      ['2026-03-15', 3, 1000],
    ]);

    const none = await getCost(h, { group_by: 'none' });
    expect(none.total).toEqual(total);
    expect(none.groups).toEqual([]);
    expect(none.budget).toBeNull();
  });

  it('since/until as spans and ISO dates, model and provider filters; session ignores the filter', async () => {
    const { h, clock } = await harness();
    await makeCalls(h, clock);
    const micro = (report: Record<string, any>) => Math.round(report.total.cost_usd * 1e6);

    const lastDay = await getCost(h, { since: '24h' });
    expect(lastDay.total).toMatchObject({ calls: 3, failed_calls: 1 });
    expect(micro(lastDay)).toBe(1000);
    expect(micro(await getCost(h, { since: '48h' }))).toBe(7000);
    expect(micro(await getCost(h, { since: '3d' }))).toBe(7750);
    expect((await getCost(h, { until: '24h' })).total.calls).toBe(2);

    const fourteenth = await getCost(h, { since: '2026-03-14', until: '2026-03-15' });
    expect(fourteenth.total).toMatchObject({ calls: 1, prompt_tokens: 1000, completion_tokens: 1000 });
    expect(fourteenth.groups.map((g: any) => g.key)).toEqual(['claude-haiku-4-5']);
    expect((await getCost(h, { since: '2026-03-14T00:00:00Z' })).total.calls).toBe(4);
    // since is inclusive to the millisecond, as stored.
    const fourteenthAt = readRows(h.dbPath, "model = 'claude-haiku-4-5'")[0]!.started_at;
    expect((await getCost(h, { since: fourteenthAt })).total.calls).toBe(4);
    expect((await getCost(h, { since: new Date(Date.parse(fourteenthAt) + 1).toISOString() })).total.calls).toBe(3);
    expect((await getCost(h, { until: fourteenthAt })).total.calls).toBe(1);
    // An offset is honoured: 02:00+03:00 is 2026-03-13T23:00Z, before the call of the 14th.
    expect((await getCost(h, { since: '2026-03-14T02:00:00+03:00', until: '2026-03-15' })).total.calls).toBe(1);

    const mini = await getCost(h, { model: 'gpt-4o-mini' });
    expect(mini.total).toMatchObject({ calls: 3, failed_calls: 1, prompt_tokens: 3000 });
    expect(micro(mini)).toBe(1050);
    const miniToday = await getCost(h, { model: 'gpt-4o-mini', since: '24h', group_by: 'day' });
    expect(miniToday.groups.map((g: any) => [g.key, g.calls])).toEqual([['2026-03-15', 2]]);
    const anthropic = await getCost(h, { provider: 'anthropic' });
    expect(anthropic.total.calls).toBe(1);
    expect(micro(anthropic)).toBe(6000);
    expect((await getCost(h, { provider: 'nobody' })).total).toMatchObject({ calls: 0, cost_usd: 0 });

    for (const report of [lastDay, mini, anthropic]) {
      expect(report.session).toMatchObject({ calls: 5, failed_calls: 1, cost_usd: 0.00775 });
    }

    const bad = await h.callTool('get_cost', { since: 'yesterday' });
    expect(bad.isError).toBe(true);
    expect(textOf(bad)).toMatch(/^since: Invalid time 'yesterday'.*24h/);
  });

  it('the budget block is filled when caps are set: today and this UTC month', async () => {
    const { h, clock } = await harness({ budget: { dailyUsd: 1, monthlyUsd: 10 } });
    const plan: Planned[] = [
      // 2026-02-23: last month, counts in neither.
      { offsetHours: -20 * 24, model: 'gpt-4o-mini', reply: { kind: 'openai', usage: { prompt_tokens: 100_000, completion_tokens: 0 } }, micro: 15_000 },
      // 2026-03-05: this month, not today.
      { offsetHours: -10 * 24, model: 'gpt-4o-mini', reply: { kind: 'openai', usage: { prompt_tokens: 0, completion_tokens: 100_000 } }, micro: 60_000 },
      { offsetHours: 0, model: 'claude-haiku-4-5', reply: { kind: 'anthropic', usage: { input_tokens: 10_000, output_tokens: 10_000 } }, micro: 60_000 },
    ];
    await makeCalls(h, clock, plan);
    const report = await getCost(h);
    expect(report.budget).toEqual({ daily_usd: 1, monthly_usd: 10, spent_today_usd: 0.06, spent_month_usd: 0.12 });
    const text = textOf(await h.callTool('get_cost', {}));
    expect(text).toContain('budget: today $0.06 of $1.00, this month $0.12 of $10.00');

    const dailyOnly = await harness({ budget: { dailyUsd: 2 } });
    expect((await getCost(dailyOnly.h)).budget).toEqual({ daily_usd: 2, monthly_usd: null, spent_today_usd: 0, spent_month_usd: 0 });
  });

  it('content is a readable, aligned table', async () => {
    const { h, clock } = await harness();
    await makeCalls(h, clock);
    const text = textOf(await h.callTool('get_cost', {}));
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^model\s+calls\s+failed\s+prompt tok\s+completion tok\s+cost \$$/);
    const tableLines = lines.filter((line) => /^(claude-haiku-4-5|gpt-4o-mini|deepseek-chat|total|session|-+)\s/.test(line));
    expect(tableLines.map((line) => line.split(/\s+/)[0])).toEqual(['claude-haiku-4-5', 'gpt-4o-mini', 'deepseek-chat', expect.stringMatching(/^-+$/), 'total', 'session']);
    // Every row is as wide as the header, numbers right-aligned under it.
    for (const line of tableLines) expect(line.length).toBe(lines[0]!.length);
    expect(lines.find((line) => line.startsWith('total'))).toMatch(/\s5\s+1\s+5,000\s+3,000\s+0\.00\d+$/);
    // Short enough for a model's context.
    expect(text.length).toBeLessThan(1_000);

    const byDay = textOf(await h.callTool('get_cost', { group_by: 'day' })).split('\n');
    expect(byDay[0]).toMatch(/^day\s+calls/);
    expect(byDay.filter((line) => /^2026-03-1[345]\s/.test(line))).toHaveLength(3);
  });
});

describe('restart: a new server on the same ledger file', () => {
  const upstream = useUpstream();
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ledger-restart-'));
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the totals and starts the session totals from zero', async () => {
    const dbPath = join(dir, 'ledger.db');
    upstream.setDefault({ kind: 'openai', usage: { prompt_tokens: 1000, completion_tokens: 1000 } });

    const first = await openServerOn(dbPath, upstream);
    for (let i = 0; i < 2; i++) expect((await first.callTool('chat', { prompt: 'x', model: 'gpt-4o-mini' })).isError).toBeFalsy();
    const before = structured(await first.callTool('get_cost', {}));
    expect(before.total).toMatchObject({ calls: 2, cost_usd: 0.0015 });
    expect(before.session).toEqual(before.total);
    const firstSession = first.ledger.sessionId;
    await first.close();

    const second = await openServerOn(dbPath, upstream);
    try {
      const after = structured(await second.callTool('get_cost', {}));
      expect(after.total).toEqual(before.total);
      expect(after.groups).toEqual(before.groups);
      expect(after.session).toEqual({ calls: 0, failed_calls: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, cost_usd: 0, unpriced_calls: 0, unknown_cost_calls: 0 });

      expect((await second.callTool('chat', { prompt: 'x', model: 'gpt-4o-mini' })).isError).toBeFalsy();
      const later = structured(await second.callTool('get_cost', {}));
      expect(later.total).toMatchObject({ calls: 3, cost_usd: 0.00225 });
      expect(later.session).toMatchObject({ calls: 1, cost_usd: 0.00075 });
      expect(readRows(dbPath).map((row) => row.session_id)).toEqual([firstSession, firstSession, second.ledger.sessionId]);
      expect(second.ledger.sessionId).not.toBe(firstSession);
    } finally {
      await second.close();
    }
  });
});
