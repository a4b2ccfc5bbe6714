/**
 * The ledger contract: one case table, run against both stores (SQLite and PostgreSQL) through
 * the one async Ledger interface. Records, reports with every filter and grouping, budgets and
 * holds, principals, migrations. What only one store has (SQLite's file checks, PostgreSQL's
 * spool) is tested beside its store.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { costMicroUsd } from '../../src/ledger/cost.js';
import { LedgerError, type CallRecord, type Ledger, type LedgerOptions, type Totals } from '../../src/ledger/ledger.js';
import { parseTimeBound } from '../../src/ledger/time-span.js';
import { callRecord } from './helpers.js';
import { postgresStore, sqliteStore, type LedgerStore } from './ledger-stores.js';

const at = (iso: string): number => Date.parse(iso);

function expectedTotals(records: CallRecord[]): Totals {
  const priced = records.filter((rec) => rec.costMicroUsd !== null);
  const prompt = records.reduce((sum, rec) => sum + (rec.usage?.promptTokens ?? 0), 0);
  const completion = records.reduce((sum, rec) => sum + (rec.usage?.completionTokens ?? 0), 0);
  return {
    calls: records.length,
    failed_calls: records.filter((rec) => rec.status !== 'ok').length,
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    cost_usd: priced.reduce((sum, rec) => sum + rec.costMicroUsd!, 0) / 1e6,
    // A NULL cost is unpriced without an input price, of unknown cost with one.
    unpriced_calls: records.filter((rec) => rec.costMicroUsd === null && (rec.pricing?.inputPerMTok ?? null) === null).length,
    unknown_cost_calls: records.filter((rec) => rec.costMicroUsd === null && (rec.pricing?.inputPerMTok ?? null) !== null).length,
  };
}

/** A varied, deterministic mix of calls: models, providers, statuses, unknown prices, principals. */
function mixedCalls(count: number, start = at('2026-11-20T00:00:00.000Z')): CallRecord[] {
  const models = [
    { model: 'gpt-4o-mini', provider: 'openai', pricing: { inputPerMTok: 0.15, outputPerMTok: 0.6, cachedInputPerMTok: 0.075 } },
    { model: 'claude-sonnet-4-5', provider: 'anthropic', pricing: { inputPerMTok: 3, outputPerMTok: 15, cachedInputPerMTok: 0.3, cacheWritePerMTok: 3.75 } },
    { model: 'deepseek-chat', provider: 'deepseek', pricing: { inputPerMTok: 0.27, outputPerMTok: 1.1, cachedInputPerMTok: 0.07 } },
    { model: 'ollama:qwen2.5', provider: 'ollama', pricing: null },
  ];
  return Array.from({ length: count }, (_, i) => {
    const { model, provider, pricing } = models[i % models.length]!;
    const status = i % 7 === 3 ? 'error' : i % 11 === 5 ? 'cancelled' : 'ok';
    const usage =
      status === 'error'
        ? null
        : { promptTokens: 1000 + i * 37, completionTokens: 50 + i * 13, cachedTokens: (i % 3) * 200, cacheWriteTokens: provider === 'anthropic' ? 100 : 0, reasoningTokens: 0, totalTokens: 1050 + i * 50 };
    return callRecord({
      callId: `call-${i}`,
      startedAt: start + i * 3_600_000 * 5,
      model,
      provider,
      providerModel: model,
      usage,
      pricing,
      costMicroUsd: pricing === null ? null : usage === null ? 0 : costMicroUsd(usage, pricing),
      status,
      finishReason: status === 'ok' ? 'stop' : null,
      error: status === 'error' ? 'openai answered 500' : status === 'cancelled' ? 'cancelled by the host' : null,
      principal: i % 5 === 0 ? null : i % 5 < 3 ? 'alice' : 'bob',
    });
  });
}

