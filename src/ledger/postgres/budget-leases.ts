/**
 * Budget leases of the PostgreSQL ledger (see the top of postgres-ledger.ts for the rules): the
 * local bookkeeping of one instance. A lease is a row of `reservations` taken by the locked
 * check-and-hold for several calls' holds at once; calls of its scope (the same principal, or
 * none, and the same caps) are admitted from its unused part here, without the database.
 *
 * This file only counts: which lease can cover a call, what is drawn from each, when a lease
 * must stop being drawn from. The database work (taking, renewing, shrinking, settling) is the
 * store's. Draws are named by negative reservation ids, so they never collide with a hold's row id.
 */

import { dayPeriod } from '../budget-caps.js';

/**
 * How a lease is sized at admission (in SQL, under the admission lock, from the same sums): a
 * fraction of the smallest room over the caps that apply, at most `maxHolds` of the asking call's
 * hold; below `minHolds` holds, no lease, the call's exact hold (today's behaviour near a cap).
 */
export const LEASE_ROOM_FRACTION = 16;
export const LEASE_MAX_HOLDS = 64;
export const LEASE_MIN_HOLDS = 4;
/**
 * No lease is taken, and none is drawn from, this close to the end of its UTC day by the database's
 * clock: the daily sums count holds created in their own day only, so a lease drawn after midnight
 * would hide the new day's spend. The margin also covers the error of the clock offset estimate
 * (one round trip) and a tick of the idle timer.
 */
export const LEASE_DAY_MARGIN_MS = 5_000;

/** One lease row, as this instance knows it. */
export interface Lease {
  id: number;
  scope: string;
  principal: string | null;
  /** The amount the lease was taken for. */
  size: number;
  /** The row's amount, less the draws whose settling has committed (what the row holds). */
  amount: number;
  /** Drawn by calls not yet settled or released. */
  inFlight: number;
  /** ISO, by the database's clock: the day and month the lease (and every draw) counts against. */
  createdAt: string;
  /** Epoch ms by the database's clock. */
  dayEnd: number;
  expiresAt: number;
  /** The database's clock minus this instance's budget clock, as seen when the lease was taken. */
  offsetMs: number;
  /** Wall-clock ms (Date.now) of the last draw and the last renewal. */
  lastDrawAt: number;
  renewedAt: number;
  /** Closed leases are not drawn from; they are shrunk to their draws in flight and then dropped. */
  open: boolean;
  /** A draw's row went to the spool: the row keeps that draw until the replay (or its expiry). */
  spooled: boolean;
}

/** One call admitted from a lease. */
export interface Draw {
  lease: Lease;
  amount: number;
}

/** The leases of one instance, by scope, and the draws in flight. */
export class LeaseBook {
  private readonly scopes = new Map<string, Lease[]>();
  private readonly draws = new Map<number, Draw>();
  /** Wall-clock ms of each scope's last draw (or lease taken). */
  private readonly scopeActiveAt = new Map<string, number>();
  private lastDrawId = 0;

  constructor(private readonly ttlMs: number) {}

  /** The scope key: the principal (or none) and the caps the lease was sized against. */
  static scopeOf(principal: string | null, caps: ReadonlyArray<{ label: string; capMicro: number; principal: string | undefined }>): string {
    return JSON.stringify([principal, caps.map((cap) => [cap.label, cap.capMicro, cap.principal ?? null])]);
  }

  /** Every lease this instance still knows (open or closing). */
  all(): Lease[] {
    return [...this.scopes.values()].flat();
  }

  add(lease: Lease): void {
    this.scopeActiveAt.set(lease.scope, Date.now());
    const leases = this.scopes.get(lease.scope);
    if (leases) leases.push(lease);
    else this.scopes.set(lease.scope, [lease]);
  }

  /** Forgets a lease (its row is gone or left to expire). */
  remove(lease: Lease): void {
    const leases = this.scopes.get(lease.scope);
    if (!leases) return;
    const rest = leases.filter((other) => other !== lease);
    if (rest.length === 0) {
      this.scopes.delete(lease.scope);
      this.scopeActiveAt.delete(lease.scope);
    } else this.scopes.set(lease.scope, rest);
  }

