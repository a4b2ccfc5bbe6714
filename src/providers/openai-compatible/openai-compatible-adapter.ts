import type OpenAI from 'openai';
import type { CallOptions, ChatRequest, ChatResponse, ProviderAdapter, StreamPart } from '../../llm/types.js';
import type { SdkErrorClasses } from '../convert-sdk-error.js';
import { sendOnce, streamOnce } from '../sdk-call.js';
import { streamedRequestOptions, withBodyCut } from '../bounded-fetch.js';
import { notACompletion } from '../not-a-completion.js';
import type { SdkCallContext } from '../sdk-call.js';
import { convertOpenAICompletion, OpenAIStreamAssembler, openAICompletionProblem } from './convert-openai-response.js';
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

  /** Who is called, for errors: the provider and the base URL its client really uses. */
  private get context(): SdkCallContext {
    return { ...this.options, baseURL: this.options.client.baseURL };
  }

  async generate(request: ChatRequest, callOptions: CallOptions): Promise<ChatResponse> {
    const body = convertToOpenAIRequest(request, this.options.maxTokensField);
    const { data: completion, response } = await sendOnce(this.context, callOptions, (signal) =>
      this.options.client.chat.completions.create(body as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming, { signal }).withResponse(),
    );
    const problem = openAICompletionProblem(completion as unknown);
    if (problem !== undefined) throw notACompletion(this.context, problem);
    return withBodyCut(convertOpenAICompletion(completion as unknown as Parameters<typeof convertOpenAICompletion>[0], request.providerModel), response);
  }

  stream(request: ChatRequest, callOptions: CallOptions): AsyncIterable<StreamPart> {
    const body = {
      ...convertToOpenAIRequest(request, this.options.maxTokensField),
      stream: true,
      // Without this the stream carries no usage and the call could not be costed.
      stream_options: { include_usage: true },
    };
    return streamOnce(
      this.context,
      { ...callOptions, requestedModel: request.providerModel, finalEvent: 'its finish_reason' },
      (signal) =>
        this.options.client.chat.completions.create(body as unknown as OpenAI.ChatCompletionCreateParamsStreaming, {
          signal,
          // Its SSE body is cut at maxAnswerBytes by streamOnce, not counted by the bounded fetch.
          fetchOptions: streamedRequestOptions(),
        }),
      new OpenAIStreamAssembler(),
    );
  }
}
