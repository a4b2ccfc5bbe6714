import type { ChatResult } from '../llm/llm-service.js';

/**
 * The last line of `chat`'s text content: which model and provider answered, tokens, cost, and
 * any retry or fallback. Hosts that show the model only `content` (not `structuredContent`)
 * still let it and the person see what the call was and what it cost.
 */
export function chatSummaryLine(result: ChatResult): string {
  const parts = [
    `${result.model} (${result.provider})`,
    `${thousands(result.usage.prompt_tokens)} in + ${thousands(result.usage.completion_tokens)} out tokens`,
    result.cost_usd === null ? 'cost unknown' : `$${usdAmount(result.cost_usd)}`,
  ];
  if (result.fallback_from && result.fallback_from.length > 0) {
    parts.push(`after ${result.fallback_from.join(', ')} failed`);
  } else if (result.attempts > 1) {
    parts.push(`${result.attempts} attempts`);
  }
  return `— ${parts.join(' · ')}`;
}

/** Two significant digits for amounts under $1 (never `4.8e-6`), cents above. */
export function usdAmount(usd: number): string {
  if (usd === 0) return '0';
  if (usd >= 1) return usd.toFixed(2);
  const digits = Math.min(8, 1 - Math.floor(Math.log10(usd)));
  return usd.toFixed(digits).replace(/0+$/, '').replace(/\.$/, '');
}

function thousands(value: number): string {
  return String(value).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}
