/**
 * The clock of the PostgreSQL ledger's holds and budget periods, as SQL. Instances sharing one
 * database may disagree about the time (a VM whose clock drifted, a wrong time zone setting turned
 * into a wrong UTC): if each stamped holds by its own clock, an instance an hour behind would
 * count another's live holds as expired (and let calls through), an instance ahead would keep a
 * dead instance's holds for hours, and they would not agree on when the budget's day starts.
 * So the database's clock decides: every hold time and budget period is computed in the statement
 * that uses it, from `clock_timestamp()` (the time the statement reads it, not the transaction's
 * start, which may be before a wait for the admission lock).
 *
 * Times stay ISO 8601 UTC text with milliseconds (`2026-11-26T12:00:00.000Z`) and hour keys
 * `2026-11-26T12`, byte for byte as call-row.ts writes them, so they compare with the stored ones.
 */

import pg from 'pg';
import { isoTime } from '../call-row.js';

/** Whose clock times holds and budget periods (see PostgresLedgerOptions.budgetClock). */
export type BudgetClock = 'database' | 'now';

/**
 * The current time as a SQL `timestamp` in UTC: the database's, or (`now` given) that instant as a
 * literal, for tests that stand on a day or month boundary.
 */
export function clockSql(now?: number): string {
  if (now === undefined) return `(clock_timestamp() AT TIME ZONE 'UTC')`;
  return `(${pg.escapeLiteral(isoTime(now))}::timestamptz AT TIME ZONE 'UTC')`;
}

/** A UTC `timestamp` expression as the ISO text the ledger stores. */
export function isoSql(timestamp: string): string {
  return `to_char(${timestamp}, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}

/** A UTC `timestamp` expression as a `daily_costs` day key (`2026-11-26`). */
export function daySql(timestamp: string): string {
  return `to_char(${timestamp}, 'YYYY-MM-DD')`;
}

/** The start and end (exclusive) of the UTC day or month holding `timestamp`, as UTC `timestamp`s. */
export function periodSql(unit: 'day' | 'month', timestamp: string): { start: string; end: string } {
  const start = `date_trunc('${unit}', ${timestamp})`;
  return { start, end: `(${start} + interval '1 ${unit}')` };
}

/** `timestamp` plus `ms` milliseconds. */
export function plusMsSql(timestamp: string, ms: number): string {
  return `(${timestamp} + ${Math.max(0, Math.round(ms))} * interval '1 millisecond')`;
}

/** The end of the UTC month of an ISO text column (a hold's `created_at`), as ISO text. */
export function monthEndOfSql(isoColumn: string): string {
  return isoSql(periodSql('month', `(${isoColumn}::timestamptz AT TIME ZONE 'UTC')`).end);
}
