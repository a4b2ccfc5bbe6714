/**
 * The PostgreSQL store of the cost ledger (ledger.ts): one database that every instance of a
 * team's gateway writes, through a `pg` pool. Same rows, reports and budget rules as SQLite.
 *
 * Budgets across instances: `reserve()` runs in a transaction that first takes one advisory
 * lock (`pg_advisory_xact_lock`), then in a single statement reads the spend of the day and the
 * month and the holds of calls in flight and inserts its own hold only if every cap still has
 * room. The lock serialises admissions across every instance sharing the database (the second
 * waits until the first has committed, then its statement's snapshot sees the first's hold), so
 * they cannot all slip under a cap at once: a cap is overspent by at most one call's worst-case
 * hold, as with SQLite. The lock is held only for that one statement
 * and a commit that does not wait for the disk (`synchronous_commit = off`, admission only): a
 * hold lost in a database crash can let the calls in flight at that moment overspend, the price
 * of admissions that do not queue behind a disk flush each. Settling is one statement too: the
 * call's row is inserted and its hold deleted atomically, so a reader sees both or neither. A call
 * of unknown cost (`CallRecord.keepHold`) keeps its hold instead, as spent until the end of the UTC
 * month; the budget sums count only holds taken in the cap's own day or month (as SQLite).
 *
 * Budget leases (budget-leases.ts; `budgetLeases: false` turns them off): that lock makes every
 * admission of every instance queue behind the others', one round trip each. So while every cap
 * has plenty of room, the locked check-and-hold inserts a lease instead of the call's hold: a row
 * of `reservations` like any hold (amount, times, principal) for 1/16 of the smallest room over
 * the caps that apply, in whole holds of the asking call, at most 64 of them. Later calls of the
 * same scope (the same principal, or none, and the same caps) are admitted from the lease's unused
 * part in this process, with no round trip; a principal's lease carries the principal, so it counts
 * in the global sums and in that principal's. Below 4 holds' worth of lease, no lease: the call's
 * exact hold, as without leases, so near a cap admission is what it always was. Invariant: spent
 * plus every hold and lease never exceeds a cap by more than one call's worst-case hold, across
 * all instances: a lease is sized under the lock to fit in the room (it never overspends), and a
 * call drawn from a lease is covered by the lease's unused part when it is admitted. (Spend
 * recorded without any hold, by an instance with no budget set, is not seen by a lease until the
 * lease is used up or closed, as it is not seen by holds already taken.)
 * - Settling: record() of a drawn call reduces the lease row by the call's hold in the same
 *   statement that inserts its row (summed per lease in a group commit); a call of unknown cost
 *   turns its part into a kept hold of the lease's day, same statement. release() gives the part
 *   back to the lease here (no database work); renew() renews the lease row.
 * - A lease is drawn from only within the UTC day it was taken in by the database's clock (the
 *   daily sums count holds created that day only): no lease is taken, nor drawn from, in the last
 *   5 s of a day; a call then holds exactly, and after midnight a new lease is taken.
 * - It expires like a hold (`reservationTtlMs`, so a killed instance's lease stops counting after
 *   one TTL) and is renewed while this instance draws from it; the next one is asked for in the
 *   background once half of it is drawn, so calls rarely wait for the lock.
 * - The trade-off: a lease holds room this instance may not use. After `leaseIdleMs` (default
 *   1 s) without a draw in its scope (or of its own, for an older lease of a busy scope), and at
 *   close(), it is shrunk to its calls in flight (deleted when none):
 *   another instance may be refused while a cap's last room sits in an idle lease elsewhere, for
 *   at most that long (or one TTL, if the leasing instance died).
 * - A drawn call spooled in an outage carries its lease and part: the replay reduces the lease
 *   (nothing if it expired meanwhile, never below zero) and puts a kept part back as a hold.
 *
 * Group commit: calls recorded while an earlier write is running go to the database together
 * (write-batcher.ts), their rows and the settling of their holds in one statement, so one commit
 * (one flush of the WAL) for all of them. `record()` resolves once that commit is done, with the
 * durability the server's `synchronous_commit` gives (on by default: flushed to its disk). A call
 * that answered a conversation thread brings its turn: a batch holding turns is one transaction of
 * three statements (rows and holds, thread rows, turns; postgres-threads.ts), still one commit.
 *
 * Holds expire (`reservationTtlMs`): an instance killed mid-call stops holding budget then.
 * Hold times and the budget's day and month are read from the database's clock, never the
 * instance's (database-clock.ts), so instances whose clocks disagree still agree on them.
 *
 * Reports read `hourly_totals` (sharded per-hour sums kept by a trigger) for the whole hours of
 * a range and `calls` only at its edges (report-ranges.ts), as SQLite does.
 *
 * When the database cannot be reached as a call is recorded, the row goes to a local spool
 * (call-spool.ts) and `record()` throws `LedgerSpooledError` (the service notes it on the answer);
 * the spool is written as soon as the database answers again, and at the next start. A spooled
 * call of unknown cost carries its hold (amount, time, principal): if the hold expired in the
 * database meanwhile, the replay puts it back, kept, so the call's worst case stays counted.
 */

import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { budgetCaps, budgetMessage, budgetStatusOf, holdAmount, type Cap } from '../budget-caps.js';
import { CALL_ROW_COLUMNS, isoTime, toCallRow, type CallRow } from '../call-row.js';
import { timeOrderedUuid } from '../time-ordered-id.js';
import {
  LedgerError,
  LedgerSpooledError,
  type Budget,
  type BudgetStatus,
  type CallRecord,
  type CostReport,
  type GroupBy,
  type Ledger,
  type LedgerHealth,
  type LedgerOptions,
  type LedgerStats,
  type PrincipalBudget,
  type ReportFilter,
  type Reservation,
  type StoredThread,
  type ThreadTurn,
  LOCAL_PRINCIPAL_KEY,
} from '../ledger.js';
import { appendThreadTurn, deleteIdleThreads, loadThread, writeThreadTurns } from './postgres-threads.js';
import { SchemaTooNewError } from '../migrations.js';
import { reportRanges } from '../report-ranges.js';
import { sumTotalsRows, toTotals, type TotalsRow } from '../totals.js';
import { CallSpool, type SpooledCall, type SpooledHold } from './call-spool.js';
import { clockSql, daySql, isoSql, monthEndOfSql, periodSql, plusMsSql, type BudgetClock } from './database-clock.js';
import { migratePostgres } from './postgres-migrations.js';
import { PreparedStatements } from './prepared-statements.js';
import { WriteBatcher } from './write-batcher.js';
import { LEASE_DAY_MARGIN_MS, LEASE_MAX_HOLDS, LEASE_MIN_HOLDS, LEASE_ROOM_FRACTION, LeaseBook, newLease, type Lease } from './budget-leases.js';
import { redactUrl } from './redact-url.js';

