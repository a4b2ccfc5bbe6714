/**
 * How a report's time range is read, the same for both stores: the whole UTC hours of the range
 * from the per-hour sums (`hourly_totals`), the partial hours at its edges (under an hour of rows
 * each) from `calls` itself. The parts are disjoint and cover the range exactly, so summing them
 * gives exactly what a scan of `calls` would, at a cost that does not grow with the ledger.
 * For ISO strings of the documented form, `started_at >= '2026-11-26T04:00:00.000Z'` holds exactly
 * when `substr(started_at, 1, 13) >= '2026-11-26T04'`, which is what makes the split exact.
 */

import { HOUR_MS } from './budget-caps.js';
import { hourKey } from './call-row.js';

/** One part of a range: rows of `calls` in [since, until), or hours of `hourly_totals` in [from, to). */
export type RangePart =
  | { source: 'calls'; since?: number; until?: number }
  | { source: 'hours'; fromHour?: string; toHour?: string };

/**
 * The parts that read [since, until) (undefined = unbounded on that side). `callsOnly` when the
 * report needs what `hourly_totals` does not keep (the principal): then one part, from `calls`.
 */
export function reportRanges(sinceMs: number | undefined, untilMs: number | undefined, callsOnly = false): RangePart[] {
  // Bounds as the Date the ISO strings are made of (a fraction of a ms is dropped the same way).
  const since = sinceMs === undefined ? undefined : new Date(sinceMs).getTime();
  const until = untilMs === undefined ? undefined : new Date(untilMs).getTime();
  // The whole hours inside [since, until); undefined = unbounded on that side.
  const firstHour = since === undefined ? undefined : Math.ceil(since / HOUR_MS) * HOUR_MS;
  const endHour = until === undefined ? undefined : Math.floor(until / HOUR_MS) * HOUR_MS;
  const firstKey = firstHour === undefined ? undefined : hourKey(firstHour);
  const endKey = endHour === undefined ? undefined : hourKey(endHour);
  const wholeHours =
    (firstHour === undefined || firstKey !== undefined) &&
    (endHour === undefined || endKey !== undefined) &&
    (firstHour === undefined || endHour === undefined || firstHour < endHour);
  // Less than one whole hour: the rows are few, read them. (A bound outside years 0000-9999 has
  // ISO strings of another shape; such a range is a plain scan, as it always was.)
  if (!wholeHours || callsOnly) return [{ source: 'calls', since, until }];
  const parts: RangePart[] = [];
  if (since !== undefined && since < firstHour!) parts.push({ source: 'calls', since, until: firstHour });
  parts.push({ source: 'hours', fromHour: firstKey, toHour: endKey });
  if (until !== undefined && endHour! < until) parts.push({ source: 'calls', since: endHour, until });
  return parts;
}

/**
 * The hours of `hourly_totals` that make up [start, end) when both are on whole UTC hours (a day
 * or a month), or undefined when the range must be read from `calls`.
 */
export function wholeHourKeys(start: number, end: number): { fromHour: string; toHour: string } | undefined {
  const fromHour = hourKey(start);
  const toHour = hourKey(end);
  if (fromHour === undefined || toHour === undefined || start % HOUR_MS !== 0 || end % HOUR_MS !== 0) return undefined;
  return { fromHour, toHour };
}
