import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LlmError } from '../src/llm/errors.js';
import {
  DEFAULT_RETRY_POLICY,
  backoffDelayMs,
  cancellableSleep,
  withRetry,
  type RetryNotice,
  type RetryPolicy,
} from '../src/retry.js';
import { startStallMeter } from './support/load-slack.js';

const FAST: RetryPolicy = { retries: 2, minDelayMs: 10, maxDelayMs: 1000, factor: 2 };

function rateLimited(retryAfterMs?: number): LlmError {
  return new LlmError('openai returned 429 (rate limited)', {
    kind: 'http',
    provider: 'openai',
    status: 429,
    retryable: true,
    retryAfterMs,
  });
}

function badKey(): LlmError {
  return new LlmError('openai rejected the API key (401): check OPENAI_API_KEY', {
    kind: 'http',
    provider: 'openai',
    status: 401,
    retryable: false,
  });
}

/** A fake sleep that records the waits asked for and returns at once. */
function recordingSleep(): { waits: number[]; sleep: (ms: number) => Promise<void> } {
  const waits: number[] = [];
  return { waits, sleep: async (ms: number) => void waits.push(ms) };
}

async function rejection(promise: Promise<unknown>): Promise<LlmError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(LlmError);
    return error as LlmError;
  }
  throw new Error('expected a rejection');
}

