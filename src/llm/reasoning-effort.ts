/**
 * `reasoning_effort` as each model family takes it. Pure: it rewrites a request that adaptRequest
 * has already fitted to the model, and says in notes whatever it could not send as asked. A model
 * without reasoning ignores the effort with a note, never an error.
 *
 * | family | sent |
 * |---|---|
 * | OpenAI reasoning models (gpt-5*, o*), other OpenAI-compatible reasoning models | `reasoning_effort` (o-series: `minimal` → `low`) |
 * | gpt-6-luna with tools (toolsOnlyWithoutReasoning) | `reasoning_effort: "none"`, whatever was asked (note): Chat Completions take its tools only so |
 * | Qwen reasoning models (DashScope) | `enable_thinking: true`, `thinking_budget` from the table below |
 * | DeepSeek reasoning models | nothing: they always reason (note) |
 * | Claude 4.5 and earlier with thinking | `thinking: {type: "enabled", budget_tokens}` from the table below |
 * | Claude 4.6 and later | `thinking: {type: "adaptive"}` and `output_config.effort` (`minimal` → `low`) |
 *
 * Thinking budget, from the model's output limit L: minimal 1,024 tokens (the API minimum);
 * low 10% of L; medium 25%; high 50% (each at least 1,024). Thinking counts inside `max_tokens`,
 * so a caller's `max_tokens` is raised by the budget (up to L) to leave the answer its room.
 */
import type { ModelDefinition, ProviderDefinition } from '../registry/catalog.js';
import type { ChatRequest, ReasoningEffort } from './types.js';

const MIN_THINKING_BUDGET = 1024;
const BUDGET_SHARE: Record<ReasoningEffort, number> = { minimal: 0, low: 0.1, medium: 0.25, high: 0.5 };

/** The thinking budget for an effort, from the output limit (see the table above). */
export function thinkingBudget(effort: ReasoningEffort, outputLimit: number): number {
  return Math.max(MIN_THINKING_BUDGET, Math.floor(BUDGET_SHARE[effort] * outputLimit));
}

/** Claude's version from its id (`claude-sonnet-4-5-…`, `claude-3-7-sonnet-…`), or undefined. */
export function claudeVersion(providerModel: string): { major: number; minor: number } | undefined {
  const modern = /claude-(?:opus|sonnet|haiku|[a-z]+)-(\d{1,2})(?:-(\d{1,2}))?(?!\d)/.exec(providerModel);
  const legacy = /claude-(\d)-(\d)-(?:opus|sonnet|haiku)/.exec(providerModel);
  const match = legacy ?? modern;
  if (!match) return undefined;
  return { major: Number(match[1]), minor: Number(match[2] ?? 0) };
}

/** Claude 4.6 and later think adaptively (4.7+ reject budget_tokens); an id we cannot read is taken as new. */
function claudeThinksAdaptively(providerModel: string): boolean {
  const version = claudeVersion(providerModel);
  return !version || version.major > 4 || (version.major === 4 && version.minor >= 6);
}

/**
 * The request with the effort applied for this model's family, and notes for whatever was
 * changed or not sent.
 */
export function applyReasoningEffort(
  model: ModelDefinition,
  provider: ProviderDefinition,
  effort: ReasoningEffort | undefined,
  request: ChatRequest,
): { request: ChatRequest; notes: string[] } {
  if (model.toolsOnlyWithoutReasoning && provider.type !== 'anthropic' && (request.tools?.length ?? 0) > 0) {
    const notes = effort === undefined ? [] : [`${model.id} takes tools only without reasoning; reasoning_effort '${effort}' was not sent`];
    return { request: { ...request, reasoning: { kind: 'openai', effort: 'none' } }, notes };
  }
  if (effort === undefined) return { request, notes: [] };
  if (!model.capabilities.reasoning) {
    return { request, notes: [`${model.id} has no reasoning; reasoning_effort was ignored`] };
  }
  const outputLimit = model.maxOutputTokens ?? request.maxTokens ?? 4096;
  if (provider.type === 'anthropic') return anthropicThinking(model, effort, request, outputLimit);
  if (provider.id === 'deepseek') {
    return { request, notes: [`${model.id} always reasons and takes no reasoning_effort; it was not sent`] };
  }
  if (provider.id === 'qwen') {
    const { maxTokens, budgetTokens } = withBudget(effort, request.maxTokens, outputLimit);
    return { request: { ...request, maxTokens, reasoning: { kind: 'qwen', budgetTokens } }, notes: [] };
  }
  if (effort === 'minimal' && /^o\d/.test(model.providerModel)) {
    return {
      request: { ...request, reasoning: { kind: 'openai', effort: 'low' } },
      notes: [`${model.id} takes no 'minimal' reasoning effort; 'low' was sent`],
    };
  }
  return { request: { ...request, reasoning: { kind: 'openai', effort } }, notes: [] };
}

/** max_tokens raised by the thinking budget (up to the limit), and the budget kept below it. */
function withBudget(effort: ReasoningEffort, callerMax: number | undefined, outputLimit: number): { maxTokens: number; budgetTokens: number } {
  const budget = thinkingBudget(effort, outputLimit);
  const maxTokens = callerMax === undefined ? outputLimit : Math.min(outputLimit, callerMax + budget);
  return { maxTokens, budgetTokens: Math.min(budget, maxTokens - 1) };
}

function anthropicThinking(
  model: ModelDefinition,
  effort: ReasoningEffort,
  request: ChatRequest,
  outputLimit: number,
): { request: ChatRequest; notes: string[] } {
  const notes: string[] = [];
  // Anthropic refuses thinking with a forced tool choice, and a continued tool loop would need
  // the earlier turn's signed thinking blocks, which a caller's messages do not carry.
  if (request.toolChoice === 'required' || typeof request.toolChoice === 'object') {
    return { request, notes: [`anthropic does not think when a tool is forced; reasoning_effort was not sent`] };
  }
  const lastAssistant = [...request.messages].reverse().find((m) => m.role === 'assistant');
  if (lastAssistant?.role === 'assistant' && (lastAssistant.tool_calls?.length ?? 0) > 0) {
    return { request, notes: [`anthropic needs the earlier turn's thinking blocks to think while continuing tool calls; reasoning_effort was not sent`] };
  }
  let next: ChatRequest = request;
  if (request.temperature !== undefined) {
    notes.push('anthropic accepts no temperature while thinking; it was not sent');
    next = { ...next, temperature: undefined };
  }
  if (claudeThinksAdaptively(model.providerModel)) {
    if (effort === 'minimal') notes.push(`${model.id} takes no 'minimal' effort; 'low' was sent`);
    return { request: { ...next, reasoning: { kind: 'anthropic-adaptive', effort: effort === 'minimal' ? 'low' : effort } }, notes };
  }
  const { maxTokens, budgetTokens } = withBudget(effort, request.maxTokens, outputLimit);
  if (budgetTokens < MIN_THINKING_BUDGET) {
    notes.push(`max_tokens ${maxTokens} leaves no room for thinking (at least ${MIN_THINKING_BUDGET} tokens); reasoning_effort was not sent`);
    return { request: next, notes };
  }
  return { request: { ...next, maxTokens, reasoning: { kind: 'anthropic-budget', budgetTokens } }, notes };
}
