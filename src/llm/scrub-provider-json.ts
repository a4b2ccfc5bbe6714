// A provider's usage object is a few hundred bytes; one that is far larger is stuffed.
const MAX_JSON_CHARS = 8_000;
const MAX_DEPTH = 6;

/**
 * A JSON value from a provider (its raw usage object) made safe to store: every string, key or
 * value, passed through `scrub` (the one key scrubber); deeper nesting than any real usage object
 * dropped; and when it is still larger than 8,000 characters of JSON, only its top-level numbers
 * are kept, with `"truncated": true`.
 */
export function scrubProviderJson(value: unknown, scrub: (text: string) => string): unknown {
  const clean = walk(value, scrub, 0);
  let size: number;
  try {
    size = JSON.stringify(clean)?.length ?? 0;
  } catch {
    return undefined;
  }
  if (size <= MAX_JSON_CHARS || typeof clean !== 'object' || clean === null || Array.isArray(clean)) {
    return size <= MAX_JSON_CHARS ? clean : undefined;
  }
  const numbers: Record<string, unknown> = { truncated: true };
  for (const [key, item] of Object.entries(clean)) {
    if (typeof item === 'number' && key.length <= 100) numbers[key] = item;
  }
  return numbers;
}

function walk(value: unknown, scrub: (text: string) => string, depth: number): unknown {
  if (typeof value === 'string') return scrub(value);
  if (typeof value !== 'object' || value === null) return value;
  if (depth >= MAX_DEPTH) return undefined;
  if (Array.isArray(value)) return value.map((item) => walk(item, scrub, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) out[scrub(key)] = walk(item, scrub, depth + 1);
  return out;
}
