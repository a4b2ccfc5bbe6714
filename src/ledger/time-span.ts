/**
 * Time bounds for cost reports, as users type them: an ISO 8601 date or date-time, or a span
 * back from now (`30m`, `24h`, `7d`, `2w`). The ledger keeps UTC, so a date or time without an
 * offset is read as UTC too: `2026-11-01` means the same instant on every machine.
 */

const SPAN_MS: Record<string, number> = {
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};

const SPAN = /^(\d+(?:\.\d+)?)\s*([smhdw])$/i;
// Year, optional month and day, optional time with optional seconds, fraction and offset.
const ISO =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?)?)?)?$/i;

/** Epoch ms of an ISO 8601 date/date-time (UTC unless it says otherwise) or of `now` minus a span. */
export function parseTimeBound(input: string, now: number): number {
  const text = input.trim();
  const span = SPAN.exec(text);
  if (span) {
    const unit = SPAN_MS[span[2]!.toLowerCase()]!;
    return now - Math.round(Number(span[1]) * unit);
  }
  const iso = ISO.exec(text);
  if (iso) {
    const parsed = parseIso(iso);
    if (parsed !== null) return parsed;
  }
  throw new Error(`Invalid time '${input}': use an ISO 8601 date or time, or a span such as 24h or 7d`);
}

function parseIso(match: RegExpExecArray): number | null {
  const [, year, month = '01', day = '01', hour = '00', minute = '00', second = '00', fraction = '', offset] = match;
  const parts = [year, month, day, hour, minute, second].map(Number) as [number, number, number, number, number, number];
  const [y, mo, d, h, mi, s] = parts;
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return null;
  // Truncate to ms: the ledger keeps ms, and rounding up could roll 23:59:59.9999 into the next day.
  const ms = Number(`${fraction}000`.slice(0, 3));
  const utc = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  // Date.UTC rolls 2026-02-30 over to March; a date that does not exist is a typo, not a wish.
  if (new Date(utc).getUTCDate() !== d) return null;
  // Date.UTC maps years 0-99 to 1900-1999.
  if (new Date(utc).getUTCFullYear() !== y) return null;
  return utc - offsetMinutes(offset) * 60_000;
}

function offsetMinutes(offset: string | undefined): number {
  if (!offset || offset.toUpperCase() === 'Z') return 0;
  const digits = offset.slice(1).replace(':', '');
  const minutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4));
  return offset.startsWith('-') ? -minutes : minutes;
}
