/**
 * Several processes sharing one ledger file, as several MCP server processes do: no lost rows,
 * one budget, and committed rows that survive a SIGKILL.
 */

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteLedger } from '../../src/ledger/sqlite/sqlite-ledger.js';
import { buildLedgerForChildren, fixture, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => void;
let ledgerModule: string;

beforeAll(() => {
  ({ dir, cleanup } = tempDir());
  ledgerModule = buildLedgerForChildren(join(dir, 'build'));
});
afterAll(() => cleanup());

/** Runs a fixture to completion; resolves with its stdout, rejects on a non-zero exit. */
function run(script: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fixture(script), ledgerModule, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`${script} exited ${code}: ${stderr}`))));
  });
}

describe('one ledger file, several processes', () => {
  it('two processes writing 1,000 calls each at once lose nothing', async () => {
    // A fresh path: both children also race to create and migrate the file.
    const path = join(dir, 'shared', 'writers.db');
    const [a, b] = await Promise.all([run('write-calls.mjs', [path, '1000', 'writer-a']), run('write-calls.mjs', [path, '1000', 'writer-b'])]);
    expect(a.trim().split('\n').at(-1)).toBe('done');
    expect(b.trim().split('\n').at(-1)).toBe('done');

    const db = new Database(path, { readonly: true });
    const bySession = db.prepare('SELECT session_id, COUNT(*) AS n, COUNT(DISTINCT call_id) AS distinct_calls FROM calls GROUP BY session_id ORDER BY session_id').all();
    expect(bySession).toEqual([
      { session_id: 'writer-a', n: 1000, distinct_calls: 1000 },
      { session_id: 'writer-b', n: 1000, distinct_calls: 1000 },
    ]);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();

    const ledger = SqliteLedger.open(path);
    expect((await ledger.report({ groupBy: 'none' })).total).toMatchObject({ calls: 2000, prompt_tokens: 2_000_000, cost_usd: 0.42 });
    await ledger.close();
  });

  it.each([
    ['actual = worst case', 10_000],
    ['actual = 40% of the worst case', 4_000],
  ])('two processes, 50 concurrent calls each, share one budget: at most one call over (%s)', async (_name, actual) => {
    const path = join(dir, `budget-${actual}.db`);
    const worst = 10_000;
    const dailyUsd = (10 * worst) / 1e6; // a cap worth 10 worst-case calls
    const now = Date.parse('2026-11-26T12:00:00.000Z');
    const args = [path, '50', String(worst), String(actual), String(dailyUsd), String(now)];
    const outputs = await Promise.all([run('budget-calls.mjs', args), run('budget-calls.mjs', args)]);
    const results = outputs.map((output) => JSON.parse(output) as { admitted: number; refused: number; message: string });

    const ledger = SqliteLedger.open(path, { now: () => now });
    const spentMicro = Math.round((await ledger.budgetStatus({ dailyUsd }))!.spent_today_usd * 1e6);
    const admitted = results.reduce((sum, result) => sum + result.admitted, 0);
    await ledger.close();

    expect(admitted + results.reduce((sum, result) => sum + result.refused, 0)).toBe(100);
    expect(spentMicro).toBe(admitted * actual);
    expect(spentMicro).toBeLessThanOrEqual(10 * worst + worst);
    expect(admitted).toBeGreaterThanOrEqual(10);
    if (actual === worst) expect(admitted).toBe(10);
    expect(results.some((result) => result.message.startsWith('Daily budget of $0.10 reached ('))).toBe(true);
  });

  it('rows reported written before a SIGKILL are all there, and the file is intact', async () => {
    const path = join(dir, 'killed.db');
    const child = spawn(process.execPath, [fixture('write-calls.mjs'), ledgerModule, path, '1000000', 'doomed'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const reported: string[] = [];
    let buffered = '';
    await new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.stdout.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop()!;
        for (const line of lines) reported.push(line);
        // Kill mid-stream, while the child is inside its write loop.
        if (reported.length >= 300 && !child.killed) {
          child.kill('SIGKILL');
          resolve();
        }
      });
    });
    await new Promise((resolve) => child.once('close', resolve));

    const db = new Database(path);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    const ids = new Set(db.prepare('SELECT call_id FROM calls').pluck().all() as string[]);
    db.close();
    expect(reported.length).toBeGreaterThanOrEqual(300);
    expect(reported.filter((id) => !ids.has(id))).toEqual([]);
    // The ledger still opens and writes after the crash.
    const ledger = SqliteLedger.open(path);
    expect((await ledger.stats()).rows).toBe(ids.size);
    await ledger.close();
  });
});
