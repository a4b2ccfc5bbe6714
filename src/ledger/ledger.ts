/**
 * The cost ledger: one SQLite file (or `:memory:`) that every server process sharing it appends
 * to. Schema and column meanings: see migrations.ts.
 *
 * Durability: WAL with `synchronous = NORMAL`. The contract is that every call the host got an
 * answer for survives a kill of the server at any moment (SIGKILL included): `record()` returns
 * only once its transaction is committed, i.e. written to the `-wal` file, which the OS keeps even
 * if the process dies the next instant. What NORMAL does not promise is surviving an OS crash or a
 * power cut: the last commits before one can be lost (the file stays consistent), since NORMAL
 * fsyncs only at checkpoints. FULL would fsync every commit, for ~4x fewer writes per second and
 * ~0.3 ms more per call (BENCHMARKS.md): a guarantee users did not ask for, at a price they pay on
 * every call.
 *
 * Reports: `report()` and the budget sums read `hourly_totals` (per-hour sums kept by triggers,
 * see migrations.ts) for the whole hours of a range and `calls` only for the partial hours at its
 * edges, so their cost does not grow with the size of the ledger.
 *
 * Budgets: `reserve()` holds a call's worst-case cost in `reservations` inside a
 * BEGIN IMMEDIATE transaction, so processes sharing the file see each other's calls in flight;
 * `record()` writes the real cost and drops the hold in one transaction.
 *
 * Principals (the HTTP gateway's callers), store-neutral so every store behind this interface
 * does the same:
 * - `CallRecord.principal` is stored on the call's row (`calls.principal`); absent/null = a local
 *   (stdio) call, which belongs to no principal.
 * - `reserve(amount, budget, principal)` checks the global caps against everyone's spend and holds,
 *   and `principal.budget`'s caps against that principal's recorded spend and holds only, all in
 *   the one atomic check-and-hold (BEGIN IMMEDIATE here); the hold is tagged with the principal.
 * - `ReportFilter.principal` narrows everything a report shows to that principal's calls: totals,
 *   groups, the session totals, and the budget status (its spend against the budget passed in,
 *   which the caller sets to the principal's own). `groupBy: 'principal'` groups by
 *   `calls.principal`, local calls under the key `(local)`.
 * Per-principal sums read `calls` (index `calls_principal_started_at`), not `hourly_totals`, which
 * has no principal.
 *
 * Hold lifetime: a hold lives exactly as long as its call. A call may run for any time (retries
 * x timeoutMs, a long stream that keeps talking), so no fixed expiry fits it; instead each hold
 * row carries `expires_at`, and the process running the call pushes it forward with `renew()`
 * every `reservationTtlMs / 3` until `record()` deletes the row. Budget sums count only unexpired
 * holds, so a hold whose process died (SIGKILL, power cut) stops counting within one TTL, while a
 * live call's hold never lapses. The same design fits a PostgreSQL store unchanged: the same
 * `reservations(id, amount, expires_at)` table, `UPDATE reservations SET expires_at = now() + ttl
 * WHERE id = $1` to renew, `WHERE expires_at > now()` in the sums (the database's clock, so
 * instances with skewed clocks agree), and the row deleted in the transaction that records the call.
 */

import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { Pricing, Usage } from '../llm/types.js';
import { formatUsd, microToUsd, usdToMicro } from './cost.js';
import { migrate, SchemaTooNewError } from './migrations.js';

/** One row of `calls`, as the LLM service hands it over. */
export interface CallRecord {
  callId: string;
  /** Epoch ms. */
  startedAt: number;
  model: string;
  provider: string;
  providerModel: string;
  /** `null` when the call failed before the provider reported usage. */
  usage: Usage | null;
  pricing: Pricing | null;
  /** `null` = unknown price; a priced call that failed without usage should pass 0. */
  costMicroUsd: number | null;
  latencyMs: number;
  attempts: number;
  status: 'ok' | 'error' | 'cancelled';
  finishReason: string | null;
  error: string | null;
  /** Who made the call over the HTTP gateway; absent or null for a local (stdio) call. */
  principal?: string | null;
}

