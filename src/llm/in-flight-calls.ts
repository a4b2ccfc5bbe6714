/**
 * The calls a service is running, so that shutdown can stop taking new ones, let the running ones
 * finish for a bounded time, then cancel the rest. Transport-free: stdio (SIGTERM, SIGINT, stdin
 * EOF) and the HTTP gateway (SIGTERM) drain through the same `drain()`.
 */

/** One running call: its combined abort signal, and whether shutdown (not the host) cut it. */
export interface InFlightCall {
  /** Aborts when the host cancels the call or when shutdown cancels it. */
  readonly signal: AbortSignal;
  /** True once shutdown has cancelled this call (the host did not). */
  readonly cutByShutdown: boolean;
  /** True once the call's deadline (callTimeoutMs) cut it. */
  readonly cutByDeadline: boolean;
  /** Marks the call finished; call exactly once, in a `finally`. */
  done(): void;
}

/** What a drain did. */
export interface DrainOutcome {
  /** Calls that were running when the drain began. */
  inFlight: number;
  /** Of those, the calls cancelled because the drain time ran out. */
  cancelled: number;
}

// After cancelling, a call still has to record its ledger row; an adapter that ignores its abort
// signal must not hold shutdown forever.
const SETTLE_AFTER_CANCEL_MS = 5_000;

export class InFlightCalls {
  private readonly running = new Map<AbortController, { finished: Promise<void>; markCut: () => void }>();
  private closed = false;
  private wakeNow: (() => void) | undefined;

  /** Whether drain() has begun: new calls are then refused. */
  get draining(): boolean {
    return this.closed;
  }

  /**
   * Registers a call; `hostSignal` is the host's cancellation, `deadlineMs` the whole call's time
   * limit (callTimeoutMs): past it the call's signal aborts, whatever it is doing (an attempt, a
   * retry wait, a fallback), so the provider request is aborted and no heartbeat outlives it.
   */
  start(hostSignal: AbortSignal | undefined, deadlineMs?: number): InFlightCall {
    const controller = new AbortController();
    let cut = false;
    let late = false;
    const deadline =
      deadlineMs === undefined
        ? undefined
        : setTimeout(() => {
            if (controller.signal.aborted) return;
            late = true;
            controller.abort(new Error('The call ran out of time (callTimeoutMs)'));
          }, deadlineMs);
    deadline?.unref?.();
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const onHostAbort = (): void => controller.abort(hostSignal?.reason);
    if (hostSignal?.aborted) controller.abort(hostSignal.reason);
    else hostSignal?.addEventListener('abort', onHostAbort, { once: true });
    this.running.set(controller, { finished, markCut: () => (cut = true) });
    return {
      signal: controller.signal,
      get cutByShutdown() {
        return cut;
      },
      get cutByDeadline() {
        return late && !cut;
      },
      done: () => {
        if (deadline) clearTimeout(deadline);
        hostSignal?.removeEventListener('abort', onHostAbort);
        this.running.delete(controller);
        finish();
      },
    };
  }

  /**
   * Stops taking new calls, waits up to `timeoutMs` for the running ones, then cancels the rest
   * and waits (briefly) for them to record themselves. `cancelNow()` cuts the wait short (a
   * second Ctrl-C).
   */
  async drain(timeoutMs: number): Promise<DrainOutcome> {
    // Requests a transport delivered just before shutdown are still on their way to the service
    // (a few microtasks and nextTicks: stdin's 'end' fires before them): let them arrive, so a
    // request read before EOF is answered rather than refused.
    await new Promise((resolve) => setImmediate(resolve));
    this.closed = true;
    const inFlight = this.running.size;
    await waitAll(
      [...this.running.values()].map((call) => call.finished),
      Math.max(0, timeoutMs),
      (wake) => (this.wakeNow = wake),
    );
    let cancelled = 0;
    for (const [controller, call] of this.running) {
      if (controller.signal.aborted) continue;
      call.markCut();
      controller.abort(new Error('The server is shutting down'));
      cancelled++;
    }
    await waitAll([...this.running.values()].map((call) => call.finished), SETTLE_AFTER_CANCEL_MS);
    return { inFlight, cancelled };
  }

  /** Ends a drain's wait now: the running calls are cancelled at once (and still recorded). */
  cancelNow(): void {
    this.closed = true;
    this.wakeNow?.();
  }
}

/** Resolves when every promise has settled, after `timeoutMs`, or when `onWake`'s callback is called. */
function waitAll(promises: Promise<void>[], timeoutMs: number, onWake?: (wake: () => void) => void): Promise<void> {
  if (promises.length === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      resolve();
    };
    onWake?.(done);
    void Promise.all(promises).then(done);
  });
}
