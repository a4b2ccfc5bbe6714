import { describeBody } from '../not-a-completion.js';
import { parseToolArguments } from '../../llm/parse-tool-arguments.js';
import type { ChatResponse, FinishReason, ToolCall, Usage } from '../../llm/types.js';

export interface AnthropicUsage {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  /** Thinking tokens, a part of output_tokens (billed as output). */
  output_tokens_details?: { thinking_tokens?: number | null } | null;
  /** The split of cache_creation_input_tokens by lifetime (billed 1.25x and 2x input). */
  cache_creation?: { ephemeral_5m_input_tokens?: number | null; ephemeral_1h_input_tokens?: number | null } | null;
}

/** Anthropic stop reasons in our five values. */
export function mapAnthropicStopReason(reason: string | null | undefined): FinishReason {
  switch (reason) {
    case 'end_turn':
    case 'stop_sequence':
      return 'stop';
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      return 'other';
  }
}

/**
 * Anthropic's input_tokens excludes cache reads and writes; ours counts every input token
 * (OpenAI's convention), so the three are added up. Cache writes are split by lifetime
 * (`cache_creation.ephemeral_1h_input_tokens` costs 2x input, the five-minute rest 1.25x).
 */
export function convertAnthropicUsage(usage: AnthropicUsage | null | undefined): Usage {
  const uncached = usage?.input_tokens ?? 0;
  const cacheRead = usage?.cache_read_input_tokens ?? 0;
  const write5m = usage?.cache_creation?.ephemeral_5m_input_tokens ?? 0;
  const write1h = usage?.cache_creation?.ephemeral_1h_input_tokens ?? 0;
  // The total is authoritative; a gateway that sends only the split still gets its writes counted.
  const cacheWrite = usage?.cache_creation_input_tokens ?? write5m + write1h;
  const promptTokens = uncached + cacheRead + cacheWrite;
  const completionTokens = usage?.output_tokens ?? 0;
  return {
    promptTokens,
    completionTokens,
    cachedTokens: cacheRead,
    cacheWriteTokens: cacheWrite,
    cacheWrite1hTokens: Math.min(write1h, cacheWrite),
    reasoningTokens: Math.min(usage?.output_tokens_details?.thinking_tokens ?? 0, completionTokens),
    totalTokens: promptTokens + completionTokens,
    raw: usage ?? undefined,
  };
}

type ContentBlock = { type: string; text?: string; id?: string; name?: string; input?: unknown };

interface AnthropicMessageResponse {
  model?: string;
  content?: ContentBlock[];
  stop_reason?: string | null;
  usage?: AnthropicUsage | null;
}

/** A non-streamed Messages answer in our shape. */
export function convertAnthropicMessage(message: AnthropicMessageResponse, requestedModel: string): ChatResponse {
  let content = '';
  const toolCalls: ToolCall[] = [];
  for (const block of message.content ?? []) {
    if (block.type === 'text' && block.text) content += block.text;
    if (block.type === 'tool_use' && block.name) {
      toolCalls.push({ id: block.id ?? `toolu_${toolCalls.length}`, name: block.name, arguments: (block.input as Record<string, unknown>) ?? {} });
    }
  }
  return {
    content,
    toolCalls,
    finishReason: mapAnthropicStopReason(message.stop_reason),
    usage: convertAnthropicUsage(message.usage),
    providerModel: message.model || requestedModel,
  };
}

interface AnthropicStreamEvent {
  type: string;
  index?: number;
  message?: AnthropicMessageResponse;
  content_block?: ContentBlock;
  delta?: { type?: string; text?: string; partial_json?: string; thinking?: string; stop_reason?: string | null };
  usage?: AnthropicUsage | null;
}

/**
 * Assembles a Messages stream. Input and cache usage arrive in `message_start`; `message_delta`
 * carries the cumulative output tokens (and, on some gateways, updated input counts), so later
 * values replace earlier ones field by field.
 */
export class AnthropicStreamAssembler {
  private content = '';
  private model: string | undefined;
  private stopReason: string | null | undefined;
  private usage: AnthropicUsage = {};
  private sawStart = false;
  private sawStop = false;
  /** Thinking deltas seen: the relay says "thinking…" for them, never their text. */
  reasoningDeltas = 0;
  /**
   * Events that moved the answer on (text, thinking, tool-call pieces, usage, the start and end
   * of the message): the silence timer restarts only on these, never on `ping` or empty deltas.
   */
  progress = 0;
  /** Characters of tool-call input received so far, for the answer cap (see streamOnce). */
  toolCallChars = 0;
  private readonly blocks = new Map<number, { type: string; id?: string; name?: string; json: string; input?: unknown }>();

