import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { costMicroUsd, effectivePricing, formatUsd, isPeak, microToUsd, usdToMicro } from '../../src/ledger/cost.js';
import type { Pricing, Usage } from '../../src/llm/types.js';

// USD per million tokens, as the providers list them (values only need to be realistic).
const GPT_4O: Pricing = { inputPerMTok: 2.5, outputPerMTok: 10, cachedInputPerMTok: 1.25 };
const GPT_4O_MINI: Pricing = { inputPerMTok: 0.15, outputPerMTok: 0.6, cachedInputPerMTok: 0.075 };
const O4_MINI: Pricing = { inputPerMTok: 1.1, outputPerMTok: 4.4, cachedInputPerMTok: 0.275 };
const GPT_5: Pricing = { inputPerMTok: 1.25, outputPerMTok: 10, cachedInputPerMTok: 0.125 };
// Anthropic: cache reads at 0.1x, 5-minute cache writes at 1.25x the input price.
const CLAUDE_SONNET: Pricing = { inputPerMTok: 3, outputPerMTok: 15, cachedInputPerMTok: 0.3, cacheWritePerMTok: 3.75 };
const CLAUDE_HAIKU: Pricing = { inputPerMTok: 0.8, outputPerMTok: 4, cachedInputPerMTok: 0.08, cacheWritePerMTok: 1 };
const DEEPSEEK_CHAT: Pricing = { inputPerMTok: 0.27, outputPerMTok: 1.1, cachedInputPerMTok: 0.07 };
const DEEPSEEK_REASONER: Pricing = { inputPerMTok: 0.55, outputPerMTok: 2.19, cachedInputPerMTok: 0.14 };
const QWEN_TURBO: Pricing = { inputPerMTok: 0.05, outputPerMTok: 0.2 };
const LOCAL_FREE: Pricing = { inputPerMTok: 0, outputPerMTok: 0 };

function usage(parts: Partial<Usage>): Usage {
  const base = { promptTokens: 0, completionTokens: 0, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, ...parts };
  return { totalTokens: base.promptTokens + base.completionTokens, ...base };
}

