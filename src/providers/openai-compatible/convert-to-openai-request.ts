import { textAttachmentBlock } from '../../llm/attachment-tokens.js';
import type { Attachment, ChatRequest, ToolChoice } from '../../llm/types.js';

/** Which field carries the output limit: OpenAI's reasoning models reject `max_tokens`. */
export type MaxTokensField = 'max_tokens' | 'max_completion_tokens';

export type OpenAIMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string | OpenAIContentPart[] }
  | {
      role: 'assistant';
      content: string | null;
      tool_calls?: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }>;
    }
  | { role: 'tool'; content: string; tool_call_id: string };

export type OpenAIContentPart =
  | { type: 'text'; text: string }
  | { type: 'image_url'; image_url: { url: string } }
  | { type: 'file'; file: { filename: string; file_data: string } };

/** A file as a Chat Completions content part: images and PDFs as base64 data URLs. */
export function convertAttachmentToOpenAIPart(attachment: Attachment): OpenAIContentPart {
  switch (attachment.kind) {
    case 'text':
      return { type: 'text', text: textAttachmentBlock(attachment.path, attachment.text) };
    case 'image':
      return { type: 'image_url', image_url: { url: `data:${attachment.mediaType};base64,${attachment.base64}` } };
    case 'pdf':
      return { type: 'file', file: { filename: baseName(attachment.path), file_data: `data:application/pdf;base64,${attachment.base64}` } };
  }
}

function baseName(path: string): string {
  return path.split(/[\\/]/).pop() || 'document.pdf';
}

/** Our messages in Chat Completions form: tool call arguments go back to JSON strings. */
export function convertToOpenAIMessages(messages: ChatRequest['messages']): OpenAIMessage[] {
  return messages.map((message): OpenAIMessage => {
    switch (message.role) {
      case 'assistant':
        if (message.tool_calls && message.tool_calls.length > 0) {
          return {
            role: 'assistant',
            content: message.content === '' ? null : message.content,
            tool_calls: message.tool_calls.map((call) => ({
              id: call.id,
              type: 'function',
              function: { name: call.name, arguments: JSON.stringify(call.arguments ?? {}) },
            })),
          };
        }
        return { role: 'assistant', content: message.content };
      case 'tool':
        return { role: 'tool', content: message.content, tool_call_id: message.tool_call_id };
      case 'user':
        if (!message.attachments || message.attachments.length === 0) return { role: 'user', content: message.content };
        // Files first, then the question about them.
        return {
          role: 'user',
          content: [...message.attachments.map(convertAttachmentToOpenAIPart), ...(message.content === '' ? [] : [{ type: 'text' as const, text: message.content }])],
        };
      default:
        return { role: message.role, content: message.content };
    }
  });
}

export function convertToOpenAIToolChoice(choice: ToolChoice): unknown {
  return typeof choice === 'string' ? choice : { type: 'function', function: { name: choice.name } };
}

/** The Chat Completions request body for a normalised request. */
export function convertToOpenAIRequest(request: ChatRequest, maxTokensField: MaxTokensField): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model: request.providerModel,
    messages: convertToOpenAIMessages(request.messages),
  };
  if (request.temperature !== undefined) body.temperature = request.temperature;
  if (request.maxTokens !== undefined) body[maxTokensField] = request.maxTokens;
  if (request.stop && request.stop.length > 0) body.stop = request.stop;
  if (request.responseFormat?.type === 'json_object') body.response_format = { type: 'json_object' };
  if (request.responseFormat?.type === 'json_schema') {
    const { name, schema, strict } = request.responseFormat;
    body.response_format = { type: 'json_schema', json_schema: { name, schema, strict } };
  }
  if (request.reasoning?.kind === 'openai') body.reasoning_effort = request.reasoning.effort;
  if (request.reasoning?.kind === 'qwen') {
    body.enable_thinking = true;
    body.thinking_budget = request.reasoning.budgetTokens;
  }
  if (request.tools && request.tools.length > 0) {
    body.tools = request.tools.map((tool) => ({
      type: 'function',
      function: {
        name: tool.name,
        ...(tool.description ? { description: tool.description } : {}),
        parameters: tool.parameters,
      },
    }));
    if (request.toolChoice !== undefined) body.tool_choice = convertToOpenAIToolChoice(request.toolChoice);
  }
  return body;
}
