/**
 * What only the SQLite store does: its columns as sqlite3 sees them, its file checks at open, its
 * PRAGMA user_version migrations. What both stores do is in contract.test.ts.
 */

import { chmodSync, closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Ledger, LedgerError } from '../../src/ledger/ledger.js';
import { SqliteLedger } from '../../src/ledger/sqlite/sqlite-ledger.js';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src/ledger/migrations.js';
import { SCHEMA_V1_SQL } from './fixtures/frozen-schemas.js';
import { callRecord, tempDir } from './helpers.js';

const at = (iso: string): number => Date.parse(iso);

let dir: string;
let cleanup: () => void;
const opened: Ledger[] = [];

beforeEach(() => {
  ({ dir, cleanup } = tempDir());
});
afterEach(async () => {
  for (const ledger of opened.splice(0)) await ledger.close();
  cleanup();
});

function open(path = join(dir, 'ledger.db'), options: Parameters<typeof SqliteLedger.open>[1] = {}): Ledger {
  const ledger = SqliteLedger.open(path, options);
  opened.push(ledger);
  return ledger;
}

describe('SQLite ledger rows', () => {
  it('stores every column as documented, committed when record() returns', async () => {
    const path = join(dir, 'ledger.db');
    const ledger = open(path, { sessionId: 's1' });
    const id = await ledger.record(
      callRecord({
        callId: 'c-42',
        startedAt: at('2026-11-26T04:00:00.000Z'),
        model: 'claude-sonnet-4-5',
        provider: 'anthropic',
        providerModel: 'claude-sonnet-4-5-20250929',
        usage: { promptTokens: 61_000, completionTokens: 800, cachedTokens: 50_000, cacheWriteTokens: 10_000, cacheWrite1hTokens: 4_000, reasoningTokens: 300, totalTokens: 61_800, raw: { input_tokens: 1000, cache_read_input_tokens: 50_000 } },
        pricing: { inputPerMTok: 3, outputPerMTok: 15, cachedInputPerMTok: 0.3, cacheWritePerMTok: 3.75, cacheWrite1hPerMTok: 6 },
        costMicroUsd: 67_500,
        latencyMs: 1234,
        attempts: 2,
        finishReason: 'length',
      }),
    );
    // A second connection sees the row at once: the transaction is committed.
    const reader = new Database(path, { readonly: true });
    const row = reader.prepare('SELECT *, date(started_at) AS day FROM calls WHERE id = ?').get(id);
    expect(row).toEqual({
      id,
      call_id: 'c-42',
      session_id: 's1',
      started_at: '2026-11-26T04:00:00.000Z',
      day: '2026-11-26',
      model: 'claude-sonnet-4-5',
      provider: 'anthropic',
      provider_model: 'claude-sonnet-4-5-20250929',
      prompt_tokens: 61_000,
      completion_tokens: 800,
      cached_tokens: 50_000,
      cache_write_tokens: 10_000,
      cache_write_1h_tokens: 4_000,
      reasoning_tokens: 300,
      cost_micro_usd: 67_500,
      input_price_per_mtok: 3,
      output_price_per_mtok: 15,
      cached_input_price_per_mtok: 0.3,
      cache_write_price_per_mtok: 3.75,
      cache_write_1h_price_per_mtok: 6,
      latency_ms: 1234,
      attempts: 2,
      status: 'ok',
      finish_reason: 'length',
      error: null,
      raw_usage: '{"input_tokens":1000,"cache_read_input_tokens":50000}',
      principal: null,
      conversation_id: null,
    });
    expect(reader.pragma('journal_mode', { simple: true })).toBe('wal');
    reader.close();

    // A failed call without usage: zero tokens, NULL raw usage; an unknown price stays NULL.
    await ledger.record(callRecord({ callId: 'c-43', usage: null, pricing: null, costMicroUsd: null, status: 'error', finishReason: null, error: 'x'.repeat(10_000) }));
    const failed = new Database(path, { readonly: true }).prepare("SELECT * FROM calls WHERE call_id = 'c-43'").get() as Record<string, unknown>;
    expect(failed).toMatchObject({ prompt_tokens: 0, cost_micro_usd: null, input_price_per_mtok: null, raw_usage: null, status: 'error' });
    expect((failed.error as string).length).toBe(4000);

    await expect(ledger.record(callRecord({ status: 'exploded' as 'ok' }))).rejects.toThrow(/CHECK constraint/);
  });
});

