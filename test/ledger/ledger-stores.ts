/**
 * The two ledger stores as the contract test sees them: how to make an empty ledger, open it,
 * and read what the Ledger interface does not show (the holds, the schema version). SQLite in a
 * temp file; PostgreSQL in a fresh database on the test server (postgres-global-setup.ts).
 */

import { join } from 'node:path';
import Database from 'better-sqlite3';
import { inject } from 'vitest';
import type { Ledger, LedgerOptions } from '../../src/ledger/ledger.js';
import { openLedger } from '../../src/ledger/open-ledger.js';
import { freshDatabase, queryRows as query } from '../support/postgres-server.js';
import { tempDir } from './helpers.js';

export interface LedgerStore {
  name: 'sqlite' | 'postgres';
  /** The setting (LLM_SERVICE_DB) of a new, empty ledger. */
  fresh(): Promise<string>;
  /** `budgetLeases: false`: PostgreSQL takes one hold per call (SQLite always does). */
  open(location: string, options?: LedgerOptions & { budgetLeases?: boolean }): Promise<Ledger>;
  /** The budget holds as stored, oldest first. */
  holds(location: string): Promise<Array<{ principal: string | null; amount_micro_usd: number }>>;
  /** The cost and price columns of `calls` as stored, in row order (numbers, NULL as null). */
  prices(location: string): Promise<StoredPrices[]>;
  /** The schema version the ledger says it is at. */
  schemaVersion(location: string): Promise<number>;
  /** Pretends a newer program migrated the ledger to `version`. */
  setSchemaVersion(location: string, version: number): Promise<void>;
  /** Removes every ledger this store made. */
  cleanup(): Promise<void>;
}

/** The columns a non-finite number could reach. */
export type StoredPrices = Record<(typeof PRICE_COLUMNS)[number], number | null>;

const PRICE_COLUMNS = [
  'cost_micro_usd', 'input_price_per_mtok', 'output_price_per_mtok', 'cached_input_price_per_mtok',
  'cache_write_price_per_mtok', 'cache_write_1h_price_per_mtok', 'latency_ms', 'prompt_tokens',
] as const;
// PostgreSQL would show NaN/Infinity as such; SQLite has no NaN (it stores NULL) but keeps Inf.
const PRICES_SQL = `SELECT ${PRICE_COLUMNS.join(', ')} FROM calls ORDER BY id`;

/** SQLite files in a temp folder. */
export function sqliteStore(): LedgerStore {
  const temp = tempDir('ledger-contract-');
  let count = 0;
  const read = <T>(path: string, use: (db: Database.Database) => T): T => {
    const db = new Database(path);
    try {
      return use(db);
    } finally {
      db.close();
    }
  };
  return {
    name: 'sqlite',
    fresh: async () => join(temp.dir, `ledger-${++count}.db`),
    open: (location, options) => openLedger(location, options),
    holds: async (path) => read(path, (db) => db.prepare('SELECT principal, amount_micro_usd FROM reservations ORDER BY id').all() as Array<{ principal: string | null; amount_micro_usd: number }>),
    prices: async (path) => read(path, (db) => db.prepare(PRICES_SQL).all() as StoredPrices[]),
    schemaVersion: async (path) => read(path, (db) => db.pragma('user_version', { simple: true }) as number),
    setSchemaVersion: async (path, version) => read(path, (db) => void db.pragma(`user_version = ${version}`)),
    cleanup: async () => temp.cleanup(),
  };
}

/** Fresh databases on the test PostgreSQL server. */
export function postgresStore(): LedgerStore {
  const temp = tempDir('ledger-contract-spool-');
  const drops: Array<() => Promise<void>> = [];
  return {
    name: 'postgres',
    fresh: async () => {
      const database = await freshDatabase(inject('postgresUrl'));
      drops.push(database.drop);
      return database.url;
    },
    // A test that sets the clock (`now`) stands on a day or month boundary: holds and budget
    // periods follow it, not the database's clock (postgres/database-clock.ts).
    open: (location, options) => openLedger(location, { spoolDir: join(temp.dir, 'spool'), ...(options?.now ? { budgetClock: 'now' as const } : {}), ...options }),
    holds: async (url) =>
      (await query<{ principal: string | null; amount_micro_usd: string }>(url, 'SELECT principal, amount_micro_usd FROM reservations ORDER BY id')).map((row) => ({
        principal: row.principal,
        amount_micro_usd: Number(row.amount_micro_usd),
      })),
    prices: async (url) =>
      (await query<Record<string, string | number | null>>(url, PRICES_SQL)).map(
        // BIGINT comes back as text ('NaN'/'Infinity' cannot be BIGINT; DOUBLE PRECISION can).
        (row) => Object.fromEntries(PRICE_COLUMNS.map((column) => [column, row[column] === null ? null : Number(row[column])])) as StoredPrices,
      ),
    schemaVersion: async (url) => (await query<{ version: number }>(url, 'SELECT version FROM ledger_schema'))[0]?.version ?? 0,
    setSchemaVersion: async (url, version) => void (await query(url, `UPDATE ledger_schema SET version = ${Number(version)}`)),
    cleanup: async () => {
      await Promise.all(drops.splice(0).map((drop) => drop().catch(() => undefined)));
      temp.cleanup();
    },
  };
}
