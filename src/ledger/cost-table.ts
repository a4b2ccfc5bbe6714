/**
 * The cost report as a compact, aligned text table: the `get_cost` tool's text content (read by
 * a model, so short) and the `cost` CLI's output (read by a person in a terminal).
 */

import { formatUsd } from './cost.js';
import type { CostReport, GroupBy, Totals } from './ledger.js';

export interface CostTableOptions {
  /** Names the first column after the grouping; `group` when absent. */
  groupBy?: GroupBy;
  /** Adds a bar per group, proportional to its cost (meant for `groupBy: 'day'`). */
  barChart?: boolean;
  /** Adds the line of this server process's calls; off for the CLI, which is a process of its own. */
  session?: boolean;
}

const BAR_WIDTH = 20;

/** Renders a cost report as a text table with total, session and budget lines. */
export function formatCostReport(report: CostReport, options: CostTableOptions = {}): string {
  const rows: Array<{ key: string } & Totals> = [
    ...report.groups,
    { key: 'total', ...report.total },
    ...(options.session === false ? [] : [{ key: 'session', ...report.session }]),
  ];
  const showUnpriced = rows.some((row) => row.unpriced_calls > 0);
  const showUnknown = rows.some((row) => row.unknown_cost_calls > 0);
  const costDigits = costFractionDigits(rows.map((row) => row.cost_usd));
  const maxGroupCost = Math.max(0, ...report.groups.map((group) => group.cost_usd));
  const showBars = options.barChart === true && report.groups.length > 0;

  const header = [
    keyHeader(options.groupBy),
    'calls',
    'failed',
    'prompt tok',
    'completion tok',
    ...(showUnpriced ? ['unpriced'] : []),
    ...(showUnknown ? ['unknown cost'] : []),
    'cost $',
  ];
  const body = rows.map((row) => [
    row.key,
    thousands(row.calls),
    thousands(row.failed_calls),
    thousands(row.prompt_tokens),
    thousands(row.completion_tokens),
    ...(showUnpriced ? [thousands(row.unpriced_calls)] : []),
    ...(showUnknown ? [thousands(row.unknown_cost_calls)] : []),
    row.cost_usd.toFixed(costDigits),
  ]);
  const table = [header, ...body];
  const widths = header.map((_, column) => Math.max(...table.map((cells) => cells[column]!.length)));
  const render = (cells: string[]): string =>
    cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');

  const lines = [render(header)];
  report.groups.forEach((group, index) => {
    const bar = showBars ? `  ${costBar(group.cost_usd, maxGroupCost)}` : '';
    lines.push(`${render(body[index]!)}${bar}`.trimEnd());
  });
  if (report.groups.length > 0) lines.push(widths.map((width) => '-'.repeat(width)).join('  '));
  lines.push(...body.slice(report.groups.length).map(render));
  if (showUnpriced) lines.push('unpriced: calls whose model has no known price; their cost is not in cost $');
  if (showUnknown) lines.push('unknown cost: priced calls whose bill nobody knows (e.g. a stream cut before usage came); not in cost $');
  if (report.budget) lines.push(budgetLine(report.budget));
  return lines.join('\n');
}

function keyHeader(groupBy: GroupBy | undefined): string {
  if (groupBy === undefined || groupBy === 'none') return 'group';
  return groupBy;
}

function budgetLine(budget: NonNullable<CostReport['budget']>): string {
  const part = (label: string, spent: number, cap: number | null): string =>
    `${label} ${formatUsd(spent)}${cap === null ? ' (no cap)' : ` of ${formatUsd(cap)}`}`;
  return `budget: ${part('today', budget.spent_today_usd, budget.daily_usd)}, ${part('this month', budget.spent_month_usd, budget.monthly_usd)}`;
}

function costBar(cost: number, max: number): string {
  if (cost <= 0 || max <= 0) return '';
  // A day that cost anything gets at least one block, so it never looks free.
  return '█'.repeat(Math.max(1, Math.round((cost / max) * BAR_WIDTH)));
}

/**
 * The fewest decimals (at least 2) that show every amount exactly. Costs are whole micro-dollars,
 * so 6 always does; rounding any further would let the rows stop adding up to the total
 * (0.00014 + 0.00014 shown as 0.0001 + 0.0001 against 0.0003).
 */
export function costFractionDigits(costs: number[]): number {
  for (let digits = 2; digits < 6; digits++) {
    const step = 10 ** (6 - digits);
    if (costs.every((cost) => Math.round(cost * 1e6) % step === 0)) return digits;
  }
  return 6;
}

function thousands(value: number): string {
  return String(value).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}
