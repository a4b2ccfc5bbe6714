/**
 * The one rule for what a call cost (see README "Cost ledger and budgets"): every attempt the
 * provider may have billed is counted, and a cost that cannot be known is `null`, never $0.
 *
 * - An attempt that never reached the provider (no API key, connection refused, cancelled before
 *   it was sent) or that the provider refused with an error status billed nothing: it adds 0.
 * - An attempt that reported usage adds that usage, even if it failed afterwards (a stream cut
 *   after Anthropic's message_start or OpenAI's usage chunk): those tokens were billed.
 * - An attempt sent to the provider that ended without usage (a stream that broke; a call,
 *   streamed or not, cancelled, timed out or cut by the deadline once sent, even before the
 *   response headers; a body too large to read; a completion that carried no usage or impossible
 *   usage; an answer cut at maxAnswerBytes) makes the call's cost unknown: `null`, even when a
 *   later attempt succeeded with known usage. Which failed attempts were sent is decided once,
 *   for the streamed and the non-streamed path alike, by markUnknownBill (providers/sdk-call.ts),
 *   and recorded on the attempt's error as `usageUnknown`.
 */
import { costMicroUsd, effectivePricing } from '../ledger/cost.js';
import { checkUsage } from './check-usage.js';
import { LlmError } from './errors.js';
import { emptyUsage, type ChatResponse, type FlatPricing, type Pricing, type Usage } from './types.js';

/** What one attempt left on the provider's bill, as far as we can know it. */
export type AttemptBill =
  | { known: true; usage: Usage | undefined }
  | { known: false; usage: Usage | undefined; why: string };

/** The bill of an attempt that answered. `maxTokens` bounds a believable token count. */
export function billOfAnswer(response: ChatResponse, provider: string, maxTokens: number): AttemptBill {
  if (response.usageMissing || response.usage.raw === undefined) {
    return { known: false, usage: undefined, why: `${provider} reported no token usage` };
  }
  const checked = checkUsage(response.usage, maxTokens);
  if (checked.problem) return { known: false, usage: undefined, why: `${provider} reported impossible token usage (${checked.problem})` };
  if (response.truncated) return { known: false, usage: checked.usage, why: 'the answer was cut at maxAnswerBytes before the provider reported its usage' };
  return { known: true, usage: checked.usage };
}

/** The bill of an attempt that failed (see the rules at the top of this file). */
export function billOfFailure(error: unknown, maxTokens: number): AttemptBill {
  if (!(error instanceof LlmError)) return { known: true, usage: undefined };
  let usage: Usage | undefined;
  if (error.usage) {
    const checked = checkUsage(error.usage, maxTokens);
    if (checked.problem) return { known: false, usage: undefined, why: `${error.provider ?? 'the provider'} reported impossible token usage (${checked.problem})` };
    usage = checked.usage;
  }
  if (error.usageUnknown) {
    return { known: false, usage, why: `an attempt that ${error.provider ?? 'the provider'} was answering ended (${error.kind}) without reporting its usage` };
  }
  return { known: true, usage };
}

/** The cost of a model's attempts: summed usage, integer micro-dollars or null, and why it is unknown. */
export interface AttemptsCost {
  /** Tokens reported by every attempt, summed; null when no attempt reported any. */
  usage: Usage | null;
  /** Null when any attempt's bill is unknown, or the price is. */
  costMicroUsd: number | null;
  /** Set when the usage (not the price) is unknown: why, for the result's notes. */
  unknownUsage?: string;
  /** The flat prices billed (the last billed attempt's tier, peak or off-peak), for the ledger row. */
  pricing: FlatPricing | null;
}

/**
 * The rule itself: sums the attempts' usage and prices it; one unknown attempt makes the cost
 * unknown. Each attempt is priced on its own (the provider bills each request: its input-size
 * tier is its own), at the peak or off-peak price of `atMs`, the call's start.
 */
export function costOfAttempts(bills: AttemptBill[], pricing: Pricing | null | undefined, atMs?: number): AttemptsCost {
  const usages = bills.map((bill) => bill.usage).filter((usage): usage is Usage => usage !== undefined);
  const usage = usages.length === 0 ? null : sumUsage(usages);
  const billed = pricing ? effectivePricing(pricing, usages[usages.length - 1] ?? null, atMs) : null;
  const unknown = bills.find((bill): bill is Extract<AttemptBill, { known: false }> => !bill.known);
  if (unknown) return { usage, costMicroUsd: null, unknownUsage: unknown.why, pricing: billed };
  // Nothing billed at a known price is 0; at an unknown price it stays null (costMicroUsd says so).
  const parts = (usages.length === 0 ? [emptyUsage()] : usages).map((attempt) => costMicroUsd(attempt, pricing, atMs));
  const cost = parts.reduce<number | null>((sum, part) => addCost(sum, part), 0);
  return { usage, costMicroUsd: cost, pricing: billed };
}

/** Adds a model's cost to the call's running cost; unknown stays unknown. */
export function addCost(total: number | null, part: number | null): number | null {
  return total === null || part === null ? null : total + part;
}

function sumUsage(usages: Usage[]): Usage {
  if (usages.length === 1) return usages[0]!;
  const sum = emptyUsage();
  for (const usage of usages) {
    sum.promptTokens += usage.promptTokens;
    sum.completionTokens += usage.completionTokens;
    sum.cachedTokens += usage.cachedTokens;
    sum.cacheWriteTokens += usage.cacheWriteTokens;
    sum.cacheWrite1hTokens = (sum.cacheWrite1hTokens ?? 0) + (usage.cacheWrite1hTokens ?? 0);
    sum.reasoningTokens += usage.reasoningTokens;
    sum.totalTokens += usage.totalTokens;
  }
  // Several attempts billed: the ledger keeps each one's raw usage, in attempt order.
  sum.raw = { attempts: usages.map((usage) => usage.raw ?? null) };
  return sum;
}
