/**
 * The ledger's per-call ids (thread ids, PostgreSQL row keys) are UUID v7: the creation time
 * first, so the b-trees keyed by them grow at their right edge; random after it, so two ids of
 * the same millisecond still differ.
 */
import { describe, expect, it } from 'vitest';
import { timeOrderedUuid } from '../../src/ledger/time-ordered-id.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('timeOrderedUuid', () => {
  it('is a UUID v7 carrying the time in its first 48 bits', () => {
    const at = Date.UTC(2026, 10, 30, 4, 0, 0, 123);
    const id = timeOrderedUuid(at);
    expect(id).toMatch(UUID_V7);
    expect(Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(at);
  });

  it('sorts by creation time, and differs within one millisecond', () => {
    const at = Date.UTC(2026, 10, 30, 4, 0, 0, 0);
    const ids = [at, at + 1, at + 1000, at + 86_400_000, at + 366 * 86_400_000].map(timeOrderedUuid);
    expect([...ids].sort()).toEqual(ids);
    const same = new Set(Array.from({ length: 1000 }, () => timeOrderedUuid(at)));
    expect(same.size).toBe(1000);
  });

  it('stays a valid id when the clock gives a value the field cannot hold', () => {
    for (const odd of [Number.NaN, -1, Number.POSITIVE_INFINITY, 2 ** 48]) expect(timeOrderedUuid(odd)).toMatch(UUID_V7);
    expect(timeOrderedUuid(0).slice(0, 13)).toBe('00000000-0000');
  });
});
