/**
 * `hourly_totals` and the reports built on it: every report and budget sum must be exactly what a
 * plain scan of `calls` gives, whatever the filter, and the table must stay equal to a GROUP BY
 * of `calls` whoever writes (record(), a direct INSERT, a DELETE or UPDATE by hand, a migration).
 */

import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { microToUsd } from '../../src/ledger/cost.js';
import type { Ledger, CallRecord, GroupBy, ReportFilter, Totals } from '../../src/ledger/ledger.js';
import { SqliteLedger } from '../../src/ledger/sqlite/sqlite-ledger.js';
import { SCHEMA_VERSION } from '../../src/ledger/migrations.js';
import { SCHEMA_V2_SQL } from './fixtures/frozen-schemas.js';
import { callRecord, tempDir } from './helpers.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const at = (iso: string): number => Date.parse(iso);
const iso = (ms: number): string => new Date(ms).toISOString();

const MODELS = ['gpt-4o-mini', 'gpt-4.1', 'claude-sonnet-4-5', 'deepseek-chat', 'ollama:qwen2.5'];
const PROVIDERS = ['openai', 'anthropic', 'deepseek', 'ollama', 'openrouter'];
// null = a local (stdio) call.
const PRINCIPALS = ['alice', 'bob', 'carol', null] as const;
// The rows span four months, from a month's start to the next year.
const FIRST = at('2026-09-01T00:00:00.000Z');
const LAST = at('2027-01-01T00:00:00.000Z');

/** Deterministic PRNG (mulberry32): the data set is the same on every run. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

interface Row {
  startedAt: number;
  model: string;
  provider: string;
  status: CallRecord['status'];
  promptTokens: number;
  completionTokens: number;
  costMicroUsd: number | null;
  principal: string | null;
}

function randomRows(count: number, seed: number): Row[] {
  const random = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  return Array.from({ length: count }, () => {
    let startedAt = FIRST + Math.floor(random() * (LAST - FIRST));
    const shape = random();
    // Rows right on an hour boundary, and on the last millisecond of an hour.
    if (shape < 0.05) startedAt = Math.floor(startedAt / HOUR) * HOUR;
    else if (shape < 0.1) startedAt = Math.floor(startedAt / HOUR) * HOUR + HOUR - 1;
    const index = Math.floor(random() * MODELS.length);
    const status = random() < 0.8 ? 'ok' : pick(['error', 'cancelled'] as const);
    const costShape = random();
    return {
      startedAt,
      model: MODELS[index]!,
      // Mostly the model's own provider, sometimes another: every (model, provider) pair happens.
      provider: random() < 0.85 ? PROVIDERS[index]! : pick(PROVIDERS),
      status,
      promptTokens: Math.floor(random() * 200_000),
      completionTokens: Math.floor(random() * 20_000),
      costMicroUsd: costShape < 0.1 ? null : costShape < 0.15 ? 0 : Math.floor(random() * 50_000_000),
      principal: pick(PRINCIPALS),
    };
  });
}

function toRecord(row: Row, i: number): CallRecord {
  return callRecord({
    callId: `call-${i}`,
    startedAt: row.startedAt,
    model: row.model,
    provider: row.provider,
    providerModel: row.model,
    usage: { promptTokens: row.promptTokens, completionTokens: row.completionTokens, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, totalTokens: row.promptTokens + row.completionTokens },
    costMicroUsd: row.costMicroUsd,
    status: row.status,
    finishReason: row.status === 'ok' ? 'stop' : null,
    error: row.status === 'ok' ? null : 'failed',
    principal: row.principal,
  });
}

/** Inserts a row as another program sharing the file would: plain SQL, no Ledger. */
function insertDirectly(db: Database.Database, row: Row, i: number): void {
  db.prepare(
    `INSERT INTO calls (call_id, session_id, started_at, model, provider, provider_model, prompt_tokens, completion_tokens,
      cost_micro_usd, latency_ms, attempts, status)
     VALUES (?, 'direct', ?, ?, ?, ?, ?, ?, ?, 1, 1, ?)`,
  ).run(`direct-${i}`, iso(row.startedAt), row.model, row.provider, row.model, row.promptTokens, row.completionTokens, row.costMicroUsd, row.status);
}

