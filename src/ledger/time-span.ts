/**
 * Time bounds for cost reports, as users type them: an ISO 8601 date or date-time, or a span
 * back from now (`30m`, `24h`, `7d`, `2w`, `6mo`, `1y`). The ledger keeps UTC, so a date or time
 * without an offset is read as UTC too: `2026-11-01` means the same instant on every machine.
 */

const SPAN_MS: Record<string, number> = {
  s: 1_000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};
/** Calendar units: counted back on the calendar (a month is not 30 days), whole numbers only. */
const CALENDAR_MONTHS: Record<string, number> = { mo: 1, y: 12 };

const UNITS_HELP = 's, m or min (minutes), h, d, w, mo (months), y';
const SPAN = /^(\d+(?:\.\d+)?)\s*([a-z]+)$/i;
// Year, optional month and day, optional time with optional seconds, fraction and offset
// (Z, +hh, +hhmm or +hh:mm).
const ISO =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?)?)?$/i;

/** The instants a bound may name: what a four-digit ISO year can write, and the ledger can key. */
const EARLIEST_MS = Date.parse('0000-01-01T00:00:00Z');
const LATEST_MS = Date.parse('9999-12-31T23:59:59.999Z');

/** Epoch ms of an ISO 8601 date/date-time (UTC unless it says otherwise) or of `now` minus a span. */
export function parseTimeBound(input: string, now: number): number {
  const text = input.trim();
  const shown = text.length > 40 ? `${text.slice(0, 40)}…` : text;
  const span = SPAN.exec(text);
  if (span) {
    const [, amount, unit] = span as unknown as [string, string, string];
    if (unit === 'M') throw new Error(`Invalid time '${shown}': 'M' is ambiguous; write ${amount}m for minutes or ${amount}mo for months`);
    const lower = unit.toLowerCase();
    let at: number | undefined;
    if (SPAN_MS[lower] !== undefined) at = now - Math.round(Number(amount) * SPAN_MS[lower]);
    else if (CALENDAR_MONTHS[lower] !== undefined) {
      if (!/^\d+$/.test(amount)) throw new Error(`Invalid time '${shown}': months and years are counted in whole numbers`);
      at = monthsBack(now, Number(amount) * CALENDAR_MONTHS[lower]);
    }
    if (at !== undefined) {
      if (!(at >= EARLIEST_MS)) throw new Error(`Time '${shown}' is out of range: a span reaches back to the year 0000 at most`);
      return at;
    }
  }
  const iso = ISO.exec(text);
  if (iso) {
    const parsed = parseIso(iso);
    if (parsed !== null && parsed >= EARLIEST_MS && parsed <= LATEST_MS) return parsed;
  }
  throw new Error(`Invalid time '${shown}': use an ISO 8601 date or time, or a span such as 24h or 7d (units: ${UNITS_HELP})`);
}

/** `now` moved back by whole calendar months, the day clamped to the target month's last day. */
function monthsBack(now: number, months: number): number {
  if (!Number.isSafeInteger(months) || months > 12 * 10_000) return Number.NEGATIVE_INFINITY;
  const date = new Date(now);
  const day = date.getUTCDate();
  date.setUTCDate(1);
  date.setUTCMonth(date.getUTCMonth() - months);
  const lastDay = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 0)).getUTCDate();
  date.setUTCDate(Math.min(day, lastDay));
  return date.getTime();
}

function parseIso(match: RegExpExecArray): number | null {
  const [, year, month = '01', day = '01', hour = '00', minute = '00', second = '00', fraction = '', offset] = match;
  const parts = [year, month, day, hour, minute, second].map(Number) as [number, number, number, number, number, number];
  const [y, mo, d, h, mi, s] = parts;
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return null;
  const offsetMin = offsetMinutes(offset);
  if (offsetMin === null) return null;
  // Truncate to ms: the ledger keeps ms, and rounding up could roll 23:59:59.9999 into the next day.
  const ms = Number(`${fraction}000`.slice(0, 3));
  // Date.UTC maps years 0-99 to 1900-1999; setUTCFullYear does not.
  const date = new Date(Date.UTC(2000, mo - 1, d, h, mi, s, ms));
  date.setUTCFullYear(y, mo - 1, d);
  // A date that does not exist (2026-02-30) rolls over to the next month: a typo, not a wish.
  if (date.getUTCDate() !== d || date.getUTCMonth() !== mo - 1) return null;
  return date.getTime() - offsetMin * 60_000;
}

/** Minutes east of UTC; null for an offset no place has (hours over 14, minutes over 59). */
function offsetMinutes(offset: string | undefined): number | null {
  if (!offset || offset.toUpperCase() === 'Z') return 0;
  const digits = offset.slice(1).replace(':', '');
  const hours = Number(digits.slice(0, 2));
  const minutes = digits.length > 2 ? Number(digits.slice(2, 4)) : 0;
  if (hours > 14 || minutes > 59) return null;
  const total = hours * 60 + minutes;
  return offset.startsWith('-') ? -total : total;
}
