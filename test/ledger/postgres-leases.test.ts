/**
 * Budget leases of the PostgreSQL ledger (postgres-ledger.ts, budget-leases.ts): several ledger
 * instances (each its own pool, as separate processes are) against one real database. The cap is
 * kept across instances with leases on, a lease is settled in the same transaction as its calls'
 * rows, kept holds, the UTC day boundary, a killed instance's lease, and the idle shrink.
 */

import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { monthPeriod } from '../../src/ledger/budget-caps.js';
import { isoTime, toCallRow } from '../../src/ledger/call-row.js';
import type { Ledger } from '../../src/ledger/ledger.js';
import { openLedger, type OpenLedgerOptions } from '../../src/ledger/open-ledger.js';
import type { PostgresLedger } from '../../src/ledger/postgres/postgres-ledger.js';
import { freshDatabase, queryRows as query } from '../support/postgres-server.js';
import { buildLedgerForChildren, callRecord, tempDir } from './helpers.js';

const HOLD = 1_000;
const temp = tempDir('ledger-leases-');
const drops: Array<() => Promise<void>> = [];
const opened: Ledger[] = [];
let spools = 0;

afterAll(async () => {
  await Promise.all(opened.map((ledger) => ledger.close().catch(() => undefined)));
  await Promise.all(drops.map((drop) => drop().catch(() => undefined)));
  temp.cleanup();
});

async function freshUrl(): Promise<string> {
  const database = await freshDatabase(inject('postgresUrl'), 'leases');
  drops.push(database.drop);
  return database.url;
}

async function open(url: string, options: OpenLedgerOptions = {}): Promise<PostgresLedger> {
  const ledger = await openLedger(url, { spoolDir: join(temp.dir, `spool-${++spools}`), ...options });
  opened.push(ledger);
  return ledger as PostgresLedger;
}

type Row = { id: string; created_at: string; amount: string; expires_at: string; principal: string | null };
const reservations = (url: string): Promise<Row[]> =>
  query<Row>(url, 'SELECT id, created_at, amount_micro_usd AS amount, expires_at, principal FROM reservations ORDER BY id');
/** Recorded spend plus every hold and lease, as an admission sums them. */
async function committed(url: string): Promise<number> {
  const [row] = await query<{ total: string }>(url, 'SELECT ((SELECT COALESCE(SUM(cost_micro_usd), 0) FROM calls) + (SELECT COALESCE(SUM(amount_micro_usd), 0) FROM reservations))::text AS total');
  return Number(row!.total);
}

/** A call of this instant that cost exactly its hold. */
const spentCall = (callId: string, principal?: string) => callRecord({ callId, startedAt: Date.now(), costMicroUsd: HOLD, ...(principal ? { principal } : {}) });

