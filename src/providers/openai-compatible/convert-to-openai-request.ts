import type { ChatRequest, ToolChoice } from '../../llm/types.js';

/** Which field carries the output limit: OpenAI's reasoning models reject `max_tokens`. */
export type MaxTokensField = 'max_tokens' | 'max_completion_tokens';

export type OpenAIMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string }
  | {
      role: 'assistant';
      content: string | null;
      tool_calls?: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }>;
    }
  | { role: 'tool'; content: string; tool_call_id: string };

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
