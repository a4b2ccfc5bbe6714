import { chmodSync, closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { costMicroUsd } from '../../src/ledger/cost.js';
import { type Ledger, LedgerError, type CallRecord, type Totals } from '../../src/ledger/ledger.js';
import { SqliteLedger } from '../../src/ledger/sqlite/sqlite-ledger.js';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src/ledger/migrations.js';
import { SCHEMA_V1_SQL } from './fixtures/frozen-schemas.js';
import { parseTimeBound } from '../../src/ledger/time-span.js';
import { callRecord, tempDir } from './helpers.js';

const at = (iso: string): number => Date.parse(iso);

let dir: string;
let cleanup: () => void;
const opened: Ledger[] = [];

beforeEach(() => {
  ({ dir, cleanup } = tempDir());
});
afterEach(async () => {
  for (const ledger of opened.splice(0)) await ledger.close();
  cleanup();
});

function open(path = join(dir, 'ledger.db'), options: Parameters<typeof SqliteLedger.open>[1] = {}): Ledger {
  const ledger = SqliteLedger.open(path, options);
  opened.push(ledger);
  return ledger;
}

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
    unpriced_calls: records.length - priced.length,
  };
}

/** A varied, deterministic mix of calls: models, providers, statuses, unknown prices. */
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
    });
  });
}