// Expected values worked out by hand: tokens × $/MTok = micro-dollars, summed, rounded once.
const cases: Array<[string, Usage, Pricing | null | undefined, number | null]> = [
  ['openai plain', usage({ promptTokens: 1000, completionTokens: 200 }), GPT_4O_MINI, 150 + 120],
  ['openai cached half', usage({ promptTokens: 2048, cachedTokens: 1024, completionTokens: 100 }), GPT_4O_MINI, 290],
  ['openai mostly cached', usage({ promptTokens: 10_000, cachedTokens: 8000, completionTokens: 500 }), GPT_4O, 5000 + 10_000 + 5000],
  ['openai reasoning counted once', usage({ promptTokens: 500, completionTokens: 3000, reasoningTokens: 2500 }), O4_MINI, 550 + 13_200],
  ['openai reasoning and cache', usage({ promptTokens: 20_000, cachedTokens: 19_200, completionTokens: 1500, reasoningTokens: 1200 }), O4_MINI, 880 + 5280 + 6600],
  ['gpt-5 reasoning and cache', usage({ promptTokens: 50_000, cachedTokens: 40_000, completionTokens: 5000, reasoningTokens: 4000 }), GPT_5, 12_500 + 5000 + 50_000],
  ['openai streamed final usage chunk', usage({ promptTokens: 13, completionTokens: 7, raw: { prompt_tokens: 13, completion_tokens: 7 } }), GPT_4O_MINI, 6],
  ['anthropic read + write', usage({ promptTokens: 61_000, cachedTokens: 50_000, cacheWriteTokens: 10_000, completionTokens: 800 }), CLAUDE_SONNET, 3000 + 15_000 + 37_500 + 12_000],
  ['anthropic write only (1.25x)', usage({ promptTokens: 12_000, cacheWriteTokens: 12_000, completionTokens: 100 }), CLAUDE_SONNET, 45_000 + 1500],
  ['anthropic write, write price unknown → input price', usage({ promptTokens: 12_000, cacheWriteTokens: 12_000, completionTokens: 100 }), { inputPerMTok: 3, outputPerMTok: 15 }, 36_000 + 1500],
  ['anthropic write, write price null → input price', usage({ promptTokens: 12_000, cacheWriteTokens: 12_000, completionTokens: 100 }), { inputPerMTok: 3, outputPerMTok: 15, cacheWritePerMTok: null }, 37_500],
  ['anthropic haiku cache read', usage({ promptTokens: 5000, cachedTokens: 4000, completionTokens: 300 }), CLAUDE_HAIKU, 800 + 320 + 1200],
  ['deepseek cache hit', usage({ promptTokens: 3000, cachedTokens: 2944, completionTokens: 400 }), DEEPSEEK_CHAT, 661],
  ['deepseek cache miss', usage({ promptTokens: 3000, completionTokens: 400 }), DEEPSEEK_CHAT, 810 + 440],
  ['deepseek reasoner', usage({ promptTokens: 100, completionTokens: 2000, reasoningTokens: 1800 }), DEEPSEEK_REASONER, 55 + 4380],
  ['qwen no cache', usage({ promptTokens: 10_000, completionTokens: 1000 }), QWEN_TURBO, 500 + 200],
  ['qwen cached tokens, no cached price → input price', usage({ promptTokens: 10_000, cachedTokens: 5000, completionTokens: 1000 }), QWEN_TURBO, 700],
  ['zero usage', usage({}), GPT_4O, 0],
  ['one token rounds to zero', usage({ promptTokens: 1 }), GPT_4O_MINI, 0],
  ['rounded once, not per part', usage({ promptTokens: 4, completionTokens: 1 }), GPT_4O_MINI, 1],
  ['a million input tokens = $2.50', usage({ promptTokens: 1_000_000 }), GPT_4O, 2_500_000],
  ['cache parts larger than prompt never go negative', usage({ promptTokens: 100, cachedTokens: 150 }), GPT_4O, 188],
  ['free local model is $0, not unknown', usage({ promptTokens: 5000, completionTokens: 500 }), LOCAL_FREE, 0],
  ['pricing null → unknown', usage({ promptTokens: 10, completionTokens: 10 }), null, null],
  ['pricing undefined → unknown', usage({ promptTokens: 10, completionTokens: 10 }), undefined, null],
  ['input price unknown', usage({ promptTokens: 10, completionTokens: 10 }), { inputPerMTok: null, outputPerMTok: 10 }, null],
  ['output price unknown', usage({ promptTokens: 10, completionTokens: 10 }), { inputPerMTok: 2.5, outputPerMTok: null }, null],
  ['unknown even with zero usage', usage({}), { inputPerMTok: null, outputPerMTok: null }, null],
];

describe('costMicroUsd', () => {
  it.each(cases)('%s', (_name, callUsage, pricing, expected) => {
    expect(costMicroUsd(callUsage, pricing)).toBe(expected);
  });

  it('returns integers', () => {
    for (const [, callUsage, pricing] of cases) {
      const cost = costMicroUsd(callUsage, pricing);
      if (cost !== null) expect(Number.isInteger(cost)).toBe(true);
    }
  });

  const price = fc.double({ min: 0, max: 200, noNaN: true });
  const pricing = fc.record({
    inputPerMTok: price,
    outputPerMTok: price,
    cachedInputPerMTok: fc.option(price, { nil: undefined }),
    cacheWritePerMTok: fc.option(price, { nil: undefined }),
  });
  const tokens = fc.integer({ min: 0, max: 5_000_000 });
  const usageArbitrary = fc
    .record({ uncached: tokens, cached: tokens, cacheWrite: tokens, completion: tokens })
    .map(({ uncached, cached, cacheWrite, completion }) =>
      usage({ promptTokens: uncached + cached + cacheWrite, cachedTokens: cached, cacheWriteTokens: cacheWrite, completionTokens: completion }),
    );

  it('is never negative and never decreases when tokens are added', () => {
    fc.assert(
      fc.property(usageArbitrary, pricing, tokens, fc.constantFrom('prompt', 'cached', 'cacheWrite', 'completion'), (base, prices, extra, part) => {
        const more = { ...base };
        if (part === 'completion') more.completionTokens += extra;
        else more.promptTokens += extra;
        if (part === 'cached') more.cachedTokens += extra;
        if (part === 'cacheWrite') more.cacheWriteTokens += extra;
        const before = costMicroUsd(base, prices)!;
        const after = costMicroUsd(more, prices)!;
        expect(before).toBeGreaterThanOrEqual(0);
        expect(after).toBeGreaterThanOrEqual(before);
      }),
    );
  });
});

