/**
 * Picks the ledger store from `LLM_SERVICE_DB`: a `postgres://` or `postgresql://` URL is the
 * PostgreSQL ledger, anything else a SQLite file path (or `:memory:`).
 */

import { join } from 'node:path';
import type { Ledger, LedgerOptions } from './ledger.js';
import type { PostgresLedgerOptions } from './postgres/postgres-ledger.js';
import { redactUrl } from './postgres/redact-url.js';
import { SqliteLedger } from './sqlite/sqlite-ledger.js';

/** What opening a ledger may need besides the setting. */
export interface OpenLedgerOptions extends LedgerOptions, Partial<Omit<PostgresLedgerOptions, keyof LedgerOptions>> {
  /** The per-user data folder: the PostgreSQL ledger's spool goes in `ledger-spool/` there. */
  dataDir?: string;
  /** SQLite only: checkpoint the WAL from a worker thread this often (ms); see wal-checkpointer.ts. */
  backgroundCheckpointMs?: number;
}

/** True when `setting` names a PostgreSQL database rather than a SQLite file. */
export function isPostgresUrl(setting: string): boolean {
  return /^postgres(ql)?:\/\//i.test(setting.trim());
}

/** Opens (creating and migrating if needed) the ledger `setting` names; throws `LedgerError` if unusable. */
export async function openLedger(setting: string, options: OpenLedgerOptions = {}): Promise<Ledger> {
  if (!isPostgresUrl(setting)) return SqliteLedger.open(setting, options);
  // Loaded only for PostgreSQL: a SQLite user's start never pays for the pg driver.
  const { PostgresLedger } = await import('./postgres/postgres-ledger.js');
  const spoolDir = options.spoolDir ?? join(options.dataDir ?? '.', 'ledger-spool');
  return PostgresLedger.open(setting, { ...options, spoolDir });
}

/** The ledger setting as it may be shown: a database URL loses its password. */
export function ledgerLocation(setting: string): string {
  return isPostgresUrl(setting) ? redactUrl(setting) : setting;
}
