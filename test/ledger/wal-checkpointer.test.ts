/**
 * A server's SQLite ledger checkpoints its WAL from a worker thread (wal-checkpointer.ts), so no
 * call's commit copies pages into the database file; short commands keep SQLite's own checkpoint.
 * Observed on the file itself: a checkpoint is what grows the main database file.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteLedger } from '../../src/ledger/sqlite/sqlite-ledger.js';
import { callRecord } from './helpers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'llm-service-mcp-ckpt-'));
  dirs.push(dir);
  return join(dir, 'ledger.db');
}

async function recordCalls(ledger: SqliteLedger, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await ledger.record(callRecord({ callId: `call-${i}`, startedAt: Date.parse('2026-11-26T04:00:00.000Z') + i * 1000 }));
}

describe('background WAL checkpoints', () => {
  it("a server's ledger copies committed pages into the database file from the worker, with no commit doing it; rows stay readable and close() stops the worker", async () => {
    const path = tempDb();
    const ledger = SqliteLedger.open(path, { backgroundCheckpointMs: 20 });
    const before = statSync(path).size;
    // ~50 calls stay under any automatic checkpoint threshold: only the worker moves pages.
    await recordCalls(ledger, 50);
    await expect.poll(() => statSync(path).size, { timeout: 5_000, interval: 20 }).toBeGreaterThan(before);
    await ledger.close();
    const db = new Database(path, { readonly: true });
    expect((db.prepare('SELECT COUNT(*) AS n FROM calls').get() as { n: number }).n).toBe(50);
    db.close();
  });

  it('without it (short commands), the same calls leave the database file as it was until SQLite checkpoints at 1,000 pages', async () => {
    const path = tempDb();
    const ledger = SqliteLedger.open(path);
    const before = statSync(path).size;
    await recordCalls(ledger, 50);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(statSync(path).size).toBe(before);
    await ledger.close();
  });
});
