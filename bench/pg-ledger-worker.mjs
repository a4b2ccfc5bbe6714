#!/usr/bin/env node
/**
 * One "instance" for the shared-ledger bench: opens the built ledger (`dist/`) at the given
 * setting (a SQLite file or a postgres:// URL), waits for a line on stdin so all instances start
 * together, then either records calls or admits calls against a budget, `concurrency` at a time,
 * and prints one JSON line: {"ms": wall time, "latencies": [ms per operation], "admissions": …}.
 * Modes: `write` records calls; `admit` is a call's budget flow as the service runs it: reserve()
 * (timed), then record() of the call settling that reservation (not timed); `admit-release`
 * reserves and releases only (the bench's mode before budget leases, where a released lease draw
 * never uses its lease up).
 * argv: <setting> <write|admit|admit-release> <count> <concurrency> <data dir> [leases|no-leases]
 */
import { once } from 'node:events';
import { openLedger } from '../dist/ledger/open-ledger.js';
import { sampleCall } from '../test/ledger/fixtures/sample-call.mjs';

const [setting, mode, countText, concurrencyText, dataDir, leases = 'leases'] = process.argv.slice(2);
const count = Number(countText);
const concurrency = Number(concurrencyText);
const ledger = await openLedger(setting, { dataDir, poolSize: Math.max(2, concurrency), budgetLeases: leases !== 'no-leases' });
// A cap no run reaches: every admission goes through the full check (or its lease).
const budget = { dailyUsd: 1e9, monthlyUsd: 1e9 };
process.stdout.write('ready\n');
await once(process.stdin, 'data');
const latencies = [];
let next = 0;
async function lane() {
  while (next < count) {
    const i = next++;
    const t0 = performance.now();
    if (mode === 'write') {
      await ledger.record(sampleCall('bench'));
      latencies.push(performance.now() - t0);
      continue;
    }
    const held = await ledger.reserve(1000, budget);
    latencies.push(performance.now() - t0);
    if (!held.ok || held.reservationId === undefined) continue;
    if (mode === 'admit') await ledger.record(sampleCall(`admit-${i}`), held.reservationId);
    else await ledger.release(held.reservationId);
  }
}
const started = performance.now();
await Promise.all(Array.from({ length: concurrency }, () => lane()));
const ms = performance.now() - started;
// PostgreSQL only: admissions drawn from a lease and those that went to the database.
const admissions = ledger.admissionCounts ? { ...ledger.admissionCounts } : null;
await ledger.close();
process.stdout.write(`${JSON.stringify({ ms, latencies, admissions })}\n`);
process.exit(0);