describe('withRetry', () => {
  it('succeeds the first time with attempts 1', async () => {
    const { waits, sleep } = recordingSleep();
    const calls: number[] = [];
    const result = await withRetry(
      async (n) => {
        calls.push(n);
        return 'ok';
      },
      FAST,
      { sleep },
    );
    expect(result).toEqual({ value: 'ok', attempts: 1 });
    expect(calls).toEqual([1]);
    expect(waits).toEqual([]);
  });

  it('retries a retryable error twice, then succeeds (attempts 3)', async () => {
    const { waits, sleep } = recordingSleep();
    const notices: RetryNotice[] = [];
    const calls: number[] = [];
    const result = await withRetry(
      async (n) => {
        calls.push(n);
        if (n < 3) throw rateLimited();
        return 42;
      },
      FAST,
      { sleep, onRetry: (notice) => notices.push(notice) },
    );
    expect(result).toEqual({ value: 42, attempts: 3 });
    expect(calls).toEqual([1, 2, 3]);
    expect(notices.map((n) => n.attempt)).toEqual([1, 2]);
    expect(notices.map((n) => n.retriesLeft)).toEqual([1, 0]);
    expect(notices.map((n) => n.error.status)).toEqual([429, 429]);
    for (const notice of notices) {
      expect(notice.delayMs).toBeGreaterThanOrEqual(FAST.minDelayMs);
      expect(notice.delayMs).toBeLessThanOrEqual(FAST.maxDelayMs);
    }
    // The second retry's delay is drawn from [base/2, base] with base 20 ms.
    expect(notices[1]!.delayMs).toBeGreaterThanOrEqual(10);
    expect(notices[1]!.delayMs).toBeLessThanOrEqual(20);
    expect(waits).toEqual(notices.map((n) => n.delayMs));
  });

  it('uses real cancellable waits by default', async () => {
    const started = Date.now();
    const result = await withRetry(
      async (n) => {
        if (n === 1) throw rateLimited();
        return 'late';
      },
      { retries: 1, minDelayMs: 20, maxDelayMs: 20, factor: 2 },
    );
    expect(result).toEqual({ value: 'late', attempts: 2 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(19);
  });

  it('bails at once on a non-retryable error', async () => {
    const { waits, sleep } = recordingSleep();
    const calls: number[] = [];
    const error = await rejection(
      withRetry(
        async (n) => {
          calls.push(n);
          throw badKey();
        },
        FAST,
        { sleep, onRetry: () => expect.fail('no retry expected') },
      ),
    );
    expect(calls).toEqual([1]);
    expect(waits).toEqual([]);
    expect(error.status).toBe(401);
    expect(error.attempts).toBe(1);
    expect(error.message).toContain('OPENAI_API_KEY');
  });

  it('rejects with the last error and attempts = retries + 1 when retries run out', async () => {
    const { waits, sleep } = recordingSleep();
    const policy: RetryPolicy = { ...FAST, retries: 3 };
    const calls: number[] = [];
    const thrown: LlmError[] = [];
    const error = await rejection(
      withRetry(
        async (n) => {
          calls.push(n);
          // Different messages: the last one must win (not the most frequent one).
          const e = new LlmError(n === 4 ? 'last failure' : 'earlier failure', {
            kind: 'connection',
            provider: 'openai',
            retryable: true,
          });
          thrown.push(e);
          throw e;
        },
        policy,
        { sleep },
      ),
    );
    expect(calls).toEqual([1, 2, 3, 4]);
    expect(waits).toHaveLength(3);
    expect(error).toBe(thrown[3]);
    expect(error.message).toBe('last failure');
    expect(error.attempts).toBe(4);
  });

  it('retries 0 means a single attempt', async () => {
    const { sleep } = recordingSleep();
    const error = await rejection(withRetry(async () => Promise.reject(rateLimited()), { ...FAST, retries: 0 }, { sleep }));
    expect(error.attempts).toBe(1);
  });

  it('honours retryAfterMs instead of the backoff; a retryAfterMs of 0 falls back to the backoff, never no wait', async () => {
    const { waits, sleep } = recordingSleep();
    const notices: RetryNotice[] = [];
    const result = await withRetry(
      async (n) => {
        if (n === 1) throw rateLimited(750);
        if (n === 2) throw rateLimited(0);
        return 'done';
      },
      FAST,
      { sleep, onRetry: (notice) => notices.push(notice) },
    );
    expect(result.attempts).toBe(3);
    expect(waits[0]).toBe(750);
    expect(waits[1]).toBeGreaterThanOrEqual(FAST.minDelayMs);
    expect(FAST.minDelayMs).toBeGreaterThan(0);
    expect(notices.map((n) => n.delayMs)).toEqual(waits);
  });

  it('waits at least retryAfterMs in real time', async () => {
    const starts: number[] = [];
    const result = await withRetry(
      async (n) => {
        starts.push(performance.now());
        if (n === 1) throw rateLimited(300);
        return 'ok';
      },
      { retries: 2, minDelayMs: 10, maxDelayMs: 60_000, factor: 2 },
    );
    expect(result.attempts).toBe(2);
    // setTimeout's 1 ms granularity can land a hair under 300 on a sub-millisecond clock.
    expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(299);
  });

  it('fails fast when retryAfterMs is above maxDelayMs', async () => {
    const { waits, sleep } = recordingSleep();
    const calls: number[] = [];
    const original = rateLimited(999_000);
    const error = await rejection(
      withRetry(
        async (n) => {
          calls.push(n);
          throw original;
        },
        DEFAULT_RETRY_POLICY,
        { sleep, onRetry: () => expect.fail('no retry expected') },
      ),
    );
    expect(calls).toEqual([1]);
    expect(waits).toEqual([]);
    expect(error).not.toBe(original);
    expect(error.retryable).toBe(false);
    expect(error.kind).toBe('http');
    expect(error.status).toBe(429);
    expect(error.provider).toBe('openai');
    expect(error.attempts).toBe(1);
    expect(error.cause).toBe(original);
    expect(error.message).toContain('asked to retry after 999 s');
    expect(error.message).toContain('60 s cap (retry.maxDelayMs)');
    expect(error.message).toContain('try again later');
  });

  it('stops within 50 ms when aborted during a wait, with no further attempt', async () => {
    const controller = new AbortController();
    const calls: number[] = [];
    let abortedAt = 0;
    let stalledAtAbort = 0;
    // The bound is 50 ms plus the time this process was held up after the abort (load-slack.ts):
    // a loaded machine's scheduling is not taken for a slow stop; a wait left running still shows.
    const meter = startStallMeter();
    const promise = withRetry(
      async (n) => {
        calls.push(n);
        throw rateLimited(10_000);
      },
      { retries: 2, minDelayMs: 1000, maxDelayMs: 60_000, factor: 2 },
      {
        signal: controller.signal,
        onRetry: () => {
          setTimeout(() => {
            abortedAt = performance.now();
            stalledAtAbort = meter.stalledMs;
            controller.abort();
          }, 20);
        },
      },
    );
    const error = await rejection(promise);
    const elapsed = performance.now() - abortedAt;
    const stalled = meter.stalledMs - stalledAtAbort;
    meter.stop();
    expect(elapsed).toBeLessThan(50 + stalled);
    expect(error.kind).toBe('cancelled');
    expect(error.retryable).toBe(false);
    expect(error.attempts).toBe(1);
    await new Promise((r) => setTimeout(r, 30));
    expect(calls).toEqual([1]);
  });

  it('stops at once when aborted during a custom sleep that ignores the signal', async () => {
    const controller = new AbortController();
    const calls: number[] = [];
    const promise = withRetry(
      async (n) => {
        calls.push(n);
        throw rateLimited();
      },
      FAST,
      {
        signal: controller.signal,
        sleep: () => new Promise<void>((r) => setTimeout(r, 5_000).unref()),
        onRetry: () => queueMicrotask(() => controller.abort()),
      },
    );
    const meter = startStallMeter();
    const started = performance.now();
    const error = await rejection(promise);
    const stalled = meter.stalledMs;
    meter.stop();
    // 50 ms plus the time this process was held up meanwhile (load-slack.ts).
    expect(performance.now() - started).toBeLessThan(50 + stalled);
    expect(error.kind).toBe('cancelled');
    expect(calls).toEqual([1]);
  });

  it('never starts when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    let called = false;
    const error = await rejection(
      withRetry(
        async () => {
          called = true;
          return 1;
        },
        FAST,
        { signal: controller.signal },
      ),
    );
    expect(called).toBe(false);
    expect(error.kind).toBe('cancelled');
    expect(error.attempts).toBe(0);
  });

  it('does not retry a failure that follows an abort of the signal', async () => {
    const controller = new AbortController();
    const { waits, sleep } = recordingSleep();
    const calls: number[] = [];
    const error = await rejection(
      withRetry(
        async (n) => {
          calls.push(n);
          controller.abort();
          throw rateLimited();
        },
        FAST,
        { signal: controller.signal, sleep },
      ),
    );
    expect(calls).toEqual([1]);
    expect(waits).toEqual([]);
    expect(error.kind).toBe('cancelled');
    expect(error.provider).toBe('openai');
    expect(error.attempts).toBe(1);
  });

  it('turns an AbortError into a cancelled LlmError', async () => {
    const abortError = new DOMException('This operation was aborted', 'AbortError');
    const error = await rejection(withRetry(async () => Promise.reject(abortError), FAST));
    expect(error.kind).toBe('cancelled');
    expect(error.retryable).toBe(false);
    expect(error.attempts).toBe(1);
  });

  it('wraps a thrown non-LlmError as a non-retryable invalid-response', async () => {
    const { waits, sleep } = recordingSleep();
    const cause = new TypeError("Cannot read properties of undefined (reading 'choices')");
    const calls: number[] = [];
    const error = await rejection(
      withRetry(
        async (n) => {
          calls.push(n);
          throw cause;
        },
        FAST,
        { sleep },
      ),
    );
    expect(calls).toEqual([1]);
    expect(waits).toEqual([]);
    expect(error.kind).toBe('invalid-response');
    expect(error.retryable).toBe(false);
    expect(error.cause).toBe(cause);
    expect(error.message).toContain("reading 'choices'");
    expect(error.attempts).toBe(1);
  });

  it('ignores a throwing onRetry listener', async () => {
    const { sleep } = recordingSleep();
    const result = await withRetry(
      async (n) => {
        if (n === 1) throw rateLimited();
        return 'ok';
      },
      FAST,
      {
        sleep,
        onRetry: () => {
          throw new Error('notification failed');
        },
      },
    );
    expect(result).toEqual({ value: 'ok', attempts: 2 });
  });
});

describe('cancellableSleep', () => {
  it('resolves after the wait', async () => {
    const started = performance.now();
    await cancellableSleep(25);
    expect(performance.now() - started).toBeGreaterThanOrEqual(24);
  });

  it('rejects with a cancelled LlmError when aborted, at once', async () => {
    const controller = new AbortController();
    const meter = startStallMeter();
    const started = performance.now();
    const sleeping = cancellableSleep(10_000, controller.signal);
    setTimeout(() => controller.abort(), 10);
    const error = await rejection(sleeping);
    const stalled = meter.stalledMs;
    meter.stop();
    // 60 ms plus the time this process was held up meanwhile (load-slack.ts): never the 10 s.
    expect(performance.now() - started).toBeLessThan(60 + stalled);
    expect(error.kind).toBe('cancelled');
    expect(error.retryable).toBe(false);
  });

  it('rejects at once when the signal is already aborted', async () => {
    const error = await rejection(cancellableSleep(10_000, AbortSignal.abort()));
    expect(error.kind).toBe('cancelled');
  });
});

describe('backoffDelayMs', () => {
  it('follows the default policy', () => {
    const top = () => 1;
    expect([1, 2, 3, 4, 5, 6, 7].map((r) => backoffDelayMs(r, DEFAULT_RETRY_POLICY, top))).toEqual([
      2000, 4000, 8000, 16000, 32000, 60000, 60000,
    ]);
    const bottom = () => 0;
    expect([1, 2, 3, 6].map((r) => backoffDelayMs(r, DEFAULT_RETRY_POLICY, bottom))).toEqual([2000, 2000, 4000, 30000]);
  });

  it('clamps minDelayMs above maxDelayMs to the cap', () => {
    const policy: RetryPolicy = { retries: 2, minDelayMs: 5000, maxDelayMs: 1000, factor: 2 };
    expect(backoffDelayMs(1, policy, () => 0)).toBe(1000);
    expect(backoffDelayMs(3, policy, () => 1)).toBe(1000);
  });

  const policies = fc
    .record({
      retries: fc.integer({ min: 0, max: 10 }),
      a: fc.integer({ min: 0, max: 600_000 }),
      b: fc.integer({ min: 0, max: 600_000 }),
      factor: fc.double({ min: 1, max: 10, noNaN: true }),
    })
    .map(({ retries, a, b, factor }) => ({ retries, minDelayMs: Math.min(a, b), maxDelayMs: Math.max(a, b), factor }));

  it('always stays within [minDelayMs, maxDelayMs]', () => {
    fc.assert(
      fc.property(
        policies,
        fc.integer({ min: 1, max: 2000 }),
        fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
        (policy, retry, r) => {
          const delay = backoffDelayMs(retry, policy, () => r);
          return Number.isFinite(delay) && delay >= policy.minDelayMs && delay <= policy.maxDelayMs;
        },
      ),
    );
  });

  it('stays within the cap even for odd policies (min above max, factor below 1)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1e6, noNaN: true }),
        fc.double({ min: 0, max: 1e6, noNaN: true }),
        fc.double({ min: 0, max: 100, noNaN: true }),
        fc.integer({ min: 1, max: 100 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (minDelayMs, maxDelayMs, factor, retry, r) => {
          const delay = backoffDelayMs(retry, { retries: 2, minDelayMs, maxDelayMs, factor }, () => r);
          return delay >= Math.min(minDelayMs, maxDelayMs) && delay <= maxDelayMs;
        },
      ),
    );
  });

  it('has an un-jittered base (random = 1) that never decreases with the retry number', () => {
    fc.assert(
      fc.property(policies, fc.integer({ min: 1, max: 200 }), (policy, retry) => {
        const top = () => 1;
        return backoffDelayMs(retry, policy, top) <= backoffDelayMs(retry + 1, policy, top);
      }),
    );
  });

  it('never goes below half the base nor above the base', () => {
    fc.assert(
      fc.property(policies, fc.integer({ min: 1, max: 60 }), fc.double({ min: 0, max: 1, noNaN: true }), (policy, retry, r) => {
        const base = backoffDelayMs(retry, policy, () => 1);
        const delay = backoffDelayMs(retry, policy, () => r);
        return delay <= base && delay >= Math.floor(base / 2);
      }),
    );
  });
});
