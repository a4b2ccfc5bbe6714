/**
 * Instances whose clocks disagree share one PostgreSQL ledger: holds and the budget's day are
 * timed by the database's clock (src/ledger/postgres/database-clock.ts), so an instance six hours
 * behind and one six hours ahead still see each other's live holds, and a hold nobody renews
 * expires after its TTL for both. Real time, a real server (postgres-global-setup.ts).
 */

import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { monthPeriod } from '../../src/ledger/budget-caps.js';
import { isoTime } from '../../src/ledger/call-row.js';
import type { Ledger } from '../../src/ledger/ledger.js';
import { openLedger } from '../../src/ledger/open-ledger.js';
import { freshDatabase, queryRows as query } from '../support/postgres-server.js';
import { callRecord, tempDir } from './helpers.js';

const HOURS = 3_600_000;
const TTL_MS = 3_000;
const temp = tempDir('ledger-clock-');
const drops: Array<() => Promise<void>> = [];
const opened: Ledger[] = [];

afterAll(async () => {
  await Promise.all(opened.map((ledger) => ledger.close().catch(() => undefined)));
  await Promise.all(drops.map((drop) => drop().catch(() => undefined)));
  temp.cleanup();
});

async function skewedLedger(url: string, skewMs: number): Promise<Ledger> {
  const ledger = await openLedger(url, { spoolDir: join(temp.dir, `spool${skewMs}`), now: () => Date.now() + skewMs, reservationTtlMs: TTL_MS });
  opened.push(ledger);
  return ledger;
}

describe('instance clocks six hours apart', () => {
  it('see each other\'s live holds, expire an unrenewed one after its TTL for both, and keep a kept hold to the end of the database\'s month', async () => {
    const database = await freshDatabase(inject('postgresUrl'), 'clock');
    drops.push(database.drop);
    const ahead = await skewedLedger(database.url, 6 * HOURS);
    const behind = await skewedLedger(database.url, -6 * HOURS);
    const budget = { dailyUsd: 1 };

    const unrenewed = await ahead.reserve(400_000, budget);
    if (!unrenewed.ok) throw new Error(unrenewed.message);
    const takenAt = Date.now();
    const live = await behind.reserve(600_000, budget);
    if (!live.ok) throw new Error(live.message);
    // By its own clock, the hold of the instance behind would have expired six hours ago (and be
    // yesterday's): the one ahead would neither count it nor keep it, and let more calls through.
    for (const ledger of [ahead, behind]) {
      expect(await ledger.reserve(1, budget)).toEqual({ ok: false, message: 'Daily budget of $1.00 reached ($0.00 spent, $1.00 held by calls in flight)' });
    }

    // Both holds are stamped by the database's clock, whatever each instance believes.
    const holds = await query<{ created_at: string; expires_at: string }>(database.url, 'SELECT created_at, expires_at FROM reservations ORDER BY id');
    for (const hold of holds) {
      expect(Math.abs(Date.parse(hold.created_at) - Date.now())).toBeLessThan(60_000);
      expect(Date.parse(hold.expires_at) - Date.parse(hold.created_at)).toBe(TTL_MS);
    }

    // The instance behind keeps its call's hold alive (renewed by the database's clock); the one
    // ahead does not renew its own, as if it had died. Bounded: one TTL and a little.
    while (Date.now() < takenAt + TTL_MS + 500) {
      await behind.renew(live.reservationId!);
      await sleep(400);
    }
    // The unrenewed $0.40 no longer counts for either; the renewed $0.60 still does for both.
    expect((await ahead.reserve(400_000, budget)).ok).toBe(true);
    expect(await behind.reserve(1, budget)).toEqual({ ok: false, message: 'Daily budget of $1.00 reached ($0.00 spent, $1.00 held by calls in flight)' });

    // A call of unknown cost keeps its hold to the end of the database's UTC month, not of the
    // month the instance ahead believes it is (on a month's last evening, six hours ahead is the next).
    await ahead.record(callRecord({ callId: 'unknown', startedAt: Date.now(), usage: null, costMicroUsd: null, status: 'cancelled', keepHold: true }), live.reservationId);
    const [kept] = await query<{ created_at: string; expires_at: string }>(database.url, `SELECT created_at, expires_at FROM reservations WHERE id = ${live.reservationId}`);
    expect(kept!.expires_at).toBe(isoTime(monthPeriod(Date.parse(kept!.created_at)).end));
  }, 30_000);
});