/** A caller of the HTTP gateway as the ledger needs it: the name on its rows and its own caps. */
export interface PrincipalBudget {
  name: string;
  /** The principal's own caps, checked besides the global ones; none = only the global ones. */
  budget?: Budget;
}

/** Spending caps in USD, per UTC day and UTC calendar month. */
export interface Budget {
  dailyUsd?: number;
  monthlyUsd?: number;
}

/** Sums over a set of calls; field names are those of the `get_cost` result. */
export interface Totals {
  calls: number;
  /** Calls whose status is not `ok`. */
  failed_calls: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** Cost of the priced calls only. */
  cost_usd: number;
  /** Calls whose price is unknown: counted here, never as $0 in `cost_usd`. */
  unpriced_calls: number;
}

/** Spending against the caps; spent amounts are recorded calls, not holds. */
export interface BudgetStatus {
  daily_usd: number | null;
  monthly_usd: number | null;
  spent_today_usd: number;
  spent_month_usd: number;
}

/** The `get_cost` result. */
export interface CostReport {
  total: Totals;
  groups: Array<{ key: string } & Totals>;
  /** Every call of this ledger's session (this process), whatever the filter. */
  session: Totals;
  budget: BudgetStatus | null;
}

export type GroupBy = 'model' | 'provider' | 'day' | 'principal' | 'none';

/** The `principal` group key of local (stdio) calls, which have no principal. */
export const LOCAL_PRINCIPAL_KEY = '(local)';

/** Which calls a report covers: `since` inclusive, `until` exclusive, both epoch ms. */
export interface ReportFilter {
  since?: number;
  until?: number;
  model?: string;
  provider?: string;
  /** Only this principal's calls, everywhere in the report (see the top of this file). */
  principal?: string;
  groupBy: GroupBy;
}

export type Reservation = { ok: true; reservationId: number | undefined } | { ok: false; message: string };

export interface LedgerOptions {
  /** Tags this process's rows; defaults to a random UUID. */
  sessionId?: string;
  /** Clock, epoch ms; injected so tests can stand on a day or month boundary. */
  now?: () => number;
  /**
   * How long a hold counts without being renewed, i.e. after its process died; default 10 minutes.
   * A running call renews its hold every third of this (see the top of this file).
   */
  reservationTtlMs?: number;
  /** Largest file that gets a full `quick_check` at open; default 32 MiB (tests lower it). */
  integrityCheckMaxBytes?: number;
}