/** Options of the PostgreSQL store. */
export interface PostgresLedgerOptions extends LedgerOptions {
  /** Folder of the local spool for calls answered while the database is unreachable. */
  spoolDir: string;
  /** Environment for `PGSSLROOTCERT` (libpq's name for the CA file); default process.env. */
  env?: Record<string, string | undefined>;
  /** Connections in the pool; default 10. */
  poolSize?: number;
  /** How long to wait for a connection before counting the database unreachable; default 10 s. */
  connectTimeoutMs?: number;
  /** How often the spool is retried while it holds calls; default 2 s. */
  spoolRetryMs?: number;
  /** Told of problems that reach no caller (the spool could not be written back). */
  onWarning?: (message: string) => void;
  /**
   * Whose clock times holds (their expiry) and the budget's UTC day and month: the database's
   * (default; see database-clock.ts), or `now` (tests that stand on a day or month boundary).
   */
  budgetClock?: BudgetClock;
  /**
   * Budget leases (see the top of this file): admit calls from a lease this instance holds, without
   * a round trip, while every cap has plenty of room. Default on; off = one locked admission per call.
   */
  budgetLeases?: boolean;
  /** A lease without draws for this long is shrunk to its calls in flight (or deleted); default 1 s. */
  leaseIdleMs?: number;
}

const DEFAULT_RESERVATION_TTL_MS = 600_000;
const DEFAULT_LEASE_IDLE_MS = 1_000;
// Holds taken by this instance whose call has not been recorded yet, remembered for the spool
// (see record()); past this many, the oldest are forgotten (a caller that never settles them).
const MAX_REMEMBERED_HOLDS = 10_000;
// Any fixed 64-bit number: the advisory lock that serialises budget admissions.
const ADMISSION_LOCK = 7_401_935_218;

// PostgreSQL sums BIGINT into NUMERIC: cast back to float8 (exact below 2^53) so pg returns numbers.
const TOTALS_COLUMNS = `
  COUNT(*)::float8 AS calls,
  COUNT(*) FILTER (WHERE status <> 'ok')::float8 AS failed_calls,
  COALESCE(SUM(prompt_tokens), 0)::float8 AS prompt_tokens,
  COALESCE(SUM(completion_tokens), 0)::float8 AS completion_tokens,
  COALESCE(SUM(cost_micro_usd), 0)::float8 AS cost_micro_usd,
  COUNT(*) FILTER (WHERE cost_micro_usd IS NULL AND input_price_per_mtok IS NULL)::float8 AS unpriced_calls,
  COUNT(*) FILTER (WHERE cost_micro_usd IS NULL AND input_price_per_mtok IS NOT NULL)::float8 AS unknown_cost_calls`;

// Sums of sums: the shards of hourly_totals, and the parts of a report.
const SUMMED_COLUMNS = `
  SUM(calls)::float8 AS calls,
  SUM(failed_calls)::float8 AS failed_calls,
  SUM(prompt_tokens)::float8 AS prompt_tokens,
  SUM(completion_tokens)::float8 AS completion_tokens,
  SUM(cost_micro_usd)::float8 AS cost_micro_usd,
  SUM(unpriced_calls)::float8 AS unpriced_calls,
  SUM(unknown_cost_calls)::float8 AS unknown_cost_calls`;

/** How a grouping reads its key from `calls` and from `hourly_totals`, and orders the groups. */
const GROUP_KEYS: Record<GroupBy, { calls: string; hourly: string; order: string }> = {
  model: { calls: 'model', hourly: 'model', order: 'cost_micro_usd DESC, calls DESC, key' },
  provider: { calls: 'provider', hourly: 'provider', order: 'cost_micro_usd DESC, calls DESC, key' },
  day: { calls: 'substr(started_at, 1, 10)', hourly: 'substr(hour, 1, 10)', order: 'key' },
  // hourly_totals has no principal: a principal report reads calls only (see reportQuery).
  principal: { calls: `COALESCE(principal, '${LOCAL_PRINCIPAL_KEY}')`, hourly: 'NULL::text', order: 'cost_micro_usd DESC, calls DESC, key' },
  none: { calls: "''::text", hourly: "''::text", order: 'key' },
};

const INSERT_COLUMNS = ['row_key', ...CALL_ROW_COLUMNS].join(', ');

// Rows of calls inserted and their holds settled in one statement, so one atomic commit and one
// round trip for all of them (a batch of record()s, a spool replay, an import): a call's hold is
// dropped ($2), or, for a call of unknown cost, kept as spent until the end of the UTC month it
// was taken in ($3), or put back so (a spooled call's hold that expired meanwhile, $4). A call
// drawn from a lease reduces the lease row by its part ($5, summed per lease; never below zero, and
// nothing when the lease expired meanwhile), and a call of unknown cost among them turns its part
// into a kept hold of the lease's day ($6); both only for rows new to the database, so a spooled
// row replayed after it did arrive settles its part once.
// ON CONFLICT: a spooled row replayed after it did reach the database is kept once.
// The insert fires the statement trigger that adds the rows to hourly_totals and daily_costs
// (migration 5), in the same transaction. A batch without lease draws runs the statement without
// their two parts (6 % less server time per batch, measured).
const WRITE_ROWS_PARTS = `
  WITH inserted AS (
    INSERT INTO calls (${INSERT_COLUMNS})
    SELECT ${INSERT_COLUMNS} FROM json_populate_recordset(NULL::calls, $1::json)
    ON CONFLICT (row_key) DO NOTHING
    RETURNING row_key, id
  ), released AS (
    DELETE FROM reservations WHERE id = ANY($2::bigint[])
  ), kept AS (
    UPDATE reservations SET expires_at = ${monthEndOfSql('created_at')} WHERE id = ANY($3::bigint[])
  ), restored AS (
    INSERT INTO reservations (id, created_at, amount_micro_usd, expires_at, principal)
    SELECT k.id, k.created_at, k.amount, ${monthEndOfSql('k.created_at')}, k.principal
    FROM json_to_recordset($4::json) AS k(id bigint, created_at text, amount bigint, principal text)
    ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at
  )`;
const WRITE_ROWS_SQL = `${WRITE_ROWS_PARTS}
  SELECT row_key, id FROM inserted`;
const WRITE_ROWS_WITH_DRAWS_SQL = `${WRITE_ROWS_PARTS}, drawn AS (
    UPDATE reservations AS r SET amount_micro_usd = GREATEST(r.amount_micro_usd - d.amount, 0)
    FROM (
      SELECT d.lease_id, SUM(d.amount) AS amount
      FROM json_to_recordset($5::json) AS d(row_key text, lease_id bigint, amount bigint) JOIN inserted USING (row_key)
      GROUP BY d.lease_id
    ) AS d
    WHERE r.id = d.lease_id
  ), kept_draws AS (
    INSERT INTO reservations (created_at, amount_micro_usd, expires_at, principal)
    SELECT k.created_at, k.amount, ${monthEndOfSql('k.created_at')}, k.principal
    FROM json_to_recordset($6::json) AS k(row_key text, created_at text, amount bigint, principal text) JOIN inserted USING (row_key)
  )
  SELECT row_key, id FROM inserted`;