describe('Ledger open errors', () => {
  it('a file that is not SQLite gives a LedgerError naming the file and the remedy', () => {
    const path = join(dir, 'ledger.db');
    writeFileSync(path, 'this is certainly not a database\n'.repeat(200));
    expect(() => SqliteLedger.open(path)).toThrow(LedgerError);
    expect(() => SqliteLedger.open(path)).toThrow(`The ledger ${path} is not a SQLite database or is damaged`);
    expect(() => SqliteLedger.open(path)).toThrow(/move it aside or set LLM_SERVICE_DB to another file$/);
  });

  it('a path below a regular file (cannot create the folder) gives a LedgerError', () => {
    writeFileSync(join(dir, 'plain-file'), 'x');
    const path = join(dir, 'plain-file', 'sub', 'ledger.db');
    expect(() => SqliteLedger.open(path)).toThrow(LedgerError);
    expect(() => SqliteLedger.open(path)).toThrow(`Cannot create the folder of the ledger ${path}`);
  });

  it('a folder as the path gives a LedgerError', () => {
    mkdirSync(join(dir, 'a-folder'));
    expect(() => SqliteLedger.open(join(dir, 'a-folder'))).toThrow(`Cannot open the ledger ${join(dir, 'a-folder')} for writing`);
  });

  it.skipIf(process.getuid?.() === 0)('a read-only folder gives a LedgerError at open, not mid-call', async () => {
    const folder = join(dir, 'read-only');
    mkdirSync(folder);
    await SqliteLedger.open(join(folder, 'ledger.db')).close();
    chmodSync(join(folder, 'ledger.db'), 0o444);
    chmodSync(folder, 0o555);
    try {
      expect(() => SqliteLedger.open(join(folder, 'ledger.db'))).toThrow(LedgerError);
    } finally {
      chmodSync(folder, 0o755);
    }
  });

  it('a file from a newer version is refused, not downgraded', () => {
    const path = join(dir, 'ledger.db');
    const db = new Database(path);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expect(() => SqliteLedger.open(path)).toThrow(`The ledger ${path} was written by a newer llm-service-mcp (schema version ${SCHEMA_VERSION + 1}, this one knows ${SCHEMA_VERSION})`);
  });

  it('an empty path is refused', () => {
    expect(() => SqliteLedger.open('')).toThrow(LedgerError);
  });
});

describe('Ledger start-up integrity check', () => {
  /** A closed ledger whose first or last `calls` leaf page (in key order) is overwritten with junk. */
  async function damagedLedger(which: 'first' | 'last'): Promise<string> {
    const path = join(dir, `damaged-${which}.db`);
    const ledger = SqliteLedger.open(path);
    for (let i = 0; i < 500; i++) await ledger.record(callRecord({ callId: `c${i}`, startedAt: at('2026-11-26T04:00:00.000Z') + i * 1000, error: 'x'.repeat(300) }));
    await ledger.close();
    const db = new Database(path);
    const leaves = db.prepare("SELECT pageno FROM dbstat WHERE name = 'calls' AND pagetype = 'leaf' ORDER BY path").pluck().all() as number[];
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    db.close();
    expect(leaves.length).toBeGreaterThan(10);
    const page = which === 'first' ? leaves[0]! : leaves.at(-1)!;
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(pageSize, 0xab), 0, pageSize, (page - 1) * pageSize);
    closeSync(fd);
    return path;
  }

  it('a file within the size bound gets a full quick_check: damage anywhere is refused at open', async () => {
    const path = await damagedLedger('first');
    expect(() => SqliteLedger.open(path)).toThrow(`The ledger ${path} is not a SQLite database or is damaged (SQLITE_CORRUPT: quick_check: `);
  });

  it('above the bound, open skips quick_check (bounded start-up) but still reads where new rows go', async () => {
    // Damage away from the right edge is not looked for: the price of a start-up that does not read the whole file.
    const inside = open(await damagedLedger('first'), { integrityCheckMaxBytes: 0 });
    expect(await inside.record(callRecord({ callId: 'after' }))).toBeGreaterThan(0);
    // The last page of `calls`, where the next record() would write, is read at open.
    const path = await damagedLedger('last');
    expect(() => SqliteLedger.open(path, { integrityCheckMaxBytes: 0 })).toThrow(`The ledger ${path} is not a SQLite database or is damaged`);
  });
});

describe('Ledger migrations', () => {
  it('numbers migrations 1..N', () => {
    expect(MIGRATIONS.map((migration) => migration.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
  });

  it('opens a file left at schema version 1 and brings it up to date, keeping its rows', async () => {
    const path = join(dir, 'ledger.db');
    const old = new Database(path);
    old.exec(SCHEMA_V1_SQL);
    old.exec(`
      INSERT INTO calls (call_id, session_id, started_at, model, provider, provider_model, prompt_tokens,
        completion_tokens, cost_micro_usd, latency_ms, attempts, status)
      VALUES ('old-call', 'old-session', '2026-11-26T03:00:00.000Z', 'gpt-4o', 'openai', 'gpt-4o', 100, 10, 350, 900, 1, 'ok');
    `);
    old.close();

    const ledger = open(path, { now: () => at('2026-11-26T12:00:00Z') });
    const check = new Database(path, { readonly: true });
    expect(check.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    check.close();
    expect((await ledger.report({ groupBy: 'none' })).total).toMatchObject({ calls: 1, prompt_tokens: 100, cost_usd: 0.00035 });
    const reservation = await ledger.reserve(1000, { dailyUsd: 1 });
    expect(reservation.ok && typeof reservation.reservationId).toBe('number');
  });

  it('migrates a brand-new empty file from version 0', async () => {
    const path = join(dir, 'empty.db');
    writeFileSync(path, '');
    const ledger = open(path);
    await ledger.record(callRecord());
    expect((await ledger.stats()).rows).toBe(1);
  });

  it('works in memory', async () => {
    const ledger = open(':memory:');
    await ledger.record(callRecord());
    expect(await ledger.stats()).toMatchObject({ location: ':memory:', rows: 1 });
  });
});
