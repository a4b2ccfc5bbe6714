/**
 * The one ledger contract the service sees. Two stores keep it: SQLite (sqlite/sqlite-ledger.ts,
 * the embedded default for one person) and PostgreSQL (postgres/postgres-ledger.ts, one ledger
 * for a team's instances). Async because PostgreSQL is; the SQLite store answers at once.
 * `openLedger()` (open-ledger.ts) picks the store from `LLM_SERVICE_DB`.
 *
 * Both stores keep the same rows (see migrations.ts for the columns), the same reports and the
 * same budget rules, checked by one case table run against each (test/ledger/contract.test.ts).
 *
 * Budgets: `reserve()` holds a call's worst-case cost (a row of `reservations`) in one atomic
 * check-and-hold, so processes sharing the ledger see each other's calls in flight; `record()`
 * writes the real cost and drops the hold in one transaction.
 *
 * Principals (the HTTP gateway's callers), the same in every store:
 * - `CallRecord.principal` is stored on the call's row (`calls.principal`); absent/null = a local
 *   (stdio) call, which belongs to no principal.
 * - `reserve(amount, budget, principal)` checks the global caps against everyone's spend and holds,
 *   and `principal.budget`'s caps against that principal's recorded spend and holds only, all in
 *   the one atomic check-and-hold; the hold is tagged with the principal.
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
 * live call's hold never lapses.
 */

import type { ChatMessage, FlatPricing, ToolDefinition, Usage } from '../llm/types.js';

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
  /** The flat prices this call was billed at (its tier, peak or off-peak). */
  pricing: FlatPricing | null;
  /** `null` = unknown price; a priced call that failed without usage should pass 0. */
  costMicroUsd: number | null;
  latencyMs: number;
  attempts: number;
  status: 'ok' | 'error' | 'cancelled';
  finishReason: string | null;
  error: string | null;
  /** Who made the call over the HTTP gateway; absent or null for a local (stdio) call. */
  principal?: string | null;
  /**
   * The call's usage is unknown (the provider answered without usage, or broke while answering):
   * its budget hold is kept as spent until the end of the UTC month instead of being dropped, so
   * calls of unknown cost cannot pass a cap. It counts against the day and month it was taken in
   * (budget sums count holds created in the cap's period).
   */
  keepHold?: boolean;
  /** The conversation thread this call was a turn of; absent or null when none was kept. */
  conversationId?: string | null;
}

/**
 * A conversation thread as stored (see migrations.ts, tables `conversations` and
 * `conversation_turns`): who owns it, its system message and tools, and its turns in order.
 */
export interface StoredThread {
  id: string;
  /** The owner over the HTTP gateway; null for a local (stdio) thread. */
  principal: string | null;
  /** Epoch ms of the last turn. */
  updatedAt: number;
  system: string | null;
  tools: ToolDefinition[] | null;
  /** Each turn's messages (the caller's, then the answer), oldest first. */
  turns: ChatMessage[][];
}

/** One turn to append to a thread, creating the thread when it does not exist yet. */
export interface ThreadTurn {
  id: string;
  principal: string | null;
  /** Epoch ms. */
  at: number;
  /** Replaces the thread's system message / tools when given (undefined keeps them). */
  system?: string;
  tools?: ToolDefinition[];
  messages: ChatMessage[];
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
  /** Calls of a model with no known price: counted here, never as $0 in `cost_usd`. */
  unpriced_calls: number;
  /** Priced calls whose bill nobody knows (e.g. a stream cut without usage): not in `cost_usd` either. */
  unknown_cost_calls: number;
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
  /** Only the turns of this conversation thread. */
  conversationId?: string;
  groupBy: GroupBy;
}

export type Reservation = { ok: true; reservationId: number | undefined } | { ok: false; message: string };

/** What `doctor` shows of a ledger. */
export interface LedgerStats {
  /** The file path, or the database URL without its password. */
  location: string;
  /** Rows in `calls`. */
  rows: number;
  /** Size on disk (the file, or the database), in bytes. */
  sizeBytes: number;
  /** The database server's version, for a server-backed store. */
  serverVersion?: string;
  /** Calls kept in the local spool, waiting for the database. */
  spooledCalls?: number;
}