// Group commit (write-batcher.ts): writes of record() running at once, and rows in one write.
// Two writes in flight let one be executed while the other waits for its flush to the disk.
const MAX_WRITES_IN_FLIGHT = 2;
const MAX_ROWS_PER_WRITE = 500;

/** The PostgreSQL cost ledger. */
export class PostgresLedger implements Ledger {
  readonly location: string;
  readonly sessionId: string;
  readonly reservationTtlMs: number;
  private readonly now: () => number;
  private readonly budgetClock: BudgetClock;
  /** This instance's unsettled holds: what a spooled call of unknown cost must keep counted. */
  private readonly holds = new Map<number, SpooledHold>();
  private readonly spool: CallSpool;
  private readonly spoolRetryMs: number;
  private readonly onWarning: (message: string) => void;
  private spoolTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private closed = false;
  /** Budget leases (budget-leases.ts): off = every admission goes to the database. */
  private readonly leasing: boolean;
  private readonly leaseIdleMs: number;
  private readonly leases: LeaseBook;
  /** The admission of a scope at the database, if any: calls of that scope wait for it rather than ask too. */
  private readonly leaseRequests = new Map<string, Promise<unknown>>();
  /** Scopes whose last admission found too little room for a lease, until when (Date.now). */
  private readonly smallRoom = new Map<string, number>();
  private leaseTimer: NodeJS.Timeout | undefined;
  private leaseTicking = false;
  /**
   * Admissions so far (the bench reports them): calls drawn from a lease, calls that waited for
   * the database (their own check, or a lease being asked for), statements run (asking ahead
   * included), leases taken.
   */
  readonly admissionCounts = { fromLeases: 0, waited: 0, database: 0, leasesTaken: 0 };
  // A call's row on its way to the database has the spool line's shape (call-spool.ts).
  private readonly admissionStatements = new PreparedStatements('ledger_admit');
  private readonly writes = new WriteBatcher<SpooledCall, number>((rows) => this.writeRows(rows), {
    maxInFlight: MAX_WRITES_IN_FLIGHT,
    maxItems: MAX_ROWS_PER_WRITE,
    // A refused statement may be one row's fault: each row alone, so only its call fails.
    splitOnError: (error) => !isUnreachable(error),
  });

  /** Connects, migrates (once across instances starting together) and writes any spooled calls. */
  static async open(url: string, options: PostgresLedgerOptions): Promise<PostgresLedger> {
    const location = redactUrl(url);
    let pool: pg.Pool;
    try {
      pool = new pg.Pool(poolConfig(url, options));
    } catch (error) {
      throw new LedgerError(`Cannot use the PostgreSQL ledger ${location} (${describe(error)}): check LLM_SERVICE_DB`, location, { cause: error });
    }
    // An idle connection the server drops (restart, failover) must not take the process down;
    // the pool forgets it and the next query opens a new one.
    pool.on('error', () => undefined);
    try {
      const client = await pool.connect();
      try {
        await migratePostgres(client);
      } finally {
        client.release();
      }
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw openError(error, location);
    }
    const ledger = new PostgresLedger(pool, location, options);
    await ledger.start();
    return ledger;
  }

  private constructor(
    private readonly pool: pg.Pool,
    location: string,
    options: PostgresLedgerOptions,
  ) {
    this.location = location;
    this.sessionId = options.sessionId ?? randomUUID();
    this.now = options.now ?? Date.now;
    this.budgetClock = options.budgetClock ?? 'database';
    this.reservationTtlMs = options.reservationTtlMs ?? DEFAULT_RESERVATION_TTL_MS;
    this.spool = new CallSpool(options.spoolDir, this.sessionId);
    this.spoolRetryMs = options.spoolRetryMs ?? 2_000;
    this.onWarning = options.onWarning ?? (() => undefined);
    this.leasing = options.budgetLeases ?? true;
    this.leaseIdleMs = options.leaseIdleMs ?? DEFAULT_LEASE_IDLE_MS;
    this.leases = new LeaseBook(this.reservationTtlMs);
  }

  private async start(): Promise<void> {
    await this.pool.query(`DELETE FROM reservations WHERE expires_at <= ${isoSql(this.clock())}`);
    // Calls an earlier run (of any instance sharing this spool folder) could not write.
    await this.flushSpool(true);
  }

  async record(rec: CallRecord, reservationId?: number, turn?: ThreadTurn): Promise<number> {
    const row = toCallRow(rec, this.sessionId, this.now());
    const rowKey = `app:${timeOrderedUuid(this.now())}`;
    // Unknown cost: the hold stays counted as spent until the end of its UTC month (ledger.ts).
    // A call admitted from a lease settles its part of the lease row (see the top of this file).
    const draw = reservationId === undefined ? undefined : this.leases.get(reservationId);
    const keepHold = rec.keepHold === true && reservationId !== undefined && (draw !== undefined || reservationId >= 0);
    const hold = draw
      ? { amountMicroUsd: draw.amount, createdAt: draw.lease.createdAt, principal: draw.lease.principal }
      : reservationId === undefined
        ? undefined
        : this.holds.get(reservationId);
    if (reservationId !== undefined && !draw) this.holds.delete(reservationId);
    const settles = draw
      ? { lease: { id: draw.lease.id, amountMicroUsd: draw.amount } }
      : reservationId === undefined || reservationId < 0
        ? {}
        : { reservationId };
    try {
      // Written with the other calls that finish meanwhile, in one transaction (write-batcher.ts);
      // resolves once that transaction has committed, as durably as the server's
      // synchronous_commit makes commits (on by default: flushed to its disk).
      const id = await this.writes.add({
        rowKey,
        row,
        ...settles,
        // A lease draw's kept part becomes a hold row of its own: it needs the amount and day.
        ...(keepHold ? { keepHold: true, ...(draw ? { hold: hold! } : {}) } : {}),
        ...(turn ? { turn } : {}),
      });
      if (draw) this.leases.settled(reservationId!);
      return id;
    } catch (error) {
      // Refused: the draw stays in flight until the caller releases it, as a hold would.
      if (!isUnreachable(error)) throw new LedgerError(`The PostgreSQL ledger ${this.location} refused the call's row (${describe(error)})`, this.location, { cause: error });
      if (draw) this.leases.spooled(reservationId!);
      try {
        // A kept hold goes with the row, amount and all: no longer renewed, its row in the
        // database expires after one TTL and may be gone by the time the spool is written (an
        // outage longer than the TTL, or an instance that is only restarted the next day), so
        // the replay puts it back as it was, kept, rather than only extending it (writeSpooled).
        this.spool.append({
          rowKey,
          row,
          ...settles,
          ...(keepHold ? { keepHold: true, ...(hold ? { hold } : {}) } : {}),
          // The turn goes with its row: written together when the spool is. Until then a call
          // continuing the thread cannot load it anyway (the database is unreachable); one that
          // does after the database is back but before the spool is written misses this turn.
          ...(turn ? { turn } : {}),
        });
      } catch (spoolError) {
        throw new LedgerError(
          `The PostgreSQL ledger ${this.location} is unreachable (${describe(error)}) and the spool ${this.spool.file} cannot be written (${describe(spoolError)})`,
          this.location,
          { cause: error },
        );
      }
      this.scheduleFlush();
      throw new LedgerSpooledError(
        `PostgreSQL ledger ${this.location} unreachable (${describe(error)}); kept in ${this.spool.file}`,
        this.location,
        { cause: error },
      );
    }
  }