describe('one-hour cache writes, tiers and peak hours', () => {
  const SONNET: Pricing = {
    inputPerMTok: 3,
    outputPerMTok: 15,
    cachedInputPerMTok: 0.3,
    cacheWritePerMTok: 3.75,
    cacheWrite1hPerMTok: 6,
    tiers: [{ aboveInputTokens: 200_000, inputPerMTok: 6, outputPerMTok: 22.5, cachedInputPerMTok: 0.6, cacheWritePerMTok: 7.5, cacheWrite1hPerMTok: 12 }],
  };
  const DEEPSEEK: Pricing = { inputPerMTok: 0.15, outputPerMTok: 0.6, cachedInputPerMTok: 0.003, peak: { multiplier: 2, hoursUtc: [[1, 4], [6, 10]] } };

  it('bills the one-hour part of the writes at its own price, the rest at the five-minute price', () => {
    // 1000 uncached × 3 + 4000 × 3.75 + 6000 × 6 + 100 × 15
    expect(costMicroUsd(usage({ promptTokens: 11_000, cacheWriteTokens: 10_000, cacheWrite1hTokens: 6000, completionTokens: 100 }), SONNET)).toBe(3000 + 15_000 + 36_000 + 1500);
    // No one-hour price: the five-minute price; more one-hour writes than writes: capped.
    const noHour = { ...SONNET, tiers: undefined, cacheWrite1hPerMTok: null };
    expect(costMicroUsd(usage({ promptTokens: 10_000, cacheWriteTokens: 10_000, cacheWrite1hTokens: 99_999 }), noHour)).toBe(37_500);
  });

  it('takes the tier the whole call falls in: strictly above the threshold', () => {
    expect(effectivePricing(SONNET, usage({ promptTokens: 200_000 })).inputPerMTok).toBe(3);
    expect(effectivePricing(SONNET, usage({ promptTokens: 200_001 }))).toEqual({ inputPerMTok: 6, outputPerMTok: 22.5, cachedInputPerMTok: 0.6, cacheWritePerMTok: 7.5, cacheWrite1hPerMTok: 12 });
    expect(costMicroUsd(usage({ promptTokens: 200_001, completionTokens: 1000 }), SONNET)).toBe(Math.round(200_001 * 6 + 1000 * 22.5));
    // A tier that names only some prices keeps the base for the rest; the highest tier crossed wins.
    const two: Pricing = { inputPerMTok: 1, outputPerMTok: 2, tiers: [{ aboveInputTokens: 100, outputPerMTok: 3 }, { aboveInputTokens: 10, inputPerMTok: 5 }] };
    expect(effectivePricing(two, usage({ promptTokens: 50 }))).toMatchObject({ inputPerMTok: 5, outputPerMTok: 2 });
    expect(effectivePricing(two, usage({ promptTokens: 500 }))).toMatchObject({ inputPerMTok: 1, outputPerMTok: 3 });
  });

  it('bills DashScope explicit cache hits at the explicit price (a tier\'s own first), implicit ones at the cached price', () => {
    const qwen: Pricing = {
      inputPerMTok: 1.2, outputPerMTok: 6, cachedInputPerMTok: 0.24, cacheWritePerMTok: 1.5, explicitCachedInputPerMTok: 0.12,
      tiers: [{ aboveInputTokens: 32_000, inputPerMTok: 2.4, cachedInputPerMTok: 0.48, explicitCachedInputPerMTok: 0.24 }, { aboveInputTokens: 128_000, inputPerMTok: 3 }],
    };
    const hits = (explicitCache: boolean, promptTokens: number) => usage({ promptTokens, cachedTokens: 10_000, ...(explicitCache ? { explicitCache } : {}) });
    expect(effectivePricing(qwen, hits(false, 20_000)).cachedInputPerMTok).toBe(0.24);
    expect(effectivePricing(qwen, hits(true, 20_000)).cachedInputPerMTok).toBe(0.12);
    expect(effectivePricing(qwen, hits(true, 40_000)).cachedInputPerMTok).toBe(0.24);
    // A tier without its own explicit price keeps the base one.
    expect(effectivePricing(qwen, hits(true, 200_000)).cachedInputPerMTok).toBe(0.12);
    expect(costMicroUsd(hits(true, 20_000), qwen)).toBe(Math.round(10_000 * 1.2 + 10_000 * 0.12));
    // No explicit price known: explicit hits fall back to the cached price.
    expect(costMicroUsd(hits(true, 20_000), { inputPerMTok: 1.2, outputPerMTok: 6, cachedInputPerMTok: 0.24 })).toBe(Math.round(10_000 * 1.2 + 10_000 * 0.24));
  });

  it('doubles every DeepSeek price in the weekday peak windows only', () => {
    const call = usage({ promptTokens: 3000, cachedTokens: 2944, completionTokens: 400 });
    const offPeak = 56 * 0.15 + 2944 * 0.003 + 400 * 0.6;
    expect(costMicroUsd(call, DEEPSEEK, Date.parse('2026-11-25T12:00:00Z'))).toBe(Math.round(offPeak));
    expect(costMicroUsd(call, DEEPSEEK, Date.parse('2026-11-25T02:59:59Z'))).toBe(Math.round(offPeak * 2));
    expect(costMicroUsd(call, DEEPSEEK, Date.parse('2026-11-25T04:00:00Z'))).toBe(Math.round(offPeak));
    expect(costMicroUsd(call, DEEPSEEK, Date.parse('2026-11-25T09:30:00Z'))).toBe(Math.round(offPeak * 2));
    expect(costMicroUsd(call, DEEPSEEK, Date.parse('2026-11-29T02:00:00Z'))).toBe(Math.round(offPeak)); // Sunday
    expect(costMicroUsd(call, DEEPSEEK)).toBe(Math.round(offPeak)); // no time given: off-peak
  });

  it('isPeak: weekday and hour window in UTC', () => {
    const windows: Array<[number, number]> = [[1, 4], [6, 10]];
    expect(isPeak(windows, Date.parse('2026-11-23T01:00:00Z'))).toBe(true); // Monday
    expect(isPeak(windows, Date.parse('2026-11-27T09:59:59Z'))).toBe(true); // Friday
    expect(isPeak(windows, Date.parse('2026-11-27T05:00:00Z'))).toBe(false);
    expect(isPeak(windows, Date.parse('2026-11-28T01:00:00Z'))).toBe(false); // Saturday
    expect(isPeak(windows, Number.NaN)).toBe(false);
  });
});

describe('dollar helpers', () => {
  it('converts and formats', () => {
    expect(microToUsd(5_010_000)).toBe(5.01);
    expect(microToUsd(300_000)).toBe(0.3);
    expect(usdToMicro(5.01)).toBe(5_010_000);
    expect(usdToMicro(0.1 + 0.2)).toBe(300_000);
    expect(formatUsd(5)).toBe('$5.00');
    expect(formatUsd(5.009)).toBe('$5.01');
    expect(formatUsd(0.000123, 6)).toBe('$0.000123');
    expect(formatUsd(-1.5)).toBe('-$1.50');
  });
});