/** Whether the ledger can take a call now (`/readyz`); `detail` names what is wrong. */
export interface LedgerHealth {
  ok: boolean;
  detail: string;
}

/** Options both stores take. */
export interface LedgerOptions {
  /** Tags this process's rows; defaults to a random UUID. */
  sessionId?: string;
  /**
   * Clock, epoch ms; injected so tests can stand on a day or month boundary. The PostgreSQL store
   * times holds and the budget's day and month by the database's clock instead, unless told
   * otherwise (PostgresLedgerOptions.budgetClock): instances sharing it may disagree on the time.
   */
  now?: () => number;
  /**
   * How long a hold counts without being renewed, i.e. after its process died; default 10 minutes.
   * A running call renews its hold every third of this (see the top of this file).
   */
  reservationTtlMs?: number;
}

/** The cost ledger, whichever store keeps it. */
export interface Ledger {
  /** The file path, or the database URL without its password. */
  readonly location: string;
  /** Tags the rows this instance writes. */
  readonly sessionId: string;
  /** How long a hold lasts unless renewed; a running call renews it every third of this. */
  readonly reservationTtlMs: number;
  /**
   * Appends one call and drops its budget hold in one transaction; committed when the promise
   * resolves. Returns the row id. Throws `LedgerSpooledError` when the row was kept in a local
   * spool instead (the database is unreachable), any other error when it was not kept at all.
   *
   * With `turn`, the call's conversation turn is appended in the same transaction (one commit for
   * both, the call that answered a thread): both are written or neither. A spooled call carries
   * its turn, written with the row when the spool is. `appendTurn()` stays for a turn kept apart
   * from its row (chat_many keeps one turn for several calls).
   */
  record(rec: CallRecord, reservationId?: number, turn?: ThreadTurn): Promise<number>;
  /**
   * Holds `amountMicroUsd` (the call's worst case) against the budget, or refuses when today's or
   * this month's spend plus holds has reached its cap: the global `budget` against everyone's,
   * `principal.budget` against that principal's own. Without any cap, holds nothing.
   */
  reserve(amountMicroUsd: number, budget: Budget | undefined, principal?: PrincipalBudget): Promise<Reservation>;
  /** Keeps a running call's hold alive for another TTL from now (see the top of this file). */
  renew(reservationId: number): Promise<void>;
  /** Drops a budget hold without recording a call (e.g. the call never started). */
  release(reservationId: number): Promise<void>;
  /** Totals and groups of the calls matching `filter`, plus this session's totals and the budget. */
  report(filter: ReportFilter, budget?: Budget): Promise<CostReport>;
  /**
   * Caps and recorded spend for the current UTC day and month; `null` when no cap is set. With
   * `principal`, the spend is that principal's only (pass the principal's own budget).
   */
  budgetStatus(budget: Budget | undefined, principal?: string): Promise<BudgetStatus | null>;
  /** Where the ledger is, how big, and how many calls it holds (for `doctor`). */
  stats(): Promise<LedgerStats>;
  /** Whether a call could be recorded now. */
  health(): Promise<LedgerHealth>;
  /** A conversation thread with all its turns, or undefined when there is none by that id. */
  loadThread(id: string): Promise<StoredThread | undefined>;
  /** Appends one turn (atomically, after any turn another process appended meanwhile). */
  appendTurn(turn: ThreadTurn): Promise<void>;
  /** Deletes the threads whose last turn is older than `before` (epoch ms); returns how many. */
  deleteThreadsIdleSince(before: number): Promise<number>;
  /** Releases the file or the connections; safe to call twice. */
  close(): Promise<void>;
}

/** A ledger that cannot be opened or written; the message names the ledger and the remedy. */
export class LedgerError extends Error {
  constructor(
    message: string,
    /** The file path, or the database URL without its password. */
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'LedgerError';
  }
}

/** The database was unreachable: the call's row is kept in a local spool file, to be written later. */
export class LedgerSpooledError extends LedgerError {
  constructor(message: string, path: string, options?: { cause?: unknown }) {
    super(message, path, options);
    this.name = 'LedgerSpooledError';
  }
}
