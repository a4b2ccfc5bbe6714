/**
 * The local bookkeeping of budget leases (src/ledger/postgres/budget-leases.ts): which lease
 * covers a call, what settling, spooling and releasing give back, and when a lease stops being
 * drawn from. Pure counting; the database side is tested in postgres-leases.test.ts.
 */

import { describe, expect, it, vi } from 'vitest';
import { LEASE_DAY_MARGIN_MS, LeaseBook, newLease } from '../../src/ledger/postgres/budget-leases.js';

const TTL = 600_000;
const NOON = Date.parse('2026-11-26T12:00:00.000Z');

function lease(book: LeaseBook, amount: number, fields: { id?: number; scope?: string; createdAt?: number } = {}) {
  const taken = newLease({ id: fields.id ?? 1, scope: fields.scope ?? 's', principal: null, amount, createdAt: new Date(fields.createdAt ?? NOON).toISOString(), ttlMs: TTL, localNow: fields.createdAt ?? NOON });
  book.add(taken);
  return taken;
}

describe('lease draws', () => {
  it("admits a call only from a lease whose unused part covers it, the fullest used first; a settled call's part leaves the lease, a released one comes back", () => {
    const book = new LeaseBook(TTL);
    const older = lease(book, 5_000, { id: 1 });
    const newer = lease(book, 8_000, { id: 2 });
    const first = book.draw('s', 3_000, NOON)!;
    expect(first).toBeLessThan(0);
    expect(book.get(first)?.lease).toBe(older);
    // 2,000 left in the older lease: a call of 3,000 goes to the newer one, one of 2,000 to the older.
    expect(book.get(book.draw('s', 3_000, NOON)!)?.lease).toBe(newer);
    const last = book.draw('s', 2_000, NOON)!;
    expect(book.get(last)?.lease).toBe(older);
    expect(book.draw('s', 5_001, NOON)).toBeUndefined();
    expect(book.draw('other scope', 1, NOON)).toBeUndefined();

    book.settled(first);
    expect(older).toMatchObject({ amount: 2_000, inFlight: 2_000 });
    book.released(last);
    expect(older).toMatchObject({ amount: 2_000, inFlight: 0 });
    expect(book.get(last)).toBeUndefined();
    // A call of no worst case still needs room left in the lease.
    const zero = book.draw('s', 0, NOON)!;
    expect(book.get(zero)?.lease).toBe(older);
    const other = new LeaseBook(TTL);
    lease(other, 1_000);
    other.draw('s', 1_000, NOON);
    expect(other.draw('s', 0, NOON)).toBeUndefined();
  });

  it('stops drawing from a lease in the last seconds of its UTC day, once its renewal is late, and once a call of it was spooled', () => {
    const book = new LeaseBook(TTL);
    const late = lease(book, 10_000, { createdAt: Date.parse('2026-11-26T23:59:00.000Z') });
    const midnight = Date.parse('2026-11-27T00:00:00.000Z');
    expect(book.drawable(late, midnight - LEASE_DAY_MARGIN_MS - 1)).toBe(true);
    expect(book.drawable(late, midnight - LEASE_DAY_MARGIN_MS)).toBe(false);

    const noon = lease(book, 10_000, { id: 2, scope: 'n' });
    expect(book.drawable(noon, NOON + (TTL * 2) / 3 - 1)).toBe(true);
    expect(book.drawable(noon, NOON + (TTL * 2) / 3)).toBe(false);

    const drawn = book.draw('n', 1_000, NOON)!;
    book.spooled(drawn);
    expect(noon).toMatchObject({ spooled: true, inFlight: 0, amount: 10_000 });
    expect(book.draw('n', 1_000, NOON)).toBeUndefined();
  });

  it("is idle when its scope has had no draw for the idle time, or it has had none and is not its scope's newest", () => {
    vi.useFakeTimers({ now: NOON, toFake: ['Date'] });
    try {
      const book = new LeaseBook(TTL);
      const older = lease(book, 2_000, { id: 1 });
      const newer = lease(book, 8_000, { id: 2 });
      vi.setSystemTime(NOON + 600);
      book.draw('s', 2_000, NOON); // the older one, used up
      vi.setSystemTime(NOON + 1_200);
      book.draw('s', 1_000, NOON); // the newer one
      vi.setSystemTime(NOON + 1_700);
      // The older lease had no draw for 1.1 s; the newer, asked for ahead, only 0.5 s.
      expect(book.idle(older, 1_000)).toBe(true);
      expect(book.idle(newer, 1_000)).toBe(false);
      vi.setSystemTime(NOON + 2_200);
      expect(book.idle(newer, 1_000)).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });
});
