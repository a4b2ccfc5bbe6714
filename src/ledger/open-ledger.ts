/**
 * Picks the ledger store from `LLM_SERVICE_DB`. Today every setting is a SQLite file path (or
 * `:memory:`); the PostgreSQL store joins here.
 */

import type { Ledger, LedgerOptions } from './ledger.js';
import { SqliteLedger } from './sqlite/sqlite-ledger.js';

/** What opening a ledger may need besides the setting. */
export interface OpenLedgerOptions extends LedgerOptions {
  /** The per-user data folder. */
  dataDir?: string;
  /** The environment (TLS settings of a database server). */
  env?: Record<string, string | undefined>;
  /** Told of problems that reach no caller. */
  onWarning?: (message: string) => void;
}

/** Opens (creating and migrating if needed) the ledger `setting` names; throws `LedgerError` if unusable. */
export async function openLedger(setting: string, options: OpenLedgerOptions = {}): Promise<Ledger> {
  return SqliteLedger.open(setting, options);
}

/** The ledger setting as it may be shown. */
export function ledgerLocation(setting: string): string {
  return setting;
}
