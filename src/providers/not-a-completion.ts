import { LlmError } from '../llm/errors.js';

// Enough of an unexpected body to recognise it (an HTML title, a proxy's message), no more.
const SAMPLE_CHARS = 120;

/**
 * A 200 answer that is not a completion (a proxy's HTML page, JSON without choices or content,
 * an empty stream) as a clear error naming the provider and its base URL. Retryable like a
 * transient fault: a proxy or gateway in the way often answers properly a moment later, and
 * otherwise the next fallback model may.
 */
export function notACompletion(context: { providerId: string; baseURL?: string }, what: string): LlmError {
  const where = context.baseURL ? ` at ${context.baseURL}` : '';
  return new LlmError(`${context.providerId}${where} answered HTTP 200 with ${what}, not a chat completion`, {
    kind: 'invalid-response',
    provider: context.providerId,
    retryable: true,
  });
}

/** What a body that is not a JSON object is, for the error: `a text page ("<html>…")`. */
export function describeBody(body: unknown): string {
  if (typeof body === 'string') {
    const sample = body.trim().replace(/\s+/g, ' ');
    if (sample === '') return 'an empty body';
    return `a text page ("${sample.length > SAMPLE_CHARS ? `${sample.slice(0, SAMPLE_CHARS)}…` : sample}")`;
  }
  if (Array.isArray(body)) return 'a JSON array';
  if (body === null || body === undefined) return 'an empty body';
  return `a JSON ${typeof body}`;
}
