/**
 * The SQLite store of the cost ledger (ledger.ts): one SQLite file (or `:memory:`) that every server process sharing it appends
 * to. Schema and column meanings: see migrations.ts.
 *
 * Durability: WAL with `synchronous = NORMAL`. The contract is that every call the host got an
 * answer for survives a kill of the server at any moment (SIGKILL included): `record()` returns
 * only once its transaction is committed, i.e. written to the `-wal` file, which the OS keeps even
 * if the process dies the next instant. What NORMAL does not promise is surviving an OS crash or a
 * power cut: the last commits before one can be lost (the file stays consistent), since NORMAL
 * fsyncs only at checkpoints. FULL would fsync every commit, for ~4x fewer writes per second and
 * ~0.3 ms more per call (BENCHMARKS.md): a guarantee users did not ask for, at a price they pay on
 * every call. A server (`serve`, `serve --http`) checkpoints from a worker thread
 * (wal-checkpointer.ts) instead of inside the commit that fills the WAL, which made one call in
 * ~80 wait 5–14 ms; when a commit reaches the WAL is unchanged.
 *
 * Reports: `report()` and the budget sums read `hourly_totals` (per-hour sums kept by triggers,
 * see migrations.ts) for the whole hours of a range and `calls` only for the partial hours at its
 * edges, so their cost does not grow with the size of the ledger.
 *
 * Budgets: `reserve()` holds a call's worst-case cost in `reservations` inside a
 * BEGIN IMMEDIATE transaction, so processes sharing the file see each other's calls in flight;
 * `record()` writes the real cost and drops the hold in one transaction, with the call's
 * conversation turn when it has one (one commit per answered call, not two).
 */

import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { startWalCheckpointer, type WalCheckpointer } from './wal-checkpointer.js';
import { budgetCaps, budgetMessage, budgetStatusOf, dayPeriod, holdAmount, monthPeriod, type Period } from '../budget-caps.js';
import { CALL_ROW_COLUMNS, isoTime, toCallRow, type CallRow } from '../call-row.js';
import {
  LedgerError,
  type Budget,
  type BudgetStatus,
  type CallRecord,
  type CostReport,
  type Ledger,
  type LedgerHealth,
  type LedgerOptions,
  type LedgerStats,
  type ReportFilter,
  type Reservation,
  type GroupBy,
  type PrincipalBudget,
  type StoredThread,
  type ThreadTurn,
  LOCAL_PRINCIPAL_KEY,
} from '../ledger.js';
import { SqliteThreads } from './sqlite-threads.js';
import { migrate, SchemaTooNewError } from '../migrations.js';
import { reportRanges, wholeHourKeys } from '../report-ranges.js';
import { sumTotalsRows, toTotals, type TotalsRow } from '../totals.js';

const BUSY_TIMEOUT_MS = 5_000;
const DEFAULT_RESERVATION_TTL_MS = 600_000;
// quick_check reads every page (~185 ms per 100 MB): run it at open only up to this size.
const INTEGRITY_CHECK_MAX_BYTES = 32 * 2 ** 20;

const TOTALS_COLUMNS = `
  COUNT(*) AS calls,
  COALESCE(SUM(status <> 'ok'), 0) AS failed_calls,
  COALESCE(SUM(prompt_tokens), 0) AS prompt_tokens,
  COALESCE(SUM(completion_tokens), 0) AS completion_tokens,
  COALESCE(SUM(cost_micro_usd), 0) AS cost_micro_usd,
  COALESCE(SUM(cost_micro_usd IS NULL AND input_price_per_mtok IS NULL), 0) AS unpriced_calls,
  COALESCE(SUM(cost_micro_usd IS NULL AND input_price_per_mtok IS NOT NULL), 0) AS unknown_cost_calls`;

const HOURLY_COLUMNS = 'calls, failed_calls, prompt_tokens, completion_tokens, cost_micro_usd, unpriced_calls, unknown_cost_calls';

const SUMMED_COLUMNS = `
  SUM(calls) AS calls,
  SUM(failed_calls) AS failed_calls,
  SUM(prompt_tokens) AS prompt_tokens,
  SUM(completion_tokens) AS completion_tokens,
  SUM(cost_micro_usd) AS cost_micro_usd,
  SUM(unpriced_calls) AS unpriced_calls,
  SUM(unknown_cost_calls) AS unknown_cost_calls`;