  /** True while `lease` may be drawn from at `now` (the budget clock, epoch ms). */
  drawable(lease: Lease, now: number): boolean {
    const databaseNow = now + lease.offsetMs;
    // Renewed every third of a TTL: a lease whose renewal is late by another third is not trusted.
    return lease.open && !lease.spooled && databaseNow < lease.dayEnd - LEASE_DAY_MARGIN_MS && databaseNow < lease.expiresAt - this.ttlMs / 3;
  }

  /**
   * Admits a call of `amount` from a lease of `scope` whose unused part covers it (the fullest
   * used first, so a lease runs out and closes rather than all of them staying half used); returns
   * the draw's reservation id, or undefined when no lease can.
   */
  draw(scope: string, amount: number, now: number): number | undefined {
    let best: Lease | undefined;
    for (const lease of this.scopes.get(scope) ?? []) {
      // A call of no worst case still needs room left, as the database's check does (spent + held < cap).
      if (!this.drawable(lease, now) || lease.amount - lease.inFlight < Math.max(amount, 1)) continue;
      if (!best || lease.amount - lease.inFlight < best.amount - best.inFlight) best = lease;
    }
    if (!best) return undefined;
    best.inFlight += amount;
    best.lastDrawAt = Date.now();
    this.scopeActiveAt.set(scope, best.lastDrawAt);
    const id = --this.lastDrawId;
    this.draws.set(id, { lease: best, amount });
    return id;
  }

  /**
   * True when `lease` should be closed for want of draws: its scope has had none for `idleMs`, or
   * it has had none itself for that long and is not its scope's newest (a lease used up, or left
   * for the newer one; the newest, asked for ahead, waits while the older one is drawn).
   */
  idle(lease: Lease, idleMs: number): boolean {
    const now = Date.now();
    if (now - (this.scopeActiveAt.get(lease.scope) ?? 0) >= idleMs) return true;
    return now - lease.lastDrawAt >= idleMs && this.scopes.get(lease.scope)?.at(-1) !== lease;
  }

  /** What the drawable leases of `scope` still have unused, and the size of the newest. */
  unused(scope: string, now: number): { unused: number; newest: number } {
    let unused = 0;
    let newest = 0;
    for (const lease of this.scopes.get(scope) ?? []) {
      if (!this.drawable(lease, now)) continue;
      unused += lease.amount - lease.inFlight;
      newest = lease.size;
    }
    return { unused, newest };
  }

  /** The draw a reservation id names, if it is one of this instance's draws in flight. */
  get(id: number): Draw | undefined {
    return id < 0 ? this.draws.get(id) : undefined;
  }

  /** The call's settling committed: the lease row no longer holds its part. */
  settled(id: number): void {
    const draw = this.take(id);
    if (draw) draw.lease.amount = Math.max(0, draw.lease.amount - draw.amount);
  }

  /** The call's row went to the spool: its part stays in the row until the replay settles it. */
  spooled(id: number): void {
    const draw = this.take(id);
    if (draw) draw.lease.spooled = true;
  }

  /** The call never ran (or its row was refused): its part goes back to the lease's unused room. */
  released(id: number): void {
    this.take(id);
  }

  private take(id: number): Draw | undefined {
    const draw = this.get(id);
    if (!draw) return undefined;
    this.draws.delete(id);
    draw.lease.inFlight = Math.max(0, draw.lease.inFlight - draw.amount);
    return draw;
  }
}

/** A lease as its admission returned it: the row, and the clocks to judge it by. */
export function newLease(fields: { id: number; scope: string; principal: string | null; amount: number; createdAt: string; ttlMs: number; localNow: number }): Lease {
  const created = Date.parse(fields.createdAt);
  const wall = Date.now();
  return {
    id: fields.id,
    scope: fields.scope,
    principal: fields.principal,
    size: fields.amount,
    amount: fields.amount,
    inFlight: 0,
    createdAt: fields.createdAt,
    dayEnd: dayPeriod(created).end,
    expiresAt: created + fields.ttlMs,
    // The row's time was read before the answer travelled back: the offset may be short by one
    // round trip, which LEASE_DAY_MARGIN_MS covers.
    offsetMs: created - fields.localNow,
    lastDrawAt: wall,
    renewedAt: wall,
    open: true,
    spooled: false,
  };
}