// ---------------------------------------------------------------------------------------------
// Brute force: what a scan of `calls` gives, written independently of the Ledger.

const BRUTE_SUMS = `COUNT(*) AS calls, COALESCE(SUM(status <> 'ok'), 0) AS failed_calls,
  COALESCE(SUM(prompt_tokens), 0) AS prompt_tokens, COALESCE(SUM(completion_tokens), 0) AS completion_tokens,
  COALESCE(SUM(cost_micro_usd), 0) AS cost_micro_usd, COALESCE(SUM(cost_micro_usd IS NULL AND input_price_per_mtok IS NULL), 0) AS unpriced_calls,
  COALESCE(SUM(cost_micro_usd IS NULL AND input_price_per_mtok IS NOT NULL), 0) AS unknown_cost_calls`;

interface SumsRow {
  calls: number;
  failed_calls: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_micro_usd: number;
  unpriced_calls: number;
  unknown_cost_calls: number;
}

function totalsOf(row: SumsRow): Totals {
  return {
    calls: row.calls,
    failed_calls: row.failed_calls,
    prompt_tokens: row.prompt_tokens,
    completion_tokens: row.completion_tokens,
    total_tokens: row.prompt_tokens + row.completion_tokens,
    cost_usd: microToUsd(row.cost_micro_usd),
    unpriced_calls: row.unpriced_calls,
    unknown_cost_calls: row.unknown_cost_calls,
  };
}

function bruteForceReport(db: Database.Database, filter: ReportFilter): { total: Totals; groups: Array<{ key: string } & Totals> } {
  const where: string[] = ['1 = 1'];
  const params: unknown[] = [];
  if (filter.since !== undefined) {
    where.push('started_at >= ?');
    params.push(iso(filter.since));
  }
  if (filter.until !== undefined) {
    where.push('started_at < ?');
    params.push(iso(filter.until));
  }
  if (filter.model !== undefined) {
    where.push('model = ?');
    params.push(filter.model);
  }
  if (filter.provider !== undefined) {
    where.push('provider = ?');
    params.push(filter.provider);
  }
  if (filter.principal !== undefined) {
    where.push('principal = ?');
    params.push(filter.principal);
  }
  const whereSql = where.join(' AND ');
  const total = db.prepare(`SELECT ${BRUTE_SUMS} FROM calls WHERE ${whereSql}`).get(...params) as SumsRow;
  if (filter.groupBy === 'none') return { total: totalsOf(total), groups: [] };
  const key = { model: 'model', provider: 'provider', day: 'substr(started_at, 1, 10)', principal: "COALESCE(principal, '(local)')" }[filter.groupBy];
  const order = filter.groupBy === 'day' ? 'key' : 'cost_micro_usd DESC, calls DESC, key';
  const groups = db.prepare(`SELECT ${key} AS key, ${BRUTE_SUMS} FROM calls WHERE ${whereSql} GROUP BY key ORDER BY ${order}`).all(...params) as Array<SumsRow & { key: string }>;
  return { total: totalsOf(total), groups: groups.map((group) => ({ key: group.key, ...totalsOf(group) })) };
}

function bruteForceSpent(db: Database.Database, start: number, end: number): number {
  return (db.prepare('SELECT COALESCE(SUM(cost_micro_usd), 0) AS micro FROM calls WHERE started_at >= ? AND started_at < ?').get(iso(start), iso(end)) as { micro: number }).micro;
}