/** A ledger that cannot be opened or written; the message names the file and the remedy. */
export class LedgerError extends Error {
  constructor(
    message: string,
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'LedgerError';
  }
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const BUSY_TIMEOUT_MS = 5_000;
const DEFAULT_RESERVATION_TTL_MS = 600_000;
// quick_check reads every page (~185 ms per 100 MB): run it at open only up to this size.
const INTEGRITY_CHECK_MAX_BYTES = 32 * 2 ** 20;
// Error text is for people; a provider that echoes a whole prompt back must not bloat the file.
const MAX_ERROR_CHARS = 4_000;

interface TotalsRow {
  calls: number;
  failed_calls: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_micro_usd: number;
  unpriced_calls: number;
}

const TOTALS_COLUMNS = `
  COUNT(*) AS calls,
  COALESCE(SUM(status <> 'ok'), 0) AS failed_calls,
  COALESCE(SUM(prompt_tokens), 0) AS prompt_tokens,
  COALESCE(SUM(completion_tokens), 0) AS completion_tokens,
  COALESCE(SUM(cost_micro_usd), 0) AS cost_micro_usd,
  COALESCE(SUM(cost_micro_usd IS NULL), 0) AS unpriced_calls`;

const HOURLY_COLUMNS = 'calls, failed_calls, prompt_tokens, completion_tokens, cost_micro_usd, unpriced_calls';

const SUMMED_COLUMNS = `
  SUM(calls) AS calls,
  SUM(failed_calls) AS failed_calls,
  SUM(prompt_tokens) AS prompt_tokens,
  SUM(completion_tokens) AS completion_tokens,
  SUM(cost_micro_usd) AS cost_micro_usd,
  SUM(unpriced_calls) AS unpriced_calls`;

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

/** The SQLite cost ledger. */
export class Ledger {
  /** Resolved file path, or `:memory:`. */
  readonly path: string;
  /** Tags the rows this instance writes. */
  readonly sessionId: string;
  private readonly db: Database.Database;
  /** How long a hold lasts unless renewed; a running call renews it every third of this. */
  readonly reservationTtlMs: number;
  private readonly now: () => number;
  private readonly insertCall: Database.Statement;
  private readonly deleteReservation: Database.Statement<[number]>;
  private readonly insertReservation: Database.Statement<[string, number, string, string | null]>;
  private readonly deleteExpiredReservations: Database.Statement<[string]>;
  private readonly extendReservation: Database.Statement<[string, number]>;
  private readonly sumCostBetween: Database.Statement<[string, string], { micro: number }>;
  private readonly sumHourlyCostBetween: Database.Statement<[string, string], { micro: number }>;
  private readonly sumHeld: Database.Statement<[string], { micro: number }>;
  private readonly sumPrincipalCostBetween: Database.Statement<[string, string, string], { micro: number }>;
  private readonly sumPrincipalHeld: Database.Statement<[string, string], { micro: number }>;
  private readonly sessionTotals: Database.Statement<[string], TotalsRow>;
  private readonly sessionPrincipalTotals: Database.Statement<[string, string], TotalsRow>;
  private readonly countRows: Database.Statement<[], { rows: number }>;
  private readonly reportStatements = new Map<string, Database.Statement<unknown[], TotalsRow & { key: string }>>();
  private readonly recordTransaction: Database.Transaction<
    (row: Record<string, unknown>, reservationId: number | undefined) => number
  >;

  /** Opens (creating and migrating if needed) the ledger at `path`; throws `LedgerError` if unusable. */
  static open(path: string, options: LedgerOptions = {}): Ledger {
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
      return new Ledger(db, fullPath, options);
    } catch (error) {
      db.close();
      throw toLedgerError(error, fullPath);
    }
  }

  private constructor(db: Database.Database, path: string, options: LedgerOptions) {
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

    this.insertCall = db.prepare(`
      INSERT INTO calls (
        call_id, session_id, started_at, model, provider, provider_model,
        prompt_tokens, completion_tokens, cached_tokens, cache_write_tokens, reasoning_tokens,
        cost_micro_usd, input_price_per_mtok, output_price_per_mtok, cached_input_price_per_mtok,
        cache_write_price_per_mtok, latency_ms, attempts, status, finish_reason, error, raw_usage, principal
      ) VALUES (
        @call_id, @session_id, @started_at, @model, @provider, @provider_model,
        @prompt_tokens, @completion_tokens, @cached_tokens, @cache_write_tokens, @reasoning_tokens,
        @cost_micro_usd, @input_price_per_mtok, @output_price_per_mtok, @cached_input_price_per_mtok,
        @cache_write_price_per_mtok, @latency_ms, @attempts, @status, @finish_reason, @error, @raw_usage, @principal
      )`);
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
    this.sumHeld = db.prepare(
      'SELECT COALESCE(SUM(amount_micro_usd), 0) AS micro FROM reservations WHERE expires_at > ?',
    );
    this.sumPrincipalCostBetween = db.prepare(
      'SELECT COALESCE(SUM(cost_micro_usd), 0) AS micro FROM calls WHERE principal = ? AND started_at >= ? AND started_at < ?',
    );
    this.sumPrincipalHeld = db.prepare(
      'SELECT COALESCE(SUM(amount_micro_usd), 0) AS micro FROM reservations WHERE principal = ? AND expires_at > ?',
    );
    this.sessionTotals = db.prepare(`SELECT ${TOTALS_COLUMNS} FROM calls WHERE session_id = ?`);
    this.sessionPrincipalTotals = db.prepare(`SELECT ${TOTALS_COLUMNS} FROM calls WHERE session_id = ? AND principal = ?`);
    this.countRows = db.prepare('SELECT COUNT(*) AS rows FROM calls');

    this.recordTransaction = db.transaction((row: Record<string, unknown>, reservationId: number | undefined) => {
      const id = Number(this.insertCall.run(row).lastInsertRowid);
      if (reservationId !== undefined) this.deleteReservation.run(reservationId);
      return id;
    });

    // A real write at open: a read-only file or folder fails here, at start, not on the first call.
    db.transaction(() => this.deleteExpiredReservations.run(isoTime(this.now()))).immediate();
  }

