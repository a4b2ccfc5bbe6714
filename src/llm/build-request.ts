/** Pure steps from the `chat` tool's input to the request an adapter sends. */
import { costMicroUsd } from '../ledger/cost.js';
import type { ModelDefinition, ProviderDefinition } from '../registry/catalog.js';
import { attachmentTokens } from './attachment-tokens.js';
import { checkAnthropicPrompt } from '../providers/anthropic/convert-to-anthropic-prompt.js';
import { LlmError } from './errors.js';
import { estimateTokens } from './estimate-tokens.js';
import { planJsonAnswer, type JsonAnswerPlan, type JsonAnswerSpec } from './json-answer.js';
import { applyReasoningEffort } from './reasoning-effort.js';
import type { ChatInput } from './llm-service.js';
import type { ChatMessage, ChatRequest, ToolChoice, ToolDefinition } from './types.js';

// Anthropic requires max_tokens; this is used only when neither caller nor catalog gives one.
const FALLBACK_MAX_TOKENS = 4096;

/** The conversation as our messages: `system` first, then `prompt` or `messages`. */
export function buildMessages(input: ChatInput): ChatMessage[] {
  const hasPrompt = input.prompt !== undefined;
  const hasMessages = input.messages !== undefined;
  if (hasPrompt === hasMessages) {
    throw new LlmError('Give exactly one of `prompt` (a string) or `messages` (an array of {role, content}).', {
      kind: 'invalid-request',
      retryable: false,
    });
  }
  const messages: ChatMessage[] = [];
  if (input.system) messages.push({ role: 'system', content: input.system });
  if (hasPrompt) {
    messages.push({ role: 'user', content: input.prompt! });
  } else {
    messages.push(...input.messages!);
  }
  if (!messages.some((m) => m.role !== 'system')) {
    throw new LlmError('`messages` needs at least one user message besides system messages.', { kind: 'invalid-request', retryable: false });
  }
  const callIds = new Set(messages.flatMap((m) => (m.role === 'assistant' ? (m.tool_calls ?? []).map((c) => c.id) : [])));
  for (const [index, message] of messages.entries()) {
    if (message.role === 'tool' && !callIds.has(message.tool_call_id)) {
      throw new LlmError(
        `messages[${index}]: tool_call_id '${message.tool_call_id}' matches no tool_calls id of an earlier assistant message.`,
        { kind: 'invalid-request', retryable: false },
      );
    }
  }
  return messages;
}

/** tool_choice as our spec type; a name must be one of the tools given. */
export function normalizeToolChoice(choice: ChatInput['tool_choice'], tools: ToolDefinition[] | undefined): ToolChoice | undefined {
  if (choice === undefined) return undefined;
  const name = typeof choice === 'object' ? choice.name : choice;
  if (name === 'auto' || name === 'none' || name === 'required') {
    if (name === 'required' && !tools) {
      throw new LlmError("tool_choice 'required' needs `tools`.", { kind: 'invalid-request', retryable: false });
    }
    return name;
  }
  const known = (tools ?? []).map((t) => t.name);
  if (!known.includes(name)) {
    throw new LlmError(
      `tool_choice names unknown tool '${name}'. ${known.length > 0 ? `Tools given: ${known.join(', ')}.` : 'No tools were given.'} Use auto, none, required or one of the tool names.`,
      { kind: 'invalid-request', retryable: false },
    );
  }
  return { name };
}

/** Fits the request to the model: drops what it does not accept, with a note, and fixes max_tokens. */
export function adaptRequest(
  model: ModelDefinition,
  provider: ProviderDefinition,
  call: { messages: ChatMessage[]; tools: ToolDefinition[] | undefined; toolChoice: ToolChoice | undefined; input: ChatInput; jsonAnswer?: JsonAnswerSpec },
): { request: ChatRequest; notes: string[]; jsonPlan?: JsonAnswerPlan } {
  const notes: string[] = [];
  const { input } = call;
  let temperature = input.temperature;
  if (temperature !== undefined && !model.capabilities.temperature) {
    notes.push(`${model.id} does not accept temperature; it was not sent`);
    temperature = undefined;
  } else if (temperature !== undefined && provider.type === 'anthropic' && temperature > 1) {
    notes.push(`anthropic accepts temperature up to 1; ${temperature} was sent as 1`);
    temperature = 1;
  }
  checkAttachments(model, provider, call.messages);
  if (provider.type === 'anthropic') notes.push(...checkForAnthropic(call.messages, input));
  if (call.tools && !model.capabilities.tools) {
    throw new LlmError(`${model.id} does not accept tools; choose a model with tools in list_models.`, { kind: 'invalid-request', retryable: false });
  }
  const maxTokens =
    input.max_tokens ?? (provider.type === 'anthropic' ? (model.maxOutputTokens ?? FALLBACK_MAX_TOKENS) : undefined);
  const stop = input.stop === undefined ? undefined : Array.isArray(input.stop) ? input.stop : [input.stop];
  const fitted: ChatRequest = {
    providerModel: model.providerModel,
    messages: call.messages,
    temperature,
    maxTokens,
    stop,
    tools: call.tools,
    toolChoice: call.tools ? call.toolChoice : undefined,
  };
  // JSON first: a forced answer tool changes what thinking Claude may do.
  const json = call.jsonAnswer ? planJsonAnswer(call.jsonAnswer, model, provider, fitted) : undefined;
  const reasoning = applyReasoningEffort(model, provider, input.reasoning_effort, json?.request ?? fitted);
  return { notes: [...notes, ...(json?.notes ?? []), ...reasoning.notes], request: reasoning.request, jsonPlan: json?.plan };
}

