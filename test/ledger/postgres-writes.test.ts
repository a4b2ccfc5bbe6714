/**
 * How the PostgreSQL ledger writes calls: concurrent record()s share one transaction (group
 * commit, write-batcher.ts) with their holds settled in it; a row the database refuses fails only
 * its own call; the totals kept by the statement trigger of migration 5 (hourly_totals, and
 * daily_costs for the budgets) equal a scan of `calls` after batches, imports with duplicates,
 * updates and deletes by hand, and many-row writes running at once do not deadlock.
 * The database is the real test server.
 */

import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { toCallRow } from '../../src/ledger/call-row.js';
import { LedgerError, type Ledger } from '../../src/ledger/ledger.js';
import { openLedger } from '../../src/ledger/open-ledger.js';
import type { PostgresLedger } from '../../src/ledger/postgres/postgres-ledger.js';
import { migratePostgres, POSTGRES_MIGRATIONS } from '../../src/ledger/postgres/postgres-migrations.js';
import { freshDatabase, queryRows as query } from '../support/postgres-server.js';
import { callRecord, tempDir } from './helpers.js';

const NOW = Date.parse('2026-11-26T12:00:00.000Z');
const HOUR = 3_600_000;
const temp = tempDir('ledger-writes-');
const drops: Array<() => Promise<void>> = [];

afterAll(async () => {
  await Promise.all(drops.map((drop) => drop().catch(() => undefined)));
  temp.cleanup();
});

async function freshUrl(): Promise<string> {
  const database = await freshDatabase(inject('postgresUrl'));
  drops.push(database.drop);
  return database.url;
}

async function open(url: string, options: { budgetLeases?: boolean } = {}): Promise<Ledger> {
  // The ledger's clock for the budget's day (NOW), not the database's.
  return openLedger(url, { spoolDir: join(temp.dir, 'spool'), now: () => NOW, budgetClock: 'now', ...options });
}

/** hourly_totals (shards summed) and daily_costs beside the same sums scanned from calls. */
async function totalsAgainstScan(url: string): Promise<{ hourly: unknown[]; hourlyScan: unknown[]; daily: unknown[]; dailyScan: unknown[] }> {
  const [hourly, hourlyScan, daily, dailyScan] = await Promise.all([
    query(url, `SELECT hour, model, provider, SUM(calls)::int AS calls, SUM(failed_calls)::int AS failed, SUM(prompt_tokens)::int AS prompt,
      SUM(completion_tokens)::int AS completion, SUM(cost_micro_usd)::int AS cost, SUM(unpriced_calls)::int AS unpriced, SUM(unknown_cost_calls)::int AS unknown
      FROM hourly_totals GROUP BY 1, 2, 3 HAVING SUM(calls) <> 0 ORDER BY 1, 2, 3`),
    query(url, `SELECT substr(started_at, 1, 13) AS hour, model, provider, COUNT(*)::int AS calls, COUNT(*) FILTER (WHERE status <> 'ok')::int AS failed,
      SUM(prompt_tokens)::int AS prompt, SUM(completion_tokens)::int AS completion, COALESCE(SUM(cost_micro_usd), 0)::int AS cost,
      COUNT(*) FILTER (WHERE cost_micro_usd IS NULL AND input_price_per_mtok IS NULL)::int AS unpriced,
      COUNT(*) FILTER (WHERE cost_micro_usd IS NULL AND input_price_per_mtok IS NOT NULL)::int AS unknown
      FROM calls GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`),
    query(url, 'SELECT day, SUM(cost_micro_usd)::int AS cost FROM daily_costs GROUP BY 1 HAVING SUM(cost_micro_usd) <> 0 ORDER BY 1'),
    query(url, 'SELECT substr(started_at, 1, 10) AS day, SUM(cost_micro_usd)::int AS cost FROM calls GROUP BY 1 HAVING SUM(cost_micro_usd) <> 0 ORDER BY 1'),
  ]);
  return { hourly, hourlyScan, daily, dailyScan };
}

