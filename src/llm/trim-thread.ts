/**
 * Fits a stored thread into a model's context window: the oldest turns go first, the system
 * message and the new turn always stay. Pure: estimates tokens with the budget's upper estimate
 * (estimate-tokens.ts), so a trimmed thread errs on the short side.
 */
import { estimateTokens as textTokens } from './estimate-tokens.js';
import type { ChatMessage } from './types.js';

// Per-message overhead of the wires (role, separators), as in the budget's worst-case estimate.
const MESSAGE_OVERHEAD_TOKENS = 16;

export function estimateTokens(messages: ChatMessage[]): number {
  let tokens = 0;
  for (const m of messages) {
    tokens += textTokens(m.content) + MESSAGE_OVERHEAD_TOKENS;
    if (m.role === 'assistant' && m.tool_calls) tokens += textTokens(JSON.stringify(m.tool_calls));
  }
  return tokens;
}

/**
 * The stored turns to send: the newest that fit in `budgetTokens` beside `fixed` (the system
 * message and the new turn), and how many were left out. A turn that starts with tool results
 * is never kept without the turn before it (its tool calls), and when the new turn itself starts
 * with tool results the last stored turn is always kept, since neither wire takes a tool result
 * without its call.
 */
export function trimTurns(
  turns: ChatMessage[][],
  fixed: ChatMessage[],
  budgetTokens: number,
): { kept: ChatMessage[][]; dropped: number } {
  let used = estimateTokens(fixed);
  const mustKeepLast = fixed.find((m) => m.role !== 'system')?.role === 'tool';
  let start = turns.length;
  for (let i = turns.length - 1; i >= 0; i--) {
    const cost = estimateTokens(turns[i]!);
    const forced = mustKeepLast && i === turns.length - 1;
    if (!forced && used + cost > budgetTokens) break;
    used += cost;
    start = i;
  }
  // Dropping a turn orphans the tool results at the head of the next one: drop those too.
  const last = mustKeepLast ? turns.length - 1 : turns.length;
  while (start > 0 && start < last && turns[start]![0]?.role === 'tool') start++;
  return { kept: turns.slice(start), dropped: start };
}