describe('budget leases across instances', () => {
  it('3 instances x 800 concurrent calls against a cap worth 2,000 holds: never over the cap, and once the idle leases are shrunk the cap fills exactly', async () => {
    const url = await freshUrl();
    const budget = { dailyUsd: 2 }; // 2,000 holds of $0.001
    const cap = 2_000 * HOLD;
    const ledgers = await Promise.all([0, 1, 2].map(() => open(url, { leaseIdleMs: 300 })));
    // Spend plus holds plus leases, sampled from the database while the race runs.
    let highest = 0;
    let racing = true;
    const sampler = (async () => {
      while (racing) {
        highest = Math.max(highest, await committed(url));
        await sleep(2);
      }
    })();
    const outcomes = await Promise.all(
      ledgers.flatMap((ledger, l) =>
        Array.from({ length: 800 }, async (_, i) => {
          const held = await ledger.reserve(HOLD, budget);
          if (!held.ok) return false;
          await ledger.record(spentCall(`race-${l}-${i}`), held.reservationId);
          return true;
        }),
      ),
    );
    racing = false;
    await sampler;
    const first = outcomes.filter(Boolean).length;
    expect(highest).toBeLessThanOrEqual(cap + HOLD);
    expect(await committed(url)).toBeLessThanOrEqual(cap + HOLD);
    expect(first).toBeLessThanOrEqual(2_000);
    // Most admissions were local draws, not round trips (the point of leases).
    const counts = ledgers.map((ledger) => ledger.admissionCounts);
    expect(counts.reduce((sum, c) => sum + c.fromLeases, 0)).toBeGreaterThan(first / 2);

    // Idle leases are shrunk after 300 ms (and a tick; bounded wait on a loaded machine); then one
    // instance fills what is left, exactly to the cap.
    const settledAt = Date.now();
    while ((await reservations(url)).length > 0 && Date.now() < settledAt + 10_000) await sleep(50);
    expect(await reservations(url)).toEqual([]);
    let second = 0;
    for (let i = 0; i < 2_100; i++) {
      const held = await ledgers[0]!.reserve(HOLD, budget);
      if (!held.ok) {
        expect(held.message).toBe("Daily budget of $2.00 reached ($2.00 spent)");
        break;
      }
      await ledgers[0]!.record(spentCall(`fill-${i}`), held.reservationId);
      second++;
    }
    expect(first + second).toBe(2_000);
  }, 60_000);

  it('settles a lease in the same transaction as its calls: a reader never sees a row without the lease reduced', async () => {
    const url = await freshUrl();
    const ledger = await open(url);
    const budget = { dailyUsd: 1_000 };
    const draws = await Promise.all(Array.from({ length: 30 }, () => ledger.reserve(HOLD, budget)));
    expect(draws.every((draw) => draw.ok && draw.reservationId! < 0)).toBe(true);
    // One lease of 64 holds (1/16 of the room is far more), taken by the first call.
    const [lease] = await reservations(url);
    expect(Number(lease!.amount)).toBe(64 * HOLD);
    expect(await reservations(url)).toHaveLength(1);

    const reader = new pg.Client({ connectionString: url });
    await reader.connect();
    const samples: Array<{ calls: number; lease: number }> = [];
    const sample = async (): Promise<void> => {
      const { rows } = await reader.query<{ calls: number; lease: number }>(
        `SELECT (SELECT COUNT(*) FROM calls)::float8 AS calls, (SELECT amount_micro_usd FROM reservations WHERE id = ${Number(lease!.id)})::float8 AS lease`,
      );
      samples.push(rows[0]!);
    };
    let recording = true;
    const sampling = (async () => {
      while (recording) await sample();
    })();
    // In small groups, so the reader sees several commits.
    for (let i = 0; i < 30; i += 3) {
      await Promise.all(draws.slice(i, i + 3).map((draw, j) => ledger.record(spentCall(`s-${i + j}`), draw.ok ? draw.reservationId : undefined)));
    }
    recording = false;
    await sampling;
    // The loop's last query may have started before the last group committed; one more, after.
    await sample();
    await reader.end();
    for (const sample of samples) expect(sample.lease).toBe(64 * HOLD - sample.calls * HOLD);
    expect(samples.at(-1)).toEqual({ calls: 30, lease: 34 * HOLD });
    // The other instances see spent + held = 30 calls + the lease's unused 34 holds.
    expect(await committed(url)).toBe(64 * HOLD);
  });

  it("a call of unknown cost drawn from a lease keeps its part as a hold of the lease's day, to the end of the month", async () => {
    const url = await freshUrl();
    const ledger = await open(url);
    const alice = { name: 'alice', budget: { dailyUsd: 100 } };
    const draw = await ledger.reserve(HOLD, { dailyUsd: 1_000 }, alice);
    if (!draw.ok) throw new Error(draw.message);
    const [lease] = await reservations(url);
    expect(lease).toMatchObject({ principal: 'alice', amount: String(64 * HOLD) });
    await ledger.record(callRecord({ callId: 'unknown', startedAt: Date.now(), usage: null, costMicroUsd: null, status: 'cancelled', keepHold: true, principal: 'alice' }), draw.reservationId);
    const rows = await reservations(url);
    expect(rows).toEqual([
      { ...lease!, amount: String(63 * HOLD) },
      { id: expect.any(String), created_at: lease!.created_at, amount: String(HOLD), expires_at: isoTime(monthPeriod(Date.parse(lease!.created_at)).end), principal: 'alice' },
    ]);
    // Closing gives the lease back; the kept part stays, counted for alice and for everyone.
    await ledger.close();
    expect((await reservations(url)).map((row) => [row.amount, row.principal])).toEqual([[String(HOLD), 'alice']]);
  });

  it('never draws from a lease across the UTC day boundary: near midnight each call holds exactly, after it a new lease of the new day', async () => {
    const url = await freshUrl();
    let now = Date.parse('2026-11-26T23:59:40.000Z');
    const ledger = await open(url, { now: () => now, budgetClock: 'now' });
    const budget = { dailyUsd: 10 };
    const take = async (): Promise<void> => {
      const held = await ledger.reserve(HOLD, budget);
      if (!held.ok) throw new Error(held.message);
    };
    await take();
    now = Date.parse('2026-11-26T23:59:50.000Z');
    await take(); // from the lease of 23:59:40
    expect((await reservations(url)).map((row) => [row.created_at, row.amount])).toEqual([['2026-11-26T23:59:40.000Z', String(64 * HOLD)]]);
    // Within 5 s of midnight: no draw from the old lease, and no new lease either.
    now = Date.parse('2026-11-26T23:59:56.000Z');
    await take();
    // After midnight: a lease of the new day, so the new day's sums count it.
    now = Date.parse('2026-11-27T00:00:01.000Z');
    await take();
    await take();
    const rows = (await reservations(url)).map((row) => [row.created_at, row.amount]);
    expect(rows).toContainEqual(['2026-11-26T23:59:56.000Z', String(HOLD)]);
    expect(rows).toContainEqual(['2026-11-27T00:00:01.000Z', String(64 * HOLD)]);
    expect(rows.filter(([createdAt]) => createdAt!.startsWith('2026-11-27'))).toHaveLength(1);
    expect(ledger.admissionCounts).toMatchObject({ fromLeases: 2, waited: 3, leasesTaken: 2, database: 3 });
  });

  it("a killed instance's lease stops counting after the TTL", async () => {
    const url = await freshUrl();
    const ttl = 2_000;
    const module = buildLedgerForChildren(join(temp.dir, 'build'));
    const script = `
      const { openLedger } = await import(${JSON.stringify(module)});
      const ledger = await openLedger(${JSON.stringify(url)}, { spoolDir: ${JSON.stringify(join(temp.dir, 'killed-spool'))}, reservationTtlMs: ${ttl} });
      const held = await ledger.reserve(10000, { dailyUsd: 1 });
      process.stdout.write(held.ok ? 'held\\n' : 'refused\\n');
      setInterval(() => undefined, 1000);`;
    // Before the child takes its lease: the lease expires at least a TTL after this.
    const spawnedAt = Date.now();
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((resolve) => child.stdout.on('data', (chunk: Buffer) => resolve(chunk.toString().trim())));
    expect(line).toBe('held');
    child.kill('SIGKILL');
    const killedAt = Date.now();
    // The killed instance leased 1/16 of the $1 cap in whole holds of its call: 60,000 micro-USD.
    expect((await reservations(url)).map((row) => row.amount)).toEqual(['60000']);
    const other = await open(url, { reservationTtlMs: ttl });
    // The rest of the cap, held exactly (too little room left for a lease after this).
    expect((await other.reserve(940_000, { dailyUsd: 1 })).ok).toBe(true);
    expect(await other.reserve(1, { dailyUsd: 1 })).toEqual({ ok: false, message: 'Daily budget of $1.00 reached ($0.00 spent, $1.00 held by calls in flight)' });
    let admitted = false;
    while (!admitted && Date.now() < killedAt + ttl + 3_000) {
      await sleep(200);
      admitted = (await other.reserve(1, { dailyUsd: 1 })).ok;
      if (!admitted) expect(Date.now()).toBeLessThan(killedAt + ttl + 1_500);
    }
    expect(admitted).toBe(true);
    // Not before the TTL: counted from before the lease was taken (the kill came later, how much
    // later depends on the machine's load).
    expect(Date.now() - spawnedAt).toBeGreaterThanOrEqual(ttl);
  }, 30_000);

  it("an idle lease is shrunk after the idle time: another instance is refused only until then", async () => {
    const url = await freshUrl();
    // Long enough for the draw, its record and the other instance's two admissions below to be
    // done before the lease goes idle, even on a loaded machine (at 300 ms, a stall of a third of a
    // second between them would fail the refusal below).
    const idleMs = 1_000;
    const leasing = await open(url, { leaseIdleMs: idleMs });
    const other = await open(url);
    const budget = { dailyUsd: 1 };
    // Before the draw: the lease's idle time runs from its last draw, not from the record after it
    // (which may take a while on a loaded machine).
    const drewAt = Date.now();
    const draw = await leasing.reserve(10_000, budget);
    if (!draw.ok) throw new Error(draw.message);
    await leasing.record(callRecord({ callId: 'done', startedAt: Date.now(), costMicroUsd: 10_000 }), draw.reservationId);
    // $0.01 spent; the lease of 60,000 keeps 50,000 unused; the other instance holds the rest.
    expect((await other.reserve(940_000, budget)).ok).toBe(true);
    const refused = await other.reserve(1, budget);
    expect(refused).toEqual({ ok: false, message: 'Daily budget of $1.00 reached ($0.01 spent, $0.99 held by calls in flight)' });
    let admittedAt = 0;
    while (!admittedAt && Date.now() < drewAt + 5_000) {
      await sleep(50);
      if ((await other.reserve(1, budget)).ok) admittedAt = Date.now();
    }
    expect(admittedAt).toBeGreaterThan(0);
    expect(admittedAt - drewAt).toBeGreaterThanOrEqual(idleMs);
    // The lease row is gone (no call of it in flight), not merely emptied.
    expect((await reservations(url)).map((row) => row.amount)).not.toContain('50000');
  });

  it('without leases every admission is its own hold and round trip', async () => {
    const url = await freshUrl();
    const ledger = await open(url, { budgetLeases: false });
    for (let i = 0; i < 5; i++) expect((await ledger.reserve(HOLD, { dailyUsd: 1_000 })).ok).toBe(true);
    expect((await reservations(url)).map((row) => row.amount)).toEqual(Array(5).fill(String(HOLD)));
    expect(ledger.admissionCounts).toEqual({ fromLeases: 0, waited: 5, database: 5, leasesTaken: 0 });
  });
});

