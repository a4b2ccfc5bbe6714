#!/usr/bin/env node
/**
 * One "instance" for the shared-ledger bench: opens the built ledger (`dist/`) at the given
 * setting (a SQLite file or a postgres:// URL), waits for a line on stdin so all instances start
 * together, then either records calls or takes budget holds, `concurrency` at a time, and prints
 * one JSON line: {"ms": wall time, "latencies": [ms per operation]}.
 * argv: <setting> <write|admit> <count> <concurrency> <data dir>
 */
import { once } from 'node:events';
import { openLedger } from '../dist/ledger/open-ledger.js';
import { sampleCall } from '../test/ledger/fixtures/sample-call.mjs';

const [setting, mode, countText, concurrencyText, dataDir] = process.argv.slice(2);
const count = Number(countText);
const concurrency = Number(concurrencyText);
const ledger = await openLedger(setting, { dataDir, poolSize: Math.max(2, concurrency) });
// A cap no run reaches: every admission goes through the full check-and-hold.
const budget = { dailyUsd: 1e9, monthlyUsd: 1e9 };
process.stdout.write('ready\n');
await once(process.stdin, 'data');
const latencies = [];
let next = 0;
async function lane() {
  while (next < count) {
    next++;
    const t0 = performance.now();
    if (mode === 'write') {
      await ledger.record(sampleCall('bench'));
    } else {
      const held = await ledger.reserve(1000, budget);
      latencies.push(performance.now() - t0);
      if (held.ok && held.reservationId !== undefined) await ledger.release(held.reservationId);
      continue;
    }
    latencies.push(performance.now() - t0);
  }
}
const started = performance.now();
await Promise.all(Array.from({ length: concurrency }, () => lane()));
const ms = performance.now() - started;
await ledger.close();
process.stdout.write(`${JSON.stringify({ ms, latencies })}\n`);
process.exit(0);
