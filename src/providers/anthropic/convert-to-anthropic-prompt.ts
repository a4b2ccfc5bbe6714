import { textAttachmentBlock } from '../../llm/attachment-tokens.js';
import type { Attachment, ChatRequest, ImageMediaType, ToolChoice } from '../../llm/types.js';

type TextBlock = { type: 'text'; text: string };
type ImageBlock = { type: 'image'; source: { type: 'base64'; media_type: ImageMediaType; data: string } };
type DocumentBlock = { type: 'document'; source: { type: 'base64'; media_type: 'application/pdf'; data: string }; title: string };
type ToolUseBlock = { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> };
type ToolResultBlock = { type: 'tool_result'; tool_use_id: string; content: string };
export type AnthropicBlock = TextBlock | ImageBlock | DocumentBlock | ToolUseBlock | ToolResultBlock;
export interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: AnthropicBlock[];
}

/** A file as a Messages content block: images as base64 `image`, PDFs as base64 `document`. */
export function convertAttachmentToAnthropicBlock(attachment: Attachment): AnthropicBlock {
  switch (attachment.kind) {
    case 'text':
      return { type: 'text', text: textAttachmentBlock(attachment.path, attachment.text) };
    case 'image':
      return { type: 'image', source: { type: 'base64', media_type: attachment.mediaType, data: attachment.base64 } };
    case 'pdf':
      return { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: attachment.base64 }, title: attachment.path };
  }
}

/**
 * Our messages as an Anthropic prompt: system text moves to the top-level `system`, tool
 * results become `tool_result` blocks in a user turn, and consecutive turns of one role merge
 * (the Messages API wants user and assistant to alternate).
 */
export function convertToAnthropicPrompt(messages: ChatRequest['messages']): { system: string | undefined; messages: AnthropicMessage[] } {
  const systemParts: string[] = [];
  const out: AnthropicMessage[] = [];
  const append = (role: AnthropicMessage['role'], blocks: AnthropicBlock[]): void => {
    if (blocks.length === 0) return;
    const last = out[out.length - 1];
    if (last && last.role === role) last.content.push(...blocks);
    else out.push({ role, content: blocks });
  };
  for (const message of messages) {
    switch (message.role) {
      case 'system':
        systemParts.push(message.content);
        break;
      case 'user':
        // Files first, then the question about them (Anthropic's advice for long documents).
        append('user', [
          ...(message.attachments ?? []).map(convertAttachmentToAnthropicBlock),
          ...(message.content === '' && message.attachments?.length ? [] : [{ type: 'text' as const, text: message.content }]),
        ]);
        break;
      case 'assistant': {
        const blocks: AnthropicBlock[] = [];
        if (message.content !== '') blocks.push({ type: 'text', text: message.content });
        for (const call of message.tool_calls ?? []) {
          blocks.push({ type: 'tool_use', id: call.id, name: call.name, input: call.arguments ?? {} });
        }
        append('assistant', blocks);
        break;
      }
      case 'tool':
        append('user', [{ type: 'tool_result', tool_use_id: message.tool_call_id, content: message.content }]);
        break;
    }
  }
  return { system: systemParts.length > 0 ? systemParts.join('\n\n') : undefined, messages: out };
}

/** `required` is Anthropic's `any`; a tool name is `{type: 'tool', name}`. */
export function convertToAnthropicToolChoice(choice: ToolChoice): Record<string, unknown> {
  if (typeof choice === 'object') return { type: 'tool', name: choice.name };
  if (choice === 'required') return { type: 'any' };
  return { type: choice };
}

/** The Messages API request body; `max_tokens` is required there, so the caller always supplies one. */
export function convertToAnthropicRequest(request: ChatRequest & { maxTokens: number }): Record<string, unknown> {
  const { system, messages } = convertToAnthropicPrompt(request.messages);
  const body: Record<string, unknown> = {
    model: request.providerModel,
    max_tokens: request.maxTokens,
    messages,
  };
  if (system !== undefined) body.system = system;
  if (request.temperature !== undefined) body.temperature = request.temperature;
  if (request.stop && request.stop.length > 0) body.stop_sequences = request.stop;
  if (request.reasoning?.kind === 'anthropic-budget') body.thinking = { type: 'enabled', budget_tokens: request.reasoning.budgetTokens };
  if (request.reasoning?.kind === 'anthropic-adaptive') {
    body.thinking = { type: 'adaptive' };
    body.output_config = { effort: request.reasoning.effort };
  }
  if (request.tools && request.tools.length > 0) {
    body.tools = request.tools.map((tool) => ({
      name: tool.name,
      ...(tool.description ? { description: tool.description } : {}),
      input_schema: tool.parameters,
    }));
    if (request.toolChoice !== undefined) body.tool_choice = convertToAnthropicToolChoice(request.toolChoice);
  }
  return body;
}