/** hourly_totals must equal this GROUP BY of calls, row for row. */
function expectRollupMatchesCalls(db: Database.Database): void {
  const expected = db
    .prepare(
      `SELECT substr(started_at, 1, 13) AS hour, model, provider, ${BRUTE_SUMS}
       FROM calls GROUP BY hour, model, provider ORDER BY hour, model, provider`,
    )
    .all();
  const actual = db.prepare('SELECT * FROM hourly_totals ORDER BY hour, model, provider').all();
  expect(actual).toEqual(expected);
}

// ---------------------------------------------------------------------------------------------

const GROUPS: GroupBy[] = ['model', 'provider', 'day', 'principal', 'none'];

/** A bound anywhere around the data, on hour or day boundaries, or a millisecond off them. */
function boundArbitrary(rows: Row[]): fc.Arbitrary<number | undefined> {
  // fc.integer is 32-bit: epoch milliseconds are built from hours (or days) and an offset.
  const span = { min: FIRST - 5 * DAY, max: LAST + 5 * DAY };
  const hours = fc.integer({ min: span.min / HOUR, max: span.max / HOUR }).map((h) => h * HOUR);
  return fc.oneof(
    fc.constant(undefined),
    fc.tuple(hours, fc.integer({ min: 0, max: HOUR - 1 })).map(([hour, ms]) => hour + ms),
    hours,
    fc.integer({ min: span.min / DAY, max: span.max / DAY }).map((d) => d * DAY),
    fc.tuple(hours, fc.constantFrom(-1, 1)).map(([hour, delta]) => hour + delta),
    // Exactly on a row, or a millisecond either side of it.
    fc.tuple(fc.integer({ min: 0, max: rows.length - 1 }), fc.constantFrom(-1, 0, 1)).map(([i, delta]) => rows[i]!.startedAt + delta),
  );
}

function filterArbitrary(rows: Row[]): fc.Arbitrary<ReportFilter> {
  const bound = boundArbitrary(rows);
  return fc
    .record({
      since: bound,
      until: bound,
      model: fc.option(fc.constantFrom(...MODELS, 'no-such-model'), { nil: undefined }),
      provider: fc.option(fc.constantFrom(...PROVIDERS), { nil: undefined }),
      principal: fc.option(fc.constantFrom('alice', 'bob', 'nobody'), { nil: undefined }),
      groupBy: fc.constantFrom(...GROUPS),
    })
    .map((filter) => {
      // Leave absent keys out, as the get_cost tool does.
      const clean: ReportFilter = { groupBy: filter.groupBy };
      if (filter.since !== undefined) clean.since = filter.since;
      if (filter.until !== undefined) clean.until = filter.until;
      if (filter.model !== undefined) clean.model = filter.model;
      if (filter.provider !== undefined) clean.provider = filter.provider;
      if (filter.principal !== undefined) clean.principal = filter.principal;
      return clean;
    });
}

