import { describeBody } from '../not-a-completion.js';
import { parseToolArguments } from '../../llm/parse-tool-arguments.js';
import type { ChatResponse, FinishReason, ToolCall, Usage } from '../../llm/types.js';

/** Chat Completions usage, with the fields DeepSeek and others add. */
export interface OpenAIUsage {
  prompt_tokens?: number | null;
  completion_tokens?: number | null;
  total_tokens?: number | null;
  /**
   * OpenAI: cached_tokens. DashScope (Qwen), when the request carried cache_control markers (its
   * explicit cache), adds cache_type "ephemeral" and cache_creation_input_tokens: cached_tokens are
   * then explicit hits (10% of input), else implicit ones (20%, no cache_type). Context-cache page:
   * alibabacloud.com/help/en/model-studio/context-cache.
   */
  prompt_tokens_details?: { cached_tokens?: number | null; cache_creation_input_tokens?: number | null; cache_type?: unknown } | null;
  completion_tokens_details?: { reasoning_tokens?: number | null } | null;
  /** DeepSeek: the cached part of prompt_tokens. */
  prompt_cache_hit_tokens?: number | null;
  prompt_cache_miss_tokens?: number | null;
}

/** Finish reasons of the Chat Completions wire in our five values. */
export function mapOpenAIFinishReason(reason: string | null | undefined): FinishReason {
  switch (reason) {
    case 'stop':
      return 'stop';
    case 'length':
      return 'length';
    case 'tool_calls':
    case 'function_call':
      return 'tool_calls';
    case 'content_filter':
      return 'content_filter';
    default:
      return 'other';
  }
}

/** OpenAI's prompt_tokens already includes cached tokens, so it maps straight across. */
export function convertOpenAIUsage(usage: OpenAIUsage | null | undefined): Usage {
  const promptTokens = usage?.prompt_tokens ?? 0;
  const completionTokens = usage?.completion_tokens ?? 0;
  // DeepSeek reports its cache hits in prompt_cache_hit_tokens and may also send an OpenAI-style
  // prompt_tokens_details.cached_tokens of 0: take whichever reports more, not the first present.
  const cachedTokens = Math.min(Math.max(usage?.prompt_tokens_details?.cached_tokens ?? 0, usage?.prompt_cache_hit_tokens ?? 0), promptTokens);
  // DashScope's explicit cache creation is billed at 1.25x input, like an Anthropic 5-minute write.
  const cacheWriteTokens = Math.min(usage?.prompt_tokens_details?.cache_creation_input_tokens ?? 0, promptTokens - cachedTokens);
  const explicitCache = usage?.prompt_tokens_details?.cache_type === 'ephemeral';
  return {
    promptTokens,
    completionTokens,
    cachedTokens,
    cacheWriteTokens,
    ...(explicitCache ? { explicitCache } : {}),
    reasoningTokens: usage?.completion_tokens_details?.reasoning_tokens ?? 0,
    totalTokens: usage?.total_tokens ?? promptTokens + completionTokens,
    raw: usage ?? undefined,
  };
}

interface OpenAICompletion {
  model?: string;
  choices?: Array<{
    finish_reason?: string | null;
    message?: {
      content?: string | null;
      refusal?: string | null;
      tool_calls?: Array<{ id?: string; type?: string; function?: { name?: string; arguments?: string } }> | null;
    };
  }>;
  usage?: OpenAIUsage | null;
}

/** A non-streamed Chat Completions answer in our shape. */
export function convertOpenAICompletion(completion: OpenAICompletion, requestedModel: string): ChatResponse {
  const choice = completion.choices?.[0];
  const message = choice?.message;
  const toolCalls: ToolCall[] = (message?.tool_calls ?? [])
    .filter((call) => call.function?.name)
    .map((call, index) => ({
      id: call.id ?? `call_${index}`,
      name: call.function!.name!,
      arguments: parseToolArguments(call.function?.arguments ?? ''),
    }));
  return {
    content: message?.content ?? message?.refusal ?? '',
    toolCalls,
    finishReason: mapOpenAIFinishReason(choice?.finish_reason),
    usage: convertOpenAIUsage(completion.usage),
    providerModel: completion.model || requestedModel,
  };
}

interface OpenAIChunk {
  model?: string;
  choices?: Array<{
    finish_reason?: string | null;
    delta?: {
      content?: string | null;
      refusal?: string | null;
      /** DeepSeek and Qwen stream their thinking here (others use `reasoning`); never answer text. */
      reasoning_content?: string | null;
      reasoning?: string | null;
      tool_calls?: ToolCallDelta[] | null;
    };
  }>;
  usage?: OpenAIUsage | null;
}

type ToolCallDelta = { index?: number; id?: string; function?: { name?: string; arguments?: string } };

/**
 * Tool calls whose pieces arrive across stream chunks. OpenAI keys each piece by `index` and sends
 * the id and name once; compatible servers differ: some omit `index` (parallel calls would merge
 * into one), some repeat the id or the name in every piece (names would read `get_weatherget_weather`).
 * A piece belongs to the call with its `index` when it has one, else to the call with its `id`,
 * else to the latest call (order of appearance) unless it names another function; a name equal to the call's name so far is a
 * repeat and taken once. A piece whose id differs from the id of the call at its index starts a
 * new call (servers that send index 0 for every call).
 */
