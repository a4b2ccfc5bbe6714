/**
 * Usage × price, in integer micro-dollars.
 * Prices are USD per million tokens, so `tokens × price` is already micro-dollars: we sum the
 * exact products and round once, so no per-part rounding error accumulates.
 */

import type { FlatPricing, Pricing, Usage } from '../llm/types.js';

const MICRO_PER_USD = 1_000_000;

/**
 * The flat prices one call is billed at: the tier its input size falls in (the highest whose
 * threshold it exceeds), times the peak multiplier when `atMs` falls in a peak window on a weekday.
 * Tier and peak are what the provider applies to the whole call, not to the tokens above the line.
 * A call that used DashScope's explicit cache has its cache reads at the explicit-hit price: the
 * returned cached price is the one its hits were billed at (and the ledger row stores).
 */
export function effectivePricing(pricing: Pricing, usage: Usage | null, atMs?: number): FlatPricing {
  const prompt = tokenCount(usage?.promptTokens ?? 0);
  let flat: FlatPricing = {
    inputPerMTok: pricing.inputPerMTok,
    outputPerMTok: pricing.outputPerMTok,
    cachedInputPerMTok: pricing.cachedInputPerMTok ?? null,
    cacheWritePerMTok: pricing.cacheWritePerMTok ?? null,
    cacheWrite1hPerMTok: pricing.cacheWrite1hPerMTok ?? null,
  };
  const tier = [...(pricing.tiers ?? [])]
    .sort((a, b) => a.aboveInputTokens - b.aboveInputTokens)
    .filter((t) => prompt > t.aboveInputTokens)
    .pop();
  if (tier) {
    const { aboveInputTokens: _threshold, ...prices } = tier;
    flat = { ...flat, ...definedOnly(prices) };
  }
  if (usage?.explicitCache === true && isPrice(pricing.explicitCachedInputPerMTok)) {
    // A tier's own explicit price wins over the base one, as for every other price.
    const tierExplicit = tier?.explicitCachedInputPerMTok;
    flat = { ...flat, cachedInputPerMTok: isPrice(tierExplicit) ? tierExplicit : pricing.explicitCachedInputPerMTok };
  }
  const multiplier = atMs !== undefined && pricing.peak && isPeak(pricing.peak.hoursUtc, atMs) ? pricing.peak.multiplier : 1;
  if (multiplier === 1) return flat;
  const times = (value: number | null | undefined): number | null => (isPrice(value) ? value * multiplier : (value ?? null));
  return {
    inputPerMTok: times(flat.inputPerMTok),
    outputPerMTok: times(flat.outputPerMTok),
    cachedInputPerMTok: times(flat.cachedInputPerMTok),
    cacheWritePerMTok: times(flat.cacheWritePerMTok),
    cacheWrite1hPerMTok: times(flat.cacheWrite1hPerMTok),
  };
}

/**
 * Cost of one call in integer micro-dollars, or `null` when the price is unknown (never $0).
 * `atMs` (the call's start) picks peak or off-peak prices for providers that bill by time of day.
 */
export function costMicroUsd(usage: Usage, pricing: Pricing | null | undefined, atMs?: number): number | null {
  if (!pricing) return null;
  return flatCostMicroUsd(usage, effectivePricing(pricing, usage, atMs));
}

/** Usage × flat prices (already tiered and peak-adjusted), in integer micro-dollars. */
export function flatCostMicroUsd(usage: Usage, pricing: FlatPricing): number | null {
  const inputPrice = pricing.inputPerMTok;
  const outputPrice = pricing.outputPerMTok;
  if (!isPrice(inputPrice) || !isPrice(outputPrice)) return null;
  // Providers without a cache discount (or whose discount we do not know) bill cache traffic as input.
  const cachedPrice = isPrice(pricing.cachedInputPerMTok) ? pricing.cachedInputPerMTok : inputPrice;
  const cacheWritePrice = isPrice(pricing.cacheWritePerMTok) ? pricing.cacheWritePerMTok : inputPrice;
  const cacheWrite1hPrice = isPrice(pricing.cacheWrite1hPerMTok) ? pricing.cacheWrite1hPerMTok : cacheWritePrice;

  const prompt = tokenCount(usage.promptTokens);
  const cached = tokenCount(usage.cachedTokens);
  const cacheWrite = tokenCount(usage.cacheWriteTokens);
  // The one-hour writes are part of cacheWriteTokens; a provider that reports more of them than
  // writes in all must not produce a negative five-minute part.
  const cacheWrite1h = Math.min(tokenCount(usage.cacheWrite1hTokens ?? 0), cacheWrite);
  const cacheWrite5m = cacheWrite - cacheWrite1h;
  // promptTokens includes both cache parts; a provider that reports them inconsistently must not
  // produce a negative charge.
  const uncached = Math.max(0, prompt - cached - cacheWrite);
  // Reasoning tokens are already inside completionTokens: adding them again would bill twice.
  const completion = tokenCount(usage.completionTokens);

  const micro =
    uncached * inputPrice +
    cached * cachedPrice +
    cacheWrite5m * cacheWritePrice +
    cacheWrite1h * cacheWrite1hPrice +
    completion * outputPrice;
  return Math.round(micro);
}

/** Whether `atMs` falls in one of the UTC hour windows on a weekday (Monday to Friday, UTC). */
export function isPeak(hoursUtc: Array<[number, number]>, atMs: number): boolean {
  const at = new Date(atMs);
  if (Number.isNaN(at.getTime())) return false;
  const day = at.getUTCDay();
  if (day === 0 || day === 6) return false;
  const hour = at.getUTCHours();
  return hoursUtc.some(([start, end]) => hour >= start && hour < end);
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Micro-dollars to dollars (exact for every integer below 2^53 / 10^6 dollars' worth). */
export function microToUsd(micro: number): number {
  return micro / MICRO_PER_USD;
}

/** Dollars to integer micro-dollars, e.g. for a budget cap. */
export function usdToMicro(usd: number): number {
  return Math.round(usd * MICRO_PER_USD);
}

/** `$1.23`: dollars with a fixed number of decimals (2 unless told), as in budget messages. */
export function formatUsd(usd: number, fractionDigits = 2): string {
  const sign = usd < 0 ? '-' : '';
  return `${sign}$${Math.abs(usd).toFixed(fractionDigits)}`;
}

function isPrice(value: number | null | undefined): value is number {
  // A negative or non-finite price is a config mistake; treating it as unknown beats a wrong number.
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function tokenCount(value: number): number {
  return Number.isFinite(value) && value > 0 ? value : 0;
}
