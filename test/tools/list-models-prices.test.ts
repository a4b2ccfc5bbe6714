/**
 * `list_models` says when each price was checked (one date per model), flags only prices older
 * than 90 days, and marks a retired model with its replacement; `doctor` names the price data.
 */
import { describe, expect, it } from 'vitest';
import type { CompactModelListing } from '../../src/tools/compact-model-listing.js';
import { harnessPerTest, resultText } from '../support/harness.js';
import { useUpstream } from '../support/use-upstream.js';

const upstream = useUpstream();
const start = harnessPerTest();

type Model = Record<string, unknown> & { id: string; price_checked?: string; warning?: string };

/** The compact structuredContent read back as one object per model (null warning left out; price_checked from the listing's dates, left out when none). */
function expand(compact: CompactModelListing): { models: Model[] } {
  const models = Object.values(compact.providers).flatMap((group) =>
    group.models.map((row) => {
      const model: Record<string, unknown> = {};
      compact.columns.forEach((name, i) => {
        if (row[i] !== null || name !== 'warning') model[name] = row[i];
      });
      const id = model.id as string;
      const checked = id in compact.price_checked ? compact.price_checked[id] : compact.price_checked['*'];
      if (checked !== 'not checked') model.price_checked = checked;
      return model as Model;
    }),
  );
  return { models };
}

async function listModels(nowIso: string, config = {}): Promise<{ text: string; listing: { models: Model[] } }> {
  const h = await start({ upstream, now: () => Date.parse(nowIso), config });
  const result = await h.callTool('list_models', {});
  expect(result.isError, resultText(result)).toBeFalsy();
  return { text: resultText(result), listing: expand(result.structuredContent as unknown as CompactModelListing) };
}

describe('list_models price dates', () => {
  it('gives each model its price_checked date, and no stale flag while the checks are recent', async () => {
    const { text, listing } = await listModels('2026-12-01T00:00:00Z');
    const gpt = listing.models.find((m) => m.id === 'gpt-4o-mini')!;
    expect(gpt.price_checked).toBe('2026-11-29');
    // Only the retirements warn (test/tools/retirement.test.ts: each side of the dates).
    expect(listing.models.filter((m) => m.warning !== undefined).map((m) => m.id)).toEqual([
      'gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'gpt-4.1-mini', 'gpt-5', 'gpt-5-mini', 'o4-mini', 'claude-3-5-sonnet', 'claude-sonnet-4-5', 'claude-opus-4-5',
    ]);
    // Qwen Plus and Max were re-checked with the rest on 2026-11-29; gpt-6-luna was added a day later.
    expect(listing.models.find((m) => m.id === 'qwen-max')!.price_checked).toBe('2026-11-29');
    expect(listing.models.find((m) => m.id === 'gpt-6-luna')!.price_checked).toBe('2026-11-30');
    expect(text).toContain('prices checked 2026-11-29; 2026-11-30: gpt-6-luna\n');
    expect(text).not.toContain('stale');
  });

  it('names the exceptions to the usual check date, and flags prices checked more than 90 days ago, only those', async () => {
    // 2027-02-25 is 91 days after 2026-11-26 and 88 days after 2026-11-29.
    const config = { models: { 'qwen-max': { pricing: { inputPerMTok: 1.6, outputPerMTok: 6.4 }, priceCheckedAt: '2026-11-26' } } };
    const { text, listing } = await listModels('2027-02-25T12:00:00Z', config);
    const stale = listing.models.filter((m) => m.warning?.includes('price checked over 90 days ago')).map((m) => m.id);
    expect(stale).toEqual(['qwen-max']);
    expect(listing.models.find((m) => m.id === 'qwen-max')!.warning).toBe('price checked over 90 days ago');
    expect(text).toContain('prices checked 2026-11-29; 2026-11-30: gpt-6-luna; 2026-11-26: qwen-max');
    expect(text).toContain('stale prices (checked over 90 days ago): qwen-max');
  });

  it('a price set in the config file without a date has no price_checked', async () => {
    const { listing } = await listModels('2026-12-01T00:00:00Z', { models: { 'gpt-4o': { pricing: { inputPerMTok: 1, outputPerMTok: 2 } } } });
    expect(listing.models.find((m) => m.id === 'gpt-4o')).not.toHaveProperty('price_checked');
  });

  it('marks claude-3-5-sonnet retired, naming its replacement', async () => {
    const { text, listing } = await listModels('2026-12-01T00:00:00Z');
    expect(listing.models.find((m) => m.id === 'claude-3-5-sonnet')!.warning).toBe('retired 2025-10-22; use claude-sonnet-5-5');
    expect(text).toContain('claude-3-5-sonnet retired 2025-10-22; use claude-sonnet-5-5');
  });
});