/**
 * The Messages API rejects a user message with no text (an empty `prompt` included): refused
 * here, before anything is sent. Empty assistant turns are left out by the conversion (the API
 * rejects them too); the returned notes say so, and when that joins two user turns into one.
 */
function checkForAnthropic(messages: ChatMessage[], input: ChatInput): string[] {
  const check = checkAnthropicPrompt(messages);
  // Our messages start with `system` when one was given; the host counts from its own `messages`.
  const offset = input.system ? 1 : 0;
  const empty = check.emptyUserMessages[0];
  if (empty !== undefined) {
    const what = input.prompt !== undefined ? '`prompt` is empty' : `messages[${empty - offset}] (user) has no text`;
    throw new LlmError(`${what}: Anthropic models reject an empty message; give it some text.`, { kind: 'invalid-request', retryable: false });
  }
  return check.droppedAssistantMessages.map((index) => {
    const merged = check.mergingAssistantMessages.includes(index) ? ', so the user messages around it were sent as one turn' : '';
    return `messages[${index - offset}] (assistant) is empty and was left out (Anthropic rejects empty turns)${merged}`;
  });
}

/**
 * Images and PDFs need a model that reads them: refused here, before the provider is contacted,
 * rather than after a 400 (or, worse, an answer from a model that never saw the file).
 */
function checkAttachments(model: ModelDefinition, provider: ProviderDefinition, messages: ChatMessage[]): void {
  for (const message of messages) {
    if (message.role !== 'user') continue;
    for (const attachment of message.attachments ?? []) {
      if (attachment.kind === 'text') continue;
      const what = attachment.kind === 'image' ? 'an image' : 'a PDF';
      if (!model.capabilities.vision) {
        throw new LlmError(
          `${attachment.path} is ${what}, and ${model.id} has no vision: choose a model with vision in list_models (e.g. gpt-4o-mini, claude-sonnet-5-5).`,
          { kind: 'invalid-request', retryable: false },
        );
      }
      if (attachment.kind === 'pdf' && provider.type === 'openai-compatible') {
        throw new LlmError(
          `${attachment.path} is a PDF; only OpenAI and Anthropic models take PDFs natively, not ${model.id} (${provider.id}). Choose an OpenAI or Anthropic model, or send the text of the PDF.`,
          { kind: 'invalid-request', retryable: false },
        );
      }
    }
  }
}

/**
 * The most a call can cost, held against the budget while it runs so concurrent calls cannot
 * all slip under the cap: the prompt (an upper estimate for every script, see estimateTokens)
 * plus the full output allowance at the output price.
 */
export function worstCaseMicroUsd(model: ModelDefinition, request: ChatRequest, wire: 'openai' | 'anthropic' = 'openai'): number {
  const textTokens =
    request.messages.reduce(
      (sum, m) => sum + estimateTokens(m.content) + 16 + (m.role === 'assistant' && m.tool_calls ? estimateTokens(JSON.stringify(m.tool_calls)) : 0),
      0,
    ) + (request.tools ? estimateTokens(JSON.stringify(request.tools)) : 0);
  // Files count too: text by the same rule, images and PDFs by the provider's image-token rule.
  const fileTokens = request.messages.reduce(
    (sum, m) => sum + (m.role === 'user' ? (m.attachments ?? []).reduce((s, a) => s + attachmentTokens(a, wire, request.providerModel), 0) : 0),
    0,
  );
  const promptTokens = textTokens + fileTokens;
  const outputTokens = request.maxTokens ?? model.maxOutputTokens ?? FALLBACK_MAX_TOKENS;
  const cost = costMicroUsd(
    { promptTokens, completionTokens: outputTokens, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, totalTokens: promptTokens + outputTokens },
    model.pricing,
  );
  // A call may start off-peak and be billed at peak rates (DeepSeek): hold the peak price.
  return Math.ceil((cost ?? 0) * (model.pricing.peak?.multiplier ?? 1));
}
