/**
 * Several instances sharing one PostgreSQL ledger, each a process of its own using the ledger as
 * the server does: one budget across all of them, no answered call lost when one is killed or
 * when the database stops for a while, one migration when they start together. Against a real
 * server: the run's (postgres-global-setup.ts) or, for the stop-and-restart test, one of its own.
 */

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { LedgerSpooledError } from '../../src/ledger/ledger.js';
import { openLedger } from '../../src/ledger/open-ledger.js';
import { monthPeriod } from '../../src/ledger/budget-caps.js';
import { isoTime } from '../../src/ledger/call-row.js';
import { freshDatabase, queryRows as query, startPostgresCluster, type PostgresCluster } from '../support/postgres-server.js';
import { buildLedgerForChildren, callRecord, fixture, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => void;
let ledgerModule: string;
const drops: Array<() => Promise<void>> = [];

beforeAll(() => {
  ({ dir, cleanup } = tempDir('pg-instances-'));
  ledgerModule = buildLedgerForChildren(join(dir, 'build'));
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

interface Child {
  /** Lines printed so far (call ids once answered). */
  lines: string[];
  done: Promise<{ code: number | null; stderr: string }>;
  kill(): void;
}

/** Starts a fixture as an instance of its own; `data` is its data folder (its spool). */
function start(script: string, args: string[], data: string): Child {
  const child = spawn(process.execPath, [fixture(script), ledgerModule, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LEDGER_TEST_DATA_DIR: data },
  });
  const lines: string[] = [];
  let buffered = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
  return { lines, done, kill: () => child.kill('SIGKILL') };
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('three instances, one PostgreSQL ledger', () => {
  it.each([
    ['actual = worst case', 10_000],
    ['actual = 40% of the worst case', 4_000],
  ])('300 concurrent calls from 3 instances against a cap worth 30 overspend by at most one call (%s)', async (_label, actual) => {
    const url = await database();
    const worst = 10_000;
    const dailyUsd = (30 * worst) / 1e6;
    const now = Date.parse('2026-11-26T12:00:00.000Z');
    const args = [url, '100', String(worst), String(actual), String(dailyUsd), String(now)];
    // A fresh database: the three also race to migrate it.
    const children = [0, 1, 2].map((i) => start('budget-calls.mjs', args, join(dir, `budget-${actual}-${i}`)));
    const exits = await Promise.all(children.map((child) => child.done));
    for (const exit of exits) expect(exit, exit.stderr).toMatchObject({ code: 0 });
    const results = children.map((child) => JSON.parse(child.lines[0]!) as { admitted: number; refused: number; message: string });
    const admitted = results.reduce((sum, result) => sum + result.admitted, 0);
    expect(admitted + results.reduce((sum, result) => sum + result.refused, 0)).toBe(300);

    const ledger = await openLedger(url, { now: () => now, spoolDir: join(dir, 'reader-spool') });
    const spent = Math.round((await ledger.budgetStatus({ dailyUsd }))!.spent_today_usd * 1e6);
    expect((await ledger.stats()).rows).toBe(admitted);
    await ledger.close();
    // The guarantee: at most one call's worst-case hold over the cap.
    expect(spent).toBeLessThanOrEqual(30 * worst + worst);
    expect(admitted).toBeGreaterThanOrEqual(30);
    if (actual === worst) expect(admitted).toBe(30);
    expect(results.some((result) => result.message.startsWith('Daily budget of $0.30 reached ('))).toBe(true);
    expect(await query(url, 'SELECT version FROM ledger_schema')).toHaveLength(1);
  }, 60_000);

  it('kill -9 of one instance under load: every call it answered is in the ledger, the others carry on', async () => {
    const url = await database();
    const writers = [0, 1, 2].map((i) => start('write-calls.mjs', [url, i === 0 ? '1000000' : '300', `writer-${i}`], join(dir, `kill-${i}`)));
    await waitFor(() => writers[0]!.lines.length >= 200, 30_000);
    writers[0]!.kill();
    const exits = await Promise.all(writers.map((writer) => writer.done));
    expect(exits[1]).toMatchObject({ code: 0 });
    expect(exits[2]).toMatchObject({ code: 0 });

    const rows = await query<{ call_id: string }>(url, 'SELECT call_id FROM calls');
    const stored = new Set(rows.map((row) => row.call_id));
    const answered = writers.flatMap((writer) => writer.lines.filter((line) => line !== 'done'));
    expect(answered.length).toBeGreaterThanOrEqual(800);
    expect(answered.filter((callId) => !stored.has(callId))).toEqual([]);
    // Nothing twice: one row per call.
    expect(rows.length).toBe(stored.size);
  }, 60_000);
});

describe('the database stops for 10 s while three instances answer 100 calls', () => {
  let cluster: PostgresCluster;

  beforeAll(async () => {
    cluster = await startPostgresCluster();
  }, 60_000);
  afterAll(async () => {
    await cluster?.remove();
  }, 60_000);

  it('answered calls are spooled and written once it is back: 0 rows lost, none twice', async () => {
    const url = await database(cluster.url);
    // 34 + 33 + 33 calls, one every 400 ms per instance: about 14 s of calls, the database away
    // for 10 s of them.
    const counts = [34, 33, 33];
    const writers = counts.map((count, i) => start('write-calls.mjs', [url, String(count), `blink-${i}`, '400'], join(dir, `blink-${i}`)));
    await waitFor(() => writers.every((writer) => writer.lines.length >= 3), 30_000);
    await cluster.stop();
    const stoppedAt = Date.now();
    // The instances keep answering while the database is away.
    const answeredAtStop = writers.map((writer) => writer.lines.length);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 10_000 - (Date.now() - stoppedAt))));
    expect(writers.every((writer, i) => writer.lines.length >= answeredAtStop[i]! + 15)).toBe(true);
    await cluster.start();

    const exits = await Promise.all(writers.map((writer) => writer.done));
    for (const exit of exits) expect(exit, exit.stderr).toMatchObject({ code: 0 });
    const answered = writers.flatMap((writer) => writer.lines.filter((line) => line !== 'done'));
    expect(answered).toHaveLength(100);
    const rows = await query<{ call_id: string }>(url, 'SELECT call_id FROM calls');
    expect(rows.map((row) => row.call_id).sort()).toEqual([...answered].sort());
    const spent = await query<{ cost: string }>(url, 'SELECT SUM(cost_micro_usd) AS cost FROM hourly_totals');
    expect(Number(spent[0]!.cost)).toBe(100 * 210);
  }, 120_000);

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
