/**
 * The local spool of the PostgreSQL ledger: calls answered while the database was unreachable,
 * one JSON line each, in a file of this process's own (`<session>.jsonl`) in the spool folder.
 * They are written to the database when it answers again, or by the next instance that starts
 * with the same spool folder. Rows carry their `row_key`, so one written twice is kept once.
 */

import { appendFileSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { CallRow } from '../call-row.js';
import type { ThreadTurn } from '../ledger.js';

/** One spooled call: its row, its idempotency key and the budget hold to settle with it. */
export interface SpooledCall {
  rowKey: string;
  row: CallRow;
  reservationId?: number;
  /**
   * The call was admitted from a budget lease: the lease row to reduce by the call's part (a
   * lease that expired meanwhile is left alone). With keepHold, `hold` is the part to keep.
   */
  lease?: { id: number; amountMicroUsd: number };
  /** Keep the hold as spent to the end of its UTC month (a call of unknown cost) instead of dropping it. */
  keepHold?: boolean;
  /** The kept hold as it was taken, so the replay can put it back if it expired meanwhile. */
  hold?: SpooledHold;
  /**
   * The call's conversation turn, written in the row's transaction, and only if the row is new
   * (a row replayed twice appends its turn once).
   */
  turn?: ThreadTurn;
  /**
   * An older version's keepHold, with the end of the month it was spooled in: read as keepHold
   * (the replay keeps the hold to the end of the month it was taken in, by the database's clock).
   */
  keepHoldUntil?: string;
}

/** A budget hold as its `reservations` row holds it. */
export interface SpooledHold {
  amountMicroUsd: number;
  /** ISO time, by the database's clock. */
  createdAt: string;
  principal: string | null;
}

/**
 * What a column missing from a spooled row takes: a line written by an older version lacks the
 * columns added since (migration 2's one-hour cache writes and their price, migration 3's
 * conversation id), and the database's own defaults do not apply to an explicit insert.
 */
const SPOOL_DEFAULTS = {
  cache_write_1h_tokens: 0,
  cache_write_1h_price_per_mtok: null,
  conversation_id: null,
} as const satisfies Partial<CallRow>;

/** A spool file claimed for writing to the database: its calls, and how to finish with it. */
export interface ClaimedSpool {
  calls: SpooledCall[];
  /** Removes the file once its calls are in the database. */
  done(): void;
  /** Puts the file back for a later attempt. */
  giveBack(): void;
}

/** The spool folder of one instance. */
export class CallSpool {
  readonly file: string;

  constructor(
    readonly dir: string,
    sessionId: string,
  ) {
    this.file = join(dir, `${sessionId}.jsonl`);
  }

  /** Appends one call; throws when the folder is not writable (the caller then has nothing left). */
  append(call: SpooledCall): void {
    mkdirSync(this.dir, { recursive: true });
    // One open-append-close per call: the line is in the file (the OS's care) when this returns,
    // so a kill of the process right after loses nothing.
    appendFileSync(this.file, `${JSON.stringify(call)}\n`, { mode: 0o600 });
  }

  /** Calls waiting in this folder, across every instance's file. */
  pendingCount(): number {
    let count = 0;
    for (const file of this.files()) {
      try {
        count += readFileSync(file, 'utf8').split('\n').filter((line) => line.trim() !== '').length;
      } catch {
        // Claimed and removed by another instance meanwhile.
      }
    }
    return count;
  }

  /** True when this instance's own file holds calls. */
  hasOwn(): boolean {
    try {
      return statSync(this.file).size > 0;
    } catch {
      return false;
    }
  }

  /**
   * Claims the spool files for writing: this instance's own, and with `all` every instance's
   * (at start, for calls an earlier run left). A claimed file is renamed first, so new calls go
   * to a fresh file and two instances never write the same file's calls at once.
   */
  claim(all: boolean, claimer: string): ClaimedSpool[] {
    const claimed: ClaimedSpool[] = [];
    for (const file of all ? this.files() : [this.file]) {
      const taken = `${file}.${claimer}.flushing`;
      try {
        renameSync(file, taken);
      } catch {
        continue; // gone, or claimed by another instance
      }
      const calls = parseLines(readFileSync(taken, 'utf8'));
      claimed.push({
        calls,
        done: () => rmSync(taken, { force: true }),
        giveBack: () => {
          // Appended back rather than renamed: the owner may have started a new file meanwhile.
          mkdirSync(this.dir, { recursive: true });
          const text = readFileSync(taken, 'utf8');
          appendFileSync(file, text.endsWith('\n') || text === '' ? text : `${text}\n`, { mode: 0o600 });
          rmSync(taken, { force: true });
        },
      });
    }
    return claimed;
  }

  private files(): string[] {
    try {
      return readdirSync(this.dir)
        .filter((name) => name.endsWith('.jsonl') || name.endsWith('.flushing'))
        .map((name) => join(this.dir, name))
        .filter((file) => file.endsWith('.jsonl') || isStale(file));
    } catch {
      return [];
    }
  }
}

/** A `.flushing` file an instance died with, an hour after it was claimed. */
function isStale(file: string): boolean {
  try {
    return Date.now() - statSync(file).mtimeMs > 3_600_000;
  } catch {
    return false;
  }
}

function parseLines(text: string): SpooledCall[] {
  const calls: SpooledCall[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let call: SpooledCall;
    try {
      call = JSON.parse(line) as SpooledCall;
    } catch {
      // A line cut by a crash mid-write: the rest of the file still counts.
      continue;
    }
    if (typeof call !== 'object' || call === null || typeof call.row !== 'object' || call.row === null) continue;
    call.row = { ...SPOOL_DEFAULTS, ...call.row };
    calls.push(call);
  }
  return calls;
}