  /**
   * Appends one call and drops its budget hold in one transaction; committed on return (survives
   * a kill of the process; see the top of this file). Returns the row id.
   */
  record(rec: CallRecord, reservationId?: number): number {
    const usage = rec.usage;
    // A bad clock value must not cost us the row: the spend is real either way.
    const startedAt = Number.isFinite(rec.startedAt) ? rec.startedAt : this.now();
    return this.recordTransaction.immediate(
      {
        call_id: rec.callId,
        session_id: this.sessionId,
        started_at: isoTime(startedAt),
        model: rec.model,
        provider: rec.provider,
        provider_model: rec.providerModel,
        prompt_tokens: count(usage?.promptTokens),
        completion_tokens: count(usage?.completionTokens),
        cached_tokens: count(usage?.cachedTokens),
        cache_write_tokens: count(usage?.cacheWriteTokens),
        reasoning_tokens: count(usage?.reasoningTokens),
        cost_micro_usd: rec.costMicroUsd === null ? null : Math.round(rec.costMicroUsd),
        input_price_per_mtok: rec.pricing?.inputPerMTok ?? null,
        output_price_per_mtok: rec.pricing?.outputPerMTok ?? null,
        cached_input_price_per_mtok: rec.pricing?.cachedInputPerMTok ?? null,
        cache_write_price_per_mtok: rec.pricing?.cacheWritePerMTok ?? null,
        latency_ms: count(rec.latencyMs),
        attempts: count(rec.attempts),
        status: rec.status,
        finish_reason: rec.finishReason,
        error: rec.error === null ? null : rec.error.slice(0, MAX_ERROR_CHARS),
        raw_usage: rawUsageJson(usage?.raw),
        principal: typeof rec.principal === 'string' ? rec.principal : null,
      },
      reservationId,
    );
  }

