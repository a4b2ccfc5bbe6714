import { formatSeconds, LlmError, parseRetryAfterMs, shouldRetryResponse } from '../llm/errors.js';
import type { AttemptControl } from './attempt-control.js';
import { BodyTooLargeError } from './bounded-fetch.js';

// The constructor types of each SDK's error classes; both SDKs share these names and fields.
type ErrorClass = abstract new (...args: never[]) => Error;
export interface SdkErrorClasses {
  APIError: ErrorClass;
  APIUserAbortError: ErrorClass;
  APIConnectionError: ErrorClass;
  APIConnectionTimeoutError: ErrorClass;
}

interface SdkApiError extends Error {
  status?: number;
  headers?: unknown;
  error?: unknown;
  requestID?: string | null;
}

const RETRYABLE_ERROR_TYPES = new Set(['overloaded_error', 'api_error', 'rate_limit_error', 'timeout_error', 'server_error']);

/** The provider's own message out of an SDK error body (OpenAI: {message}, Anthropic: {error:{message}}). */
function providerMessageOf(error: SdkApiError): { message?: string; type?: string } {
  const body = error.error as Record<string, unknown> | undefined;
  const inner = (body && typeof body.error === 'object' && body.error !== null ? body.error : body) as Record<string, unknown> | undefined;
  const message = typeof inner?.message === 'string' ? inner.message : undefined;
  const type = typeof inner?.type === 'string' ? inner.type : undefined;
  return { message, type };
}

export function causeCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Turns whatever an SDK call threw into an LlmError, deciding here, once, whether it is
 * retryable. Uses the SDK's error classes and their status and headers, never message text.
 */
export function convertSdkError(error: unknown, provider: string, control: AttemptControl, classes: SdkErrorClasses, timeoutMs: number): LlmError {
  if (error instanceof LlmError) return error;
  if (error instanceof BodyTooLargeError) {
    // Not retried: another attempt would be sent the same huge body. Another model may answer.
    return new LlmError(
      `${provider} sent ${error.part === 'body' ? 'a response' : 'one line of a stream'} larger than ${error.limitBytes} bytes (twice maxAnswerBytes, ${error.maxAnswerBytes}, plus 64 KiB); ` +
        'reading stopped there and the connection was closed. Ask for a shorter answer, or raise maxAnswerBytes in the config file',
      { kind: 'invalid-response', provider, retryable: false, cause: error },
    );
  }
  if (control.cancelled) {
    return new LlmError(`The call to ${provider} was cancelled`, { kind: 'cancelled', provider, retryable: false, cause: error });
  }
  if (control.timedOut || error instanceof classes.APIConnectionTimeoutError) {
    return new LlmError(`${provider} timed out: no answer for ${formatSeconds(timeoutMs)} (timeoutMs)`, {
      kind: 'timeout',
      provider,
      retryable: true,
      cause: error,
    });
  }
  if (error instanceof classes.APIUserAbortError) {
    return new LlmError(`The call to ${provider} was aborted`, { kind: 'cancelled', provider, retryable: false, cause: error });
  }
  if (error instanceof classes.APIConnectionError) {
    const code = causeCode(error);
    return new LlmError(`Could not reach ${provider}${code ? ` (${code})` : ''}`, { kind: 'connection', provider, retryable: true, cause: error });
  }
  if (error instanceof classes.APIError) {
    const apiError = error as SdkApiError;
    const { message, type } = providerMessageOf(apiError);
    const requestId = apiError.requestID ?? undefined;
    if (typeof apiError.status === 'number') {
      return new LlmError(`${provider} returned HTTP ${apiError.status}${message ? `: ${message}` : ''}`, {
        kind: 'http',
        provider,
        status: apiError.status,
        retryable: shouldRetryResponse(apiError.status, apiError.headers),
        retryAfterMs: parseRetryAfterMs(apiError.headers),
        providerMessage: message,
        requestId,
        cause: error,
      });
    }
    // No status: an `error` event inside a stream that had already started.
    return new LlmError(`${provider} sent an error in the stream${type ? ` (${type})` : ''}${message ? `: ${message}` : ''}`, {
      kind: 'stream',
      provider,
      retryable: type === undefined || RETRYABLE_ERROR_TYPES.has(type),
      providerMessage: message,
      requestId,
      cause: error,
    });
  }
  if (error instanceof SyntaxError) {
    return new LlmError(`${provider} sent data that is not valid JSON: ${error.message}`, { kind: 'invalid-response', provider, retryable: false, cause: error });
  }
  // Sockets closed mid-body surface as plain errors (TypeError: terminated, ECONNRESET).
  const code = causeCode(error);
  const detail = error instanceof Error && error.message ? `: ${error.message}` : '';
  return new LlmError(`The connection to ${provider} broke${code ? ` (${code})` : ''}${detail}`, { kind: 'connection', provider, retryable: true, cause: error });
}