describe('reports from hourly_totals equal a scan of calls', () => {
  let dir: string;
  let cleanup: () => void;
  let path: string;
  let ledger: Ledger;
  let db: Database.Database;
  let rows: Row[];

  beforeAll(async () => {
    ({ dir, cleanup } = tempDir());
    path = join(dir, 'ledger.db');
    ledger = SqliteLedger.open(path, { now: () => at('2026-11-15T10:30:00.000Z') });
    db = new Database(path);
    rows = randomRows(4_000, 20261126);
    // One row in five is written by "another program" with plain SQL, interleaved with record().
    for (const [i, row] of rows.entries()) {
      if (i % 5 === 4) insertDirectly(db, row, i);
      else await ledger.record(toRecord(row, i));
    }
  });
  afterAll(async () => {
    await ledger.close();
    db.close();
    cleanup();
  });

  it('hourly_totals is the GROUP BY of calls, for rows from record() and from plain INSERTs', () => {
    expect(db.prepare('SELECT COUNT(*) AS n FROM calls').get()).toEqual({ n: rows.length });
    expectRollupMatchesCalls(db);
  });

  it('report() equals the brute force for random filters (since/until off and on hour boundaries, model, provider)', async () => {
    await fc.assert(
      fc.asyncProperty(filterArbitrary(rows), async (filter) => {
        const report = await ledger.report(filter);
        const expected = bruteForceReport(db, filter);
        expect(report.total).toEqual(expected.total);
        expect(report.groups).toEqual(expected.groups);
      }),
      { numRuns: 500, seed: 20261126 },
    );
  });

  it('report() equals the brute force at the edges: one hour, under an hour, inverted, outside years 0000-9999', async () => {
    const hour = at('2026-10-10T10:00:00.000Z');
    const filters: ReportFilter[] = [
      { groupBy: 'day' },
      { groupBy: 'model', since: hour, until: hour + HOUR },
      { groupBy: 'model', since: hour + 1, until: hour + HOUR },
      { groupBy: 'model', since: hour, until: hour + HOUR - 1 },
      { groupBy: 'provider', since: hour + 1, until: hour + HOUR - 1 },
      { groupBy: 'provider', since: hour + 1, until: hour + 2 * HOUR - 1 },
      { groupBy: 'none', since: hour, until: hour },
      { groupBy: 'none', since: hour + HOUR, until: hour },
      { groupBy: 'day', since: FIRST - 1, until: LAST + 1 },
      { groupBy: 'day', since: Date.UTC(-1, 0, 1) },
      { groupBy: 'day', until: Date.UTC(10_000, 0, 1) },
      { groupBy: 'none', since: Date.UTC(-1, 0, 1, 0, 30), until: Date.UTC(10_000, 0, 1, 0, 30) },
      { groupBy: 'model', since: hour + 0.5, until: hour + HOUR + 0.5 },
    ];
    for (const filter of filters) {
      const report = await ledger.report(filter);
      const expected = bruteForceReport(db, filter);
      expect({ filter, total: report.total, groups: report.groups }).toEqual({ filter, ...expected });
    }
  });

  it('budget sums for the UTC day and month equal the brute force', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: (FIRST - 2 * DAY) / HOUR, max: (LAST + 2 * DAY) / HOUR }), fc.integer({ min: 0, max: HOUR - 1 }), async (hour, ms) => {
        const now = hour * HOUR + ms;
        const clocked = SqliteLedger.open(path, { now: () => now });
        try {
          const status = (await clocked.budgetStatus({ dailyUsd: 1, monthlyUsd: 1 }))!;
          const day = Math.floor(now / DAY) * DAY;
          const date = new Date(now);
          const month = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1);
          const nextMonth = Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
          expect(status.spent_today_usd).toBe(microToUsd(bruteForceSpent(db, day, day + DAY)));
          expect(status.spent_month_usd).toBe(microToUsd(bruteForceSpent(db, month, nextMonth)));
        } finally {
          await clocked.close();
        }
      }),
      { numRuns: 60, seed: 7 },
    );
  });

  it('stays exact when rows are deleted or updated by hand (and an emptied hour disappears)', async () => {
    const random = prng(99);
    const ids = db.prepare('SELECT id FROM calls ORDER BY id').pluck().all() as number[];
    const remove = db.prepare('DELETE FROM calls WHERE id = ?');
    for (let i = 0; i < 300; i++) remove.run(ids[Math.floor(random() * ids.length)]!);
    // A whole hour pruned at once.
    const someHour = db.prepare('SELECT hour FROM hourly_totals ORDER BY hour LIMIT 1 OFFSET 100').pluck().get() as string;
    db.prepare('DELETE FROM calls WHERE substr(started_at, 1, 13) = ?').run(someHour);
    expect(db.prepare('SELECT COUNT(*) AS n FROM hourly_totals WHERE hour = ?').get(someHour)).toEqual({ n: 0 });

    const updates = [
      'UPDATE calls SET model = ? WHERE id = ?',
      'UPDATE calls SET provider = ? WHERE id = ?',
      'UPDATE calls SET started_at = ? WHERE id = ?',
      'UPDATE calls SET cost_micro_usd = ? WHERE id = ?',
      'UPDATE calls SET status = ? WHERE id = ?',
      'UPDATE calls SET prompt_tokens = ? WHERE id = ?',
      'UPDATE calls SET completion_tokens = ? WHERE id = ?',
      'UPDATE calls SET model = ?, provider = model, started_at = started_at || \'\' WHERE id = ?',
      'UPDATE calls SET error = ? WHERE id = ?',
    ];
    const values = [
      () => MODELS[Math.floor(random() * MODELS.length)],
      () => PROVIDERS[Math.floor(random() * PROVIDERS.length)],
      () => iso(FIRST + Math.floor(random() * (LAST - FIRST))),
      () => (random() < 0.3 ? null : Math.floor(random() * 1_000_000)),
      () => (random() < 0.5 ? 'ok' : 'error'),
      () => Math.floor(random() * 10_000),
      () => Math.floor(random() * 10_000),
      () => MODELS[Math.floor(random() * MODELS.length)],
      () => 'edited by hand',
    ];
    for (let i = 0; i < 300; i++) {
      const which = Math.floor(random() * updates.length);
      db.prepare(updates[which]!).run(values[which]!(), ids[Math.floor(random() * ids.length)]!);
    }
    expectRollupMatchesCalls(db);
    await fc.assert(
      fc.asyncProperty(filterArbitrary(rows), async (filter) => {
        const report = await ledger.report(filter);
        const expected = bruteForceReport(db, filter);
        expect(report.total).toEqual(expected.total);
        expect(report.groups).toEqual(expected.groups);
      }),
      { numRuns: 100, seed: 3 },
    );

    db.exec('DELETE FROM calls');
    expect(db.prepare('SELECT COUNT(*) AS n FROM hourly_totals').get()).toEqual({ n: 0 });
  });
});

