/**
 * Hand-kept prices go stale silently: this compares every built-in price with the maintained,
 * versioned @pydantic/genai-prices dataset (a devDependency) and fails when they drift apart, so
 * an upgrade of the dataset that carries a provider's new price shows up here.
 *
 * Why not take the prices from the dataset at run time: it has no DashScope (Qwen) provider and
 * no deepseek-flash yet, and importing it costs about 50 ms of start-up (we allow 10).
 */
import { calcPrice, type ModelPrice } from '@pydantic/genai-prices';
import { describe, expect, it } from 'vitest';
import { BUILT_IN_MODELS, type ModelDefinition } from '../../src/registry/catalog.js';

// Built-in models the dataset cannot check, and why. A model leaving this list (the dataset
// caught up) makes the last test fail: then compare it too.
const NOT_IN_DATASET: Record<string, string> = {
  'deepseek-flash': 'the dataset stops at deepseek-v4-flash (2026-08-17 prices); DeepSeek serves and bills that name as deepseek-flash since 2026-09-10',
  'qwen-turbo': 'no DashScope provider in the dataset (only OpenRouter resale prices)',
  'qwen-plus': 'no DashScope provider in the dataset',
  'qwen-max': 'no DashScope provider in the dataset',
};

// The dataset's provider ids for ours.
const PROVIDER: Record<string, string> = { openai: 'openai', anthropic: 'anthropic', deepseek: 'deepseek' };

// A weekday noon: DeepSeek's off-peak price, which is the one our catalog lists.
const OFF_PEAK = new Date('2026-11-25T12:00:00Z');

type Tiered = { base: number; tiers: Array<{ start: number; price: number }> };

function base(value: ModelPrice[string]): number | null {
  if (value === undefined) return null;
  return typeof value === 'number' ? value : (value as Tiered).base;
}

function datasetPrice(model: ModelDefinition): ModelPrice | null {
  const result = calcPrice({ input_tokens: 1, output_tokens: 1 }, model.providerModel, { providerId: PROVIDER[model.provider], timestamp: OFF_PEAK });
  return result?.model_price ?? null;
}

const CHECKED = BUILT_IN_MODELS.filter((m) => !(m.id in NOT_IN_DATASET));

describe('built-in prices against @pydantic/genai-prices', () => {
  it.each(CHECKED.map((m) => [m.id, m] as const))('%s: input, output and cache prices as in the dataset', (_id, model) => {
    const theirs = datasetPrice(model);
    expect(theirs, `${model.id} not found in the dataset`).not.toBeNull();
    const ours = model.pricing;
    expect({
      input: ours.inputPerMTok,
      output: ours.outputPerMTok,
      cacheRead: ours.cachedInputPerMTok ?? null,
      cacheWrite: ours.cacheWritePerMTok ?? null,
      cacheWrite1h: ours.cacheWrite1hPerMTok ?? null,
    }).toEqual({
      input: base(theirs!.input_mtok),
      output: base(theirs!.output_mtok),
      cacheRead: base(theirs!.cache_read_mtok),
      cacheWrite: base(theirs!.cache_write_mtok),
      cacheWrite1h: base(theirs!.cache_write_1h_mtok),
    });
  });

  it.each(CHECKED.map((m) => [m.id, m] as const))('%s: the same price tiers as the dataset', (_id, model) => {
    const theirs = datasetPrice(model)!;
    const fields = [
      ['input_mtok', 'inputPerMTok'],
      ['output_mtok', 'outputPerMTok'],
      ['cache_read_mtok', 'cachedInputPerMTok'],
      ['cache_write_mtok', 'cacheWritePerMTok'],
      ['cache_write_1h_mtok', 'cacheWrite1hPerMTok'],
    ] as const;
    const tiersOf = (field: (typeof fields)[number][0]) => (typeof theirs[field] === 'object' ? (theirs[field] as Tiered).tiers : []);
    const ourTiers = model.pricing.tiers ?? [];
    for (const [theirField, ourField] of fields) {
      const expected = tiersOf(theirField);
      const actual = ourTiers.filter((t) => t[ourField] !== undefined && t[ourField] !== null);
      expect(actual.map((t) => t[ourField]), `${model.id} ${ourField}`).toEqual(expected.map((t) => t.price));
      // The dataset's "start" is the last token count still at the lower price, or one below our
      // threshold (OpenAI: "more than 272K"; the dataset bills 272,000 itself at the tier).
      actual.forEach((tier, index) => expect(Math.abs(tier.aboveInputTokens - expected[index]!.start), `${model.id} threshold`).toBeLessThanOrEqual(1));
    }
  });

  it('lists exactly the models the dataset cannot check', () => {
    const notFound = BUILT_IN_MODELS.filter((m) => !PROVIDER[m.provider] || datasetPrice(m) === null).map((m) => m.id);
    expect(notFound.sort()).toEqual(Object.keys(NOT_IN_DATASET).sort());
  });
});
