import type Anthropic from '@anthropic-ai/sdk';
import type { CallOptions, ChatRequest, ChatResponse, ProviderAdapter, StreamPart } from '../../llm/types.js';
import { AttemptControl } from '../attempt-control.js';
import { LlmError } from '../../llm/errors.js';
import { convertSdkError, type SdkErrorClasses } from '../convert-sdk-error.js';
import { AnthropicStreamAssembler, convertAnthropicMessage } from './convert-anthropic-response.js';
import { convertToAnthropicRequest } from './convert-to-anthropic-prompt.js';

export interface AnthropicAdapterOptions {
  providerId: string;
  client: Anthropic;
  errorClasses: SdkErrorClasses;
  /** Used when the caller set no max_tokens and the model's limit is unknown. */
  defaultMaxTokens: number;
}

/** The Messages API over `@anthropic-ai/sdk`. */
export class AnthropicAdapter implements ProviderAdapter {
  constructor(private readonly options: AnthropicAdapterOptions) {}

  private body(request: ChatRequest): Record<string, unknown> {
    return convertToAnthropicRequest({ ...request, maxTokens: request.maxTokens ?? this.options.defaultMaxTokens });
  }

  async generate(request: ChatRequest, callOptions: CallOptions): Promise<ChatResponse> {
    const control = new AttemptControl(callOptions.signal, callOptions.timeoutMs);
    try {
      const message = await this.options.client.messages.create(
        this.body(request) as unknown as Anthropic.MessageCreateParamsNonStreaming,
        { signal: control.signal },
      );
      return convertAnthropicMessage(message, request.providerModel);
    } catch (error) {
      throw convertSdkError(error, this.options.providerId, control, this.options.errorClasses, callOptions.timeoutMs);
    } finally {
      control.dispose();
    }
  }

  async *stream(request: ChatRequest, callOptions: CallOptions): AsyncIterable<StreamPart> {
    const control = new AttemptControl(callOptions.signal, callOptions.timeoutMs);
    const assembler = new AnthropicStreamAssembler();
    let answering = false;
    try {
      const stream = await this.options.client.messages.create(
        { ...this.body(request), stream: true } as unknown as Anthropic.MessageCreateParamsStreaming,
        { signal: control.signal },
      );
      answering = true;
      for await (const event of stream) {
        control.touch();
        const text = assembler.push(event as Parameters<AnthropicStreamAssembler['push']>[0]);
        if (text) yield { type: 'text-delta', text };
      }
      if (!assembler.finished) {
        // The SDK ends a stream quietly when its signal aborts: that is our cancellation or
        // silence timeout, which convertSdkError tells apart, not a truncated answer.
        if (control.signal.aborted) throw control.signal.reason;
        throw new LlmError(`${this.options.providerId} ended the stream before message_stop: the answer is incomplete`, {
          kind: 'stream',
          provider: this.options.providerId,
          retryable: true,
        });
      }
      yield { type: 'finish', response: assembler.result(request.providerModel) };
    } catch (error) {
      const failure = convertSdkError(error, this.options.providerId, control, this.options.errorClasses, callOptions.timeoutMs);
      // Input tokens from message_start (and output tokens so far) still cost money: the ledger records them.
      failure.usage ??= assembler.partialUsage();
      // The provider was generating (and billing) when the stream broke, but said nothing of usage.
      if (answering && failure.usage === undefined) failure.usageUnknown = true;
      throw failure;
    } finally {
      control.dispose();
    }
  }
}