describe('migration from schema version 2', () => {
  it('migration 8 splits NULL costs: no input price = unpriced, an input price = unknown cost', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'ledger.db');
      const old = new Database(path);
      old.exec(SCHEMA_V2_SQL);
      const insert = old.prepare(
        `INSERT INTO calls (call_id, session_id, started_at, model, provider, provider_model, prompt_tokens, completion_tokens, cost_micro_usd, input_price_per_mtok, latency_ms, attempts, status)
         VALUES (?, 'old', '2026-11-01T00:10:00.000Z', 'm', 'openai', 'm', 10, 1, ?, ?, 1, 1, 'ok')`,
      );
      insert.run('priced', 42, 0.15);
      insert.run('unpriced', null, null);
      insert.run('unknown', null, 0.15);
      old.close();
      const ledger = SqliteLedger.open(path, { now: () => at('2026-11-01T00:30:00.000Z') });
      const db = new Database(path);
      try {
        expect(db.prepare('SELECT calls, cost_micro_usd, unpriced_calls, unknown_cost_calls FROM hourly_totals').all()).toEqual([
          { calls: 3, cost_micro_usd: 42, unpriced_calls: 1, unknown_cost_calls: 1 },
        ]);
        // The new triggers keep them apart too, on insert and on delete.
        await ledger.record(callRecord({ startedAt: at('2026-11-01T00:20:00.000Z'), model: 'm', provider: 'openai', costMicroUsd: null }));
        expect(db.prepare('SELECT unpriced_calls, unknown_cost_calls FROM hourly_totals').get()).toEqual({ unpriced_calls: 1, unknown_cost_calls: 2 });
        db.prepare("DELETE FROM calls WHERE call_id = 'unpriced'").run();
        expect(db.prepare('SELECT calls, unpriced_calls, unknown_cost_calls FROM hourly_totals').get()).toEqual({ calls: 3, unpriced_calls: 0, unknown_cost_calls: 2 });
        expectRollupMatchesCalls(db);
      } finally {
        db.close();
        await ledger.close();
      }
    } finally {
      cleanup();
    }
  });

  it('backfills hourly_totals from the rows already there, then keeps it up to date', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'ledger.db');
      const old = new Database(path);
      old.exec(SCHEMA_V2_SQL);
      const rows = randomRows(1_500, 2);
      const insert = old.transaction(() => rows.forEach((row, i) => insertDirectly(old, row, i)));
      insert();
      // Hand-made rows at the edges: hour boundaries, a month boundary, unknown and zero costs.
      for (const [i, startedAt, cost, status] of [
        [0, '2026-10-31T23:59:59.999Z', 1_000_000, 'ok'],
        [1, '2026-11-01T00:00:00.000Z', null, 'error'],
        [2, '2026-11-01T00:59:59.999Z', 0, 'cancelled'],
        [3, '2026-11-01T01:00:00.000Z', 7, 'ok'],
      ] as const) {
        old
          .prepare(
            `INSERT INTO calls (call_id, session_id, started_at, model, provider, provider_model, prompt_tokens, completion_tokens, cost_micro_usd, latency_ms, attempts, status)
             VALUES (?, 'old', ?, 'gpt-4o', 'openai', 'gpt-4o', 10, 1, ?, 1, 1, ?)`,
          )
          .run(`edge-${i}`, startedAt, cost, status);
      }
      old.close();

      const ledger = SqliteLedger.open(path, { now: () => at('2026-11-01T00:30:00.000Z') });
      const db = new Database(path);
      try {
        expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
        expect(SCHEMA_VERSION).toBeGreaterThanOrEqual(3);
        expect(db.prepare('SELECT COUNT(*) AS n FROM hourly_totals').get()).not.toEqual({ n: 0 });
        expectRollupMatchesCalls(db);
        for (const groupBy of GROUPS) {
          for (const filter of [{ groupBy }, { groupBy, since: at('2026-10-31T23:59:59.999Z'), until: at('2026-11-01T01:00:00.001Z') }]) {
            const report = await ledger.report(filter);
            expect({ total: report.total, groups: report.groups }).toEqual(bruteForceReport(db, filter));
          }
        }
        expect(await ledger.budgetStatus({ dailyUsd: 1, monthlyUsd: 1 })).toEqual({
          daily_usd: 1,
          monthly_usd: 1,
          spent_today_usd: microToUsd(bruteForceSpent(db, at('2026-11-01T00:00:00.000Z'), at('2026-11-02T00:00:00.000Z'))),
          spent_month_usd: microToUsd(bruteForceSpent(db, at('2026-11-01T00:00:00.000Z'), at('2026-12-01T00:00:00.000Z'))),
        });

        // After the migration, the trigger keeps it exact.
        await ledger.record(callRecord({ startedAt: at('2026-11-01T00:10:00.000Z'), model: 'gpt-4o', provider: 'openai', costMicroUsd: 5 }));
        await ledger.record(callRecord({ startedAt: at('2026-11-01T02:10:00.000Z'), costMicroUsd: null }));
        expectRollupMatchesCalls(db);
        // Two backfilled edge rows (NULL and 0 cost) and the new one ('gpt-4o' is not among the random models).
        expect(db.prepare("SELECT * FROM hourly_totals WHERE hour = '2026-11-01T00' AND model = 'gpt-4o'").get()).toEqual({
          hour: '2026-11-01T00',
          model: 'gpt-4o',
          provider: 'openai',
          calls: 3,
          failed_calls: 2,
          prompt_tokens: 120,
          completion_tokens: 22,
          cost_micro_usd: 5,
          unpriced_calls: 1,
          unknown_cost_calls: 0,
        });
      } finally {
        db.close();
        await ledger.close();
      }
    } finally {
      cleanup();
    }
  });
});
