/**
 * The project's one retry loop (the provider SDKs run with `maxRetries: 0`).
 *
 * Whether a failure is worth another attempt, and how long the provider asked us to wait, is
 * decided where the error is created (see `llm/errors.ts`); this loop only reads
 * `retryable` and `retryAfterMs`.
 */
import retry from 'async-retry';
import { LlmError } from './llm/errors.js';

export interface RetryPolicy {
  /** Retries after the first attempt (2 → at most 3 attempts). */
  retries: number;
  /** The first backoff delay, and the floor of every backoff delay. */
  minDelayMs: number;
  /** The cap of every delay, including a provider's Retry-After. */
  maxDelayMs: number;
  /** Growth of the backoff delay per retry. */
  factor: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  retries: 2,
  minDelayMs: 2000,
  maxDelayMs: 60_000,
  factor: 2,
});

export interface RetryNotice {
  /** The error of the attempt that failed. */
  error: LlmError;
  /** The attempt that failed, 1-based. */
  attempt: number;
  /** How long the loop waits before the next attempt. */
  delayMs: number;
  /** Retries still available after the one this notice announces (0: it is the last). */
  retriesLeft: number;
}

export interface RetryOptions {
  /** Aborting stops the loop at once: no further attempt, no further waiting. */
  signal?: AbortSignal;
  /** Called before each wait (the service announces retries from this). Its errors are ignored. */
  onRetry?: (notice: RetryNotice) => void;
  /** Source of jitter in [0, 1); defaults to Math.random. */
  random?: () => number;
  /** The wait between attempts; defaults to `cancellableSleep`. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** The longest delay setTimeout accepts; longer ones fire at once. */
const MAX_TIMER_MS = 2_147_483_647;

function finiteAtLeast(value: number, floor: number, fallback: number): number {
  return Number.isFinite(value) ? Math.max(floor, value) : fallback;
}

/**
 * A policy with every field usable: non-negative delays, `minDelayMs` clamped down to
 * `maxDelayMs` (the cap wins), `factor` at least 1, `retries` a non-negative integer.
 */
function normalizePolicy(policy: RetryPolicy): RetryPolicy {
  const maxDelayMs = Number.isNaN(policy.maxDelayMs) ? DEFAULT_RETRY_POLICY.maxDelayMs : Math.max(0, policy.maxDelayMs);
  const minDelayMs = Math.min(maxDelayMs, finiteAtLeast(policy.minDelayMs, 0, DEFAULT_RETRY_POLICY.minDelayMs));
  return {
    retries: Number.isFinite(policy.retries) ? Math.max(0, Math.floor(policy.retries)) : 0,
    minDelayMs,
    maxDelayMs,
    factor: finiteAtLeast(policy.factor, 1, DEFAULT_RETRY_POLICY.factor),
  };
}

/**
 * Exponential backoff with jitter for retry number `retry` (1-based).
 *
 * - base = min(maxDelayMs, minDelayMs × factor^(retry−1)); non-decreasing in `retry`.
 * - "Equal jitter" with a floor: the delay is drawn uniformly from [max(minDelayMs, base/2), base],
 *   so it is never below minDelayMs and never above maxDelayMs. `random = () => 1` gives the
 *   un-jittered base, `() => 0` the lower end.
 * - The result is rounded to whole milliseconds, then kept within [minDelayMs, maxDelayMs].
 * - Sanitised policy: negative delays count as 0, minDelayMs > maxDelayMs is clamped down to
 *   maxDelayMs (the cap wins), factor < 1 counts as 1, retry < 1 counts as 1.
 */
export function backoffDelayMs(retry: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const { minDelayMs: lo, maxDelayMs: hi, factor } = normalizePolicy(policy);
  const n = Number.isFinite(retry) ? Math.max(1, Math.floor(retry)) : 1;
  // lo === 0 is special-cased: 0 × Infinity (a huge factor^n) would be NaN.
  const base = lo === 0 ? 0 : Math.min(hi, lo * Math.pow(factor, n - 1));
  const floor = Math.max(lo, base / 2);
  const r = random();
  const unit = Number.isFinite(r) ? Math.min(1, Math.max(0, r)) : 1;
  const delay = Math.round(floor + unit * (base - floor));
  return Math.min(hi, Math.max(lo, delay));
}

/** Resolves after `ms`; rejects with a 'cancelled' LlmError as soon as `signal` aborts. */
export function cancellableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(cancelledError(signal.reason));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(cancelledError(signal?.reason));
    };
    const timer = setTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      Math.min(MAX_TIMER_MS, Math.max(0, Number.isFinite(ms) ? ms : 0)),
    );
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function cancelledError(reason?: unknown, from?: LlmError): LlmError {
  return new LlmError('The call was cancelled', {
    kind: 'cancelled',
    retryable: false,
    provider: from?.provider,
    status: from?.status,
    requestId: from?.requestId,
    partialText: from?.partialText,
    usage: from?.usage,
    usageUnknown: from?.usageUnknown,
    cause: from ?? reason,
  });
}