/** How a grouping reads its key from `calls` and from `hourly_totals`, and orders the groups. */
interface GroupKey {
  calls: string;
  hourly: string;
  order: string;
}

// The unary + keeps SQLite from grouping the partial hours through an index on model or provider
// (older files had them) and fetching every row through it: the started_at range is what narrows
// them down.
const GROUP_KEYS: Record<Exclude<GroupBy, 'none'>, GroupKey> = {
  model: { calls: '+model', hourly: 'model', order: 'cost_micro_usd DESC, calls DESC, key' },
  provider: { calls: '+provider', hourly: 'provider', order: 'cost_micro_usd DESC, calls DESC, key' },
  // started_at is ISO 8601 UTC, so its first ten characters are the UTC day, and so are an hour's.
  day: { calls: 'substr(started_at, 1, 10)', hourly: 'substr(hour, 1, 10)', order: 'key' },
  // hourly_totals has no principal: a principal report reads calls only (see reportQuery).
  principal: { calls: `COALESCE(principal, '${LOCAL_PRINCIPAL_KEY}')`, hourly: 'NULL', order: 'cost_micro_usd DESC, calls DESC, key' },
};
const NO_GROUP: GroupKey = { calls: "''", hourly: "''", order: 'key' };

/** Options of the SQLite store. */
export interface SqliteLedgerOptions extends LedgerOptions {
  /** Largest file that gets a full `quick_check` at open; default 32 MiB (tests lower it). */
  integrityCheckMaxBytes?: number;
  /** A server's: checkpoint the WAL from a worker thread this often (ms), not inside commits. */
  backgroundCheckpointMs?: number;
  /** Told when background checkpoints stop (they then run inside commits again). */
  onWarning?: (message: string) => void;
}

// With background checkpoints, the automatic one stays as a backstop far off (~40 MB of WAL);
// SQLite's default is 1,000 pages.
const BACKSTOP_AUTOCHECKPOINT_PAGES = 10_000;
const DEFAULT_AUTOCHECKPOINT_PAGES = 1_000;

/**
 * The SQLite cost ledger. better-sqlite3 is synchronous: each method does its work at once and
 * returns a settled promise, so a call's row is committed before anything else runs.
 */
export class SqliteLedger implements Ledger {
  /** Resolved file path, or `:memory:`. */
  readonly path: string;
  readonly sessionId: string;
  readonly reservationTtlMs: number;
  private readonly db: Database.Database;
  private readonly now: () => number;
  private readonly checkpointer: WalCheckpointer | undefined;
  private readonly insertCall: Database.Statement<[CallRow]>;
  private readonly deleteReservation: Database.Statement<[number]>;
  private readonly insertReservation: Database.Statement<[string, number, string, string | null]>;
  private readonly deleteExpiredReservations: Database.Statement<[string]>;
  private readonly extendReservation: Database.Statement<[string, number]>;
  private readonly sumCostBetween: Database.Statement<[string, string], { micro: number }>;
  private readonly sumHourlyCostBetween: Database.Statement<[string, string], { micro: number }>;
  private readonly sumHeld: Database.Statement<[string, string], { micro: number }>;
  private readonly sumPrincipalCostBetween: Database.Statement<[string, string, string], { micro: number }>;
  private readonly sumPrincipalHeld: Database.Statement<[string, string, string], { micro: number }>;
  private readonly sessionTotals: Database.Statement<[string], TotalsRow>;
  private readonly sessionPrincipalTotals: Database.Statement<[string, string], TotalsRow>;
  private readonly countRows: Database.Statement<[], { rows: number }>;
  private readonly reportStatements = new Map<string, Database.Statement<unknown[], TotalsRow & { key: string }>>();
  private readonly recordTransaction: Database.Transaction<(row: CallRow, reservationId: number | undefined, keepHold: boolean, turn: ThreadTurn | undefined) => number>;
  private readonly threads: SqliteThreads;

