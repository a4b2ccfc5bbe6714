import { LlmError } from '../llm/errors.js';
import type { CallOptions, ChatResponse, StreamPart, Usage } from '../llm/types.js';
import { AttemptControl } from './attempt-control.js';
import { causeCode, convertSdkError, type SdkErrorClasses } from './convert-sdk-error.js';
import { notACompletion } from './not-a-completion.js';
import { fitJsonBytes, jsonBytes } from '../llm/answer-size.js';

/** Who is being called: for error messages and for reading the SDK's error classes. */
export interface SdkCallContext {
  providerId: string;
  errorClasses: SdkErrorClasses;
  /** Where the client sends its requests, for errors about what came back. */
  baseURL?: string;
}

/** What each wire's stream assembler offers (see convert-*-response.ts). */
export interface StreamAssembler<Event> {
  /** Feeds one event; returns the text it added. */
  push(event: Event): string;
  /** Reasoning (thinking) deltas seen so far: their text is never the answer's. */
  readonly reasoningDeltas: number;
  /** Events that carried progress (not keep-alives): each restarts the silence timer. */
  readonly progress: number;
  /** Whether the stream carried its final event. */
  readonly finished: boolean;
  /** Characters of tool-call arguments received so far: they count against the answer cap too. */
  readonly toolCallChars: number;
  partialUsage(): Usage | undefined;
  result(requestedModel: string): ChatResponse;
}

/** One non-streamed attempt: bounded by timeoutMs and the host's signal, errors classified once. */
export async function sendOnce<T>(context: SdkCallContext, options: CallOptions, send: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const control = new AttemptControl(options.signal, options.timeoutMs);
  const abortedBeforeSend = control.signal.aborted;
  try {
    return await send(control.signal);
  } catch (error) {
    const failure = convertSdkError(error, context.providerId, control, context.errorClasses, options.timeoutMs);
    markUnknownBill(failure, error, context, abortedBeforeSend);
    throw failure;
  } finally {
    control.dispose();
  }
}

// Failures of the connection itself, before a byte of the request could reach the provider.
const NEVER_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * The one rule for the bill of a failed attempt, for both paths (call-cost.ts prices it): once
 * the request was sent the provider may have billed it, so a failure without reported usage
 * leaves the bill unknown, whether the answer had begun (a stream cut, a body too large) or not
 * (cancelled, timed out, or stopped by the call's deadline while waiting for the response
 * headers). It is known only when the provider refused the request with an error status, or
 * demonstrably never got it: the attempt was aborted before it began, or the connection never
 * opened (refused, no such host, TLS certificate rejected, fetch's own refusal). Our own errors
 * (not a completion, a stream ended early) were thrown with their bill decided.
 */
function markUnknownBill(failure: LlmError, error: unknown, context: SdkCallContext, abortedBeforeSend: boolean): void {
  if (error instanceof LlmError || failure.usage !== undefined || failure.kind === 'http' || abortedBeforeSend) return;
  if (error instanceof context.errorClasses.APIConnectionError && !(error instanceof context.errorClasses.APIConnectionTimeoutError)) {
    const code = causeCode(error);
    // No code at all: fetch refused the request itself (a blocked port, a malformed URL); every
    // socket failure carries one (ECONNRESET, UND_ERR_SOCKET once connected).
    if (code === undefined || NEVER_CONNECTED.has(code) || /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)) return;
  }
  failure.usageUnknown = true;
}

/**
 * One streamed attempt: yields text as it arrives and, last, the assembled answer. The silence
 * timer restarts on every event that carries progress (text, reasoning, tool-call pieces, usage),
 * not on keep-alives (SSE comments, empty deltas, Anthropic pings). A stream without its final event (`finalEvent` names it in
 * the error) is an incomplete answer, never a success.
 */
export async function* streamOnce<Event>(
  context: SdkCallContext,
  options: CallOptions & { requestedModel: string; finalEvent: string },
  open: (signal: AbortSignal) => Promise<AsyncIterable<Event>>,
  assembler: StreamAssembler<Event>,
): AsyncIterable<StreamPart> {
  const control = new AttemptControl(options.signal, options.timeoutMs);
  const abortedBeforeSend = control.signal.aborted;
  let events = 0;
  // Text relayed so far and its size in JSON bytes, for the answer cap (maxAnswerBytes).
  let relayed = '';
  let relayedBytes = 0;
  try {
    const stream = await open(control.signal);
    for await (const event of stream) {
      events++;
      const reasoningBefore = assembler.reasoningDeltas;
      const progressBefore = assembler.progress;
      const text = assembler.push(event);
      // Only progress restarts the silence timer: a stream of pings or empty chunks still ends.
      if (assembler.progress !== progressBefore) control.touch();
      if (assembler.reasoningDeltas > reasoningBefore) yield { type: 'reasoning-delta' };
      const cap = options.maxAnswerBytes;
      // Over the cap (text, or tool-call arguments, which the answer carries too): relay the
      // text that fits, stop reading (leaving the loop closes the response, so the rest is never
      // downloaded) and answer with that text; a tool call cut short is no call, so none is kept.
      if (cap !== undefined && relayedBytes + assembler.toolCallChars > cap) {
        yield { type: 'finish', response: cutAnswer(assembler, options.requestedModel, relayed) };
        return;
      }
      if (!text) continue;
      const size = jsonBytes(text);
      if (cap !== undefined && relayedBytes + assembler.toolCallChars + size > cap) {
        const fits = fitJsonBytes(text, cap - relayedBytes - assembler.toolCallChars);
        if (fits) yield { type: 'text-delta', text: fits };
        yield { type: 'finish', response: cutAnswer(assembler, options.requestedModel, relayed + fits) };
        return;
      }
      relayed += text;
      relayedBytes += size;
      yield { type: 'text-delta', text };
    }
    if (!assembler.finished) {
      // The SDKs end a stream quietly when its signal aborts: that is our cancellation or
      // silence timeout, which convertSdkError tells apart, not a truncated answer.
      if (control.signal.aborted) throw control.signal.reason;
      // Not one event: a proxy's page or a body that is no SSE at all. Nothing was generated.
      if (events === 0) throw notACompletion(context, 'an empty stream (no events)');
      throw new LlmError(`${context.providerId} ended the stream before ${options.finalEvent}: the answer is incomplete`, {
        kind: 'stream',
        provider: context.providerId,
        retryable: true,
        // The provider was answering and said nothing of usage (the rule of markUnknownBill).
        usageUnknown: assembler.partialUsage() === undefined,
      });
    }
    const response = assembler.result(options.requestedModel);
    // Servers that ignore stream_options send no usage: the cost is then unknown, never $0.
    if (response.usage.raw === undefined) response.usageMissing = true;
    yield { type: 'finish', response };
  } catch (error) {
    const failure = convertSdkError(error, context.providerId, control, context.errorClasses, options.timeoutMs);
    // Tokens the provider reported before the failure (Anthropic's message_start) still cost money.
    failure.usage ??= assembler.partialUsage();
    markUnknownBill(failure, error, context, abortedBeforeSend);
    throw failure;
  } finally {
    control.dispose();
  }
}

/** The answer of a stream cut at maxAnswerBytes: the text relayed, no tool calls, finish_reason "length". */
function cutAnswer<Event>(assembler: StreamAssembler<Event>, requestedModel: string, content: string): ChatResponse {
  const response = assembler.result(requestedModel);
  return Object.assign(response, { content, toolCalls: [], finishReason: 'length', truncated: true });
}
