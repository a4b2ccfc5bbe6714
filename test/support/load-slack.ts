/**
 * Slack for "it happened at once" assertions on a loaded machine. A fixed wall-clock bound (say
 * 100 ms) fails when the scheduler holds the test process longer than that: CI at a load average
 * of 10–15 on 2 cores saw 103–176 ms for an abort that was immediate. A no-op round trip measured
 * beforehand does not help (it takes under a millisecond between two preemptions). What does is
 * to measure, over the very window being bounded, how long this process's event loop was held
 * up: a 5 ms ticker counts every gap beyond two ticks as stalled time. A bound of "fixed ms +
 * stalled ms" stays the fixed one on a quiet machine, and a real delay (an abort left to the end
 * of the stream, a timer that never fires) still shows, because waiting is not stalling.
 * It sees this process only: fit for the in-process harness, whose client, server and loopback
 * upstream all run here, not for timing a child process.
 */
export interface StallMeter {
  /** Milliseconds the event loop was held up since the meter started. */
  readonly stalledMs: number;
  stop(): void;
}

export function startStallMeter(tickMs = 5): StallMeter {
  let stalled = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    const gap = now - last;
    // Jitter of a tick or so is the timer's, not a stall: only larger gaps count, less one tick.
    if (gap > 2 * tickMs) stalled += gap - tickMs;
    last = now;
  }, tickMs);
  // A meter a failed assertion left running must not keep the test process alive.
  timer.unref();
  const meter: StallMeter = {
    get stalledMs() {
      // A stall still going on (the ticker has not run since) counts too.
      const open = performance.now() - last;
      return stalled + (open > 2 * tickMs ? open - tickMs : 0);
    },
    stop: () => clearInterval(timer),
  };
  return meter;
}
