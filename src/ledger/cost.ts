/**
 * Usage × price, in integer micro-dollars.
 * Prices are USD per million tokens, so `tokens × price` is already micro-dollars: we sum the
 * exact products and round once, so no per-part rounding error accumulates.
 */

import type { Pricing, Usage } from '../llm/types.js';

const MICRO_PER_USD = 1_000_000;

/** Cost of one call in integer micro-dollars, or `null` when the price is unknown (never $0). */
export function costMicroUsd(usage: Usage, pricing: Pricing | null | undefined): number | null {
  if (!pricing) return null;
  const inputPrice = pricing.inputPerMTok;
  const outputPrice = pricing.outputPerMTok;
  if (!isPrice(inputPrice) || !isPrice(outputPrice)) return null;
  // Providers without a cache discount (or whose discount we do not know) bill cache traffic as input.
  const cachedPrice = isPrice(pricing.cachedInputPerMTok) ? pricing.cachedInputPerMTok : inputPrice;
  const cacheWritePrice = isPrice(pricing.cacheWritePerMTok) ? pricing.cacheWritePerMTok : inputPrice;

  const prompt = tokenCount(usage.promptTokens);
  const cached = tokenCount(usage.cachedTokens);
  const cacheWrite = tokenCount(usage.cacheWriteTokens);
  // promptTokens includes both cache parts; a provider that reports them inconsistently must not
  // produce a negative charge.
  const uncached = Math.max(0, prompt - cached - cacheWrite);
  // Reasoning tokens are already inside completionTokens: adding them again would bill twice.
  const completion = tokenCount(usage.completionTokens);

  const micro =
    uncached * inputPrice + cached * cachedPrice + cacheWrite * cacheWritePrice + completion * outputPrice;
  return Math.round(micro);
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