  /** Feeds one event; returns the text it added (possibly ''). */
  push(event: AnthropicStreamEvent): string {
    const before = this.signature();
    const text = this.apply(event);
    if (text || this.signature() !== before) this.progress++;
    return text;
  }

  /** What a real event changes; a keep-alive (ping, an empty delta) changes none of it. */
  private signature(): string {
    let json = 0;
    for (const block of this.blocks.values()) json += block.json.length;
    return `${this.sawStart}|${this.sawStop}|${this.reasoningDeltas}|${this.blocks.size}|${json}|${this.stopReason}|${JSON.stringify(this.usage)}`;
  }

  private apply(event: AnthropicStreamEvent): string {
    switch (event.type) {
      case 'message_start':
        this.sawStart = true;
        if (event.message?.model) this.model = event.message.model;
        this.mergeUsage(event.message?.usage);
        return '';
      case 'content_block_start': {
        const block = event.content_block;
        if (block && event.index !== undefined) {
          this.blocks.set(event.index, { type: block.type, id: block.id, name: block.name, json: '', input: block.input });
          if (block.type === 'thinking' || block.type === 'redacted_thinking') this.reasoningDeltas++;
          if (block.type === 'text' && block.text) {
            this.content += block.text;
            return block.text;
          }
        }
        return '';
      }
      case 'content_block_delta': {
        const delta = event.delta;
        if (delta?.type === 'text_delta' && delta.text) {
          this.content += delta.text;
          return delta.text;
        }
        if (delta?.type === 'thinking_delta') {
          this.reasoningDeltas++;
          return '';
        }
        if (delta?.type === 'input_json_delta' && event.index !== undefined) {
          const block = this.blocks.get(event.index);
          if (block) {
            block.json += delta.partial_json ?? '';
            this.toolCallChars += delta.partial_json?.length ?? 0;
          }
        }
        return '';
      }
      case 'message_delta':
        if (event.delta?.stop_reason !== undefined) this.stopReason = event.delta.stop_reason;
        this.mergeUsage(event.usage);
        return '';
      case 'message_stop':
        this.sawStop = true;
        return '';
      default:
        return '';
    }
  }

  /** Whether the stream carried message_start and message_stop: one without them was cut. */
  get finished(): boolean {
    return this.sawStart && this.sawStop;
  }

  get text(): string {
    return this.content;
  }

  /**
   * The usage received so far (input and cache tokens from message_start, output tokens once a
   * message_delta came), or undefined if no usage came: what the ledger records when a stream fails.
   */
  partialUsage(): Usage | undefined {
    return Object.keys(this.usage).length > 0 ? convertAnthropicUsage(this.usage) : undefined;
  }

  result(requestedModel: string): ChatResponse {
    const toolCalls: ToolCall[] = [...this.blocks.entries()]
      .filter(([, block]) => block.type === 'tool_use' && block.name)
      .sort(([a], [b]) => a - b)
      .map(([index, block]) => ({
        id: block.id ?? `toolu_${index}`,
        name: block.name!,
        arguments: block.json !== '' ? parseToolArguments(block.json) : ((block.input as Record<string, unknown>) ?? {}),
      }));
    return {
      content: this.content,
      toolCalls,
      finishReason: mapAnthropicStopReason(this.stopReason),
      usage: convertAnthropicUsage(this.usage),
      providerModel: this.model || requestedModel,
    };
  }

  private mergeUsage(usage: AnthropicUsage | null | undefined): void {
    if (!usage) return;
    // Non-numeric fields (service_tier, server_tool_use, …) are kept too: the raw usage goes to
    // the ledger so costs can be recomputed, and must match what the non-streamed answer carries.
    for (const [key, value] of Object.entries(usage)) {
      if (value !== null && value !== undefined) (this.usage as Record<string, unknown>)[key] = value;
    }
  }
}

/**
 * Why a non-streamed Messages body is not a message, or undefined when it is one: an object with
 * a list of content blocks, each with a type, text blocks with text.
 */
export function anthropicMessageProblem(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return describeBody(body);
  const content = (body as { content?: unknown }).content;
  if (!Array.isArray(content)) return 'JSON without content';
  for (const block of content) {
    if (typeof block !== 'object' || block === null || typeof (block as { type?: unknown }).type !== 'string') return 'a content block without a type';
    if ((block as { type: string }).type === 'text' && typeof (block as { text?: unknown }).text !== 'string') return 'a text block without text';
  }
  return undefined;
}
