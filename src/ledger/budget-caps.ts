/**
 * The budget rules both ledger stores apply: which caps a budget sets, the UTC day and month
 * they cover, and the refusal message. Pure; the stores do the sums.
 */

import { formatUsd, microToUsd, usdToMicro } from './cost.js';
import type { Budget, BudgetStatus } from './ledger.js';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

/** An interval of epoch ms, `start` inclusive, `end` exclusive. */
export interface Period {
  start: number;
  end: number;
}

/** One cap of a budget and the period it covers. */
export interface Cap {
  label: 'Daily' | 'Monthly';
  capUsd: number;
  capMicro: number;
  period: (now: number) => Period;
}

/** The caps a budget sets (none, daily, monthly or both); a non-number cap is no cap. */
export function budgetCaps(budget: Budget | undefined): Cap[] {
  const caps: Cap[] = [];
  const add = (label: Cap['label'], usd: number | undefined, period: Cap['period']): void => {
    if (typeof usd !== 'number' || !Number.isFinite(usd)) return;
    const capUsd = Math.max(0, usd);
    caps.push({ label, capUsd, capMicro: usdToMicro(capUsd), period });
  };
  add('Daily', budget?.dailyUsd, dayPeriod);
  add('Monthly', budget?.monthlyUsd, monthPeriod);
  return caps;
}

/** The UTC day holding `now`. */
export function dayPeriod(now: number): Period {
  const start = Math.floor(now / DAY_MS) * DAY_MS;
  return { start, end: start + DAY_MS };
}

/** The UTC calendar month holding `now`. */
export function monthPeriod(now: number): Period {
  const date = new Date(now);
  const year = date.getUTCFullYear();
  const month = date.getUTCMonth();
  return { start: Date.UTC(year, month, 1), end: Date.UTC(year, month + 1, 1) };
}

/** The refusal a host sees: which cap (whose, for a principal's), what was spent, what calls in flight hold. */
export function budgetMessage(cap: Cap, spentMicro: number, heldMicro: number, principal?: string): string {
  const spent = `${formatUsd(microToUsd(spentMicro))} spent`;
  const held = heldMicro > 0 ? `, ${formatUsd(microToUsd(heldMicro))} held by calls in flight` : '';
  const whose = principal === undefined ? '' : ` for ${principal}`;
  return `${cap.label} budget${whose} of ${formatUsd(cap.capUsd)} reached (${spent}${held})`;
}

/** A call's worst case as a hold amount: whole micro-dollars, never negative. */
export function holdAmount(amountMicroUsd: number): number {
  return Number.isFinite(amountMicroUsd) && amountMicroUsd > 0 ? Math.round(amountMicroUsd) : 0;
}

/** The budget status of `get_cost` from the caps and the spend of today and this month. */
export function budgetStatusOf(caps: Cap[], spentTodayMicro: number, spentMonthMicro: number): BudgetStatus {
  return {
    daily_usd: caps.find((cap) => cap.label === 'Daily')?.capUsd ?? null,
    monthly_usd: caps.find((cap) => cap.label === 'Monthly')?.capUsd ?? null,
    spent_today_usd: microToUsd(spentTodayMicro),
    spent_month_usd: microToUsd(spentMonthMicro),
  };
}