describe('Ledger totals', () => {
  it('totals equal the sum of the calls, and every grouping adds up to the total', async () => {
    const ledger = open();
    const records = mixedCalls(60);
    for (const rec of records) await ledger.record(rec);
    const expected = expectedTotals(records);
    for (const groupBy of ['model', 'provider', 'day', 'none'] as const) {
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
    expect(await ledger.stats()).toMatchObject({ location: join(dir, 'ledger.db'), rows: 60 });
    expect((await ledger.stats()).sizeBytes).toBeGreaterThan(0);
  });

  it('reopening keeps the totals; a new session id starts session totals at zero', async () => {
    const path = join(dir, 'nested', 'deeper', 'ledger.db');
    const first = open(path, { sessionId: 'session-a' });
    const records = mixedCalls(10);
    for (const rec of records) await first.record(rec);
    expect((await first.report({ groupBy: 'none' })).session).toEqual((await first.report({ groupBy: 'none' })).total);
    await first.close();

    const second = open(path, { sessionId: 'session-b' });
    const report = await second.report({ groupBy: 'model' });
    expect(report.total.calls).toBe(10);
    expect(report.total.cost_usd).toBeCloseTo(expectedTotals(records).cost_usd, 9);
    expect(report.session).toEqual({ calls: 0, failed_calls: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, cost_usd: 0, unpriced_calls: 0 });
    await second.record(records[0]!);
    expect((await second.report({ groupBy: 'none' })).session.calls).toBe(1);
    expect((await second.report({ groupBy: 'none' })).total.calls).toBe(11);

    // The session is the process's, whatever the filter.
    expect((await second.report({ groupBy: 'none', model: 'no-such-model' })).session.calls).toBe(1);
    expect(typeof SqliteLedger.open(':memory:').sessionId).toBe('string');
  });

  it('stores every column as documented, committed when record() returns', async () => {
    const path = join(dir, 'ledger.db');
    const ledger = open(path, { sessionId: 's1' });
    const id = await ledger.record(
      callRecord({
        callId: 'c-42',
        startedAt: at('2026-11-26T04:00:00.000Z'),
        model: 'claude-sonnet-4-5',
        provider: 'anthropic',
        providerModel: 'claude-sonnet-4-5-20250929',
        usage: { promptTokens: 61_000, completionTokens: 800, cachedTokens: 50_000, cacheWriteTokens: 10_000, reasoningTokens: 300, totalTokens: 61_800, raw: { input_tokens: 1000, cache_read_input_tokens: 50_000 } },
        pricing: { inputPerMTok: 3, outputPerMTok: 15, cachedInputPerMTok: 0.3, cacheWritePerMTok: 3.75 },
        costMicroUsd: 67_500,
        latencyMs: 1234,
        attempts: 2,
        finishReason: 'length',
      }),
    );
    // A second connection sees the row at once: the transaction is committed.
    const reader = new Database(path, { readonly: true });
    const row = reader.prepare('SELECT *, date(started_at) AS day FROM calls WHERE id = ?').get(id);
    expect(row).toEqual({
      id,
      call_id: 'c-42',
      session_id: 's1',
      started_at: '2026-11-26T04:00:00.000Z',
      day: '2026-11-26',
      model: 'claude-sonnet-4-5',
      provider: 'anthropic',
      provider_model: 'claude-sonnet-4-5-20250929',
      prompt_tokens: 61_000,
      completion_tokens: 800,
      cached_tokens: 50_000,
      cache_write_tokens: 10_000,
      reasoning_tokens: 300,
      cost_micro_usd: 67_500,
      input_price_per_mtok: 3,
      output_price_per_mtok: 15,
      cached_input_price_per_mtok: 0.3,
      cache_write_price_per_mtok: 3.75,
      latency_ms: 1234,
      attempts: 2,
      status: 'ok',
      finish_reason: 'length',
      error: null,
      raw_usage: '{"input_tokens":1000,"cache_read_input_tokens":50000}',
      principal: null,
    });
    expect(reader.pragma('journal_mode', { simple: true })).toBe('wal');
    reader.close();

    // A failed call without usage: zero tokens, NULL raw usage; an unknown price stays NULL.
    await ledger.record(callRecord({ callId: 'c-43', usage: null, pricing: null, costMicroUsd: null, status: 'error', finishReason: null, error: 'x'.repeat(10_000) }));
    const failed = new Database(path, { readonly: true }).prepare("SELECT * FROM calls WHERE call_id = 'c-43'").get() as Record<string, unknown>;
    expect(failed).toMatchObject({ prompt_tokens: 0, cost_micro_usd: null, input_price_per_mtok: null, raw_usage: null, status: 'error' });
    expect((failed.error as string).length).toBe(4000);

    await expect(ledger.record(callRecord({ status: 'exploded' as 'ok' }))).rejects.toThrow(/CHECK constraint/);
  });
});

describe('Ledger report filters and grouping', () => {
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

  function seeded(): Ledger {
    const ledger = open(join(dir, 'ledger.db'), { now: () => NOW });
    rows.forEach(async ([iso, model, provider, micro, status], i) =>
      await ledger.record(callRecord({ callId: `r${i}`, startedAt: at(iso), model, provider, providerModel: model, costMicroUsd: micro, status })),
    );
    return ledger;
  }

  it('groups by UTC day, in date order', async () => {
    const report = await seeded().report({ groupBy: 'day' });
    expect(report.groups.map((group) => [group.key, group.calls, group.cost_usd, group.unpriced_calls])).toEqual([
      ['2026-10-31', 1, 1, 0],
      ['2026-11-01', 2, 5, 0],
      ['2026-11-30', 1, 0.4, 0],
      ['2026-12-01', 2, 0.05, 1],
    ]);
    expect(report.total).toMatchObject({ calls: 6, failed_calls: 1, cost_usd: 6.45, unpriced_calls: 1 });
  });

  it('groups by model and provider, costliest first', async () => {
    const ledger = seeded();
    expect((await ledger.report({ groupBy: 'model' })).groups.map((group) => [group.key, group.cost_usd])).toEqual([
      ['gpt-4o', 3.05],
      ['claude-sonnet-4-5', 3],
      ['deepseek-chat', 0.4],
      ['ollama:llama3.2', 0],
    ]);
    expect((await ledger.report({ groupBy: 'provider' })).groups.map((group) => group.key)).toEqual(['openai', 'anthropic', 'deepseek', 'ollama']);
  });

  it('since is inclusive, until exclusive, to the millisecond', async () => {
    const ledger = seeded();
    const november = await ledger.report({ groupBy: 'none', since: at('2026-11-01T00:00:00.000Z'), until: at('2026-12-01T00:00:00.000Z') });
    expect(november.total).toMatchObject({ calls: 3, cost_usd: 5.4 });
    const spans = await ledger.report({ groupBy: 'day', since: parseTimeBound('24h', NOW) });
    expect(spans.groups.map((group) => group.key)).toEqual(['2026-11-30', '2026-12-01']);
    const untilDate = await ledger.report({ groupBy: 'none', until: parseTimeBound('2026-11-01', NOW) });
    expect(untilDate.total.calls).toBe(1);
  });

  it('filters by model and provider, alone and together', async () => {
    const ledger = seeded();
    expect((await ledger.report({ groupBy: 'day', model: 'gpt-4o' })).groups.map((group) => group.key)).toEqual(['2026-10-31', '2026-11-01', '2026-12-01']);
    expect((await ledger.report({ groupBy: 'model', provider: 'anthropic' })).total).toMatchObject({ calls: 1, failed_calls: 1, cost_usd: 3 });
    expect((await ledger.report({ groupBy: 'none', provider: 'openai', model: 'gpt-4o', since: at('2026-11-15T00:00:00Z') })).total.cost_usd).toBe(0.05);
    expect(await ledger.report({ groupBy: 'model', model: 'nothing' })).toMatchObject({ total: { calls: 0, cost_usd: 0 }, groups: [] });
  });

  it('budget status counts the current UTC day and month only', async () => {
    const ledger = seeded();
    expect(await ledger.budgetStatus(undefined)).toBeNull();
    expect(await ledger.budgetStatus({})).toBeNull();
    expect(await ledger.budgetStatus({ dailyUsd: 5, monthlyUsd: 50 })).toEqual({ daily_usd: 5, monthly_usd: 50, spent_today_usd: 0.05, spent_month_usd: 0.05 });
    expect((await ledger.report({ groupBy: 'none' }, { monthlyUsd: 10 })).budget).toEqual({ daily_usd: null, monthly_usd: 10, spent_today_usd: 0.05, spent_month_usd: 0.05 });
    const lateNovember = open(join(dir, 'ledger.db'), { now: () => at('2026-11-30T23:59:59.999Z') });
    expect(await lateNovember.budgetStatus({ dailyUsd: 1 })).toEqual({ daily_usd: 1, monthly_usd: null, spent_today_usd: 0.4, spent_month_usd: 5.4 });
  });
});

describe('Ledger budget', () => {
  const NOW = at('2026-11-26T12:00:00.000Z');

  it('without caps reserves nothing and touches no table', async () => {
    const ledger = open(join(dir, 'ledger.db'), { now: () => NOW });
    expect(await ledger.reserve(1_000_000, undefined)).toEqual({ ok: true, reservationId: undefined });
    expect(await ledger.reserve(1_000_000, {})).toEqual({ ok: true, reservationId: undefined });
    const reader = new Database(join(dir, 'ledger.db'), { readonly: true });
    expect(reader.prepare('SELECT COUNT(*) AS n FROM reservations').get()).toEqual({ n: 0 });
    reader.close();
  });

  it('refuses once the day or month cap is reached, with the documented messages', async () => {
    let now = NOW;
    const ledger = open(join(dir, 'ledger.db'), { now: () => now });
    const budget = { dailyUsd: 5, monthlyUsd: 50 };
    await ledger.record(callRecord({ startedAt: at('2026-11-25T12:00:00Z'), costMicroUsd: 44_000_000 }));
    await ledger.record(callRecord({ startedAt: NOW - 1000, costMicroUsd: 4_990_000 }));
    expect((await ledger.reserve(10_000, budget)).ok).toBe(true);
    const refusal = await ledger.reserve(10_000, budget);
    expect(refusal).toEqual({ ok: false, message: 'Daily budget of $5.00 reached ($4.99 spent, $0.01 held by calls in flight)' });

    await ledger.record(callRecord({ startedAt: NOW - 500, costMicroUsd: 20_000 }));
    expect(await ledger.reserve(0, budget)).toEqual({ ok: false, message: 'Daily budget of $5.00 reached ($5.01 spent, $0.01 held by calls in flight)' });

    // Next day: the daily cap resets, the monthly one does not.
    now = at('2026-11-27T00:00:00.000Z');
    await ledger.record(callRecord({ startedAt: now, costMicroUsd: 1_000_000 }));
    // Holds of killed processes stop counting after an hour; the one above is from yesterday noon.
    expect(await ledger.reserve(0, budget)).toEqual({ ok: false, message: 'Monthly budget of $50.00 reached ($50.01 spent)' });
    expect((await ledger.reserve(0, { dailyUsd: 5 })).ok).toBe(true);
    // December: a new month.
    now = at('2026-12-01T00:00:00.000Z');
    expect((await ledger.reserve(0, budget)).ok).toBe(true);
  });

  it('record() and release() drop the hold; expired holds are ignored', async () => {
    let now = NOW;
    const ledger = open(join(dir, 'ledger.db'), { now: () => now });
    const budget = { dailyUsd: 1 };
    const first = await ledger.reserve(600_000, budget);
    const second = await ledger.reserve(600_000, budget);
    expect(first.ok && second.ok).toBe(true);
    expect(await ledger.reserve(1, budget)).toEqual({ ok: false, message: 'Daily budget of $1.00 reached ($0.00 spent, $1.20 held by calls in flight)' });
    if (!first.ok || !second.ok) return;
    await ledger.release(first.reservationId!);
    await ledger.record(callRecord({ startedAt: NOW, costMicroUsd: 100_000 }), second.reservationId);
    expect((await ledger.reserve(1, budget)).ok).toBe(true);
    now += 2 * 3_600_000;
    // The hold just taken was never recorded (its process "died"): two hours later it is gone.
    expect((await ledger.reserve(950_000, budget)).ok).toBe(true);
    expect(await ledger.reserve(1, budget)).toEqual({ ok: false, message: 'Daily budget of $1.00 reached ($0.10 spent, $0.95 held by calls in flight)' });
  });

  it("a principal's caps count only that principal's spend and holds; the global cap counts everyone's", async () => {
    const ledger = open(join(dir, 'ledger.db'), { now: () => NOW });
    const alice = { name: 'alice', budget: { dailyUsd: 1, monthlyUsd: 3 } };
    const bob = { name: 'bob', budget: { dailyUsd: 1 } };
    const global = { dailyUsd: 10 };
    await ledger.record(callRecord({ callId: 'a1', startedAt: NOW - 1000, costMicroUsd: 900_000, principal: 'alice' }));
    // Local (stdio) calls and other principals' calls do not count against alice.
    await ledger.record(callRecord({ callId: 'l1', startedAt: NOW - 1000, costMicroUsd: 5_000_000 }));
    await ledger.record(callRecord({ callId: 'b1', startedAt: NOW - 1000, costMicroUsd: 800_000, principal: 'bob' }));
    const held = await ledger.reserve(100_000, global, alice);
    expect(held.ok).toBe(true);
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
    const reader = new Database(join(dir, 'ledger.db'), { readonly: true });
    expect(reader.prepare('SELECT principal, amount_micro_usd FROM reservations ORDER BY id').all()).toEqual([
      { principal: 'alice', amount_micro_usd: 100_000 },
      { principal: 'bob', amount_micro_usd: 100_000 },
      { principal: 'carol', amount_micro_usd: 1 },
    ]);
    reader.close();
    // A principal's budget status reads that principal's spend only.
    expect(await ledger.budgetStatus(alice.budget, 'alice')).toEqual({ daily_usd: 1, monthly_usd: 3, spent_today_usd: 0.9, spent_month_usd: 0.9 });
  });

  it("a principal's report shows only that principal's calls, session totals included", async () => {
    const ledger = open(join(dir, 'ledger.db'), { now: () => NOW });
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

  it('a zero cap refuses everything', async () => {
    const ledger = open(':memory:', { now: () => NOW });
    expect(await ledger.reserve(0, { dailyUsd: 0 })).toEqual({ ok: false, message: 'Daily budget of $0.00 reached ($0.00 spent)' });
  });

  it.each([
    ['actual = worst case', 10_000],
    ['actual = half the worst case', 5_000],
    ['actual = nothing (failed calls)', 0],
  ])('100 interleaved calls against a cap worth 10 overspend by at most one call (%s)', async (_name, actual) => {
    const worst = 10_000;
    const budget = { dailyUsd: (10 * worst) / 1e6 };
    const ledger = open(join(dir, 'ledger.db'), { now: () => NOW });
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
});

describe('Ledger open errors', () => {
  it('a file that is not SQLite gives a LedgerError naming the file and the remedy', () => {
    const path = join(dir, 'ledger.db');
    writeFileSync(path, 'this is certainly not a database\n'.repeat(200));
    expect(() => SqliteLedger.open(path)).toThrow(LedgerError);
    expect(() => SqliteLedger.open(path)).toThrow(`The ledger ${path} is not a SQLite database or is damaged`);
    expect(() => SqliteLedger.open(path)).toThrow(/move it aside or set LLM_SERVICE_DB to another file$/);
  });

  it('a path below a regular file (cannot create the folder) gives a LedgerError', () => {
    writeFileSync(join(dir, 'plain-file'), 'x');
    const path = join(dir, 'plain-file', 'sub', 'ledger.db');
    expect(() => SqliteLedger.open(path)).toThrow(LedgerError);
    expect(() => SqliteLedger.open(path)).toThrow(`Cannot create the folder of the ledger ${path}`);
  });

  it('a folder as the path gives a LedgerError', () => {
    mkdirSync(join(dir, 'a-folder'));
    expect(() => SqliteLedger.open(join(dir, 'a-folder'))).toThrow(`Cannot open the ledger ${join(dir, 'a-folder')} for writing`);
  });

  it.skipIf(process.getuid?.() === 0)('a read-only folder gives a LedgerError at open, not mid-call', async () => {
    const folder = join(dir, 'read-only');
    mkdirSync(folder);
    await SqliteLedger.open(join(folder, 'ledger.db')).close();
    chmodSync(join(folder, 'ledger.db'), 0o444);
    chmodSync(folder, 0o555);
    try {
      expect(() => SqliteLedger.open(join(folder, 'ledger.db'))).toThrow(LedgerError);
    } finally {
      chmodSync(folder, 0o755);
    }
  });

  it('a file from a newer version is refused, not downgraded', () => {
    const path = join(dir, 'ledger.db');
    const db = new Database(path);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expect(() => SqliteLedger.open(path)).toThrow(`The ledger ${path} was written by a newer llm-service-mcp (schema version ${SCHEMA_VERSION + 1}, this one knows ${SCHEMA_VERSION})`);
  });

  it('an empty path is refused', () => {
    expect(() => SqliteLedger.open('')).toThrow(LedgerError);
  });
});

describe('Ledger start-up integrity check', () => {
  /** A closed ledger whose first or last `calls` leaf page (in key order) is overwritten with junk. */
  async function damagedLedger(which: 'first' | 'last'): Promise<string> {
    const path = join(dir, `damaged-${which}.db`);
    const ledger = SqliteLedger.open(path);
    for (let i = 0; i < 500; i++) await ledger.record(callRecord({ callId: `c${i}`, startedAt: at('2026-11-26T04:00:00.000Z') + i * 1000, error: 'x'.repeat(300) }));
    await ledger.close();
    const db = new Database(path);
    const leaves = db.prepare("SELECT pageno FROM dbstat WHERE name = 'calls' AND pagetype = 'leaf' ORDER BY path").pluck().all() as number[];
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    db.close();
    expect(leaves.length).toBeGreaterThan(10);
    const page = which === 'first' ? leaves[0]! : leaves.at(-1)!;
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(pageSize, 0xab), 0, pageSize, (page - 1) * pageSize);
    closeSync(fd);
    return path;
  }

  it('a file within the size bound gets a full quick_check: damage anywhere is refused at open', async () => {
    const path = await damagedLedger('first');
    expect(() => SqliteLedger.open(path)).toThrow(`The ledger ${path} is not a SQLite database or is damaged (SQLITE_CORRUPT: quick_check: `);
  });

  it('above the bound, open skips quick_check (bounded start-up) but still reads where new rows go', async () => {
    // Damage away from the right edge is not looked for: the price of a start-up that does not read the whole file.
    const inside = open(await damagedLedger('first'), { integrityCheckMaxBytes: 0 });
    expect(await inside.record(callRecord({ callId: 'after' }))).toBeGreaterThan(0);
    // The last page of `calls`, where the next record() would write, is read at open.
    const path = await damagedLedger('last');
    expect(() => SqliteLedger.open(path, { integrityCheckMaxBytes: 0 })).toThrow(`The ledger ${path} is not a SQLite database or is damaged`);
  });
});

describe('Ledger migrations', () => {
  it('numbers migrations 1..N', () => {
    expect(MIGRATIONS.map((migration) => migration.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
  });

  it('opens a file left at schema version 1 and brings it up to date, keeping its rows', async () => {
    const path = join(dir, 'ledger.db');
    const old = new Database(path);
    old.exec(SCHEMA_V1_SQL);
    old.exec(`
      INSERT INTO calls (call_id, session_id, started_at, model, provider, provider_model, prompt_tokens,
        completion_tokens, cost_micro_usd, latency_ms, attempts, status)
      VALUES ('old-call', 'old-session', '2026-11-26T03:00:00.000Z', 'gpt-4o', 'openai', 'gpt-4o', 100, 10, 350, 900, 1, 'ok');
    `);
    old.close();

    const ledger = open(path, { now: () => at('2026-11-26T12:00:00Z') });
    const check = new Database(path, { readonly: true });
    expect(check.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    check.close();
    expect((await ledger.report({ groupBy: 'none' })).total).toMatchObject({ calls: 1, prompt_tokens: 100, cost_usd: 0.00035 });
    const reservation = await ledger.reserve(1000, { dailyUsd: 1 });
    expect(reservation.ok && typeof reservation.reservationId).toBe('number');
  });

  it('migrates a brand-new empty file from version 0', async () => {
    const path = join(dir, 'empty.db');
    writeFileSync(path, '');
    const ledger = open(path);
    await ledger.record(callRecord());
    expect((await ledger.stats()).rows).toBe(1);
  });

  it('works in memory', async () => {
    const ledger = open(':memory:');
    await ledger.record(callRecord());
    expect(await ledger.stats()).toMatchObject({ location: ':memory:', rows: 1 });
  });
});