  /** Opens (creating and migrating if needed) the ledger at `path`; throws `LedgerError` if unusable. */
  static open(path: string, options: SqliteLedgerOptions = {}): SqliteLedger {
    const inMemory = path === ':memory:';
    if (path.trim() === '') {
      throw new LedgerError('The ledger path is empty: set LLM_SERVICE_DB to a file path or :memory:', path);
    }
    const fullPath = inMemory ? path : resolve(path);
    if (!inMemory) {
      try {
        mkdirSync(dirname(fullPath), { recursive: true });
      } catch (error) {
        throw new LedgerError(
          `Cannot create the folder of the ledger ${fullPath} (${describe(error)}): set LLM_SERVICE_DB to a writable file path`,
          fullPath,
          { cause: error },
        );
      }
    }
    let db: Database.Database;
    try {
      db = new Database(fullPath, { timeout: BUSY_TIMEOUT_MS });
    } catch (error) {
      throw toLedgerError(error, fullPath);
    }
    try {
      return new SqliteLedger(db, fullPath, options);
    } catch (error) {
      db.close();
      throw toLedgerError(error, fullPath);
    }
  }

  private constructor(db: Database.Database, path: string, options: SqliteLedgerOptions) {
    this.db = db;
    this.path = path;
    this.sessionId = options.sessionId ?? randomUUID();
    this.now = options.now ?? Date.now;
    this.reservationTtlMs = options.reservationTtlMs ?? DEFAULT_RESERVATION_TTL_MS;

    // Busy timeout first: the pragmas and the migration below may wait on another process.
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    // Reading the header here is what turns a non-SQLite file into an error now, not mid-call.
    enableWal(db);
    // Commits reach the WAL file before record() returns, so they survive the process being
    // killed; only an OS crash or power cut can lose the last ones (see the top of this file).
    db.pragma('synchronous = NORMAL');
    // A damaged page would otherwise surface mid-call, after the provider was paid; checked before
    // the migration writes anything.
    assertIntact(db, options.integrityCheckMaxBytes ?? INTEGRITY_CHECK_MAX_BYTES);
    migrate(db);

    this.insertCall = db.prepare(
      `INSERT INTO calls (${CALL_ROW_COLUMNS.join(', ')}) VALUES (${CALL_ROW_COLUMNS.map((column) => `@${column}`).join(', ')})`,
    );
    this.deleteReservation = db.prepare('DELETE FROM reservations WHERE id = ?');
    this.insertReservation = db.prepare(
      'INSERT INTO reservations (created_at, amount_micro_usd, expires_at, principal) VALUES (?, ?, ?, ?)',
    );
    this.deleteExpiredReservations = db.prepare('DELETE FROM reservations WHERE expires_at <= ?');
    this.extendReservation = db.prepare('UPDATE reservations SET expires_at = ? WHERE id = ?');
    this.sumCostBetween = db.prepare(
      'SELECT COALESCE(SUM(cost_micro_usd), 0) AS micro FROM calls WHERE started_at >= ? AND started_at < ?',
    );
    this.sumHourlyCostBetween = db.prepare(
      'SELECT COALESCE(SUM(cost_micro_usd), 0) AS micro FROM hourly_totals WHERE hour >= ? AND hour < ?',
    );
    // Holds taken in the cap's period: calls in flight, and calls of unknown cost kept as spent.
    this.sumHeld = db.prepare(
      'SELECT COALESCE(SUM(amount_micro_usd), 0) AS micro FROM reservations WHERE expires_at > ? AND created_at >= ?',
    );
    this.sumPrincipalCostBetween = db.prepare(
      'SELECT COALESCE(SUM(cost_micro_usd), 0) AS micro FROM calls WHERE principal = ? AND started_at >= ? AND started_at < ?',
    );
    this.sumPrincipalHeld = db.prepare(
      'SELECT COALESCE(SUM(amount_micro_usd), 0) AS micro FROM reservations WHERE principal = ? AND expires_at > ? AND created_at >= ?',
    );
    this.sessionTotals = db.prepare(`SELECT ${TOTALS_COLUMNS} FROM calls WHERE session_id = ?`);
    this.sessionPrincipalTotals = db.prepare(`SELECT ${TOTALS_COLUMNS} FROM calls WHERE session_id = ? AND principal = ?`);
    this.countRows = db.prepare('SELECT COUNT(*) AS rows FROM calls');

    this.threads = new SqliteThreads(db);

    // The call's row, its hold settled and its thread turn (if any): one transaction, one commit.
    // The row goes first, so a row the file refuses leaves no turn behind.
    this.recordTransaction = db.transaction((row: CallRow, reservationId: number | undefined, keepHold: boolean, turn: ThreadTurn | undefined) => {
      const id = Number(this.insertCall.run(row).lastInsertRowid);
      if (reservationId !== undefined) {
        if (keepHold) this.extendReservation.run(isoTime(monthPeriod(this.now()).end), reservationId);
        else this.deleteReservation.run(reservationId);
      }
      if (turn) this.threads.write(turn);
      return id;
    });

    // A real write at open: a read-only file or folder fails here, at start, not on the first call.
    db.transaction(() => this.deleteExpiredReservations.run(isoTime(this.now()))).immediate();

    if (options.backgroundCheckpointMs !== undefined && path !== ':memory:') {
      db.pragma(`wal_autocheckpoint = ${BACKSTOP_AUTOCHECKPOINT_PAGES}`);
      this.checkpointer = startWalCheckpointer(path, options.backgroundCheckpointMs, (error) => {
        if (db.open) db.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT_PAGES}`);
        options.onWarning?.(`ledger: background WAL checkpoints stopped (${error.message}); commits checkpoint again`);
      });
    }
  }

  get location(): string {
    return this.path;
  }

  /** Committed on return: survives a kill of the process (see the top of this file). */
  async record(rec: CallRecord, reservationId?: number, turn?: ThreadTurn): Promise<number> {
    return this.recordTransaction.immediate(toCallRow(rec, this.sessionId, this.now()), reservationId, rec.keepHold === true, turn);
  }

  async reserve(amountMicroUsd: number, budget: Budget | undefined, principal?: PrincipalBudget): Promise<Reservation> {
    const caps = budgetCaps(budget);
    const principalCaps = principal ? budgetCaps(principal.budget) : [];
    if (caps.length === 0 && principalCaps.length === 0) return { ok: true, reservationId: undefined };
    const amount = holdAmount(amountMicroUsd);
    // IMMEDIATE takes the write lock before reading, so no other process can slip in between
    // our sums and our insert.
    return this.db
      .transaction((): Reservation => {
        const now = this.now();
        const nowIso = isoTime(now);
        for (const cap of caps) {
          const { start, end } = cap.period(now);
          const held = this.sumHeld.get(nowIso, isoTime(start))?.micro ?? 0;
          const spent = this.spentBetween(start, end);
          if (spent + held >= cap.capMicro) return { ok: false, message: budgetMessage(cap, spent, held) };
        }
        if (principal && principalCaps.length > 0) {
          for (const cap of principalCaps) {
            const { start, end } = cap.period(now);
            const principalHeld = this.sumPrincipalHeld.get(principal.name, nowIso, isoTime(start))?.micro ?? 0;
            const spent = this.principalSpentBetween(principal.name, start, end);
            if (spent + principalHeld >= cap.capMicro) {
              return { ok: false, message: budgetMessage(cap, spent, principalHeld, principal.name) };
            }
          }
        }
        const expires = isoTime(now + this.reservationTtlMs);
        const id = this.insertReservation.run(nowIso, amount, expires, principal?.name ?? null).lastInsertRowid;
        return { ok: true, reservationId: Number(id) };
      })
      .immediate();
  }

  async renew(reservationId: number): Promise<void> {
    this.extendReservation.run(isoTime(this.now() + this.reservationTtlMs), reservationId);
  }

  async release(reservationId: number): Promise<void> {
    this.deleteReservation.run(reservationId);
  }

  async report(filter: ReportFilter, budget?: Budget): Promise<CostReport> {
    const groupBy = filter.groupBy;
    if (groupBy !== 'none' && !Object.hasOwn(GROUP_KEYS, groupBy)) {
      throw new Error(`Unknown group_by '${String(groupBy)}': use model, provider, day, principal or none`);
    }
    const { sql, params } = reportQuery(filter);
    // Read everything from one snapshot so the total always equals the sum of the groups.
    return this.db.transaction((): CostReport => {
      const rows = this.reportStatement(sql).all(...params);
      // The groups partition the matching calls, so their sum is the total.
      const total = sumTotalsRows(rows);
      return {
        total: toTotals(total),
        groups: groupBy === 'none' ? [] : rows.map((row) => ({ key: row.key, ...toTotals(row) })),
        session: toTotals(
          filter.principal === undefined
            ? this.sessionTotals.get(this.sessionId)
            : this.sessionPrincipalTotals.get(this.sessionId, filter.principal),
        ),
        budget: this.currentBudgetStatus(budget, filter.principal),
      };
    })();
  }

  async budgetStatus(budget: Budget | undefined, principal?: string): Promise<BudgetStatus | null> {
    return this.currentBudgetStatus(budget, principal);
  }

  async stats(): Promise<LedgerStats> {
    const pageCount = this.db.pragma('page_count', { simple: true }) as number;
    const pageSize = this.db.pragma('page_size', { simple: true }) as number;
    return { location: this.path, sizeBytes: pageCount * pageSize, rows: this.countRows.get()?.rows ?? 0 };
  }

  async health(): Promise<LedgerHealth> {
    if (!this.db.open) return { ok: false, detail: `the ledger ${this.path} is closed` };
    try {
      this.countRows.get();
      return { ok: true, detail: `SQLite ${this.path}` };
    } catch (error) {
      return { ok: false, detail: `the ledger ${this.path} cannot be read (${describe(error)})` };
    }
  }

  async loadThread(id: string): Promise<StoredThread | undefined> {
    return this.threads.load(id);
  }

  async appendTurn(turn: ThreadTurn): Promise<void> {
    this.threads.append(turn);
  }

  async deleteThreadsIdleSince(before: number): Promise<number> {
    return this.threads.deleteIdleSince(before);
  }

  async close(): Promise<void> {
    await this.checkpointer?.stop();
    if (this.db.open) this.db.close();
  }

  private currentBudgetStatus(budget: Budget | undefined, principal?: string): BudgetStatus | null {
    const caps = budgetCaps(budget);
    if (caps.length === 0) return null;
    const now = this.now();
    const spent = (period: Period): number =>
      principal === undefined ? this.spentBetween(period.start, period.end) : this.principalSpentBetween(principal, period.start, period.end);
    return budgetStatusOf(caps, spent(dayPeriod(now)), spent(monthPeriod(now)));
  }

  /**
   * Recorded cost of the calls started in [start, end), both on whole UTC hours (a day or a month):
   * read from hourly_totals, at most one row per hour, model and provider instead of every call.
   */
  private spentBetween(start: number, end: number): number {
    const hours = wholeHourKeys(start, end);
    if (hours) return this.sumHourlyCostBetween.get(hours.fromHour, hours.toHour)?.micro ?? 0;
    return this.sumCostBetween.get(isoTime(start), isoTime(end))?.micro ?? 0;
  }

  /** Recorded cost of one principal's calls started in [start, end). */
  private principalSpentBetween(principal: string, start: number, end: number): number {
    return this.sumPrincipalCostBetween.get(principal, isoTime(start), isoTime(end))?.micro ?? 0;
  }

  private reportStatement(sql: string): Database.Statement<unknown[], TotalsRow & { key: string }> {
    let statement = this.reportStatements.get(sql);
    if (!statement) {
      statement = this.db.prepare<unknown[], TotalsRow & { key: string }>(sql);
      this.reportStatements.set(sql, statement);
    }
    return statement;
  }
}

/**
 * Switches the file to WAL. Switching needs an exclusive lock, and SQLite answers SQLITE_BUSY at
 * once, without the busy handler, when another process is doing the same to a new file: so we
 * wait and retry ourselves, up to the busy timeout.
 */
function enableWal(db: Database.Database): void {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  for (;;) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (error) {
      if (!isBusy(error) || Date.now() >= deadline) throw error;
      sleepSync(10 + Math.random() * 40);
    }
  }
}

/**
 * Refuses a file whose pages are damaged even though its header is fine: at start, not mid-call
 * after the provider was paid. `quick_check` reads every page (~185 ms per 100 MB), so it runs
 * only on files up to `maxBytes` (32 MiB by default, ~60 ms at most), which keeps a start with a
 * big ledger within its budget. A larger file is not fully checked; what opening it still proves:
 * the header and the schema are readable (a non-SQLite file fails in enableWal, a damaged schema
 * in the migration check or the statements prepared after it), the right edge of `calls` and of
 * its started_at index, where new rows go, is readable (read below), and a real write commits
 * (the expired-holds cleanup at the end of the constructor). Damage elsewhere in a big file
 * surfaces as SQLITE_CORRUPT from the query that meets it.
 */
function assertIntact(db: Database.Database, maxBytes: number): void {
  const pageCount = db.pragma('page_count', { simple: true }) as number;
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  if (pageCount * pageSize > maxBytes) {
    const hasCalls = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'calls'").get();
    if (hasCalls) db.prepare('SELECT MAX(id), (SELECT MAX(started_at) FROM calls) FROM calls').get();
    return;
  }
  const result = String(db.pragma('quick_check(1)', { simple: true }));
  if (result === 'ok') return;
  // SQLite's report spans lines; the start-up error must be one.
  throw Object.assign(new Error(`quick_check: ${result.replace(/\s+/g, ' ').trim()}`), { code: 'SQLITE_CORRUPT' });
}

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

function sleepSync(ms: number): void {
  // Opening is synchronous (it runs before the server answers anything), so a blocking wait is fine.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * The SQL of a report: the calls started in [since, until) matching the model/provider filter,
 * summed per group key, reading the parts report-ranges.ts splits the range into (the partial
 * hours from `calls` through the started_at index, the whole hours from `hourly_totals`),
 * re-grouped together so the sums are exactly those of a scan of `calls`.
 */
function reportQuery(filter: ReportFilter): { sql: string; params: unknown[] } {
  const group = filter.groupBy === 'none' ? NO_GROUP : GROUP_KEYS[filter.groupBy];
  const params: unknown[] = [];
  const parts: string[] = [];
  const match = (): string => {
    let sql = '';
    if (filter.model !== undefined) {
      sql += ' AND model = ?';
      params.push(filter.model);
    }
    if (filter.provider !== undefined) {
      sql += ' AND provider = ?';
      params.push(filter.provider);
    }
    if (filter.principal !== undefined) {
      sql += ' AND principal = ?';
      params.push(filter.principal);
    }
    if (filter.conversationId !== undefined) {
      sql += ' AND conversation_id = ?';
      params.push(filter.conversationId);
    }
    return sql;
  };
  const fromCalls = (since: number | undefined, until: number | undefined): void => {
    let where = '1 = 1';
    if (since !== undefined) {
      where += ' AND started_at >= ?';
      params.push(isoTime(since));
    }
    if (until !== undefined) {
      where += ' AND started_at < ?';
      params.push(isoTime(until));
    }
    where += match();
    parts.push(`SELECT ${group.calls} AS key, ${TOTALS_COLUMNS} FROM calls WHERE ${where} GROUP BY key`);
  };
  const fromHours = (fromHour: string | undefined, toHour: string | undefined): void => {
    let where = '1 = 1';
    if (fromHour !== undefined) {
      where += ' AND hour >= ?';
      params.push(fromHour);
    }
    if (toHour !== undefined) {
      where += ' AND hour < ?';
      params.push(toHour);
    }
    where += match();
    parts.push(`SELECT ${group.hourly} AS key, ${HOURLY_COLUMNS} FROM hourly_totals WHERE ${where}`);
  };

  // hourly_totals has no principal: a report on or by principal reads the calls of the range
  // (through calls_principal_started_at when narrowed to one principal).
  // Nor a conversation: a report on one reads its calls (through calls_conversation_id).
  const perPrincipal = filter.principal !== undefined || filter.groupBy === 'principal' || filter.conversationId !== undefined;
  for (const part of reportRanges(filter.since, filter.until, perPrincipal)) {
    if (part.source === 'calls') fromCalls(part.since, part.until);
    else fromHours(part.fromHour, part.toHour);
  }
  const sql = `SELECT key, ${SUMMED_COLUMNS} FROM (${parts.join(' UNION ALL ')}) GROUP BY key ORDER BY ${group.order}`;
  return { sql, params };
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' && !error.message.includes(code) ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}

function toLedgerError(error: unknown, path: string): LedgerError {
  if (error instanceof LedgerError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const reason = describe(error);
  let message: string;
  if (error instanceof SchemaTooNewError) {
    message = `The ledger ${path} was written by a newer llm-service-mcp (schema version ${error.found}, this one knows ${error.known}): upgrade, or set LLM_SERVICE_DB to another file`;
  } else if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT' || String(code).startsWith('SQLITE_CORRUPT')) {
    message = `The ledger ${path} is not a SQLite database or is damaged (${reason}): move it aside or set LLM_SERVICE_DB to another file`;
  } else if (isBusy(error)) {
    message = `The ledger ${path} stayed locked by another process for ${BUSY_TIMEOUT_MS / 1000} s (${reason}): retry, or set LLM_SERVICE_DB to another file`;
  } else {
    message = `Cannot open the ledger ${path} for writing (${reason}): check the file and folder permissions, or set LLM_SERVICE_DB to a writable file`;
  }
  return new LedgerError(message, path, { cause: error });
}
