import type { Usage } from './types.js';

/**
 * Errors are data: whether a failure is retryable, and how long the provider asked us to wait,
 * is decided once, where the response is read. The retry loop only reads these fields.
 */

export type LlmErrorKind =
  | 'http' // the provider answered with an error status
  | 'connection' // reset, refused, DNS, socket closed before an answer
  | 'timeout' // one attempt exceeded timeoutMs (or a stream went silent that long)
  | 'cancelled' // the host cancelled the call
  | 'stream' // the stream broke, carried an error event, or ended without its final event
  | 'invalid-response' // the provider answered something we cannot read
  | 'unknown-model'
  | 'budget'
  | 'not-configured' // the provider has no API key
  | 'invalid-request'; // a request we refuse before sending (e.g. unknown tool name)

export interface LlmErrorFields {
  kind: LlmErrorKind;
  provider?: string;
  status?: number;
  retryable: boolean;
  /** How long the provider asked us to wait, from retry-after-ms / retry-after. */
  retryAfterMs?: number;
  /** The provider's own message, already scrubbed of secrets. */
  providerMessage?: string;
  requestId?: string;
  /** Text already relayed to the host when a stream broke. */
  partialText?: string;
  /** Attempts made, filled in by the retry loop. */
  attempts?: number;
  /** Usage known when the call failed (a stream cut after message_start), for the ledger. */
  usage?: Usage;
  /** The provider had accepted the request and was answering, but reported no usage: its bill is unknown. */
  usageUnknown?: boolean;
  cause?: unknown;
}

export class LlmError extends Error {
  readonly kind: LlmErrorKind;
  readonly provider?: string;
  readonly status?: number;
  readonly retryable: boolean;
  readonly retryAfterMs?: number;
  readonly providerMessage?: string;
  readonly requestId?: string;
  partialText?: string;
  attempts?: number;
  usage?: Usage;
  usageUnknown?: boolean;

  constructor(message: string, fields: LlmErrorFields) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.name = 'LlmError';
    this.kind = fields.kind;
    this.provider = fields.provider;
    this.status = fields.status;
    this.retryable = fields.retryable;
    this.retryAfterMs = fields.retryAfterMs;
    this.providerMessage = fields.providerMessage;
    this.requestId = fields.requestId;
    this.partialText = fields.partialText;
    this.attempts = fields.attempts;
    this.usage = fields.usage;
    this.usageUnknown = fields.usageUnknown;
  }
}

/** HTTP statuses worth another attempt: 408, 409, 429 and every 5xx (Anthropic's 529 included). */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || (status >= 500 && status <= 599);
}

/** Reads a header from a fetch `Headers`, a plain record, or nothing. */
export function headerValue(headers: unknown, name: string): string | undefined {
  if (!headers) return undefined;
  if (typeof (headers as Headers).get === 'function') {
    return (headers as Headers).get(name) ?? undefined;
  }
  const record = headers as Record<string, unknown>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : record[key];
  return typeof value === 'string' ? value : undefined;
}

/**
 * The wait a provider asks for: `retry-after-ms` first, then `retry-after` as seconds or an
 * HTTP date. Returns undefined when neither is present or makes sense (negative, zero, a date
 * not in the future, garbage): the retry loop then waits its own backoff, never not at all.
 */
export function parseRetryAfterMs(headers: unknown, now: number = Date.now()): number | undefined {
  const ms = headerValue(headers, 'retry-after-ms');
  if (ms !== undefined && /^\s*\d+(\.\d+)?\s*$/.test(ms)) {
    const value = Number.parseFloat(ms);
    if (Number.isFinite(value) && value > 0) return value;
  }
  const after = headerValue(headers, 'retry-after');
  if (after !== undefined) {
    const trimmed = after.trim();
    if (/^\d+(\.\d+)?$/.test(trimmed)) {
      const seconds = Number.parseFloat(trimmed);
      return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : undefined;
    }
    // Only the HTTP-date form: Date.parse also reads "-5" or "1" as years, which are not waits.
    if (!/[a-z]/i.test(trimmed)) return undefined;
    const date = Date.parse(trimmed);
    if (!Number.isNaN(date) && date > now) return date - now;
  }
  return undefined;
}

/**
 * Whether an HTTP error response should be retried: `x-should-retry` from the provider wins
 * ("If the server explicitly says whether or not to retry, obey."), else the status decides.
 */
export function shouldRetryResponse(status: number, headers: unknown): boolean {
  const explicit = headerValue(headers, 'x-should-retry');
  if (explicit === 'true') return true;
  if (explicit === 'false') return false;
  return isRetryableStatus(status);
}

const SECRET_PATTERNS: RegExp[] = [
  /sk-[A-Za-z0-9_\-]{6,}/g, // OpenAI, Anthropic (sk-ant-…), DeepSeek, DashScope style keys
  /(Bearer\s+)[A-Za-z0-9_\-.=]{6,}/gi,
  /(x-api-key["':\s=]+)[A-Za-z0-9_\-.]{6,}/gi,
  /(api[_-]?key["':\s=]+)[A-Za-z0-9_\-.]{6,}/gi,
];

/**
 * Removes API keys from text that may echo one (provider error bodies often quote part of the
 * key). Known secret values are removed exactly; key-shaped tokens are masked by pattern.
 */
export function redactSecrets(text: string, secrets: Iterable<string> = []): string {
  let out = text;
  const known = [...secrets].filter((secret) => secret && secret.length >= 4);
  // Whole keys first, so a piece shared by two keys cannot break up the other's exact match.
  for (const secret of known) out = out.split(secret).join('[redacted]');
  for (const secret of known) {
    // Any 12+ character piece of a key (an echo that dropped its sk- prefix, say) is a leak too.
    out = redactFragments(out, secret, 12);
    // Providers sometimes echo only a prefix or suffix of a key ("sk-abc...xyz").
    if (secret.length >= 12) {
      out = out.split(secret.slice(0, 8)).join('[redacted]');
      out = out.split(secret.slice(-6)).join('[redacted]');
    }
  }
  for (const pattern of SECRET_PATTERNS) {
    out = out.replace(pattern, (_match, prefix?: string) =>
      typeof prefix === 'string' && prefix.length > 0 ? `${prefix}[redacted]` : '[redacted]',
    );
  }
  return out;
}

/** Replaces every run of at least `min` characters of `text` that also occurs in `secret`. */
function redactFragments(text: string, secret: string, min: number): string {
  if (secret.length < min) return text;
  let present = false;
  for (let i = 0; i + min <= secret.length && !present; i++) present = text.includes(secret.slice(i, i + min));
  if (!present) return text;
  let out = '';
  let i = 0;
  while (i < text.length) {
    let longest = 0;
    for (let j = secret.indexOf(text[i]!); j !== -1; j = secret.indexOf(text[i]!, j + 1)) {
      let k = 0;
      while (i + k < text.length && j + k < secret.length && text[i + k] === secret[j + k]) k++;
      longest = Math.max(longest, k);
    }
    if (longest >= min) {
      out += '[redacted]';
      i += longest;
    } else {
      out += text[i];
      i++;
    }
  }
  return out;
}

/** A duration for messages: `12 s`, `2.5 s`, `0.3 s`, `0.15 s` (below 1 s two significant digits, never a misleading `0 s`). */
export function formatSeconds(ms: number): string {
  const seconds = ms / 1000;
  if (seconds >= 10) return `${seconds.toFixed(0)} s`;
  if (seconds >= 1) return `${seconds.toFixed(1).replace(/\.0$/, '')} s`;
  return `${Number(seconds.toPrecision(2))} s`;
}
