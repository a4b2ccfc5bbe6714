/**
 * Our own small spec for one chat turn: what every provider adapter accepts and returns.
 * Provider quirks (system placement, tool formats, usage fields) live only inside the adapters.
 */

/** A tool call requested by the model, arguments already parsed from JSON. */
export interface ToolCall {
  id: string;
  name: string;
  arguments: Record<string, unknown>;
}

/** An image type both wires accept. */
export type ImageMediaType = 'image/png' | 'image/jpeg' | 'image/gif' | 'image/webp';

/**
 * A local file read for the model (see files.ts): text goes as a text block headed by its path,
 * images as image parts, PDFs as documents. `path` is the path as the caller wrote it.
 */
export type Attachment =
  | { kind: 'text'; path: string; text: string }
  | { kind: 'image'; path: string; mediaType: ImageMediaType; base64: string; width?: number; height?: number }
  | { kind: 'pdf'; path: string; base64: string; pages: number };

export type ChatMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string; attachments?: Attachment[] }
  | { role: 'assistant'; content: string; tool_calls?: ToolCall[] }
  | { role: 'tool'; content: string; tool_call_id: string };

export interface ToolDefinition {
  name: string;
  description?: string;
  /** JSON Schema of the arguments object. */
  parameters: Record<string, unknown>;
}

export type ToolChoice = 'auto' | 'none' | 'required' | { name: string };

export type ReasoningEffort = 'minimal' | 'low' | 'medium' | 'high';

/** How a reasoning effort goes on the wire, decided per model family in reasoning-effort.ts. */
export type ReasoningPlan =
  | { kind: 'openai'; effort: ReasoningEffort | 'none' }
  | { kind: 'qwen'; budgetTokens: number }
  | { kind: 'anthropic-budget'; budgetTokens: number }
  | { kind: 'anthropic-adaptive'; effort: 'low' | 'medium' | 'high' };

/** A request as an adapter receives it: the model already resolved to the provider's id. */
export interface ChatRequest {
  providerModel: string;
  /** System messages may appear anywhere; adapters place them as their wire needs. */
  messages: ChatMessage[];
  temperature?: number;
  maxTokens?: number;
  stop?: string[];
  tools?: ToolDefinition[];
  toolChoice?: ToolChoice;
  reasoning?: ReasoningPlan;
  /** Native JSON output, decided per provider in json-answer.ts. */
  responseFormat?: ResponseFormatPlan;
}

export type ResponseFormatPlan =
  | { type: 'json_object' }
  | { type: 'json_schema'; name: string; schema: Record<string, unknown>; strict: boolean };

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'other';

/**
 * Normalised token usage.
 * `promptTokens` counts every input token, cached and cache-written ones included
 * (OpenAI's convention); `cachedTokens` and `cacheWriteTokens` are subsets of it.
 * `cacheWrite1hTokens` is the part of `cacheWriteTokens` written for one hour (Anthropic bills it
 * at 2x input, the rest at the five-minute rate); absent means none.
 * `reasoningTokens` is a subset of `completionTokens`.
 */
export interface Usage {
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  cacheWriteTokens: number;
  cacheWrite1hTokens?: number;
  /**
   * DashScope: the request used the explicit cache (`cache_type: "ephemeral"`), so its
   * `cachedTokens` are explicit hits, billed at `explicitCachedInputPerMTok` (10% of input) instead
   * of the implicit-hit price (20%). The two modes never mix in one request.
   */
  explicitCache?: boolean;
  reasoningTokens: number;
  totalTokens: number;
  /** The provider's own usage object, kept so costs can be recomputed later. */
  raw?: unknown;
}

export interface ChatResponse {
  content: string;
  toolCalls: ToolCall[];
  finishReason: FinishReason;
  usage: Usage;
  /** The model id the provider reports having used (may be a dated snapshot). */
  providerModel: string;
  /** The provider reported no usage (e.g. a stream without its usage chunk): cost is unknown, not $0. */
  usageMissing?: boolean;
  /** The answer was cut at maxAnswerBytes and the provider's response closed there. */
  truncated?: boolean;
  /** A non-streamed body ran past this many bytes and was cut there (bounded-fetch.ts): the answer is what arrived. */
  bodyCutAtBytes?: number;
}

/** Parts of a streamed answer; `finish` always carries the whole assembled response. */
export type StreamPart =
  | { type: 'text-delta'; text: string }
  /** The model is thinking: its reasoning text is never relayed as answer text. */
  | { type: 'reasoning-delta' }
  | { type: 'finish'; response: ChatResponse };

export interface CallOptions {
  /** Aborts the HTTP request at once (host cancellation or attempt timeout). */
  signal?: AbortSignal;
  /** One attempt's limit; for a stream, also the longest silence allowed. */
  timeoutMs: number;
  /** A streamed answer is cut here (JSON bytes of its text) and the stream closed: see answer-size.ts. */
  maxAnswerBytes?: number;
}

/** One thin class per wire protocol implements this. */
export interface ProviderAdapter {
  generate(request: ChatRequest, options: CallOptions): Promise<ChatResponse>;
  stream(request: ChatRequest, options: CallOptions): AsyncIterable<StreamPart>;
}

/** Flat prices in USD per million tokens; `null` where unknown. */
export interface FlatPricing {
  inputPerMTok: number | null;
  outputPerMTok: number | null;
  /** Cache reads; unknown = billed at the input price. */
  cachedInputPerMTok?: number | null;
  /** Five-minute cache writes (Anthropic 1.25x input); unknown = billed at the input price. */
  cacheWritePerMTok?: number | null;
  /** One-hour cache writes (Anthropic 2x input); unknown = billed at the five-minute write price. */
  cacheWrite1hPerMTok?: number | null;
  /** DashScope explicit cache hits (10% of input); unknown = billed at the cached price. */
  explicitCachedInputPerMTok?: number | null;
}

/**
 * A price tier: once a call's input tokens (cached and cache-written ones included) exceed
 * `aboveInputTokens`, every token of that call is billed at the tier's prices (OpenAI's gpt-5.4
 * above 272K, Anthropic's long-context rates above 200K). Fields left out keep the base price.
 */
export interface PriceTier extends Partial<FlatPricing> {
  aboveInputTokens: number;
}

/**
 * Time-of-day billing (DeepSeek): during the peak windows, on weekdays, every price is multiplied.
 * Windows are whole UTC hours, `[startHour, endHour)`.
 */
export interface PeakPricing {
  multiplier: number;
  hoursUtc: Array<[number, number]>;
}

/** A model's prices: flat, plus optional input-size tiers and peak hours. */
export interface Pricing extends FlatPricing {
  tiers?: PriceTier[];
  peak?: PeakPricing;
}

export function emptyUsage(): Usage {
  return { promptTokens: 0, completionTokens: 0, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, totalTokens: 0 };
}