/** `count` imported rows over `hours` hours, in a shuffled order, keys `prefix-i`. */
function importedRows(prefix: string, count: number, hours: number): Array<ReturnType<typeof toCallRow> & { row_key: string }> {
  const rows = Array.from({ length: count }, (_, i) => ({
    ...toCallRow(
      callRecord({
        callId: `${prefix}-${i}`,
        startedAt: NOW - (i % hours) * HOUR,
        model: i % 3 === 0 ? 'gpt-4o-mini' : 'deepseek-chat',
        provider: i % 3 === 0 ? 'openai' : 'deepseek',
        costMicroUsd: i % 10 === 0 ? null : 10 + i,
        status: i % 9 === 0 ? 'error' : 'ok',
      }),
      'import-session',
      NOW,
    ),
    row_key: `${prefix}-${i}`,
  }));
  // A fixed shuffle: rows of many hours in no order, as a SQLite file's id order can be.
  return rows.map((row, i) => ({ row, k: (i * 7919) % count })).sort((a, b) => a.k - b.k).map(({ row }) => row);
}

describe('group commit', () => {
  it('50 concurrent record()s are written in one or two transactions, each hold dropped with its row', async () => {
    const url = await freshUrl();
    // Per-call holds (budget leases settle theirs in the same statement: postgres-leases.test.ts).
    const ledger = await open(url, { budgetLeases: false });
    try {
      const holds = await Promise.all(Array.from({ length: 50 }, () => ledger.reserve(1_000, { dailyUsd: 100 })));
      expect(holds.every((hold) => hold.ok && hold.reservationId !== undefined)).toBe(true);
      const ids = await Promise.all(holds.map((hold, i) => ledger.record(callRecord({ callId: `c-${i}`, startedAt: NOW }), hold.ok ? hold.reservationId : undefined)));
      expect(new Set(ids).size).toBe(50);
      expect(ids.every((id) => id > 0)).toBe(true);
      // xmin: the transaction that inserted the row.
      const transactions = await query<{ n: number }>(url, 'SELECT COUNT(DISTINCT xmin::text)::int AS n FROM calls');
      expect(transactions[0]!.n).toBeLessThanOrEqual(2);
      expect(await query(url, 'SELECT id FROM reservations')).toEqual([]);
      expect((await ledger.report({ groupBy: 'none' })).total.calls).toBe(50);
    } finally {
      await ledger.close();
    }
  });

  it('a row the database refuses fails only its own call; the others of its batch are written', async () => {
    const url = await freshUrl();
    const ledger = await open(url);
    try {
      const outcomes = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) =>
          // A status outside the schema's CHECK: what a bug would write.
          ledger.record(callRecord({ callId: `c-${i}`, status: (i === 4 ? 'weird' : 'ok') as 'ok' })),
        ),
      );
      expect(outcomes.map((outcome) => outcome.status)).toEqual(Array.from({ length: 10 }, (_, i) => (i === 4 ? 'rejected' : 'fulfilled')));
      expect((outcomes[4] as PromiseRejectedResult).reason).toBeInstanceOf(LedgerError);
      expect((await query<{ call_id: string }>(url, 'SELECT call_id FROM calls ORDER BY call_id')).map((row) => row.call_id)).toEqual(
        ['c-0', 'c-1', 'c-2', 'c-3', 'c-5', 'c-6', 'c-7', 'c-8', 'c-9'],
      );
    } finally {
      await ledger.close();
    }
  });

  it('close() waits for the calls still being written', async () => {
    const url = await freshUrl();
    const ledger = await open(url);
    const writes = Array.from({ length: 20 }, (_, i) => ledger.record(callRecord({ callId: `c-${i}` })));
    await ledger.close();
    await Promise.all(writes);
    expect(await query(url, 'SELECT COUNT(*)::int AS n FROM calls')).toEqual([{ n: 20 }]);
  });

  it('row keys are time-ordered (UUID v7), so the unique index on row_key grows at its right edge', async () => {
    const url = await freshUrl();
    let clock = NOW;
    const ledger = await openLedger(url, { spoolDir: join(temp.dir, 'spool'), now: () => (clock += 1), budgetClock: 'now' });
    for (let i = 0; i < 5; i++) await ledger.record(callRecord({ callId: `k-${i}` }));
    await ledger.close();
    const keys = (await query(url, 'SELECT row_key FROM calls ORDER BY id')).map((row) => (row as { row_key: string }).row_key);
    expect(keys).toHaveLength(5);
    for (const key of keys) expect(key).toMatch(/^app:[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect([...keys].sort()).toEqual(keys);
  });
});