describe('spool replay of lease draws', () => {
  it('reduces a live lease once per row, never below zero, leaves an expired one alone, and puts a kept part back', async () => {
    const url = await freshUrl();
    await (await open(url)).close(); // migrated
    const now = Date.now();
    const created = isoTime(now);
    const expires = isoTime(now + 600_000);
    await query(url, `INSERT INTO reservations (created_at, amount_micro_usd, expires_at, principal) VALUES ('${created}', 64000, '${expires}', NULL), ('${created}', 300, '${expires}', NULL)`);
    const [live, small] = await reservations(url);
    const spoolDir = join(temp.dir, 'replay-spool');
    mkdirSync(spoolDir, { recursive: true });
    const line = (callId: string, extra: object) => JSON.stringify({ rowKey: `app:${callId}`, row: toCallRow(spentCall(callId), 'gone', now), ...extra });
    writeFileSync(
      join(spoolDir, 'gone.jsonl'),
      [
        line('a', { lease: { id: Number(live!.id), amountMicroUsd: HOLD } }),
        // The same row twice (a spool cut short and rewritten): settled once.
        line('a', { lease: { id: Number(live!.id), amountMicroUsd: HOLD } }),
        line('b', { lease: { id: Number(small!.id), amountMicroUsd: HOLD } }),
        // Its lease expired and was deleted meanwhile: the kept part comes back as a hold.
        line('c', { lease: { id: 987_654, amountMicroUsd: 500 }, keepHold: true, hold: { amountMicroUsd: 500, createdAt: created, principal: 'alice' } }),
        '',
      ].join('\n'),
    );
    const ledger = await open(url, { spoolDir });
    expect((await ledger.report({ groupBy: 'none' })).total.calls).toBe(3);
    expect((await reservations(url)).map((row) => [row.amount, row.principal, row.expires_at])).toEqual([
      ['63000', null, expires],
      ['0', null, expires],
      ['500', 'alice', isoTime(monthPeriod(now).end)],
    ]);
  });
});