  async reserve(amountMicroUsd: number, budget: Budget | undefined, principal?: PrincipalBudget): Promise<Reservation> {
    const caps = budgetCaps(budget);
    const principalCaps = principal ? budgetCaps(principal.budget) : [];
    if (caps.length === 0 && principalCaps.length === 0) return { ok: true, reservationId: undefined };
    const amount = holdAmount(amountMicroUsd);
    const checks: CapCheck[] = [
      ...caps.map((cap) => ({ cap, principal: undefined })),
      ...principalCaps.map((cap) => ({ cap, principal: principal!.name })),
    ];
    if (!this.leasing) {
      this.admissionCounts.waited++;
      return (await this.admit(checks, amount, principal?.name ?? null, undefined, true))!;
    }
    const scope = LeaseBook.scopeOf(principal?.name ?? null, checks.map((check) => ({ label: check.cap.label, capMicro: check.cap.capMicro, principal: check.principal })));
    let drawn = this.leases.draw(scope, amount, this.now());
    if (drawn === undefined) this.admissionCounts.waited++;
    // One admission of a scope at a time goes to the database from this instance; the calls that
    // find no lease room meanwhile wait for its answer and draw from the lease it brings. So this
    // instance never asks the database while a lease of its own could still cover the call: with
    // one instance, calls of one size are admitted exactly up to the cap, leases or not. (The
    // lock serialises admissions in the database anyway.) Each answer serves at least its own
    // call; bounded all the same.
    for (let waits = 0; drawn === undefined && waits < 10_000; waits++) {
      const asking = this.leaseRequests.get(scope);
      if (!asking) return (await this.admit(checks, amount, principal?.name ?? null, scope, true))!;
      await asking.catch(() => undefined);
      drawn = this.leases.draw(scope, amount, this.now());
    }
    if (drawn === undefined) return (await this.admit(checks, amount, principal?.name ?? null, scope, true))!;
    this.admissionCounts.fromLeases++;
    this.askAhead(scope, checks, amount, principal?.name ?? null);
    return { ok: true, reservationId: drawn };
  }

  /**
   * Asks for the next lease in the background when the leases of `scope` are half used, so calls
   * keep being admitted locally while the admission lock is queued for.
   */
  private askAhead(scope: string, checks: CapCheck[], amount: number, principal: string | null): void {
    if (amount <= 0 || this.leaseRequests.has(scope) || this.closed || (this.smallRoom.get(scope) ?? 0) > Date.now()) return;
    const { unused, newest } = this.leases.unused(scope, this.now());
    if (unused * 2 >= newest) return;
    void this.admit(checks, amount, principal, scope, false).catch(() => undefined);
  }

  /**
   * One locked check-and-hold in the database. With a lease `scope`, a lease is taken when every
   * cap has plenty of room (the call, when `exact`, is then drawn from it); otherwise the call's
   * own hold when `exact`, nothing when not (asking ahead). Undefined = asked ahead, got nothing.
   */
  private async admit(checks: CapCheck[], amount: number, principal: string | null, scope: string | undefined, exact: boolean): Promise<Reservation | undefined> {
    const leaseAsked = scope !== undefined && amount > 0 && (this.smallRoom.get(scope) ?? 0) <= Date.now();
    const run = this.admitInDatabase(checks, amount, principal, scope, leaseAsked, exact);
    if (scope === undefined || this.leaseRequests.has(scope)) return run;
    const request = run.finally(() => this.leaseRequests.delete(scope));
    this.leaseRequests.set(scope, request);
    return request;
  }

