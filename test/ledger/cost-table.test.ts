import { describe, expect, it } from 'vitest';
import { formatCostReport } from '../../src/ledger/cost-table.js';
import type { CostReport, Totals } from '../../src/ledger/ledger.js';

function totals(calls: number, cost: number, extra: Partial<Totals> = {}): Totals {
  return { calls, failed_calls: 0, prompt_tokens: calls * 1234, completion_tokens: calls * 321, total_tokens: calls * 1555, cost_usd: cost, unpriced_calls: 0, unknown_cost_calls: 0, ...extra };
}

describe('formatCostReport', () => {
  it('renders aligned columns with total and session lines', () => {
    const report: CostReport = {
      total: totals(1005, 12.5, { failed_calls: 3 }),
      groups: [
        { key: 'claude-sonnet-4-5', ...totals(5, 12.3) },
        { key: 'gpt-4o-mini', ...totals(1000, 0.2, { failed_calls: 3 }) },
      ],
      session: totals(2, 0.01),
      budget: null,
    };
    expect(formatCostReport(report, { groupBy: 'model' })).toBe(
      [
        'model              calls  failed  prompt tok  completion tok  cost $',
        'claude-sonnet-4-5      5       0       6,170           1,605   12.30',
        'gpt-4o-mini        1,000       3   1,234,000         321,000    0.20',
        '-----------------  -----  ------  ----------  --------------  ------',
        'total              1,005       3   1,240,170         322,605   12.50',
        'session                2       0       2,468             642    0.01',
      ].join('\n'),
    );
  });

  it('adds per-day bars, an unpriced column and the budget line when they apply', () => {
    const report: CostReport = {
      total: totals(10, 1.2, { unpriced_calls: 2 }),
      groups: [
        { key: '2026-11-24', ...totals(3, 0.2) },
        { key: '2026-11-25', ...totals(5, 1) },
        { key: '2026-11-26', ...totals(2, 0, { unpriced_calls: 2 }) },
      ],
      session: totals(2, 0.01),
      budget: { daily_usd: 5, monthly_usd: null, spent_today_usd: 0.01, spent_month_usd: 1.2 },
    };
    const lines = formatCostReport(report, { groupBy: 'day', barChart: true }).split('\n');
    expect(lines[0]).toBe('day         calls  failed  prompt tok  completion tok  unpriced  cost $');
    expect(lines[1]).toMatch(/ 0\.20  ████$/);
    expect(lines[2]).toMatch(/ 1\.00  █{20}$/);
    // A day with no priced spend gets no bar, never a trailing blank.
    expect(lines[3]).toMatch(/  2    0\.00$/);
    expect(lines.at(-2)).toBe('unpriced: calls whose model has no known price; their cost is not in cost $');
    expect(lines.at(-1)).toBe('budget: today $0.01 of $5.00, this month $1.20 (no cap)');
    // Every table line has the same width up to the cost column.
    const widths = new Set(lines.slice(0, 7).map((line) => line.replace(/  █+$/, '').length));
    expect(widths.size).toBe(1);
  });

  it('shows six decimals when costs are below what four can show', () => {
    const report: CostReport = { total: totals(1, 0.000027), groups: [], session: totals(1, 0.000027), budget: null };
    expect(formatCostReport(report)).toBe(
      [
        'group    calls  failed  prompt tok  completion tok    cost $',
        'total        1       0       1,234             321  0.000027',
        'session      1       0       1,234             321  0.000027',
      ].join('\n'),
    );
  });

  it('rows add up to the total as shown: small amounts get the decimals they need, never rounded away', () => {
    const report: CostReport = {
      total: totals(3, 0.00042),
      groups: [
        { key: 'a', ...totals(1, 0.00014) },
        { key: 'b', ...totals(1, 0.00014) },
        { key: 'c', ...totals(1, 0.00014) },
      ],
      session: totals(3, 0.00042),
      budget: null,
    };
    const shown = formatCostReport(report, { groupBy: 'model' })
      .split('\n')
      .filter((line) => /^[abc] |^total/.test(line))
      .map((line) => line.trim().split(/\s+/).at(-1)!);
    expect(shown).toEqual(['0.00014', '0.00014', '0.00014', '0.00042']);
    expect(shown.slice(0, 3).reduce((sum, cost) => sum + Number(cost) * 1e6, 0)).toBe(Number(shown[3]) * 1e6);
  });

  it('keeps calls of unknown cost apart from unpriced ones, each with its legend line', () => {
    const report: CostReport = {
      total: totals(6, 0.5, { unpriced_calls: 2, unknown_cost_calls: 1 }),
      groups: [
        { key: 'openai:gpt-unlisted', ...totals(2, 0, { unpriced_calls: 2 }) },
        { key: 'gpt-4o', ...totals(4, 0.5, { unknown_cost_calls: 1 }) },
      ],
      session: totals(0, 0),
      budget: null,
    };
    const lines = formatCostReport(report, { groupBy: 'model' }).split('\n');
    expect(lines[0]).toBe('model                calls  failed  prompt tok  completion tok  unpriced  unknown cost  cost $');
    expect(lines[1]).toMatch(/openai:gpt-unlisted .*  2             0    0\.00$/);
    expect(lines[2]).toMatch(/gpt-4o .*  0             1    0\.50$/);
    expect(lines).toContain('unpriced: calls whose model has no known price; their cost is not in cost $');
    expect(lines).toContain('unknown cost: priced calls whose bill nobody knows (e.g. a stream cut before usage came); not in cost $');
  });
});
