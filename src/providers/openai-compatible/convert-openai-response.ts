import { parseToolArguments } from '../../llm/parse-tool-arguments.js';
import type { ChatResponse, FinishReason, ToolCall, Usage } from '../../llm/types.js';

/** Chat Completions usage, with the fields DeepSeek and others add. */
export interface OpenAIUsage {
  prompt_tokens?: number | null;
  completion_tokens?: number | null;
  total_tokens?: number | null;
  prompt_tokens_details?: { cached_tokens?: number | null } | null;
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
  const cachedTokens = Math.max(usage?.prompt_tokens_details?.cached_tokens ?? 0, usage?.prompt_cache_hit_tokens ?? 0);
  return {
    promptTokens,
    completionTokens,
    cachedTokens: Math.min(cachedTokens, promptTokens),
    cacheWriteTokens: 0,
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
      tool_calls?: Array<{ index?: number; id?: string; function?: { name?: string; arguments?: string } }> | null;
    };
  }>;
  usage?: OpenAIUsage | null;
}

/**
 * Assembles a Chat Completions stream: text deltas, tool calls whose arguments arrive in
 * pieces keyed by `index`, the finish reason, and the usage chunk that comes after it.
 */
export class OpenAIStreamAssembler {
  private content = '';
  private model: string | undefined;
  private finish: string | null | undefined;
  private usage: OpenAIUsage | null | undefined;
  private readonly calls = new Map<number, { id?: string; name: string; arguments: string }>();

  /** Feeds one chunk; returns the text it added (possibly ''). */
  push(chunk: OpenAIChunk): string {
    if (chunk.model) this.model = chunk.model;
    if (chunk.usage) this.usage = chunk.usage;
    let text = '';
    for (const choice of chunk.choices ?? []) {
      const delta = choice.delta;
      if (delta?.content) text += delta.content;
      else if (delta?.refusal) text += delta.refusal;
      for (const call of delta?.tool_calls ?? []) {
        const index = call.index ?? 0;
        const entry = this.calls.get(index) ?? { name: '', arguments: '' };
        if (call.id) entry.id = call.id;
        if (call.function?.name) entry.name += call.function.name;
        if (call.function?.arguments) entry.arguments += call.function.arguments;
        this.calls.set(index, entry);
      }
      if (choice.finish_reason) this.finish = choice.finish_reason;
    }
    this.content += text;
    return text;
  }

  /** Whether the stream has carried its finish reason (a stream without one was cut). */
  get finished(): boolean {
    return this.finish !== undefined && this.finish !== null;
  }

  get text(): string {
    return this.content;
  }

  /** The usage received so far (its chunk may come before a failure), or undefined if none came. */
  partialUsage(): Usage | undefined {
    return this.usage ? convertOpenAIUsage(this.usage) : undefined;
  }

  result(requestedModel: string): ChatResponse {
    const toolCalls = [...this.calls.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, call]) => ({ id: call.id ?? `call_${index}`, name: call.name, arguments: parseToolArguments(call.arguments) }));
    return {
      content: this.content,
      toolCalls,
      finishReason: mapOpenAIFinishReason(this.finish),
      usage: convertOpenAIUsage(this.usage),
      providerModel: this.model || requestedModel,
    };
  }
}
