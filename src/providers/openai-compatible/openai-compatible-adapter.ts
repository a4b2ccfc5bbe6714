import type OpenAI from 'openai';
import type { CallOptions, ChatRequest, ChatResponse, ProviderAdapter, StreamPart } from '../../llm/types.js';
import { AttemptControl } from '../attempt-control.js';
import { LlmError } from '../../llm/errors.js';
import { convertSdkError, type SdkErrorClasses } from '../convert-sdk-error.js';
import { convertOpenAICompletion, OpenAIStreamAssembler } from './convert-openai-response.js';
import { convertToOpenAIRequest, type MaxTokensField } from './convert-to-openai-request.js';

export interface OpenAICompatibleAdapterOptions {
  providerId: string;
  client: OpenAI;
  errorClasses: SdkErrorClasses;
  maxTokensField: MaxTokensField;
}

/** Chat Completions over the `openai` SDK: OpenAI, DeepSeek, Qwen and any compatible endpoint. */
export class OpenAICompatibleAdapter implements ProviderAdapter {
  constructor(private readonly options: OpenAICompatibleAdapterOptions) {}

  async generate(request: ChatRequest, callOptions: CallOptions): Promise<ChatResponse> {
    const control = new AttemptControl(callOptions.signal, callOptions.timeoutMs);
    try {
      const body = convertToOpenAIRequest(request, this.options.maxTokensField);
      const completion = await this.options.client.chat.completions.create(
        body as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming,
        { signal: control.signal },
      );
      return convertOpenAICompletion(completion, request.providerModel);
    } catch (error) {
      throw convertSdkError(error, this.options.providerId, control, this.options.errorClasses, callOptions.timeoutMs);
    } finally {
      control.dispose();
    }
  }

  async *stream(request: ChatRequest, callOptions: CallOptions): AsyncIterable<StreamPart> {
    const control = new AttemptControl(callOptions.signal, callOptions.timeoutMs);
    const assembler = new OpenAIStreamAssembler();
    let answering = false;
    try {
      const body = {
        ...convertToOpenAIRequest(request, this.options.maxTokensField),
        stream: true,
        // Without this the stream carries no usage and the call would be costed at nothing.
        stream_options: { include_usage: true },
      };
      const stream = await this.options.client.chat.completions.create(
        body as unknown as OpenAI.ChatCompletionCreateParamsStreaming,
        { signal: control.signal },
      );
      answering = true;
      for await (const chunk of stream) {
        control.touch();
        const text = assembler.push(chunk);
        if (text) yield { type: 'text-delta', text };
      }
      if (!assembler.finished) {
        // The SDK ends a stream quietly when its signal aborts: that is our cancellation or
        // silence timeout, which convertSdkError tells apart, not a truncated answer.
        if (control.signal.aborted) throw control.signal.reason;
        throw new LlmError(`${this.options.providerId} ended the stream before its finish_reason: the answer is incomplete`, {
          kind: 'stream',
          provider: this.options.providerId,
          retryable: true,
        });
      }
      const response = assembler.result(request.providerModel);
      // Servers that ignore stream_options send no usage: the cost is then unknown, never $0.
      if (response.usage.raw === undefined) response.usageMissing = true;
      yield { type: 'finish', response };
    } catch (error) {
      const failure = convertSdkError(error, this.options.providerId, control, this.options.errorClasses, callOptions.timeoutMs);
      // Tokens the provider reported before the failure still cost money: the ledger records them.
      failure.usage ??= assembler.partialUsage();
      // The provider was generating (and billing) when the stream broke, but said nothing of usage.
      if (answering && failure.usage === undefined) failure.usageUnknown = true;
      throw failure;
    } finally {
      control.dispose();
    }
  }
}
