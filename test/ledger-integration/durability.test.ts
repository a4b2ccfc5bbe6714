/**
 * Durability: a server process SIGKILLed with calls in flight. Every call whose answer reached
 * the client is a committed row (a call is recorded before its result is sent), and the file is
 * intact.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteLedger } from '../../src/ledger/sqlite/sqlite-ledger.js';
import { childEnv, ensureBuilt, spawnServer, structured } from './fixtures/helpers.js';
import { useUpstream } from '../support/use-upstream.js';

const upstream = useUpstream();
let dir: string;

beforeAll(async () => {
  await ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'ledger-durability-'));
}, 120_000);
afterAll(async () => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('SIGKILL with 100 calls in flight', () => {
  it('every answered call is a row, and PRAGMA integrity_check says ok', async () => {
    const dbPath = join(dir, 'ledger.db');
    upstream.setDefault(() => ({ kind: 'openai', delayMs: 20 + Math.floor(Math.random() * 600), usage: { prompt_tokens: 100, completion_tokens: 20 } }));
    const server = await spawnServer(childEnv(upstream, dir, { LLM_SERVICE_DB: dbPath }), dir);

    const answered = new Set<string>();
    let failedToAnswer = 0;
    let killedAt = 0;
    let killed!: () => void;
    const killSignal = new Promise<void>((resolve) => (killed = resolve));
    const calls = Array.from({ length: 100 }, (_, i) =>
      // The child runs on the real clock: a model that does not retire (gpt-4o-mini goes on 2027-01-14).
      server.callTool('chat', { prompt: `call ${i}`, model: 'gpt-6-luna' }).then(
        (result) => {
          if (!result.isError) answered.add(structured(result).call_id as string);
          if (answered.size >= 50 && killedAt === 0) {
            killedAt = answered.size;
            process.kill(server.pid, 'SIGKILL');
            killed();
          }
        },
        () => void failedToAnswer++,
      ),
    );
    await killSignal;
    await Promise.race([Promise.allSettled(calls), new Promise((resolve) => setTimeout(resolve, 5_000))]);
    await server.close().catch(() => undefined);
    console.info(`[durability] killed after ${killedAt} answers; ${answered.size} answered in all, ${failedToAnswer} cut off`);

    expect(answered.size).toBeGreaterThanOrEqual(50);
    expect(answered.size).toBeLessThan(100);
    expect(failedToAnswer).toBeGreaterThan(0);

    // A plain connection, as sqlite3 would open it: the WAL left behind is replayed.
    const db = new Database(dbPath);
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      const rows = db.prepare('SELECT call_id, status, cost_micro_usd FROM calls').all() as Array<{ call_id: string; status: string; cost_micro_usd: number }>;
      const recorded = new Map(rows.map((row) => [row.call_id, row]));
      console.info(`[durability] rows in the file: ${rows.length} (answered ${answered.size}; the rest were recorded but died unsent)`);
      const missing = [...answered].filter((id) => !recorded.has(id));
      expect(missing).toEqual([]);
      // 100 input tokens at $0.10/MTok and 20 output at $0.50/MTok: 20 micro-dollars.
      for (const id of answered) expect(recorded.get(id)).toMatchObject({ status: 'ok', cost_micro_usd: 20 });
      // Only calls the upstream answered can have rows; some answered ones died unsent.
      expect(rows.length).toBeGreaterThanOrEqual(answered.size);
      expect(rows.length).toBeLessThanOrEqual(100);
    } finally {
      db.close();
    }

    // The file still works as a ledger after the crash.
    const ledger = SqliteLedger.open(dbPath);
    try {
      expect((await ledger.report({ groupBy: 'none' })).total.calls).toBeGreaterThanOrEqual(answered.size);
    } finally {
      await ledger.close();
    }
  });
});
