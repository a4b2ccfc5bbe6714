import type { Usage } from './types.js';

/** The most tokens one call can report when the model's limits are unknown: far above any real model. */
export const ABSOLUTE_MAX_TOKENS = 50_000_000;

const FIELDS = ['promptTokens', 'completionTokens', 'cachedTokens', 'cacheWriteTokens', 'reasoningTokens'] as const;
const WIRE_NAMES: Record<(typeof FIELDS)[number], string> = {
  promptTokens: 'prompt tokens',
  completionTokens: 'completion tokens',
  cachedTokens: 'cached tokens',
  cacheWriteTokens: 'cache-write tokens',
  reasoningTokens: 'reasoning tokens',
};

/**
 * A provider's usage made safe to cost and store: every count a finite non-negative integer no
 * larger than `maxTokens` (the model's context window plus its output limit). A count that is not
 * a number, negative, or impossible makes the usage untrustworthy: it is returned as `problem`
 * (the call's cost is then unknown, never a made-up number) and that count reads 0. A fraction is
 * rounded up (a provider never bills part of a token) without a problem. The total is always
 * prompt + completion, whatever the provider said.
 */
export function checkUsage(usage: Usage, maxTokens: number): { usage: Usage; problem?: string } {
  const problems: string[] = [];
  const out = { ...usage };
  for (const field of FIELDS) {
    const value: unknown = usage[field];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      problems.push(`${WIRE_NAMES[field]} = ${describeValue(value)}`);
      out[field] = 0;
    } else if (value > maxTokens) {
      problems.push(`${WIRE_NAMES[field]} = ${value}, more than the ${maxTokens} a call to this model can use`);
      out[field] = 0;
    } else {
      out[field] = Math.ceil(value);
    }
  }
  // The parts are subsets of their wholes; a provider that says otherwise is clamped, not trusted.
  out.cachedTokens = Math.min(out.cachedTokens, out.promptTokens);
  out.cacheWriteTokens = Math.min(out.cacheWriteTokens, out.promptTokens - out.cachedTokens);
  out.reasoningTokens = Math.min(out.reasoningTokens, out.completionTokens);
  if (usage.cacheWrite1hTokens !== undefined) {
    // One-hour writes are a part of the writes (billed 2x input instead of 1.25x).
    const hour: unknown = usage.cacheWrite1hTokens;
    if (typeof hour !== 'number' || !Number.isFinite(hour) || hour < 0) problems.push(`one-hour cache-write tokens = ${describeValue(hour)}`);
    out.cacheWrite1hTokens = typeof hour === 'number' && Number.isFinite(hour) && hour > 0 ? Math.min(Math.ceil(hour), out.cacheWriteTokens) : 0;
  }
  out.totalTokens = out.promptTokens + out.completionTokens;
  return problems.length > 0 ? { usage: out, problem: problems.join(', ') } : { usage: out };
}

/** The model's context window plus output limit, or the absolute cap when either is unknown. */
export function maxTokensOfCall(model: { contextWindow: number | null; maxOutputTokens: number | null }): number {
  if (model.contextWindow === null || model.maxOutputTokens === null) return ABSOLUTE_MAX_TOKENS;
  return Math.min(ABSOLUTE_MAX_TOKENS, model.contextWindow + model.maxOutputTokens);
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number') return String(value);
  if (value === undefined) return 'missing';
  return typeof value;
}