  /**
   * Holds `amountMicroUsd` (the call's worst case) against the budget, or refuses when today's or
   * this month's spend plus holds has reached its cap: the global `budget` against everyone's,
   * `principal.budget` against that principal's own. Without any cap, holds nothing.
   */
  reserve(amountMicroUsd: number, budget: Budget | undefined, principal?: PrincipalBudget): Reservation {
    const caps = budgetCaps(budget);
    const principalCaps = principal ? budgetCaps(principal.budget) : [];
    if (caps.length === 0 && principalCaps.length === 0) return { ok: true, reservationId: undefined };
    const amount = Number.isFinite(amountMicroUsd) && amountMicroUsd > 0 ? Math.round(amountMicroUsd) : 0;
    // IMMEDIATE takes the write lock before reading, so no other process can slip in between
    // our sums and our insert.
    return this.db
      .transaction((): Reservation => {
        const now = this.now();
        const nowIso = isoTime(now);
        const held = this.sumHeld.get(nowIso)?.micro ?? 0;
        for (const cap of caps) {
          const { start, end } = cap.period(now);
          const spent = this.spentBetween(start, end);
          if (spent + held >= cap.capMicro) return { ok: false, message: budgetMessage(cap, spent, held) };
        }
        if (principal && principalCaps.length > 0) {
          const principalHeld = this.sumPrincipalHeld.get(principal.name, nowIso)?.micro ?? 0;
          for (const cap of principalCaps) {
            const { start, end } = cap.period(now);
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

  /** Keeps a running call's hold alive for another TTL from now (see the top of this file). */
  renew(reservationId: number): void {
    this.extendReservation.run(isoTime(this.now() + this.reservationTtlMs), reservationId);
  }

  /** Drops a budget hold without recording a call (e.g. the call never started). */
  release(reservationId: number): void {
    this.deleteReservation.run(reservationId);
  }

  /** Totals and groups of the calls matching `filter`, plus this session's totals and the budget. */
  report(filter: ReportFilter, budget?: Budget): CostReport {
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
        budget: this.budgetStatus(budget, filter.principal),
      };
    })();
  }

  /**
   * Caps and recorded spend for the current UTC day and month; `null` when no cap is set. With
   * `principal`, the spend is that principal's only (pass the principal's own budget).
   */
  budgetStatus(budget: Budget | undefined, principal?: string): BudgetStatus | null {
    const caps = budgetCaps(budget);
    if (caps.length === 0) return null;
    const now = this.now();
    const day = dayPeriod(now);
    const month = monthPeriod(now);
    const spent = (period: Period): number =>
      principal === undefined ? this.spentBetween(period.start, period.end) : this.principalSpentBetween(principal, period.start, period.end);
    const today = spent(day);
    const thisMonth = spent(month);
    return {
      daily_usd: caps.find((cap) => cap.label === 'Daily')?.capUsd ?? null,
      monthly_usd: caps.find((cap) => cap.label === 'Monthly')?.capUsd ?? null,
      spent_today_usd: microToUsd(today),
      spent_month_usd: microToUsd(thisMonth),
    };
  }

  /** Where the ledger is, how big, and how many calls it holds (for `doctor`). */
  stats(): { path: string; sizeBytes: number; rows: number } {
    const pageCount = this.db.pragma('page_count', { simple: true }) as number;
    const pageSize = this.db.pragma('page_size', { simple: true }) as number;
    return { path: this.path, sizeBytes: pageCount * pageSize, rows: this.countRows.get()?.rows ?? 0 };
  }

  /** Closes the file; safe to call twice. */
  close(): void {
    if (this.db.open) this.db.close();
  }

  /**
   * Recorded cost of the calls started in [start, end), both on whole UTC hours (a day or a month):
   * read from hourly_totals, at most one row per hour, model and provider instead of every call.
   */
  private spentBetween(start: number, end: number): number {
    const from = hourKey(start);
    const to = hourKey(end);
    if (from !== undefined && to !== undefined && start % HOUR_MS === 0 && end % HOUR_MS === 0) {
      return this.sumHourlyCostBetween.get(from, to)?.micro ?? 0;
    }
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

interface Period {
  start: number;
  end: number;
}

interface Cap {
  label: 'Daily' | 'Monthly';
  capUsd: number;
  capMicro: number;
  period: (now: number) => Period;
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

function budgetCaps(budget: Budget | undefined): Cap[] {
  const caps: Cap[] = [];
  const add = (label: Cap['label'], usd: number | undefined, period: Cap['period']): void => {
    if (typeof usd !== 'number' || !Number.isFinite(usd)) return;
    const capUsd = Math.max(0, usd);
    caps.push({ label, capUsd, capMicro: usdToMicro(capUsd), period });
  };
  add('Daily', budget?.dailyUsd, dayPeriod);
  add('Monthly', budget?.monthlyUsd, monthPeriod);
  return caps;
}

function dayPeriod(now: number): Period {
  const start = Math.floor(now / DAY_MS) * DAY_MS;
  return { start, end: start + DAY_MS };
}

function monthPeriod(now: number): Period {
  const date = new Date(now);
  const year = date.getUTCFullYear();
  const month = date.getUTCMonth();
  return { start: Date.UTC(year, month, 1), end: Date.UTC(year, month + 1, 1) };
}

function budgetMessage(cap: Cap, spentMicro: number, heldMicro: number, principal?: string): string {
  const spent = `${formatUsd(microToUsd(spentMicro))} spent`;
  const held = heldMicro > 0 ? `, ${formatUsd(microToUsd(heldMicro))} held by calls in flight` : '';
  const whose = principal === undefined ? '' : ` for ${principal}`;
  return `${cap.label} budget${whose} of ${formatUsd(cap.capUsd)} reached (${spent}${held})`;
}

/**
 * The SQL of a report: the calls started in [since, until) matching the model/provider filter,
 * summed per group key. The whole UTC hours of the range come from `hourly_totals`; the partial
 * hours at its edges (under an hour of rows each) from `calls` through the started_at index; the
 * parts are disjoint and re-grouped together, so the sums are exactly those of a scan of `calls`.
 * For ISO strings of the documented form, `started_at >= '2026-11-26T04:00:00.000Z'` holds exactly
 * when `substr(started_at, 1, 13) >= '2026-11-26T04'`, which is what makes the split exact.
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

  // Bounds as the Date the ISO strings are made of (a fraction of a ms is dropped the same way).
  const since = filter.since === undefined ? undefined : new Date(filter.since).getTime();
  const until = filter.until === undefined ? undefined : new Date(filter.until).getTime();
  // The whole hours inside [since, until); undefined = unbounded on that side.
  const firstHour = since === undefined ? undefined : Math.ceil(since / HOUR_MS) * HOUR_MS;
  const endHour = until === undefined ? undefined : Math.floor(until / HOUR_MS) * HOUR_MS;
  const firstKey = firstHour === undefined ? undefined : hourKey(firstHour);
  const endKey = endHour === undefined ? undefined : hourKey(endHour);
  const wholeHours =
    (firstHour === undefined || firstKey !== undefined) &&
    (endHour === undefined || endKey !== undefined) &&
    (firstHour === undefined || endHour === undefined || firstHour < endHour);
  // hourly_totals has no principal: a report on or by principal reads the calls of the range
  // (through calls_principal_started_at when narrowed to one principal).
  const perPrincipal = filter.principal !== undefined || filter.groupBy === 'principal';
  if (!wholeHours || perPrincipal) {
    // Less than one whole hour: the rows are few, read them. (A bound outside years 0000-9999 has
    // ISO strings of another shape; such a range is a plain scan, as it always was.)
    fromCalls(since, until);
  } else {
    if (since !== undefined && since < firstHour!) fromCalls(since, firstHour);
    fromHours(firstKey, endKey);
    if (until !== undefined && endHour! < until) fromCalls(endHour, until);
  }
  const sql = `SELECT key, ${SUMMED_COLUMNS} FROM (${parts.join(' UNION ALL ')}) GROUP BY key ORDER BY ${group.order}`;
  return { sql, params };
}

/** The hour key of `hourly_totals` (`2026-11-26T04`) of an instant; undefined outside years 0000-9999. */
function hourKey(epochMs: number): string | undefined {
  const iso = isoTime(epochMs);
  // Years outside 0000-9999 are written +010000-... / -000001-...: not comparable as strings.
  return iso.length === 24 ? iso.slice(0, 13) : undefined;
}

function sumTotalsRows(rows: TotalsRow[]): TotalsRow {
  const sum: TotalsRow = { calls: 0, failed_calls: 0, prompt_tokens: 0, completion_tokens: 0, cost_micro_usd: 0, unpriced_calls: 0 };
  for (const row of rows) {
    sum.calls += row.calls;
    sum.failed_calls += row.failed_calls;
    sum.prompt_tokens += row.prompt_tokens;
    sum.completion_tokens += row.completion_tokens;
    sum.cost_micro_usd += row.cost_micro_usd;
    sum.unpriced_calls += row.unpriced_calls;
  }
  return sum;
}

function toTotals(row: TotalsRow | undefined): Totals {
  const prompt = row?.prompt_tokens ?? 0;
  const completion = row?.completion_tokens ?? 0;
  return {
    calls: row?.calls ?? 0,
    failed_calls: row?.failed_calls ?? 0,
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    cost_usd: microToUsd(row?.cost_micro_usd ?? 0),
    unpriced_calls: row?.unpriced_calls ?? 0,
  };
}

function isoTime(epochMs: number): string {
  return new Date(epochMs).toISOString();
}

function count(value: number | undefined): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.round(value) : 0;
}

function rawUsageJson(raw: unknown): string | null {
  if (raw === undefined || raw === null) return null;
  try {
    return JSON.stringify(raw) ?? null;
  } catch {
    // Raw usage is a convenience for later recomputation; an odd object must not lose the row.
    return null;
  }
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
