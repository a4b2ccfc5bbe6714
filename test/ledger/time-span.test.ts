import { describe, expect, it } from 'vitest';
import { parseTimeBound } from '../../src/ledger/time-span.js';

const NOW = Date.parse('2026-11-26T04:00:00.000Z');

describe('parseTimeBound', () => {
  it.each([
    ['30m', NOW - 30 * 60_000],
    ['24h', NOW - 24 * 3_600_000],
    ['7d', NOW - 7 * 86_400_000],
    ['2w', NOW - 14 * 86_400_000],
    ['90s', NOW - 90_000],
    ['1.5h', NOW - 90 * 60_000],
    [' 7D ', NOW - 7 * 86_400_000],
    ['0h', NOW],
  ])('span %s counts back from now', (input, expected) => {
    expect(parseTimeBound(input, NOW)).toBe(expected);
  });

  it.each([
    ['2026-11-01', '2026-11-01T00:00:00.000Z'],
    ['2026-11', '2026-11-01T00:00:00.000Z'],
    ['2026', '2026-01-01T00:00:00.000Z'],
    ['2024-02-29', '2024-02-29T00:00:00.000Z'],
    ['2026-11-01T12:30', '2026-11-01T12:30:00.000Z'],
    ['2026-11-01 12:30:15', '2026-11-01T12:30:15.000Z'],
    ['2026-11-01T12:30:15.123Z', '2026-11-01T12:30:15.123Z'],
    ['2026-11-01T12:30:15.123456Z', '2026-11-01T12:30:15.123Z'],
    ['2026-12-31T23:59:59.9999Z', '2026-12-31T23:59:59.999Z'],
    ['2026-11-01T12:30:00+02:00', '2026-11-01T10:30:00.000Z'],
    ['2026-11-01T12:30:00-0530', '2026-11-01T18:00:00.000Z'],
    ['2026-11-01t12:30:00z', '2026-11-01T12:30:00.000Z'],
  ])('ISO %s is read as UTC unless it names an offset', (input, expected) => {
    expect(new Date(parseTimeBound(input, NOW)).toISOString()).toBe(expected);
  });

  it.each(['7x', '', 'yesterday', '-7d', '2026-13-01', '2026-02-30', '2025-02-29', '2026-11-01T24:00', '2026-11-1', '7 days', 'd'])(
    'rejects %j with a message that says what is accepted',
    (input) => {
      expect(() => parseTimeBound(input, NOW)).toThrow(
        `Invalid time '${input}': use an ISO 8601 date or time, or a span such as 24h or 7d`,
      );
    },
  );
});