describe.each([
  ['sqlite', sqliteStore],
  ['postgres', postgresStore],
] as const)('ledger contract (%s)', (_name, makeStore) => {
  let store: LedgerStore;
  const opened: Ledger[] = [];
  beforeAll(() => {
    store = makeStore();
  });
  afterEach(async () => {
    for (const ledger of opened.splice(0)) await ledger.close();
  });
  afterAll(async () => {
    await store.cleanup();
  }, 120_000);

  /** Opens `location` (default: a new ledger); closed after the test. */
  async function open(location?: string, options: LedgerOptions & { budgetLeases?: boolean } = {}): Promise<Ledger> {
    const ledger = await store.open(location ?? (await store.fresh()), options);
    opened.push(ledger);
    return ledger;
  }

  async function openAt(now: () => number, options: { budgetLeases?: boolean } = {}): Promise<{ ledger: Ledger; location: string }> {
    const location = await store.fresh();
    return { ledger: await open(location, { now, ...options }), location };
  }

  describe('records and totals', () => {
    it('totals equal the sum of the calls, and every grouping adds up to the total', async () => {
      const ledger = await open();
      const records = mixedCalls(60);
      for (const rec of records) await ledger.record(rec);
      const expected = expectedTotals(records);
      for (const groupBy of ['model', 'provider', 'day', 'principal', 'none'] as const) {
        const report = await ledger.report({ groupBy });
        expect(report.total).toEqual({ ...expected, cost_usd: expect.closeTo(expected.cost_usd, 9) });
        if (groupBy === 'none') {
          expect(report.groups).toEqual([]);
          continue;
        }
        const sum = (field: keyof Totals): number => report.groups.reduce((acc, group) => acc + group[field], 0);
        for (const field of ['calls', 'failed_calls', 'prompt_tokens', 'completion_tokens', 'total_tokens', 'unpriced_calls'] as const) {
          expect(sum(field)).toBe(report.total[field]);
        }
        expect(sum('cost_usd')).toBeCloseTo(report.total.cost_usd, 9);
      }
      expect((await ledger.report({ groupBy: 'provider' })).groups.find((group) => group.key === 'ollama')).toMatchObject({
        calls: 15,
        cost_usd: 0,
        unpriced_calls: 15,
      });
      expect((await ledger.report({ groupBy: 'principal' })).groups.map((group) => [group.key, group.calls])).toEqual(
        expect.arrayContaining([
          ['(local)', 12],
          ['alice', 24],
          ['bob', 24],
        ]),
      );
      const stats = await ledger.stats();
      expect(stats).toMatchObject({ location: ledger.location, rows: 60 });
      expect(stats.sizeBytes).toBeGreaterThan(0);
      expect(await ledger.health()).toMatchObject({ ok: true });
      expect(await ledger.record(callRecord())).toBeGreaterThan(0);
    });

    it('reopening keeps the totals; a new session id starts session totals at zero', async () => {
      const location = await store.fresh();
      const first = await open(location, { sessionId: 'session-a' });
      const records = mixedCalls(10);
      for (const rec of records) await first.record(rec);
      expect((await first.report({ groupBy: 'none' })).session).toEqual((await first.report({ groupBy: 'none' })).total);
      await first.close();

      const second = await open(location, { sessionId: 'session-b' });
      const report = await second.report({ groupBy: 'model' });
      expect(report.total.calls).toBe(10);
      expect(report.total.cost_usd).toBeCloseTo(expectedTotals(records).cost_usd, 9);
      expect(report.session).toEqual({ calls: 0, failed_calls: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, cost_usd: 0, unpriced_calls: 0, unknown_cost_calls: 0 });
      await second.record(records[0]!);
      expect((await second.report({ groupBy: 'none' })).session.calls).toBe(1);
      expect((await second.report({ groupBy: 'none' })).total.calls).toBe(11);
      // The session is the process's, whatever the filter.
      expect((await second.report({ groupBy: 'none', model: 'no-such-model' })).session.calls).toBe(1);
    });

    it('a row the store refuses (a status outside the schema) is an error, not a silent loss', async () => {
      const ledger = await open();
      await expect(ledger.record(callRecord({ status: 'exploded' as 'ok' }))).rejects.toThrow();
      expect((await ledger.stats()).rows).toBe(0);
    });
  });

  describe('report filters and grouping', () => {
    // Hand-built rows on both sides of a day boundary and a month boundary (UTC).
    const rows: Array<[string, string, string, number | null, CallRecord['status']]> = [
      ['2026-10-31T23:59:59.999Z', 'gpt-4o', 'openai', 1_000_000, 'ok'],
      ['2026-11-01T00:00:00.000Z', 'gpt-4o', 'openai', 2_000_000, 'ok'],
      ['2026-11-01T12:00:00.000Z', 'claude-sonnet-4-5', 'anthropic', 3_000_000, 'error'],
      ['2026-11-30T23:59:59.999Z', 'deepseek-chat', 'deepseek', 400_000, 'ok'],
      ['2026-12-01T00:00:00.000Z', 'gpt-4o', 'openai', 50_000, 'ok'],
      ['2026-12-01T00:00:00.001Z', 'ollama:llama3.2', 'ollama', null, 'ok'],
    ];
    const NOW = at('2026-12-01T00:00:00.500Z');
    let seededLocation: string;

    async function seeded(now = NOW): Promise<Ledger> {
      seededLocation = await store.fresh();
      const ledger = await open(seededLocation, { now: () => now });
      for (const [i, [iso, model, provider, micro, status]] of rows.entries()) {
        await ledger.record(callRecord({ callId: `r${i}`, startedAt: at(iso), model, provider, providerModel: model, costMicroUsd: micro, status, ...(micro === null ? { pricing: null } : {}) }));
      }
      return ledger;
    }

    it('groups by UTC day, in date order', async () => {
      const report = await (await seeded()).report({ groupBy: 'day' });
      expect(report.groups.map((group) => [group.key, group.calls, group.cost_usd, group.unpriced_calls])).toEqual([
        ['2026-10-31', 1, 1, 0],
        ['2026-11-01', 2, 5, 0],
        ['2026-11-30', 1, 0.4, 0],
        ['2026-12-01', 2, 0.05, 1],
      ]);
      expect(report.total).toMatchObject({ calls: 6, failed_calls: 1, cost_usd: 6.45, unpriced_calls: 1 });
    });

    it('groups by model and provider, costliest first', async () => {
      const ledger = await seeded();
      expect((await ledger.report({ groupBy: 'model' })).groups.map((group) => [group.key, group.cost_usd])).toEqual([
        ['gpt-4o', 3.05],
        ['claude-sonnet-4-5', 3],
        ['deepseek-chat', 0.4],
        ['ollama:llama3.2', 0],
      ]);
      expect((await ledger.report({ groupBy: 'provider' })).groups.map((group) => group.key)).toEqual(['openai', 'anthropic', 'deepseek', 'ollama']);
    });

    it('since is inclusive, until exclusive, to the millisecond', async () => {
      const ledger = await seeded();
      const november = await ledger.report({ groupBy: 'none', since: at('2026-11-01T00:00:00.000Z'), until: at('2026-12-01T00:00:00.000Z') });
      expect(november.total).toMatchObject({ calls: 3, cost_usd: 5.4 });
      const spans = await ledger.report({ groupBy: 'day', since: parseTimeBound('24h', NOW) });
      expect(spans.groups.map((group) => group.key)).toEqual(['2026-11-30', '2026-12-01']);
      const untilDate = await ledger.report({ groupBy: 'none', until: parseTimeBound('2026-11-01', NOW) });
      expect(untilDate.total.calls).toBe(1);
      // Partial hours at both edges and whole hours between them.
      const edges = await ledger.report({ groupBy: 'model', since: at('2026-10-31T23:59:59.999Z'), until: at('2026-12-01T00:00:00.001Z') });
      expect(edges.total).toMatchObject({ calls: 5, cost_usd: 6.45 });
    });

    it('filters by model and provider, alone and together', async () => {
      const ledger = await seeded();
      expect((await ledger.report({ groupBy: 'day', model: 'gpt-4o' })).groups.map((group) => group.key)).toEqual(['2026-10-31', '2026-11-01', '2026-12-01']);
      expect((await ledger.report({ groupBy: 'model', provider: 'anthropic' })).total).toMatchObject({ calls: 1, failed_calls: 1, cost_usd: 3 });
      expect((await ledger.report({ groupBy: 'none', provider: 'openai', model: 'gpt-4o', since: at('2026-11-15T00:00:00Z') })).total.cost_usd).toBe(0.05);
      expect(await ledger.report({ groupBy: 'model', model: 'nothing' })).toMatchObject({ total: { calls: 0, cost_usd: 0 }, groups: [] });
    });

    it('budget status counts the current UTC day and month only', async () => {
      const ledger = await seeded();
      expect(await ledger.budgetStatus(undefined)).toBeNull();
      expect(await ledger.budgetStatus({})).toBeNull();
      expect(await ledger.budgetStatus({ dailyUsd: 5, monthlyUsd: 50 })).toEqual({ daily_usd: 5, monthly_usd: 50, spent_today_usd: 0.05, spent_month_usd: 0.05 });
      expect((await ledger.report({ groupBy: 'none' }, { monthlyUsd: 10 })).budget).toEqual({ daily_usd: null, monthly_usd: 10, spent_today_usd: 0.05, spent_month_usd: 0.05 });
      const lateNovember = await open(seededLocation, { now: () => at('2026-11-30T23:59:59.999Z') });
      expect(await lateNovember.budgetStatus({ dailyUsd: 1 })).toEqual({ daily_usd: 1, monthly_usd: null, spent_today_usd: 0.4, spent_month_usd: 5.4 });
    });

    it('an unknown group_by is refused with the choices', async () => {
      const ledger = await open();
      await expect(ledger.report({ groupBy: 'week' as 'day' })).rejects.toThrow("Unknown group_by 'week': use model, provider, day, principal or none");
    });
  });

  describe('budgets and holds', () => {
    const NOW = at('2026-11-26T12:00:00.000Z');

    it('without caps reserves nothing and touches no table', async () => {
      const { ledger, location } = await openAt(() => NOW);
      expect(await ledger.reserve(1_000_000, undefined)).toEqual({ ok: true, reservationId: undefined });
      expect(await ledger.reserve(1_000_000, {})).toEqual({ ok: true, reservationId: undefined });
      expect(await store.holds(location)).toEqual([]);
    });

    it('refuses once the day or month cap is reached, with the documented messages', async () => {
      let now = NOW;
      const { ledger } = await openAt(() => now);
      const budget = { dailyUsd: 5, monthlyUsd: 50 };
      await ledger.record(callRecord({ startedAt: at('2026-11-25T12:00:00Z'), costMicroUsd: 44_000_000 }));
      await ledger.record(callRecord({ startedAt: NOW - 1000, costMicroUsd: 4_990_000 }));
      expect((await ledger.reserve(10_000, budget)).ok).toBe(true);
      expect(await ledger.reserve(10_000, budget)).toEqual({ ok: false, message: 'Daily budget of $5.00 reached ($4.99 spent, $0.01 held by calls in flight)' });

      await ledger.record(callRecord({ startedAt: NOW - 500, costMicroUsd: 20_000 }));
      expect(await ledger.reserve(0, budget)).toEqual({ ok: false, message: 'Daily budget of $5.00 reached ($5.01 spent, $0.01 held by calls in flight)' });

      // Next day: the daily cap resets, the monthly one does not; yesterday's unrenewed hold has expired.
      now = at('2026-11-27T00:00:00.000Z');
      await ledger.record(callRecord({ startedAt: now, costMicroUsd: 1_000_000 }));
      expect(await ledger.reserve(0, budget)).toEqual({ ok: false, message: 'Monthly budget of $50.00 reached ($50.01 spent)' });
      expect((await ledger.reserve(0, { dailyUsd: 5 })).ok).toBe(true);
      // December: a new month.
      now = at('2026-12-01T00:00:00.000Z');
      expect((await ledger.reserve(0, budget)).ok).toBe(true);
    });

    it('record() and release() drop the hold; an unrenewed hold expires after the TTL, a renewed one lives on', async () => {
      let now = NOW;
      const { ledger } = await openAt(() => now);
      const budget = { dailyUsd: 1 };
      const first = await ledger.reserve(600_000, budget);
      const second = await ledger.reserve(600_000, budget);
      expect(first.ok && second.ok).toBe(true);
      expect(await ledger.reserve(1, budget)).toEqual({ ok: false, message: 'Daily budget of $1.00 reached ($0.00 spent, $1.20 held by calls in flight)' });
      if (!first.ok || !second.ok) return;
      await ledger.release(first.reservationId!);
      await ledger.record(callRecord({ startedAt: NOW, costMicroUsd: 100_000 }), second.reservationId);
      const kept = await ledger.reserve(300_000, budget);
      const dying = await ledger.reserve(300_000, budget);
      expect(kept.ok && dying.ok).toBe(true);
      // Two thirds of a TTL on, the running call renews its hold; the other (a dead process's) does not.
      now += (ledger.reservationTtlMs * 2) / 3;
      if (kept.ok) await ledger.renew(kept.reservationId!);
      now += (ledger.reservationTtlMs * 2) / 3;
      // Held now: the renewed 0.30 only (0.30 + 0.70 = 1.00; with the expired hold it would be 1.30).
      expect((await ledger.reserve(700_000, budget)).ok).toBe(true);
      expect(await ledger.reserve(1, budget)).toEqual({ ok: false, message: 'Daily budget of $1.00 reached ($0.10 spent, $1.00 held by calls in flight)' });
    });

    it("a principal's caps count only that principal's spend and holds; the global cap counts everyone's", async () => {
      // Per-call holds: this test lists the hold rows, and records spend that took no hold (as an
      // instance without the budget would), which a PostgreSQL budget lease taken before it keeps
      // admitting past until the lease is used up or closed (see postgres-ledger.ts).
      const { ledger, location } = await openAt(() => NOW, { budgetLeases: false });
      const alice = { name: 'alice', budget: { dailyUsd: 1, monthlyUsd: 3 } };
      const bob = { name: 'bob', budget: { dailyUsd: 1 } };
      const global = { dailyUsd: 10 };
      await ledger.record(callRecord({ callId: 'a1', startedAt: NOW - 1000, costMicroUsd: 900_000, principal: 'alice' }));
      // Local (stdio) calls and other principals' calls do not count against alice.
      await ledger.record(callRecord({ callId: 'l1', startedAt: NOW - 1000, costMicroUsd: 5_000_000 }));
      await ledger.record(callRecord({ callId: 'b1', startedAt: NOW - 1000, costMicroUsd: 800_000, principal: 'bob' }));
      expect((await ledger.reserve(100_000, global, alice)).ok).toBe(true);
      expect(await ledger.reserve(1, global, alice)).toEqual({
        ok: false,
        message: 'Daily budget for alice of $1.00 reached ($0.90 spent, $0.10 held by calls in flight)',
      });
      // bob is under his own cap whatever alice holds.
      expect((await ledger.reserve(100_000, global, bob)).ok).toBe(true);
      // No caps of its own: only the global one applies.
      expect((await ledger.reserve(1, global, { name: 'carol' })).ok).toBe(true);
      // The global cap still counts every principal's spend and holds.
      await ledger.record(callRecord({ callId: 'l2', startedAt: NOW - 500, costMicroUsd: 3_500_000 }));
      expect(await ledger.reserve(1, global, { name: 'carol' })).toMatchObject({ ok: false, message: expect.stringMatching(/^Daily budget of \$10\.00 reached \(\$10\.20 spent/) });
      // The hold is tagged with the principal, so the cap sees it after a restart of the process.
      expect(await store.holds(location)).toEqual([
        { principal: 'alice', amount_micro_usd: 100_000 },
        { principal: 'bob', amount_micro_usd: 100_000 },
        { principal: 'carol', amount_micro_usd: 1 },
      ]);
      // A principal's budget status reads that principal's spend only.
      expect(await ledger.budgetStatus(alice.budget, 'alice')).toEqual({ daily_usd: 1, monthly_usd: 3, spent_today_usd: 0.9, spent_month_usd: 0.9 });
    });

    it("a principal's report shows only that principal's calls, session totals included", async () => {
      const { ledger } = await openAt(() => NOW);
      await ledger.record(callRecord({ callId: 'a1', startedAt: NOW - 1000, costMicroUsd: 100, principal: 'alice' }));
      await ledger.record(callRecord({ callId: 'a2', startedAt: NOW - 900, costMicroUsd: 200, model: 'gpt-4o', principal: 'alice' }));
      await ledger.record(callRecord({ callId: 'b1', startedAt: NOW - 800, costMicroUsd: 400, principal: 'bob' }));
      await ledger.record(callRecord({ callId: 'l1', startedAt: NOW - 700, costMicroUsd: 800 }));
      const mine = await ledger.report({ groupBy: 'model', principal: 'alice' });
      expect(mine.total).toMatchObject({ calls: 2, cost_usd: 0.0003 });
      expect(mine.session).toMatchObject({ calls: 2, cost_usd: 0.0003 });
      expect(mine.groups.map((g) => g.key)).toEqual(['gpt-4o', 'gpt-4o-mini']);
      const all = await ledger.report({ groupBy: 'principal' });
      expect(all.groups.map((g) => [g.key, g.calls, g.cost_usd])).toEqual([
        ['(local)', 1, 0.0008],
        ['bob', 1, 0.0004],
        ['alice', 2, 0.0003],
      ]);
      expect(all.session).toMatchObject({ calls: 4 });
    });

    it('a call of unknown cost keeps its hold as spent: against the day and month it was taken in, until the month ends', async () => {
      let now = NOW;
      const { ledger, location } = await openAt(() => now);
      const unknown = { usage: null, costMicroUsd: null, status: 'cancelled' as const, finishReason: null, error: 'cut while answering', keepHold: true };
      const mine = await ledger.reserve(600_000, { dailyUsd: 10 });
      const alices = await ledger.reserve(200_000, undefined, { name: 'alice', budget: { dailyUsd: 10 } });
      if (!mine.ok || !alices.ok) throw new Error('the holds were refused');
      await ledger.record(callRecord({ callId: 'u1', startedAt: NOW, ...unknown }), mine.reservationId);
      await ledger.record(callRecord({ callId: 'u2', startedAt: NOW, principal: 'alice', ...unknown }), alices.reservationId);
      // keepHold without a hold (no budget) only records the call.
      await ledger.record(callRecord({ callId: 'u3', startedAt: NOW, ...unknown }));
      expect(await store.holds(location)).toEqual([
        { principal: null, amount_micro_usd: 600_000 },
        { principal: 'alice', amount_micro_usd: 200_000 },
      ]);
      // Recorded spend shows known costs only; the kept holds are what a cap sees beside it.
      expect(await ledger.budgetStatus({ dailyUsd: 1 })).toMatchObject({ spent_today_usd: 0, spent_month_usd: 0 });
      expect((await ledger.report({ groupBy: 'none' })).total).toMatchObject({ calls: 3, cost_usd: 0, unpriced_calls: 0, unknown_cost_calls: 3 });
      // Long after a hold's TTL (never renewed: the call is over), the kept holds still count.
      now += ledger.reservationTtlMs * 3;
      expect(await ledger.reserve(1, { dailyUsd: 0.8 })).toEqual({ ok: false, message: 'Daily budget of $0.80 reached ($0.00 spent, $0.80 held by calls in flight)' });
      expect(await ledger.reserve(1, undefined, { name: 'alice', budget: { dailyUsd: 0.2 } })).toEqual({
        ok: false,
        message: 'Daily budget for alice of $0.20 reached ($0.00 spent, $0.20 held by calls in flight)',
      });
      // The next day: no longer against the daily cap, still against the monthly one.
      now = at('2026-11-27T00:00:00.000Z');
      const today = await ledger.reserve(1, { dailyUsd: 0.8 });
      expect(today.ok).toBe(true);
      if (today.ok) await ledger.release(today.reservationId!);
      expect(await ledger.reserve(1, { monthlyUsd: 0.8 })).toEqual({ ok: false, message: 'Monthly budget of $0.80 reached ($0.00 spent, $0.80 held by calls in flight)' });
      expect((await ledger.reserve(1, undefined, { name: 'alice', budget: { dailyUsd: 0.2 } })).ok).toBe(true);
      // A new month: they count no more.
      now = at('2026-12-01T00:00:00.000Z');
      expect((await ledger.reserve(1, { monthlyUsd: 0.8 })).ok).toBe(true);
    });

    it("a live hold counts against the cap of the day and month it was taken in, not the next day's", async () => {
      let now = at('2026-11-30T23:59:00.000Z');
      const { ledger } = await openAt(() => now);
      const late = await ledger.reserve(600_000, { dailyUsd: 1 });
      expect(late.ok).toBe(true);
      // Still running (renewed) after midnight, in a new month.
      now = at('2026-12-01T00:00:30.000Z');
      if (late.ok) await ledger.renew(late.reservationId!);
      expect(await ledger.reserve(400_000, { dailyUsd: 0.5, monthlyUsd: 0.5 })).toMatchObject({ ok: true });
      expect(await ledger.reserve(100_000, { dailyUsd: 0.5 })).toMatchObject({ ok: true });
      expect(await ledger.reserve(1, { dailyUsd: 0.5 })).toEqual({ ok: false, message: 'Daily budget of $0.50 reached ($0.00 spent, $0.50 held by calls in flight)' });
    });

    it('no NaN or Infinity reaches a row: a non-finite cost is unknown, a non-finite price or count is not stored', async () => {
      const { ledger, location } = await openAt(() => NOW);
      const odd = { inputPerMTok: Number.NaN, outputPerMTok: Number.POSITIVE_INFINITY, cachedInputPerMTok: Number.NEGATIVE_INFINITY, cacheWritePerMTok: Number.NaN, cacheWrite1hPerMTok: Number.POSITIVE_INFINITY };
      const usage = { promptTokens: Number.POSITIVE_INFINITY, completionTokens: 5, cachedTokens: Number.NaN, cacheWriteTokens: 0, reasoningTokens: 0, totalTokens: Number.NaN };
      await ledger.record(callRecord({ callId: 'nan', startedAt: NOW - 1000, costMicroUsd: Number.NaN, pricing: odd, usage, latencyMs: Number.NaN }));
      await ledger.record(callRecord({ callId: 'inf', startedAt: NOW - 900, costMicroUsd: Number.POSITIVE_INFINITY, pricing: odd }));
      await ledger.record(callRecord({ callId: 'ok', startedAt: NOW - 800, costMicroUsd: 500_000 }));
      const nulls = { cost_micro_usd: null, input_price_per_mtok: null, output_price_per_mtok: null, cached_input_price_per_mtok: null, cache_write_price_per_mtok: null, cache_write_1h_price_per_mtok: null };
      expect(await store.prices(location)).toEqual([
        { ...nulls, latency_ms: 0, prompt_tokens: 0 },
        { ...nulls, latency_ms: 250, prompt_tokens: 100 },
        { ...nulls, cost_micro_usd: 500_000, input_price_per_mtok: 0.15, output_price_per_mtok: 0.6, latency_ms: 250, prompt_tokens: 100 },
      ]);
      expect((await ledger.report({ groupBy: 'model' })).total).toMatchObject({ calls: 3, cost_usd: 0.5, unpriced_calls: 2, prompt_tokens: 200 });
      expect(await ledger.budgetStatus({ dailyUsd: 1 })).toMatchObject({ spent_today_usd: 0.5, spent_month_usd: 0.5 });
      expect(await ledger.reserve(Number.POSITIVE_INFINITY, { dailyUsd: 1 })).toMatchObject({ ok: true });
      expect(await ledger.reserve(500_000, { dailyUsd: 1 })).toMatchObject({ ok: true });
      expect(await ledger.reserve(Number.NaN, { dailyUsd: 1 })).toEqual({ ok: false, message: 'Daily budget of $1.00 reached ($0.50 spent, $0.50 held by calls in flight)' });
    });

    it('a zero cap refuses everything', async () => {
      const { ledger } = await openAt(() => NOW);
      expect(await ledger.reserve(0, { dailyUsd: 0 })).toEqual({ ok: false, message: 'Daily budget of $0.00 reached ($0.00 spent)' });
    });

    it.each([
      ['actual = worst case', 10_000],
      ['actual = half the worst case', 5_000],
      ['actual = nothing (failed calls)', 0],
    ])('100 interleaved calls against a cap worth 10 overspend by at most one call (%s)', async (_label, actual) => {
      const worst = 10_000;
      const budget = { dailyUsd: (10 * worst) / 1e6 };
      const { ledger } = await openAt(() => NOW);
      let admitted = 0;
      const call = async (i: number): Promise<void> => {
        await sleep(Math.random() * 10);
        const reservation = await ledger.reserve(worst, budget);
        if (!reservation.ok) return;
        admitted++;
        await sleep(Math.random() * 10);
        await ledger.record(callRecord({ callId: `c${i}`, startedAt: NOW, costMicroUsd: actual }), reservation.reservationId);
      };
      await Promise.all(Array.from({ length: 100 }, (_, i) => call(i)));
      const spent = (await ledger.budgetStatus(budget))!.spent_today_usd * 1e6;
      // The guarantee: at most one call's worth over the cap.
      expect(spent).toBeLessThanOrEqual(10 * worst + worst);
      // And holds never refuse too early: a refusal needs spent + held >= cap, so >= 10 got through.
      expect(admitted).toBeGreaterThanOrEqual(10);
      if (actual === worst) expect(admitted).toBe(10);
      if (actual > 0) expect(admitted).toBeLessThan(100);
    });

    it('300 calls at once against a cap worth 200 with plenty of room at first: exactly 200 admitted, then exactly the released room again', async () => {
      // On PostgreSQL most of these are drawn from budget leases; the cap comes out the same.
      const worst = 1_000;
      const budget = { dailyUsd: (200 * worst) / 1e6 };
      const { ledger } = await openAt(() => NOW);
      const first = await Promise.all(Array.from({ length: 300 }, () => ledger.reserve(worst, budget)));
      const admitted = first.flatMap((reservation) => (reservation.ok ? [reservation.reservationId] : []));
      expect(admitted).toHaveLength(200);
      expect(first.find((reservation) => !reservation.ok)).toEqual({ ok: false, message: 'Daily budget of $0.20 reached ($0.00 spent, $0.20 held by calls in flight)' });
      // Ten calls settle, ten never start: twenty calls' room, and no more, for the next ones.
      for (const [i, id] of admitted.slice(0, 10).entries()) await ledger.record(callRecord({ callId: `s${i}`, startedAt: NOW, costMicroUsd: worst / 2 }), id);
      for (const id of admitted.slice(10, 20)) await ledger.release(id!);
      const next = await Promise.all(Array.from({ length: 40 }, () => ledger.reserve(worst, budget)));
      expect(next.filter((reservation) => reservation.ok)).toHaveLength(15);
    });
  });

  describe('conversation threads', () => {
    const user = (content: string) => ({ role: 'user' as const, content });
    const answer = (content: string) => ({ role: 'assistant' as const, content });

    it('keeps turns in order with their owner, system and tools, shared by every instance, and reports by conversation', async () => {
      const location = await store.fresh();
      const [a, b] = [await open(location, { sessionId: 'a' }), await open(location, { sessionId: 'b' })];
      expect(await a.loadThread('t1')).toBeUndefined();
      const tools = [{ name: 'get_weather', parameters: { type: 'object' } }];
      await a.appendTurn({ id: 't1', principal: 'alice', at: at('2026-11-20T10:00:00Z'), system: 'Be terse.', tools, messages: [user('hi'), answer('hello')] });
      // Two instances appending at once get consecutive turns.
      await Promise.all([
        a.appendTurn({ id: 't1', principal: 'alice', at: at('2026-11-20T10:01:00Z'), messages: [user('x')] }),
        b.appendTurn({ id: 't1', principal: 'alice', at: at('2026-11-20T10:01:00Z'), messages: [user('y')] }),
      ]);
      const thread = await b.loadThread('t1');
      expect(thread).toMatchObject({ id: 't1', principal: 'alice', system: 'Be terse.', tools, updatedAt: at('2026-11-20T10:01:00Z') });
      expect(thread!.turns[0]).toEqual([user('hi'), answer('hello')]);
      expect(thread!.turns.slice(1).flat().map((m) => m.content).sort()).toEqual(['x', 'y']);
      await a.record(callRecord({ callId: 'c1', conversationId: 't1' }));
      await a.record(callRecord({ callId: 'c2', conversationId: 'other' }));
      await a.record(callRecord({ callId: 'c3' }));
      expect((await b.report({ groupBy: 'none', conversationId: 't1' })).total.calls).toBe(1);
      expect((await b.report({ groupBy: 'none' })).total.calls).toBe(3);
    });

    it("record() with a turn writes the call's row and the thread's turn together, in order, batched or not", async () => {
      const location = await store.fresh();
      const [a, b] = [await open(location, { sessionId: 'a' }), await open(location, { sessionId: 'b' })];
      const turn = (content: string, extra: object = {}) => ({ id: 't2', principal: 'bob', at: at('2026-11-20T11:00:00Z'), messages: [user(content), answer(`re ${content}`)], ...extra });
      await a.record(callRecord({ callId: 'w1', conversationId: 't2', principal: 'bob' }), undefined, turn('first', { system: 'Be brief.' }));
      expect(await b.loadThread('t2')).toMatchObject({ principal: 'bob', system: 'Be brief.', turns: [[user('first'), answer('re first')]] });
      // Calls finishing at once (the PostgreSQL store writes them in one batch) and on two instances.
      await Promise.all([
        a.record(callRecord({ callId: 'w2', conversationId: 't2' }), undefined, turn('x')),
        a.record(callRecord({ callId: 'w3', conversationId: 't2' }), undefined, turn('y', { tools: [{ name: 'f', parameters: { type: 'object' } }] })),
        b.record(callRecord({ callId: 'w4', conversationId: 't2' }), undefined, turn('z')),
        a.record(callRecord({ callId: 'w5' })),
      ]);
      const thread = (await a.loadThread('t2'))!;
      expect(thread.turns).toHaveLength(4);
      expect(thread.turns[0]).toEqual([user('first'), answer('re first')]);
      expect(thread.turns.slice(1).map((t) => t[0]!.content).sort()).toEqual(['x', 'y', 'z']);
      expect(thread).toMatchObject({ system: 'Be brief.', tools: [{ name: 'f', parameters: { type: 'object' } }] });
      expect((await b.report({ groupBy: 'none', conversationId: 't2' })).total.calls).toBe(4);
      expect((await b.report({ groupBy: 'none' })).total.calls).toBe(5);
    });

    it('a turn whose row is refused is not written either: neither a new thread nor a turn of an old one', async () => {
      const ledger = await open();
      const bad = callRecord({ callId: 'bad', status: 'exploded' as 'ok', conversationId: 'fresh' });
      await expect(ledger.record(bad, undefined, { id: 'fresh', principal: null, at: at('2026-11-20T12:00:00Z'), messages: [user('lost')] })).rejects.toThrow();
      expect(await ledger.loadThread('fresh')).toBeUndefined();
      await ledger.record(callRecord({ callId: 'good', conversationId: 'kept' }), undefined, { id: 'kept', principal: null, at: at('2026-11-20T12:00:00Z'), messages: [user('one')] });
      await expect(
        ledger.record({ ...bad, conversationId: 'kept' }, undefined, { id: 'kept', principal: null, at: at('2026-11-20T12:05:00Z'), messages: [user('two')] }),
      ).rejects.toThrow();
      expect(await ledger.loadThread('kept')).toMatchObject({ updatedAt: at('2026-11-20T12:00:00Z'), turns: [[user('one')]] });
      expect((await ledger.stats()).rows).toBe(1);
    });

    it('deletes threads idle since a time, with their turns', async () => {
      const ledger = await open();
      await ledger.appendTurn({ id: 'old', principal: null, at: at('2026-11-01T00:00:00Z'), messages: [user('a')] });
      await ledger.appendTurn({ id: 'new', principal: null, at: at('2026-11-10T00:00:00Z'), messages: [user('b')] });
      expect(await ledger.deleteThreadsIdleSince(at('2026-11-05T00:00:00Z'))).toBe(1);
      expect(await ledger.loadThread('old')).toBeUndefined();
      expect((await ledger.loadThread('new'))!.turns).toEqual([[user('b')]]);
      // A new thread under the old id starts empty: no turn was left behind.
      await ledger.appendTurn({ id: 'old', principal: null, at: at('2026-11-11T00:00:00Z'), messages: [user('c')] });
      expect((await ledger.loadThread('old'))!.turns).toEqual([[user('c')]]);
    });
  });

  describe('migrations', () => {
    it('several instances opening a new ledger at once migrate it once', async () => {
      const location = await store.fresh();
      const ledgers = await Promise.all([0, 1, 2].map((i) => open(location, { sessionId: `s${i}` })));
      await Promise.all(ledgers.map((ledger, i) => ledger.record(callRecord({ callId: `c${i}` }))));
      expect((await ledgers[0]!.report({ groupBy: 'none' })).total.calls).toBe(3);
      const version = await store.schemaVersion(location);
      expect(version).toBeGreaterThan(0);
      for (const ledger of ledgers) await ledger.close();
      // Reopening an up-to-date ledger changes nothing.
      await open(location);
      expect(await store.schemaVersion(location)).toBe(version);
    });

    it('a ledger from a newer version is refused with a message that says so, and left as it is', async () => {
      const location = await store.fresh();
      const ledger = await open(location);
      await ledger.record(callRecord());
      await ledger.close();
      const version = await store.schemaVersion(location);
      await store.setSchemaVersion(location, version + 1);
      const refusal = store.open(location);
      await expect(refusal).rejects.toThrow(LedgerError);
      await expect(refusal).rejects.toThrow(`was written by a newer llm-service-mcp (schema version ${version + 1}, this one knows ${version})`);
      expect(await store.schemaVersion(location)).toBe(version + 1);
    });
  });
});
