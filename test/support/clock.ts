/**
 * The clock an in-process server (test/support/harness.ts) runs on unless its test pins one: it
 * starts at a fixed instant and runs on with real time, so elapsed milliseconds, retry waits,
 * heartbeats and deadlines keep their meaning while no test depends on today's date. The instant
 * is a weekday noon UTC (DeepSeek's off-peak price) before the next built-in retirements (gpt-5 and
 * gpt-5-mini on 2026-12-11; gpt-4o, gpt-4o-mini, gpt-4.1 and gpt-4.1-mini on 2027-01-14; see
 * src/registry/catalog.ts), so a test that only needs "an OpenAI model that answers" may call them
 * on any day; a test of a retirement pins its own time on each side of the date
 * (test/tools/retirement.test.ts). A test that compares times with this clock reads it from
 * `testClock`, not from Date.now().
 */
export const TEST_EPOCH_MS = Date.parse('2026-12-01T12:00:00.000Z');

const startedAt = Date.now();

/** TEST_EPOCH_MS plus the real time since this module was loaded. */
export function testClock(): number {
  return TEST_EPOCH_MS + (Date.now() - startedAt);
}
