import { LlmError } from '../llm/errors.js';
import type { CallOptions, ChatResponse, StreamPart, Usage } from '../llm/types.js';
import { AttemptControl } from './attempt-control.js';
import { convertSdkError, type SdkErrorClasses } from './convert-sdk-error.js';
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
  partialUsage(): Usage | undefined;
  result(requestedModel: string): ChatResponse;
}

/** One non-streamed attempt: bounded by timeoutMs and the host's signal, errors classified once. */
export async function sendOnce<T>(context: SdkCallContext, options: CallOptions, send: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const control = new AttemptControl(options.signal, options.timeoutMs);
  try {
    return await send(control.signal);
  } catch (error) {
    const failure = convertSdkError(error, context.providerId, control, context.errorClasses, options.timeoutMs);
    // Cancelled or timed out once sent, or cut mid-body: the provider may have generated (and
    // billed) the answer we never read. Only a connection that never opened surely cost nothing.
    const mayHaveAnswered =
      failure.kind === 'timeout' || failure.kind === 'cancelled' || (failure.kind === 'connection' && !(error instanceof context.errorClasses.APIConnectionError));
    if (mayHaveAnswered && failure.usage === undefined) failure.usageUnknown = true;
    throw failure;
  } finally {
    control.dispose();
  }
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
  let answering = false;
  let events = 0;
  // Text relayed so far and its size in JSON bytes, for the answer cap (maxAnswerBytes).
  let relayed = '';
  let relayedBytes = 0;
  try {
    const stream = await open(control.signal);
    answering = true;
    for await (const event of stream) {
      events++;
      const reasoningBefore = assembler.reasoningDeltas;
      const progressBefore = assembler.progress;
      const text = assembler.push(event);
      // Only progress restarts the silence timer: a stream of pings or empty chunks still ends.
      if (assembler.progress !== progressBefore) control.touch();
      if (assembler.reasoningDeltas > reasoningBefore) yield { type: 'reasoning-delta' };
      if (!text) continue;
      const size = jsonBytes(text);
      if (options.maxAnswerBytes !== undefined && relayedBytes + size > options.maxAnswerBytes) {
        // Over the cap: relay what fits, stop reading (leaving the loop closes the response, so
        // the rest is never downloaded) and answer with what we have.
        const fits = fitJsonBytes(text, options.maxAnswerBytes - relayedBytes);
        if (fits) yield { type: 'text-delta', text: fits };
        const response = assembler.result(options.requestedModel);
        Object.assign(response, { content: relayed + fits, toolCalls: [], finishReason: 'length', truncated: true });
        yield { type: 'finish', response };
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
      if (events === 0) {
        answering = false;
        throw notACompletion(context, 'an empty stream (no events)');
      }
      throw new LlmError(`${context.providerId} ended the stream before ${options.finalEvent}: the answer is incomplete`, {
        kind: 'stream',
        provider: context.providerId,
        retryable: true,
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
    // The provider was generating (and billing) when the stream broke, but said nothing of usage.
    if (answering && failure.usage === undefined) failure.usageUnknown = true;
    throw failure;
  } finally {
    control.dispose();
  }
}
