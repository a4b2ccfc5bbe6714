import { isContextLengthMessage } from './describe-error.js';
import { isRetryableStatus, type LlmError } from './errors.js';

/**
 * Where a model's failure (after its retries) may be worked around: nowhere (the request itself
 * is at fault, or the host cancelled), only on another provider (the account or key is at fault,
 * which every model of that provider shares), or on any other model. The README's retry section
 * has this table for users.
 */
export type FallbackScope = 'none' | 'other-provider' | 'any';

/** The fallback table: which failures another model, or another provider, would not share. */
export function fallbackScope(error: LlmError, maxDelayMs: number): FallbackScope {
  // A stream that already relayed text cannot be restarted elsewhere without repeating it.
  if ((error.partialText ?? '') !== '') return 'none';
  switch (error.kind) {
    case 'cancelled':
    case 'budget':
    case 'invalid-request':
    case 'unknown-model':
      return 'none';
    // No key for this provider: none of its models can be called either.
    case 'not-configured':
      return 'other-provider';
    case 'timeout':
    case 'connection':
    case 'stream':
    case 'invalid-response':
      return 'any';
    case 'http':
      break;
  }
  const status = error.status;
  if (status === undefined) return error.retryable ? 'any' : 'none';
  // The key is wrong (401) or the account cannot pay (402): the same for every model of the provider.
  if (status === 401 || status === 402) return 'other-provider';
  // Access to this model is refused; another model (even of the same provider) may be allowed.
  if (status === 403) return 'any';
  // An unknown model, a body too large, a prompt longer than this model's context window.
  if (status === 404 || status === 413) return 'any';
  if (status === 400) return isContextLengthMessage(error.providerMessage) ? 'any' : 'none';
  if (isRetryableStatus(status)) {
    if (error.retryable) return 'any';
    // Asked to wait longer than we do: the limit is this model's for now.
    if (error.retryAfterMs !== undefined && error.retryAfterMs > maxDelayMs) return 'any';
    // A 429 the provider says not to retry is a spent quota: the account's, not the model's.
    if (status === 429) return 'other-provider';
    // 408, 409, 5xx marked x-should-retry: false: this model's trouble; others may answer.
    return 'any';
  }
  // Other 4xx (400, 405, 422, …): the request is at fault and would fail on any model.
  return 'none';
}