  private async admitInDatabase(checks: CapCheck[], amount: number, principal: string | null, scope: string | undefined, leaseAsked: boolean, exact: boolean): Promise<Reservation | undefined> {
    this.admissionCounts.database++;
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      if (isUnreachable(error)) return this.unknownSpend(error);
      throw error;
    }
    let broken: Error | undefined;
    try {
      const lease = leaseAsked ? { max: LEASE_MAX_HOLDS * amount, min: LEASE_MIN_HOLDS * amount } : { max: 0, min: 1 };
      const { sql, params } = admissionQuery(checks, this.clock(), amount, this.reservationTtlMs, principal, lease, exact);
      // See the top of this file: the lock serialises admissions across instances; the commit
      // need not wait for the disk. All the statements go in one message (so one round trip, and
      // the lock is held only while the server runs the check and the commit, never while the
      // answer travels to this process and the next statement back). The simple protocol that
      // allows several statements has no parameters: the values are inlined as literals.
      // Each statement of the message takes its own snapshot, so the check runs after the lock.
      // The check is a statement prepared once per connection and run with its generic plan:
      // planning it (most of its server time) would otherwise happen after the lock is taken,
      // on every admission, while every other instance's admission waits.
      const { prepare, name } = this.admissionStatements.use(client, sql);
      const results = (await client.query(
        `${prepare}BEGIN; SET LOCAL synchronous_commit = off; SET LOCAL plan_cache_mode = force_generic_plan; ` +
          `SELECT pg_advisory_xact_lock(${ADMISSION_LOCK}); EXECUTE ${name}(${inlineParams(params.map((_, i) => `$${i + 1}`).join(', '), params)}); COMMIT`,
      )) as unknown as Array<pg.QueryResult<AdmissionRow>>;
      // The answer of EXECUTE: the one before COMMIT's.
      const result = results[results.length - 2]!.rows[0]!;
      if (result.id !== null && result.lease !== null && scope !== undefined) {
        this.smallRoom.delete(scope);
        this.addLease(newLease({ id: result.id, scope, principal, amount: result.lease, createdAt: result.created_at!, ttlMs: this.reservationTtlMs, localNow: this.now() }));
        if (!exact) return undefined;
        const drawn = this.leases.draw(scope, amount, this.now());
        if (drawn !== undefined) return { ok: true, reservationId: drawn };
        // Not drawable at once (this instance's clock jumped): the caller asks again, exactly.
        return this.admitInDatabase(checks, amount, principal, undefined, false, true);
      }
      // Too little room for a lease (not merely the end of the day): exact holds for a while,
      // without asking for a lease each time.
      // The statement says so (room_for_lease): the sizing rule is written once, in admissionQuery.
      if (leaseAsked && scope !== undefined && !result.room_for_lease) this.smallRoom.set(scope, Date.now() + this.leaseIdleMs);
      if (result.id !== null) {
        this.rememberHold(result.id, { amountMicroUsd: amount, createdAt: result.created_at!, principal });
        return { ok: true, reservationId: result.id };
      }
      // The first cap without room, with its own spend and holds (everyone's, or the principal's).
      for (const [i, check] of checks.entries()) {
        const spent = result[`spent_${i}`]!;
        const held = result[`held_${i}`]!;
        if (spent + held >= check.cap.capMicro) return { ok: false, message: budgetMessage(check.cap, spent, held, check.principal) };
      }
      if (!exact) return undefined;
      throw new Error('the admission refused a hold while every cap had room');
    } catch (error) {
      broken = error as Error;
      await client.query('ROLLBACK').catch(() => undefined);
      if (isUnreachable(error)) return this.unknownSpend(error);
      throw new LedgerError(`The PostgreSQL ledger ${this.location} could not check the budget (${describe(error)})`, this.location, { cause: error });
    } finally {
      // Any failure closes the connection: what it has prepared (admissionStatements) is then
      // unknown, and a new connection starts from nothing.
      client.release(broken);
    }
  }

  async renew(reservationId: number): Promise<void> {
    const draw = this.leases.get(reservationId);
    if (draw) {
      // Every call of a lease renews the one row: once per sixth of a TTL is plenty.
      if (Date.now() - draw.lease.renewedAt >= this.reservationTtlMs / 6) await this.renewLease(draw.lease);
      return;
    }
    if (reservationId < 0) return;
    await this.pool.query(`UPDATE reservations SET expires_at = ${isoSql(plusMsSql(this.clock(), this.reservationTtlMs))} WHERE id = $1`, [reservationId]);
  }

  async release(reservationId: number): Promise<void> {
    // A draw's part goes back to its lease, here: the row still holds it (see the top of this file).
    if (reservationId < 0) return this.leases.released(reservationId);
    this.holds.delete(reservationId);
    await this.pool.query('DELETE FROM reservations WHERE id = $1', [reservationId]);
  }

  private addLease(lease: Lease): void {
    this.admissionCounts.leasesTaken++;
    this.leases.add(lease);
    if (this.leaseTimer || this.closed) return;
    // Closes idle leases and renews live ones; a tick is well within the idle time and a third of a TTL.
    const every = Math.max(20, Math.min(this.leaseIdleMs, this.reservationTtlMs / 3) / 2);
    this.leaseTimer = setInterval(() => void this.tickLeases(), every);
    this.leaseTimer.unref();
  }

  private async tickLeases(): Promise<void> {
    if (this.leaseTicking) return;
    this.leaseTicking = true;
    try {
      for (const lease of this.leases.all()) {
        // Idle, at the end of its day, or not renewed in time: no more draws; shrink it.
        if (lease.open && (this.leases.idle(lease, this.leaseIdleMs) || !this.leases.drawable(lease, this.now()))) lease.open = false;
        if (!lease.open) await this.shrinkLease(lease);
        if (this.leases.all().includes(lease) && Date.now() - lease.renewedAt >= this.reservationTtlMs / 3) await this.renewLease(lease);
      }
    } catch (error) {
      // Unreachable: the next tick tries again; a row nobody renews expires after its TTL.
      if (!isUnreachable(error)) this.onWarning(`ledger: a budget lease could not be kept up to date (${describe(error)})`);
    } finally {
      this.leaseTicking = false;
      if (this.leases.all().length === 0 && this.leaseTimer) {
        clearInterval(this.leaseTimer);
        this.leaseTimer = undefined;
      }
    }
  }

  /**
   * A closed lease gives back what its calls in flight do not need: the row is reduced by its
   * unused part (relative, so a settling committing meanwhile is not undone), or deleted once no
   * call of it is in flight. A lease with a spooled call keeps its row (the replay settles that
   * part) and is left to expire once its calls are done.
   */
  private async shrinkLease(lease: Lease): Promise<void> {
    if (lease.spooled) {
      if (lease.inFlight === 0) this.leases.remove(lease);
      return;
    }
    if (lease.inFlight === 0) {
      this.leases.remove(lease);
      await this.pool.query('DELETE FROM reservations WHERE id = $1', [lease.id]);
      return;
    }
    const unused = lease.amount - lease.inFlight;
    if (unused <= 0) return;
    lease.amount -= unused;
    try {
      await this.pool.query('UPDATE reservations SET amount_micro_usd = GREATEST(amount_micro_usd - $2, 0) WHERE id = $1', [lease.id, unused]);
    } catch (error) {
      lease.amount += unused;
      throw error;
    }
  }

  private async renewLease(lease: Lease): Promise<void> {
    lease.renewedAt = Date.now();
    const result = await this.pool.query<{ expires_at: string }>(
      `UPDATE reservations SET expires_at = ${isoSql(plusMsSql(this.clock(), this.reservationTtlMs))} WHERE id = $1 RETURNING expires_at`,
      [lease.id],
    );
    const row = result.rows[0];
    if (row) {
      lease.expiresAt = Date.parse(row.expires_at);
      return;
    }
    // Expired and deleted meanwhile (renewals failed for a TTL): nothing left to draw or shrink.
    lease.open = false;
    this.leases.remove(lease);
  }

  async report(filter: ReportFilter, budget?: Budget): Promise<CostReport> {
    const groupBy = filter.groupBy;
    if (!Object.hasOwn(GROUP_KEYS, groupBy)) {
      throw new Error(`Unknown group_by '${String(groupBy)}': use model, provider, day, principal or none`);
    }
    const { sql, params } = reportQuery(filter);
    return this.readSnapshot(async (client) => {
      const rows = (await client.query<TotalsRow & { key: string }>(sql, params)).rows;
      const session = (
        filter.principal === undefined
          ? await client.query<TotalsRow>(`SELECT ${TOTALS_COLUMNS} FROM calls WHERE session_id = $1`, [this.sessionId])
          : await client.query<TotalsRow>(`SELECT ${TOTALS_COLUMNS} FROM calls WHERE session_id = $1 AND principal = $2`, [this.sessionId, filter.principal])
      ).rows[0];
      // The groups partition the matching calls, so their sum is the total.
      return {
        total: toTotals(sumTotalsRows(rows)),
        groups: groupBy === 'none' ? [] : rows.map((row) => ({ key: row.key, ...toTotals(row) })),
        session: toTotals(session),
        budget: await this.budgetStatusWith(client, budget, filter.principal),
      };
    });
  }

  async budgetStatus(budget: Budget | undefined, principal?: string): Promise<BudgetStatus | null> {
    if (budgetCaps(budget).length === 0) return null;
    return this.readSnapshot((client) => this.budgetStatusWith(client, budget, principal));
  }

  async stats(): Promise<LedgerStats> {
    const result = await this.pool.query<{ rows: number; size: number; version: string }>(
      "SELECT (SELECT COUNT(*) FROM calls)::float8 AS rows, pg_database_size(current_database())::float8 AS size, current_setting('server_version') AS version",
    );
    const row = result.rows[0]!;
    return { location: this.location, rows: row.rows, sizeBytes: row.size, serverVersion: `PostgreSQL ${row.version}`, spooledCalls: this.spool.pendingCount() };
  }

  async health(): Promise<LedgerHealth> {
    const spooled = this.spool.pendingCount();
    const waiting = spooled > 0 ? `; ${spooled} call${spooled === 1 ? '' : 's'} waiting in the spool` : '';
    try {
      await this.pool.query('SELECT 1');
      return { ok: true, detail: `PostgreSQL ${this.location}${waiting}` };
    } catch (error) {
      return { ok: false, detail: `PostgreSQL ledger ${this.location} unreachable (${describe(error)})${waiting}` };
    }
  }

  /** Writes rows from elsewhere (a SQLite ledger being imported); rows already here are skipped. Returns how many were added. */
  async importRows(rows: Array<CallRow & { row_key: string }>): Promise<number> {
    const ids = await this.writeRows(rows.map(({ row_key, ...row }) => ({ rowKey: row_key, row })));
    return ids.filter((id) => id !== -1).length;
  }

  async loadThread(id: string): Promise<StoredThread | undefined> {
    return loadThread(this.pool, id);
  }

  async appendTurn(turn: ThreadTurn): Promise<void> {
    await appendThreadTurn(this.pool, turn);
  }

  async deleteThreadsIdleSince(before: number): Promise<number> {
    return deleteIdleThreads(this.pool, before);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.spoolTimer) clearTimeout(this.spoolTimer);
    await this.writes.drain();
    await this.flushing;
    // Leases give back their unused room now, not after the idle time (another instance may need it).
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    this.leaseTimer = undefined;
    for (const lease of this.leases.all()) {
      lease.open = false;
      await this.shrinkLease(lease).catch(() => undefined);
    }
    // One last try; what stays in the spool is written at the next start.
    if (this.spool.hasOwn()) await this.flushSpool(false).catch(() => undefined);
    await this.pool.end();
  }

  /** The time holds and budget periods are read at, as SQL (database-clock.ts). */
  private clock(): string {
    return clockSql(this.budgetClock === 'now' ? this.now() : undefined);
  }

  private rememberHold(id: number, hold: SpooledHold): void {
    if (this.holds.size >= MAX_REMEMBERED_HOLDS) this.holds.delete(this.holds.keys().next().value!);
    this.holds.set(id, hold);
  }

  /**
   * Inserts the rows and settles their holds in one statement (WRITE_ROWS_SQL); returns each
   * row's id, or -1 for a row that was already there. Rows that carry a conversation turn have
   * it appended in the same transaction (writeThreadTurns), only for rows new to the database.
   */
  private async writeRows(rows: SpooledCall[]): Promise<number[]> {
    if (rows.length === 0) return [];
    if (!rows.some((r) => r.turn)) return this.writeRowsWith(this.pool, rows);
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const ids = await this.writeRowsWith(client, rows);
      // Only new rows bring their turn (a spooled row that did reach the database already brought
      // it), and a row listed twice in one batch brings it once.
      const rowKeys = new Set<string>();
      const turns = rows.flatMap((r, i) => (r.turn && ids[i] !== -1 && !rowKeys.has(r.rowKey) && rowKeys.add(r.rowKey) ? [r.turn] : []));
      await writeThreadTurns(client, turns);
      await client.query('COMMIT');
      return ids;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  private async writeRowsWith(db: pg.Pool | pg.ClientBase, rows: SpooledCall[]): Promise<number[]> {
    // A line of an older version says keepHoldUntil instead of keepHold.
    const keeps = (r: SpooledCall): boolean => r.keepHold === true || r.keepHoldUntil !== undefined;
    const dropped = rows.flatMap((r) => (r.reservationId === undefined || keeps(r) ? [] : [r.reservationId]));
    const kept = rows.filter((r) => r.reservationId !== undefined && keeps(r));
    // A spooled call's hold travels with it (amount, time, principal): put back as it was if it
    // expired while the call was spooled; record()'s own holds are only kept.
    const restored = kept.flatMap((r) => (r.hold ? [{ id: r.reservationId, created_at: r.hold.createdAt, amount: r.hold.amountMicroUsd, principal: r.hold.principal }] : []));
    const extended = kept.flatMap((r) => (r.hold ? [] : [r.reservationId]));
    // Lease draws, once per row (a spool may list a row twice): settled only for rows new here.
    const drawRows = [...new Map(rows.filter((r) => r.lease).map((r) => [r.rowKey, r])).values()];
    const draws = drawRows.map((r) => ({ row_key: r.rowKey, lease_id: r.lease!.id, amount: r.lease!.amountMicroUsd }));
    const keptDraws = drawRows.flatMap((r) =>
      keeps(r) && r.hold ? [{ row_key: r.rowKey, created_at: r.hold.createdAt, amount: r.hold.amountMicroUsd, principal: r.hold.principal }] : [],
    );
    const values = [JSON.stringify(rows.map((r) => ({ ...r.row, row_key: r.rowKey }))), dropped, extended, JSON.stringify(restored)];
    const result = await db.query<{ row_key: string; id: number }>(
      // Named: each connection parses and plans it once, not once per write.
      draws.length === 0
        ? { name: 'ledger-write-rows', text: WRITE_ROWS_SQL, values }
        : { name: 'ledger-write-rows-draws', text: WRITE_ROWS_WITH_DRAWS_SQL, values: [...values, JSON.stringify(draws), JSON.stringify(keptDraws)] },
    );
    const ids = new Map(result.rows.map((row) => [row.row_key, row.id]));
    return rows.map((r) => ids.get(r.rowKey) ?? -1);
  }

  private scheduleFlush(): void {
    if (this.spoolTimer || this.closed) return;
    this.spoolTimer = setTimeout(() => {
      this.spoolTimer = undefined;
      this.flushing = this.flushSpool(false)
        // Still unreachable: the calls are back in the spool; try again later.
        .catch(() => undefined)
        .finally(() => {
          this.flushing = undefined;
          if (this.spool.hasOwn()) this.scheduleFlush();
        });
    }, this.spoolRetryMs);
    // A spool waiting for the database must not keep a finished process alive: the next start writes it.
    this.spoolTimer.unref();
  }

  /** Writes the spooled calls (this instance's, or with `all` every instance's); failures put them back. */
  private async flushSpool(all: boolean): Promise<void> {
    for (const claimed of this.spool.claim(all, this.sessionId)) {
      try {
        await this.writeSpooled(claimed.calls);
        claimed.done();
      } catch (error) {
        claimed.giveBack();
        if (!isUnreachable(error)) this.onWarning(`ledger: spooled calls could not be written (${describe(error)}); they stay in ${this.spool.dir}`);
        if (!all) throw error;
      }
    }
  }

  private async writeSpooled(calls: SpooledCall[]): Promise<void> {
    // One statement: the rows and their holds commit together, as record() writes them.
    await this.writeRows(calls);
  }

  /** Runs `read` in one REPEATABLE READ snapshot, so a report's parts agree with each other. */
  private async readSnapshot<T>(read: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect().catch((error: unknown) => {
      throw this.unreachableError(error);
    });
    let broken: Error | undefined;
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const value = await read(client);
      await client.query('COMMIT');
      return value;
    } catch (error) {
      broken = error as Error;
      await client.query('ROLLBACK').catch(() => undefined);
      throw isUnreachable(error) ? this.unreachableError(error) : error;
    } finally {
      client.release(broken);
    }
  }

  private async budgetStatusWith(client: pg.ClientBase, budget: Budget | undefined, principal?: string): Promise<BudgetStatus | null> {
    const caps = budgetCaps(budget);
    if (caps.length === 0) return null;
    const params: unknown[] = [];
    // The day and month by the database's clock, as admission reads them.
    const sql = `WITH clock AS MATERIALIZED (SELECT ${this.clock()} AS t)
      SELECT ${spentSql('day', params, principal)} AS today, ${spentSql('month', params, principal)} AS month FROM clock`;
    const row = (await client.query<{ today: number; month: number }>(sql, params)).rows[0]!;
    return budgetStatusOf(caps, row.today, row.month);
  }

  /**
   * With a budget set and the database out of reach, nobody can know the spend of the other
   * instances: the call is refused (SPEC §8), not let through as a broken local file would be.
   */
  private unknownSpend(error: unknown): Reservation {
    return {
      ok: false,
      message: `Cannot check the budget: the PostgreSQL ledger ${this.location} is unreachable (${describe(error)}). With a budget set, calls are refused until it is back`,
    };
  }

  private unreachableError(error: unknown): LedgerError {
    return new LedgerError(`The PostgreSQL ledger ${this.location} is unreachable (${describe(error)}): retry when it is back`, this.location, { cause: error });
  }
}

