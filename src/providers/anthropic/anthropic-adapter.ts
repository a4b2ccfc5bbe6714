import type Anthropic from '@anthropic-ai/sdk';
import type { CallOptions, ChatRequest, ChatResponse, ProviderAdapter, StreamPart } from '../../llm/types.js';
import type { SdkErrorClasses } from '../convert-sdk-error.js';
import { sendOnce, streamOnce } from '../sdk-call.js';
import { streamedRequestOptions, withBodyCut } from '../bounded-fetch.js';
import { notACompletion } from '../not-a-completion.js';
import type { SdkCallContext } from '../sdk-call.js';
import { AnthropicStreamAssembler, anthropicMessageProblem, convertAnthropicMessage } from './convert-anthropic-response.js';
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

  /** Who is called, for errors: the provider and the base URL its client really uses. */
  private get context(): SdkCallContext {
    return { ...this.options, baseURL: this.options.client.baseURL };
  }

  private body(request: ChatRequest): Record<string, unknown> {
    return convertToAnthropicRequest({ ...request, maxTokens: request.maxTokens ?? this.options.defaultMaxTokens });
  }

  async generate(request: ChatRequest, callOptions: CallOptions): Promise<ChatResponse> {
    const { data: message, response } = await sendOnce(this.context, callOptions, (signal) =>
      this.options.client.messages.create(this.body(request) as unknown as Anthropic.MessageCreateParamsNonStreaming, { signal }).withResponse(),
    );
    const problem = anthropicMessageProblem(message as unknown);
    if (problem !== undefined) throw notACompletion(this.context, problem);
    return withBodyCut(convertAnthropicMessage(message as unknown as Parameters<typeof convertAnthropicMessage>[0], request.providerModel), response);
  }

  stream(request: ChatRequest, callOptions: CallOptions): AsyncIterable<StreamPart> {
    return streamOnce(
      this.context,
      { ...callOptions, requestedModel: request.providerModel, finalEvent: 'message_stop' },
      (signal) =>
        this.options.client.messages.create({ ...this.body(request), stream: true } as unknown as Anthropic.MessageCreateParamsStreaming, {
          signal,
          // Its SSE body is cut at maxAnswerBytes by streamOnce, not counted by the bounded fetch.
          fetchOptions: streamedRequestOptions(),
        }) as unknown as Promise<AsyncIterable<Parameters<AnthropicStreamAssembler['push']>[0]>>,
      new AnthropicStreamAssembler(),
    );
  }
}
