/**
 * The PostgreSQL ledger when its database goes away and comes back, at the ledger's level: calls
 * spooled by an instance that stopped meanwhile are written by the next start, a spooled call of
 * unknown cost keeps its hold, and connection problems are told plainly. Against a real server:
 * the run's (postgres-global-setup.ts) or, to stop and restart it, one of its own. Several gateway
 * instances sharing one database (budget race, kill -9, a 10 s outage under load, start-up) are
 * tested end to end in test/e2e/gateway-instances.test.ts.
 */

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { monthPeriod } from '../../src/ledger/budget-caps.js';
import { isoTime } from '../../src/ledger/call-row.js';
import { LedgerSpooledError } from '../../src/ledger/ledger.js';
import { openLedger } from '../../src/ledger/open-ledger.js';
import { freshDatabase, queryRows as query, startPostgresCluster, type PostgresCluster } from '../support/postgres-server.js';
import { callRecord, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => void;
const drops: Array<() => Promise<void>> = [];

beforeAll(() => {
  ({ dir, cleanup } = tempDir('pg-instances-'));
});
afterAll(async () => {
  await Promise.all(drops.map((drop) => drop().catch(() => undefined)));
  cleanup();
}, 60_000);

async function database(serverUrl = inject('postgresUrl')): Promise<string> {
  const created = await freshDatabase(serverUrl, 'instances');
  drops.push(created.drop);
  return created.url;
}

describe('the database stops and comes back', () => {
  let cluster: PostgresCluster;

  beforeAll(async () => {
    cluster = await startPostgresCluster();
  }, 60_000);
  afterAll(async () => {
    await cluster?.remove();
  }, 60_000);

  it('calls spooled by an instance that stopped before the database came back are written by the next start', async () => {
    const url = await database(cluster.url);
    const spoolDir = join(dir, 'next-start-spool');
    const first = await openLedger(url, { spoolDir, spoolRetryMs: 60_000 });
    await first.record(callRecord({ callId: 'before' }));
    await cluster.stop();
    try {
      await expect(first.record(callRecord({ callId: 'while-down-1' }))).rejects.toThrow(LedgerSpooledError);
      await expect(first.record(callRecord({ callId: 'while-down-2' }))).rejects.toThrow(/unreachable .*; kept in /);
      // With a budget the spend cannot be known: refused, and the message says why.
      expect(await first.reserve(1, { dailyUsd: 5 })).toEqual({
        ok: false,
        message: expect.stringMatching(/^Cannot check the budget: the PostgreSQL ledger postgres:\/\/postgres:\*\*\*@.* is unreachable \(.*ECONNREFUSED.*\)\. With a budget set, calls are refused until it is back$/),
      });
      // Without one, calls go on.
      expect(await first.reserve(1, undefined)).toEqual({ ok: true, reservationId: undefined });
      expect(await first.health()).toMatchObject({ ok: false, detail: expect.stringContaining('2 calls waiting in the spool') });
      await first.close();
    } finally {
      await cluster.start();
    }
    const next = await openLedger(url, { spoolDir });
    expect((await next.report({ groupBy: 'none' })).total.calls).toBe(3);
    expect(await next.health()).toEqual({ ok: true, detail: expect.not.stringContaining('spool') });
    await next.close();
    const rows = await query<{ call_id: string }>(url, 'SELECT call_id FROM calls ORDER BY call_id');
    expect(rows.map((row) => row.call_id)).toEqual(['before', 'while-down-1', 'while-down-2']);
  }, 60_000);

  it('a call of unknown cost spooled for longer than its hold lives keeps its worst case counted: the replay puts the expired, deleted hold back, kept to the end of its month', async () => {
    const url = await database(cluster.url);
    const spoolDir = join(dir, 'kept-hold-spool');
    const ttlMs = 500;
    const first = await openLedger(url, { spoolDir, spoolRetryMs: 60_000, reservationTtlMs: ttlMs });
    const hold = await first.reserve(300_000, { dailyUsd: 1 });
    if (!hold.ok) throw new Error(hold.message);
    await cluster.stop();
    try {
      // The stream broke without usage while the database was away: the call is spooled, its hold
      // (no longer renewed) left to expire in the database.
      const unknown = { usage: null, costMicroUsd: null, status: 'cancelled' as const, finishReason: null, error: 'cut while answering', keepHold: true };
      await expect(first.record(callRecord({ callId: 'unknown', startedAt: Date.now(), ...unknown }), hold.reservationId)).rejects.toThrow(LedgerSpooledError);
      await first.close();
    } finally {
      await cluster.start();
    }
    // Back after more than a TTL: the next instance to start first deletes the expired holds
    // (so the hold row is gone), then writes the spool.
    await new Promise((resolve) => setTimeout(resolve, ttlMs * 2));
    const next = await openLedger(url, { spoolDir, reservationTtlMs: ttlMs });
    try {
      expect((await next.report({ groupBy: 'none' })).total).toMatchObject({ calls: 1, unknown_cost_calls: 1 });
      expect(await next.reserve(1, { dailyUsd: 0.3 })).toEqual({ ok: false, message: 'Daily budget of $0.30 reached ($0.00 spent, $0.30 held by calls in flight)' });
    } finally {
      await next.close();
    }
    const rows = await query<{ id: number; amount_micro_usd: string; created_at: string; expires_at: string }>(url, 'SELECT id::float8 AS id, amount_micro_usd, created_at, expires_at FROM reservations');
    expect(rows).toEqual([{ id: hold.reservationId, amount_micro_usd: '300000', created_at: expect.any(String), expires_at: isoTime(monthPeriod(Date.parse(rows[0]!.created_at)).end) }]);
  }, 60_000);

  it('calls drawn from a budget lease and spooled in an outage settle their parts of the lease when replayed; a kept part becomes a hold of the lease\'s day', async () => {
    const url = await database(cluster.url);
    const spoolDir = join(dir, 'lease-spool');
    const first = await openLedger(url, { spoolDir, spoolRetryMs: 60_000 });
    const budget = { dailyUsd: 1 };
    const draws = await Promise.all([first.reserve(10_000, budget), first.reserve(10_000, budget)]);
    const ids = draws.map((draw) => (draw.ok ? draw.reservationId! : 0));
    expect(ids.every((id) => id < 0)).toBe(true);
    await first.record(callRecord({ callId: 'settled', startedAt: Date.now(), costMicroUsd: 10_000 }), ids[0]);
    const [lease] = await query<{ created_at: string; amount_micro_usd: string }>(url, 'SELECT created_at, amount_micro_usd FROM reservations');
    // 1/16 of the $1 cap in whole holds of $0.01, less the settled call.
    expect(lease!.amount_micro_usd).toBe('50000');
    await cluster.stop();
    try {
      const unknown = { usage: null, costMicroUsd: null, status: 'cancelled' as const, finishReason: null, error: 'cut while answering', keepHold: true };
      await expect(first.record(callRecord({ callId: 'unknown', startedAt: Date.now(), ...unknown }), ids[1])).rejects.toThrow(LedgerSpooledError);
      // The lease had a call spooled: no more draws from it (the database cannot be asked either).
      expect(await first.reserve(10_000, budget)).toMatchObject({ ok: false, message: expect.stringMatching(/^Cannot check the budget/) });
      await first.close();
    } finally {
      await cluster.start();
    }
    const next = await openLedger(url, { spoolDir });
    try {
      expect((await next.report({ groupBy: 'none' })).total).toMatchObject({ calls: 2, unknown_cost_calls: 1 });
    } finally {
      await next.close();
    }
    // The lease (its instance closed while the database was away, so left to expire) gave up the
    // spooled call's part; that part is a kept hold of the lease's day, to the end of its month.
    expect(await query(url, 'SELECT created_at, amount_micro_usd, expires_at FROM reservations ORDER BY id')).toEqual([
      { created_at: lease!.created_at, amount_micro_usd: '40000', expires_at: expect.any(String) },
      { created_at: lease!.created_at, amount_micro_usd: '10000', expires_at: isoTime(monthPeriod(Date.parse(lease!.created_at)).end) },
    ]);
  }, 60_000);
});

describe('connection problems are told plainly, never with the password', () => {
  it('a wrong password: a LedgerError naming the database, the password replaced by ***', async () => {
    const url = new URL(await database());
    const secret = 'not-the-password-LEAKCHECK';
    url.password = secret;
    const attempt = openLedger(url.toString(), { spoolDir: join(dir, 'wrong-password-spool') });
    await expect(attempt).rejects.toThrow(/^PostgreSQL refused the login to postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/instances_\w+ \(.*password authentication failed/);
    await expect(attempt).rejects.not.toThrow(secret);
  });

  it('nothing listening: a LedgerError that says the server cannot be reached', async () => {
    const url = new URL(inject('postgresUrl'));
    url.port = '1';
    await expect(openLedger(url.toString(), { spoolDir: join(dir, 'no-server-spool'), connectTimeoutMs: 2_000 })).rejects.toThrow(/^Cannot reach the PostgreSQL ledger postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/postgres \(.*ECONNREFUSED/);
  });
});
