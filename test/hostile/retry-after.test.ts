/**
 * Issue #9 item 10: a Retry-After that makes no sense (negative, zero, a date in the past,
 * garbage) falls back to our own backoff, never to no wait at all.
 */
import { describe, expect, it } from 'vitest';
import { parseRetryAfterMs } from '../../src/llm/errors.js';
import { harnessPerTest } from '../support/harness.js';
import { structured, textOf } from '../ledger-integration/fixtures/helpers.js';

const startHarness = harnessPerTest();
const MIN_DELAY_MS = 250;

const NONSENSE: Array<[string, Record<string, string>]> = [
  ['retry-after: -5', { 'retry-after': '-5' }],
  ['retry-after: 0', { 'retry-after': '0' }],
  ['retry-after: a date in the past', { 'retry-after': new Date(Date.now() - 3_600_000).toUTCString() }],
  ['retry-after: garbage', { 'retry-after': 'soon, maybe' }],
  ['retry-after-ms: -100', { 'retry-after-ms': '-100' }],
  ['retry-after-ms: 0', { 'retry-after-ms': '0' }],
  ['retry-after-ms: 0x10', { 'retry-after-ms': '0x10' }],
];

describe('nonsense Retry-After', () => {
  it.each(NONSENSE)('%s: the retry waits our backoff (at least retry.minDelayMs), then answers', async (_name, headers) => {
    const h = await startHarness({ config: { retry: { retries: 1, minDelayMs: MIN_DELAY_MS, maxDelayMs: 2000 } } });
    h.upstream.enqueue({ kind: 'error', status: 429, headers }, { kind: 'openai', content: 'ok' });
    const result = await h.callTool('chat', { prompt: 'hi', model: 'gpt-4o-mini' });
    expect(result.isError, textOf(result)).toBeFalsy();
    expect(structured(result).attempts).toBe(2);
    const [first, second] = h.upstream.requests;
    expect(second!.receivedAt - first!.receivedAt).toBeGreaterThanOrEqual(MIN_DELAY_MS - 5);
    expect((await h.callTool('chat', { prompt: 'again', model: 'gpt-4o-mini' })).isError).toBeFalsy();
  });

  it('parseRetryAfterMs reads only waits that make sense', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfterMs({ 'retry-after': '2' }, now)).toBe(2000);
    expect(parseRetryAfterMs({ 'retry-after': 'Thu, 01 Jan 2026 00:00:03 GMT' }, now)).toBe(3000);
    expect(parseRetryAfterMs({ 'retry-after-ms': '150' }, now)).toBe(150);
    for (const value of ['-5', '0', 'Wed, 31 Dec 2025 23:59:00 GMT', 'garbage', '']) {
      expect(parseRetryAfterMs({ 'retry-after': value }, now), value).toBeUndefined();
    }
    for (const value of ['-100', '0', 'NaN', 'Infinity', '1e400']) expect(parseRetryAfterMs({ 'retry-after-ms': value }, now), value).toBeUndefined();
  });
});