function isAbortError(thrown: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted && thrown === signal.reason) return true;
  return thrown instanceof Error && thrown.name === 'AbortError';
}

/** Every failure as an LlmError; anything thrown after `signal` aborted is a cancellation. */
function toLlmError(thrown: unknown, signal?: AbortSignal): LlmError {
  if (thrown instanceof LlmError) {
    if (signal?.aborted && thrown.kind !== 'cancelled') return cancelledError(signal.reason, thrown);
    return thrown;
  }
  if (signal?.aborted || isAbortError(thrown, signal)) return cancelledError(thrown);
  const detail = thrown instanceof Error ? thrown.message : String(thrown);
  return new LlmError(`Unexpected error: ${detail}`, {
    kind: 'invalid-response',
    retryable: false,
    cause: thrown,
  });
}

/** Seconds for a message: at most one decimal, rounded up so a wait is never understated. */
function seconds(ms: number): string {
  return String(Math.ceil(ms / 100) / 10);
}

function retryAfterTooLong(error: LlmError, retryAfterMs: number, capMs: number): LlmError {
  const who = error.provider ?? 'The provider';
  return new LlmError(
    `${error.message} — ${who} asked to retry after ${seconds(retryAfterMs)} s, longer than the ` +
      `${seconds(capMs)} s cap (retry.maxDelayMs); try again later`,
    {
      kind: error.kind,
      provider: error.provider,
      status: error.status,
      retryable: false,
      retryAfterMs: error.retryAfterMs,
      providerMessage: error.providerMessage,
      requestId: error.requestId,
      partialText: error.partialText,
      cause: error,
    },
  );
}

/** Lets a custom `sleep` that ignores the signal still stop the moment it aborts. */
function raceAbort(wait: Promise<void>, signal?: AbortSignal): Promise<void> {
  if (!signal) return wait;
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      reject(cancelledError(signal.reason));
      return;
    }
    const onAbort = (): void => reject(cancelledError(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    wait.then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/**
 * Runs `attempt` until it succeeds, fails with a non-retryable error, or the policy is spent.
 * Resolves with the value and the number of attempts made; rejects with an LlmError whose
 * `attempts` is set.
 */
export async function withRetry<T>(
  attempt: (attemptNumber: number) => Promise<T>,
  policy: RetryPolicy,
  options: RetryOptions = {},
): Promise<{ value: T; attempts: number }> {
  const { signal, onRetry } = options;
  const sleep = options.sleep ?? cancellableSleep;
  const random = options.random ?? Math.random;
  const p = normalizePolicy(policy);
  let attempts = 0;

  if (signal?.aborted) {
    const error = cancelledError(signal.reason);
    error.attempts = 0;
    throw error;
  }

  try {
    const value = await retry<T>(
      async (bail, attemptNumber) => {
        // async-retry's bail() only rejects its promise; a later throw would still schedule
        // another attempt, so after bail() we return (the resolve is then a no-op).
        const stop = (error: LlmError): T => {
          bail(error);
          return undefined as T;
        };
        if (signal?.aborted) return stop(cancelledError(signal.reason));
        attempts = attemptNumber;
        try {
          return await attempt(attemptNumber);
        } catch (thrown) {
          const error = toLlmError(thrown, signal);
          if (!error.retryable || attemptNumber > p.retries) return stop(error);

          let delayMs: number;
          // A wait of zero or less is no answer at all: our own backoff then, never a retry at once.
          if (error.retryAfterMs !== undefined && Number.isFinite(error.retryAfterMs) && error.retryAfterMs > 0) {
            if (error.retryAfterMs > p.maxDelayMs) return stop(retryAfterTooLong(error, error.retryAfterMs, p.maxDelayMs));
            delayMs = error.retryAfterMs;
          } else {
            delayMs = backoffDelayMs(attemptNumber, p, random);
          }

          try {
            onRetry?.({ error, attempt: attemptNumber, delayMs, retriesLeft: p.retries - attemptNumber });
          } catch {
            // A failing listener (e.g. a progress notification) must not change the call's outcome.
          }
          try {
            await raceAbort(sleep(delayMs, signal), signal);
          } catch (waitError) {
            return stop(toLlmError(waitError, signal));
          }
          // Throwing hands the error back to async-retry, which starts the next attempt at once.
          throw error;
        }
      },
      {
        retries: p.retries,
        // async-retry cannot take a per-attempt delay (a provider's Retry-After) and cannot
        // cancel its timer, so its own waits are zero and we wait ourselves (cancellably,
        // inside the failed attempt) before handing the error back.
        minTimeout: 0,
        maxTimeout: 0,
        factor: 1,
        randomize: false,
      },
    );
    return { value, attempts };
  } catch (thrown) {
    const error = toLlmError(thrown, signal);
    error.attempts = attempts;
    throw error;
  }
}