type AdmissionRow = { id: number | null; created_at: string | null; lease: number | null; room_for_lease: boolean } & Record<`spent_${number}` | `held_${number}`, number>;

/** One cap to check at admission: a global one (everyone's spend and holds) or a principal's own. */
interface CapCheck {
  cap: Cap;
  principal: string | undefined;
}

/**
 * The admission statement: the spend of each cap's period, the live holds taken in that period
 * (everyone's, or the principal's for a principal's cap; a kept hold of a call of unknown cost
 * counts against the day and month it was taken in; a lease counts whole), and a new row inserted
 * only when every cap has room, all from one snapshot (taken after the lock). `clock` is the time
 * as SQL (database-clock.ts), read once: the periods, the expiry of holds and the new row's times.
 *
 * The row is a lease (see the top of postgres-ledger.ts) when one fits: 1/LEASE_ROOM_FRACTION of
 * the smallest room over the caps in whole holds of `amount`, at most `lease.max`, at least
 * `lease.min`, and the UTC day not ending within LEASE_DAY_MARGIN_MS; a lease is never more than
 * the room (it never overspends). Otherwise it is the call's own hold of `amount` when `exact`, or
 * nothing. `lease` in the answer is the lease's amount when one was sized; `room_for_lease` says
 * whether the caps' room fits one, the end of the day aside.
 */
