/** The sums a report is made of, as both stores read them, and their `get_cost` shape. */

import { microToUsd } from './cost.js';
import type { Totals } from './ledger.js';

/** Sums over some calls as a store's query returns them (cost in micro-dollars). */
export interface TotalsRow {
  calls: number;
  failed_calls: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_micro_usd: number;
  unpriced_calls: number;
  unknown_cost_calls: number;
}

/** The sum of several groups' sums. */
export function sumTotalsRows(rows: TotalsRow[]): TotalsRow {
  const sum: TotalsRow = { calls: 0, failed_calls: 0, prompt_tokens: 0, completion_tokens: 0, cost_micro_usd: 0, unpriced_calls: 0, unknown_cost_calls: 0 };
  for (const row of rows) {
    sum.calls += row.calls;
    sum.failed_calls += row.failed_calls;
    sum.prompt_tokens += row.prompt_tokens;
    sum.completion_tokens += row.completion_tokens;
    sum.cost_micro_usd += row.cost_micro_usd;
    sum.unpriced_calls += row.unpriced_calls;
    sum.unknown_cost_calls += row.unknown_cost_calls;
  }
  return sum;
}

/** Sums as `get_cost` reports them (USD, total tokens); no row = all zero. */
export function toTotals(row: TotalsRow | undefined): Totals {
  const prompt = row?.prompt_tokens ?? 0;
  const completion = row?.completion_tokens ?? 0;
  return {
    calls: row?.calls ?? 0,
    failed_calls: row?.failed_calls ?? 0,
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    cost_usd: microToUsd(row?.cost_micro_usd ?? 0),
    unpriced_calls: row?.unpriced_calls ?? 0,
    unknown_cost_calls: row?.unknown_cost_calls ?? 0,
  };
}
