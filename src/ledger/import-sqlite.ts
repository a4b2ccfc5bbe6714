/**
 * `ledger import --from FILE.db`: copies a SQLite ledger's calls into the PostgreSQL ledger, for a
 * person moving from their laptop to the team's gateway. Idempotent: each row's key is made from
 * what identifies it in its file (session, call, row id, start, model), so importing the same file
 * again adds nothing, and two people's files (other sessions) never collide.
 */

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { CALL_ROW_COLUMNS, type CallRow } from './call-row.js';
import { LedgerError } from './ledger.js';

/** What an import did. */
export interface ImportOutcome {
  /** Rows read from the SQLite file. */
  read: number;
  /** Rows the target did not have yet. */
  added: number;
}

/** A store that takes rows with their idempotency keys (the PostgreSQL ledger). */
export interface RowImporter {
  importRows(rows: Array<CallRow & { row_key: string }>): Promise<number>;
}

const BATCH_ROWS = 2_000;

/** Copies every `calls` row of the SQLite ledger at `path` into `target`; rows already there are skipped. */
export async function importSqliteLedger(path: string, target: RowImporter): Promise<ImportOutcome> {
  if (!existsSync(path)) throw new LedgerError(`No SQLite ledger at ${path}: give the path of a ledger.db file`, path);
  let db: Database.Database;
  try {
    // Read-only: the laptop's ledger is left exactly as it was.
    db = new Database(path, { readonly: true, fileMustExist: true });
    db.prepare('SELECT 1 FROM calls LIMIT 1').get();
  } catch (error) {
    throw new LedgerError(`${path} is not a readable llm-service-mcp SQLite ledger (${(error as Error).message})`, path, { cause: error });
  }
  try {
    const page = db.prepare<[number, number], Record<string, unknown> & { id: number }>('SELECT * FROM calls WHERE id > ? ORDER BY id LIMIT ?');
    let read = 0;
    let added = 0;
    for (let after = 0; ; ) {
      const rows = page.all(after, BATCH_ROWS);
      if (rows.length === 0) break;
      read += rows.length;
      added += await target.importRows(rows.map(toImportedRow));
      after = rows[rows.length - 1]!.id;
    }
    return { read, added };
  } finally {
    db.close();
  }
}

/** A SQLite row as a row of the target, with its key; columns an older file lacks are empty. */
function toImportedRow(source: Record<string, unknown> & { id: number }): CallRow & { row_key: string } {
  const row = Object.fromEntries(CALL_ROW_COLUMNS.map((column) => [column, source[column] ?? null])) as Record<string, unknown>;
  for (const column of ['prompt_tokens', 'completion_tokens', 'cached_tokens', 'cache_write_tokens', 'reasoning_tokens']) row[column] ??= 0;
  const identity = [source.session_id, source.call_id, source.id, source.started_at, source.model].map(String).join('\u0000');
  return { ...(row as unknown as CallRow), row_key: `sqlite:${createHash('sha256').update(identity).digest('hex').slice(0, 40)}` };
}
