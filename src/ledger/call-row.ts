/**
 * A call record as the column values of one `calls` row, the same for both stores: counts made
 * whole and non-negative, times as ISO 8601 UTC, error text capped, raw usage as JSON.
 */

import type { CallRecord } from './ledger.js';

// Error text is for people; a provider that echoes a whole prompt back must not bloat the ledger.
const MAX_ERROR_CHARS = 4_000;

/** The values of a `calls` row, keyed by column name. */
export interface CallRow {
  call_id: string;
  session_id: string;
  started_at: string;
  model: string;
  provider: string;
  provider_model: string;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  cache_write_tokens: number;
  cache_write_1h_tokens: number;
  reasoning_tokens: number;
  cost_micro_usd: number | null;
  input_price_per_mtok: number | null;
  output_price_per_mtok: number | null;
  cached_input_price_per_mtok: number | null;
  cache_write_price_per_mtok: number | null;
  cache_write_1h_price_per_mtok: number | null;
  latency_ms: number;
  attempts: number;
  status: CallRecord['status'];
  finish_reason: string | null;
  error: string | null;
  raw_usage: string | null;
  principal: string | null;
  conversation_id: string | null;
}

/** The column names of a `calls` row, in the order of CallRow. */
export const CALL_ROW_COLUMNS = [
  'call_id', 'session_id', 'started_at', 'model', 'provider', 'provider_model',
  'prompt_tokens', 'completion_tokens', 'cached_tokens', 'cache_write_tokens', 'cache_write_1h_tokens', 'reasoning_tokens',
  'cost_micro_usd', 'input_price_per_mtok', 'output_price_per_mtok', 'cached_input_price_per_mtok',
  'cache_write_price_per_mtok', 'cache_write_1h_price_per_mtok', 'latency_ms', 'attempts', 'status', 'finish_reason', 'error', 'raw_usage', 'principal',
  'conversation_id',
] as const satisfies ReadonlyArray<keyof CallRow>;

/** The row a store writes for `rec`; `now` stands in for a start time that is not a number. */
export function toCallRow(rec: CallRecord, sessionId: string, now: number): CallRow {
  const usage = rec.usage;
  // A bad clock value must not cost us the row: the spend is real either way.
  const startedAt = Number.isFinite(rec.startedAt) ? rec.startedAt : now;
  return {
    call_id: rec.callId,
    session_id: sessionId,
    started_at: isoTime(startedAt),
    model: rec.model,
    provider: rec.provider,
    provider_model: rec.providerModel,
    prompt_tokens: count(usage?.promptTokens),
    completion_tokens: count(usage?.completionTokens),
    cached_tokens: count(usage?.cachedTokens),
    cache_write_tokens: count(usage?.cacheWriteTokens),
    // Of the writes, those kept for one hour; never more than the writes themselves.
    cache_write_1h_tokens: Math.min(count(usage?.cacheWrite1hTokens), count(usage?.cacheWriteTokens)),
    reasoning_tokens: count(usage?.reasoningTokens),
    // A non-finite cost (absurd usage the service did not catch) is unknown, never Infinity.
    cost_micro_usd: rec.costMicroUsd === null || !Number.isFinite(rec.costMicroUsd) ? null : Math.round(rec.costMicroUsd),
    input_price_per_mtok: price(rec.pricing?.inputPerMTok),
    output_price_per_mtok: price(rec.pricing?.outputPerMTok),
    cached_input_price_per_mtok: price(rec.pricing?.cachedInputPerMTok),
    cache_write_price_per_mtok: price(rec.pricing?.cacheWritePerMTok),
    cache_write_1h_price_per_mtok: price(rec.pricing?.cacheWrite1hPerMTok),
    latency_ms: count(rec.latencyMs),
    attempts: count(rec.attempts),
    status: rec.status,
    finish_reason: rec.finishReason,
    error: rec.error === null ? null : rec.error.slice(0, MAX_ERROR_CHARS),
    raw_usage: rawUsageJson(usage?.raw),
    principal: typeof rec.principal === 'string' ? rec.principal : null,
    conversation_id: typeof rec.conversationId === 'string' ? rec.conversationId : null,
  };
}

/** ISO 8601 UTC with ms, the ledger's time format. */
export function isoTime(epochMs: number): string {
  return new Date(epochMs).toISOString();
}

/** The hour key of `hourly_totals` (`2026-11-26T04`) of an instant; undefined outside years 0000-9999. */
export function hourKey(epochMs: number): string | undefined {
  const iso = isoTime(epochMs);
  // Years outside 0000-9999 are written +010000-... / -000001-...: not comparable as strings.
  return iso.length === 24 ? iso.slice(0, 13) : undefined;
}

/** A price as stored: a finite number or NULL (SQLite would store NaN as NULL, PostgreSQL as NaN). */
function price(value: number | null | undefined): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
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