function admissionQuery(
  checks: CapCheck[],
  clock: string,
  amount: number,
  ttlMs: number,
  principal: string | null,
  lease: { max: number; min: number },
  exact: boolean,
): { sql: string; params: unknown[] } {
  const params: unknown[] = [principal];
  const now = isoSql('clock.t');
  const sums = checks.map((check, i) => {
    const spent = spentSql(unitOf(check.cap), params, check.principal);
    // created_at is ISO text in the database's collation: compared byte by byte, as SQLite does.
    const held = `(SELECT COALESCE(SUM(amount_micro_usd), 0)::float8 FROM reservations WHERE expires_at > ${now} AND created_at COLLATE "C" >= ${isoSql(periodSql(unitOf(check.cap), 'clock.t').start)}${
      check.principal === undefined ? '' : ' AND principal = $1::text'
    })`;
    return `${spent} AS spent_${i}, ${held} AS held_${i}`;
  });
  const param = (value: unknown): string => {
    params.push(value);
    return `$${params.length}`;
  };
  const caps = checks.map((check) => param(check.cap.capMicro));
  const room = checks.map((_, i) => `sums.spent_${i} + sums.held_${i} < ${caps[i]}`);
  const amountParam = param(amount);
  // Whole holds of the asking call, so calls like it use a lease up without a remainder.
  const size = `LEAST(${param(lease.max)}::float8, floor(LEAST(${checks.map((_, i) => `${caps[i]} - sums.spent_${i} - sums.held_${i}`).join(', ')}) / (${LEASE_ROOM_FRACTION} * GREATEST(${amountParam}, 1))) * ${amountParam})`;
  const minParam = param(lease.min);
  const exactParam = param(exact ? 1 : 0);
  const sql = `
    WITH clock AS MATERIALIZED (
      SELECT ${clock} AS t
    ), sums AS MATERIALIZED (
      SELECT ${sums.join(', ')} FROM clock
    ), fit AS (
      SELECT ${size} AS size, ${size} >= ${minParam} AS room_for_lease FROM sums
    ), size AS (
      SELECT CASE WHEN fit.room_for_lease AND ${plusMsSql('clock.t', LEASE_DAY_MARGIN_MS)} < ${periodSql('day', 'clock.t').end} THEN fit.size END AS lease FROM fit, clock
    ), expired AS (
      DELETE FROM reservations WHERE expires_at <= (SELECT ${now} FROM clock)
    ), hold AS (
      INSERT INTO reservations (created_at, amount_micro_usd, expires_at, principal)
      SELECT ${now}, COALESCE(size.lease, ${amountParam}), ${isoSql(plusMsSql('clock.t', ttlMs))}, $1::text FROM sums, clock, size
      WHERE ${room.join(' AND ')} AND (size.lease IS NOT NULL OR ${exactParam} = 1)
      RETURNING id, created_at
    )
    SELECT sums.*, (SELECT id FROM hold)::float8 AS id, (SELECT created_at FROM hold) AS created_at, (SELECT lease FROM size) AS lease, (SELECT room_for_lease FROM fit) AS room_for_lease FROM sums`;
  return { sql, params };
}