describe('totals kept per statement (migration 5)', () => {
  it('hourly_totals and daily_costs equal a scan of calls after records, imports with duplicates, updates and deletes', async () => {
    const url = await freshUrl();
    const ledger = (await open(url)) as PostgresLedger;
    try {
      await Promise.all(Array.from({ length: 30 }, (_, i) => ledger.record(callRecord({ callId: `r-${i}`, startedAt: NOW - (i % 5) * HOUR, costMicroUsd: i % 4 === 0 ? null : i }))));
      const rows = importedRows('imp', 600, 60);
      expect(await ledger.importRows(rows)).toBe(600);
      // The same rows again, and half of them with new ones: only the new ones count.
      expect(await ledger.importRows(rows)).toBe(0);
      expect(await ledger.importRows([...rows.slice(0, 300), ...importedRows('more', 50, 3)])).toBe(50);
      // Fixed and pruned by hand.
      await query(url, "UPDATE calls SET cost_micro_usd = 5, started_at = '2026-11-01T00:00:00.000Z' WHERE row_key LIKE 'imp-1%'");
      await query(url, "UPDATE calls SET status = 'error', model = 'other' WHERE row_key LIKE 'imp-2%'");
      await query(url, "DELETE FROM calls WHERE row_key LIKE 'imp-3%'");
      const { hourly, hourlyScan, daily, dailyScan } = await totalsAgainstScan(url);
      expect(hourly.length).toBeGreaterThan(60);
      expect(hourly).toEqual(hourlyScan);
      expect(daily).toEqual(dailyScan);
      // The budget reads daily_costs: the spend of today matches the rows of today.
      const today = await query<{ cost: number }>(url, `SELECT COALESCE(SUM(cost_micro_usd), 0)::int AS cost FROM calls WHERE started_at >= '2026-11-26'`);
      expect(today[0]!.cost).toBeGreaterThan(0);
      expect((await ledger.budgetStatus({ dailyUsd: 1 }))!.spent_today_usd).toBeCloseTo(today[0]!.cost / 1e6, 9);
    } finally {
      await ledger.close();
    }
  });

  it('many-row writes from several instances at once do not deadlock (rows of many hours, in no order)', async () => {
    const url = await freshUrl();
    const ledgers = (await Promise.all([0, 1, 2, 3].map(() => open(url)))) as PostgresLedger[];
    try {
      // With one upsert per row into a random shard, two such statements locked shard rows in
      // opposite orders: PostgreSQL found a deadlock and failed one of them.
      const added = await Promise.all(ledgers.map((ledger, i) => ledger.importRows(importedRows(`w${i}`, 400, 40))));
      expect(added).toEqual([400, 400, 400, 400]);
      const { hourly, hourlyScan, daily, dailyScan } = await totalsAgainstScan(url);
      expect(hourly).toEqual(hourlyScan);
      expect(daily).toEqual(dailyScan);
    } finally {
      await Promise.all(ledgers.map((ledger) => ledger.close()));
    }
  });

  it('migrating a version-4 ledger fills daily_costs from its hourly totals', async () => {
    const url = await freshUrl();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await migratePostgres(client, POSTGRES_MIGRATIONS.slice(0, 4));
      await client.query(
        `INSERT INTO calls (row_key, call_id, session_id, started_at, model, provider, provider_model, latency_ms, attempts, status, cost_micro_usd)
         SELECT 'k' || g, 'c', 's', to_char(timestamp '2026-11-20' + g * interval '37 minutes', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), 'm', 'p', 'm', 1, 1, 'ok',
           CASE WHEN g % 5 = 0 THEN NULL ELSE g END
         FROM generate_series(1, 500) AS g`,
      );
      await migratePostgres(client);
    } finally {
      await client.end();
    }
    const { daily, dailyScan } = await totalsAgainstScan(url);
    expect(daily.length).toBeGreaterThan(10);
    expect(daily).toEqual(dailyScan);
  });
});