export class StreamedToolCalls {
  private readonly calls: Array<{ id?: string; name: string; arguments: string }> = [];
  private readonly byIndex = new Map<number, number>();
  private readonly byId = new Map<string, number>();
  /** Characters of arguments received so far. */
  chars = 0;

  push(delta: ToolCallDelta): void {
    const position = this.positionOf(delta);
    const call = this.calls[position]!;
    if (delta.id && !call.id) {
      call.id = delta.id;
      this.byId.set(delta.id, position);
    }
    if (typeof delta.index === 'number') this.byIndex.set(delta.index, position);
    const name = delta.function?.name;
    if (name && name !== call.name) call.name += name;
    if (delta.function?.arguments) {
      call.arguments += delta.function.arguments;
      this.chars += delta.function.arguments.length;
    }
  }

  /** The assembled calls in the order they began; ids default by position as in a non-streamed answer. */
  result(): ToolCall[] {
    return this.calls
      .filter((call) => call.name !== '')
      .map((call, position) => ({ id: call.id ?? `call_${position}`, name: call.name, arguments: parseToolArguments(call.arguments) }));
  }

  private positionOf(delta: ToolCallDelta): number {
    const index = typeof delta.index === 'number' ? delta.index : undefined;
    let position: number | undefined;
    if (index !== undefined) position = this.byIndex.get(index);
    if (position !== undefined && delta.id && this.calls[position]!.id && this.calls[position]!.id !== delta.id) position = undefined;
    if (position === undefined && delta.id) position = this.byId.get(delta.id);
    if (position === undefined && index === undefined && !delta.id && this.calls.length > 0) {
      // Nothing to key by: a piece continues the latest call, unless it names another function.
      const latest = this.calls[this.calls.length - 1]!;
      const name = delta.function?.name;
      if (!name || latest.name === '' || name === latest.name) position = this.calls.length - 1;
    }
    if (position === undefined) {
      this.calls.push({ name: '', arguments: '' });
      position = this.calls.length - 1;
    }
    return position;
  }
}

/**
 * Assembles a Chat Completions stream: text deltas, tool calls whose arguments arrive in
 * pieces (see StreamedToolCalls), the finish reason, and the usage chunk that comes after it.
 */
export class OpenAIStreamAssembler {
  private content = '';
  private model: string | undefined;
  private finish: string | null | undefined;
  private usage: OpenAIUsage | null | undefined;
  private readonly toolCalls = new StreamedToolCalls();
  /** Reasoning deltas seen: the relay says "thinking…" for them, never their text. */
  reasoningDeltas = 0;
  /**
   * Chunks that moved the answer on (text, reasoning, tool-call pieces, usage, the finish
   * reason): the silence timer restarts only on these, never on chunks with an empty delta.
   */
  progress = 0;

  /** Feeds one chunk; returns the text it added (possibly ''). */
  push(chunk: OpenAIChunk): string {
    if (chunk.model) this.model = chunk.model;
    let moved = false;
    if (chunk.usage) {
      this.usage = chunk.usage;
      moved = true;
    }
    let text = '';
    for (const choice of chunk.choices ?? []) {
      const delta = choice.delta;
      if (delta?.reasoning_content || delta?.reasoning) {
        this.reasoningDeltas++;
        moved = true;
      }
      if (delta?.content) text += delta.content;
      else if (delta?.refusal) text += delta.refusal;
      for (const call of delta?.tool_calls ?? []) {
        this.toolCalls.push(call);
        if (call.id || call.function?.name || call.function?.arguments) moved = true;
      }
      if (choice.finish_reason) {
        this.finish = choice.finish_reason;
        moved = true;
      }
    }
    if (text || moved) this.progress++;
    this.content += text;
    return text;
  }

  /** Whether the stream has carried its finish reason (a stream without one was cut). */
  get finished(): boolean {
    return this.finish !== undefined && this.finish !== null;
  }

  /** Characters of tool-call arguments received so far, for the answer cap (see streamOnce). */
  get toolCallChars(): number {
    return this.toolCalls.chars;
  }

  get text(): string {
    return this.content;
  }

  /** The usage received so far (its chunk may come before a failure), or undefined if none came. */
  partialUsage(): Usage | undefined {
    return this.usage ? convertOpenAIUsage(this.usage) : undefined;
  }

  result(requestedModel: string): ChatResponse {
    return {
      content: this.content,
      toolCalls: this.toolCalls.result(),
      finishReason: mapOpenAIFinishReason(this.finish),
      usage: convertOpenAIUsage(this.usage),
      providerModel: this.model || requestedModel,
    };
  }
}

/**
 * Why a non-streamed Chat Completions body is not a completion, or undefined when it is one:
 * an object whose first choice has a message with text (or null) content.
 */
export function openAICompletionProblem(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return describeBody(body);
  const choices = (body as { choices?: unknown }).choices;
  if (!Array.isArray(choices) || choices.length === 0) return 'JSON without choices';
  const message = (choices[0] as { message?: unknown } | null)?.message;
  if (typeof message !== 'object' || message === null) return 'JSON whose first choice has no message';
  const { content, tool_calls: toolCalls } = message as { content?: unknown; tool_calls?: unknown };
  if (content !== undefined && content !== null && typeof content !== 'string') return 'a message whose content is not text';
  if (toolCalls !== undefined && toolCalls !== null && !Array.isArray(toolCalls)) return 'a message whose tool_calls is not a list';
  return undefined;
}