/** The UTC period a cap covers. */
function unitOf(cap: Cap): 'day' | 'month' {
  return cap.label === 'Daily' ? 'day' : 'month';
}

/**
 * `sql` with `$1`..`$n` replaced by `params` as SQL literals, for the simple query protocol.
 * Strings are quoted by pg's escapeLiteral; only finite numbers and null are accepted besides.
 */
export function inlineParams(sql: string, params: readonly unknown[]): string {
  return sql.replace(/\$(\d+)/g, (_, digits: string) => {
    const value = params[Number(digits) - 1];
    if (value === null) return 'NULL';
    if (typeof value === 'string') return pg.escapeLiteral(value);
    if (typeof value === 'number' && Number.isFinite(value)) return String(value);
    throw new Error(`cannot inline parameter $${digits} (${typeof value})`);
  });
}

/**
 * A scalar subquery: the recorded cost of the calls started in the UTC day or month of `clock.t`
 * (one principal's, if named); the statement must have `clock` (see admissionQuery) in scope.
 */
function spentSql(unit: 'day' | 'month', params: unknown[], principal?: string): string {
  const { start, end } = periodSql(unit, 'clock.t');
  if (principal !== undefined) {
    params.push(principal);
    return `(SELECT COALESCE(SUM(cost_micro_usd), 0)::float8 FROM calls WHERE principal = $${params.length} AND started_at >= ${isoSql(start)} AND started_at < ${isoSql(end)})`;
  }
  // A day and a month are whole UTC days: daily_costs (migration 5) holds their sums, 8 rows a
  // day, where hourly_totals has 24 x models x 8.
  return `(SELECT COALESCE(SUM(cost_micro_usd), 0)::float8 FROM daily_costs WHERE day >= ${daySql(start)} AND day < ${daySql(end)})`;
}

/** The SQL of a report, read in the parts report-ranges.ts splits its range into. */
function reportQuery(filter: ReportFilter): { sql: string; params: unknown[] } {
  const group = GROUP_KEYS[filter.groupBy];
  const params: unknown[] = [];
  const param = (value: unknown): string => {
    params.push(value);
    return `$${params.length}`;
  };
  const match = (): string =>
    (filter.model !== undefined ? ` AND model = ${param(filter.model)}` : '') +
    (filter.provider !== undefined ? ` AND provider = ${param(filter.provider)}` : '') +
    (filter.principal !== undefined ? ` AND principal = ${param(filter.principal)}` : '') +
    (filter.conversationId !== undefined ? ` AND conversation_id = ${param(filter.conversationId)}` : '');
  // hourly_totals has no principal nor conversation: a report on either reads the calls of the range.
  const perPrincipal = filter.principal !== undefined || filter.groupBy === 'principal' || filter.conversationId !== undefined;
  const parts = reportRanges(filter.since, filter.until, perPrincipal).map((part) => {
    if (part.source === 'calls') {
      const where =
        (part.since !== undefined ? ` AND started_at >= ${param(isoTime(part.since))}` : '') +
        (part.until !== undefined ? ` AND started_at < ${param(isoTime(part.until))}` : '') +
        match();
      return `SELECT ${group.calls} AS key, ${TOTALS_COLUMNS} FROM calls WHERE true${where} GROUP BY 1`;
    }
    const where =
      (part.fromHour !== undefined ? ` AND hour >= ${param(part.fromHour)}` : '') +
      (part.toHour !== undefined ? ` AND hour < ${param(part.toHour)}` : '') +
      match();
    return `SELECT ${group.hourly} AS key, ${SUMMED_COLUMNS} FROM hourly_totals WHERE true${where} GROUP BY 1`;
  });
  const sql = `SELECT key, ${SUMMED_COLUMNS} FROM (${parts.join(' UNION ALL ')}) AS parts GROUP BY key HAVING SUM(calls) <> 0 ORDER BY ${group.order}`;
  return { sql, params };
}

/** The pool's settings: the URL as libpq users write it, plus `PGSSLROOTCERT`; BIGINT read as numbers. */
export function poolConfig(url: string, options: Pick<PostgresLedgerOptions, 'env' | 'poolSize' | 'connectTimeoutMs'>): pg.PoolConfig {
  const env = options.env ?? process.env;
  const parsed = new URL(url.trim());
  const config: pg.PoolConfig = {
    connectionString: url.trim(),
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    application_name: 'llm-service-mcp',
    types: { getTypeParser: ((oid: number, format?: string) => (oid === 20 ? Number : pg.types.getTypeParser(oid, format as 'text'))) as typeof pg.types.getTypeParser },
  };
  // libpq reads the CA file from PGSSLROOTCERT; node-postgres only from the URL's sslrootcert.
  const rootCert = env.PGSSLROOTCERT;
  if (rootCert && !parsed.searchParams.has('sslrootcert')) {
    const sslmode = parsed.searchParams.get('sslmode') ?? env.PGSSLMODE;
    if (sslmode !== 'disable') config.ssl = { ca: readFileSync(rootCert, 'utf8'), rejectUnauthorized: sslmode !== 'no-verify' };
  }
  return config;
}

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', '57P01', '57P02', '57P03', '53300']);

/** True for errors that mean the database could not be reached, as opposed to a refused statement. */
export function isUnreachable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && (UNREACHABLE_CODES.has(code) || code.startsWith('08'))) return true;
  const message = error instanceof Error ? error.message : String(error);
  return /Connection terminated|timeout exceeded when trying to connect|connect ECONN|Client has encountered a connection error|Connection ended|the database system is (starting up|shutting down)/i.test(message);
}

function describe(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return describe(error.errors[0]);
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const message = error.message || (typeof code === 'string' ? code : error.name);
    return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
  }
  return String(error);
}

function openError(error: unknown, location: string): LedgerError {
  if (error instanceof SchemaTooNewError) {
    return new LedgerError(
      `The ledger ${location} was written by a newer llm-service-mcp (schema version ${error.found}, this one knows ${error.known}): upgrade, or set LLM_SERVICE_DB to another database`,
      location,
      { cause: error },
    );
  }
  const code = (error as { code?: unknown } | null)?.code;
  const reason = describe(error);
  if (isUnreachable(error)) {
    return new LedgerError(`Cannot reach the PostgreSQL ledger ${location} (${reason}): check that the server is up and LLM_SERVICE_DB`, location, { cause: error });
  }
  if (code === '28P01' || code === '28000') {
    return new LedgerError(`PostgreSQL refused the login to ${location} (${reason}): check the user and password in LLM_SERVICE_DB`, location, { cause: error });
  }
  if (code === '3D000') {
    return new LedgerError(`The database of ${location} does not exist (${reason}): create it (createdb) or fix LLM_SERVICE_DB`, location, { cause: error });
  }
  return new LedgerError(`Cannot open the PostgreSQL ledger ${location} (${reason}): check LLM_SERVICE_DB and the user's rights`, location, { cause: error });
}
