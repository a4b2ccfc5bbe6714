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

/** Whether text is nothing the Messages API accepts as a text block (it rejects empty and whitespace-only text). */
function isBlank(text: string): boolean {
  return text.trim() === '';
}

/** What the Messages API would reject or what the conversion changes, found before anything is sent. */
export interface AnthropicPromptCheck {
  /** Indexes (into the messages given) of user messages with no text and no file: refused. */
  emptyUserMessages: number[];
  /** Indexes of assistant messages with no text and no tool call: left out of the prompt. */
  droppedAssistantMessages: number[];
  /** Of those, the ones whose leaving out joins the user turns before and after them into one. */
  mergingAssistantMessages: number[];
}

/**
 * Checks our messages against the Messages API's rules that convertToAnthropicPrompt cannot fix
 * silently: a user message with only empty text (the API rejects empty text blocks) cannot be sent,
 * and an empty assistant turn is left out (the API rejects empty turns), which the caller notes.
 */
export function checkAnthropicPrompt(messages: ChatRequest['messages']): AnthropicPromptCheck {
  const check: AnthropicPromptCheck = { emptyUserMessages: [], droppedAssistantMessages: [], mergingAssistantMessages: [] };
  const turnRole = (index: number, step: 1 | -1): string | undefined => {
    for (let i = index + step; i >= 0 && i < messages.length; i += step) {
      const message = messages[i]!;
      if (message.role === 'system') continue;
      if (message.role === 'assistant' && isEmptyAssistant(message)) continue;
      return message.role === 'tool' ? 'user' : message.role;
    }
    return undefined;
  };
  messages.forEach((message, index) => {
    if (message.role === 'user' && isBlank(message.content) && !(message.attachments?.length ?? 0)) check.emptyUserMessages.push(index);
    if (message.role === 'assistant' && isEmptyAssistant(message)) {
      check.droppedAssistantMessages.push(index);
      if (turnRole(index, -1) === 'user' && turnRole(index, 1) === 'user') check.mergingAssistantMessages.push(index);
    }
  });
  return check;
}

function isEmptyAssistant(message: ChatRequest['messages'][number]): boolean {
  return message.role === 'assistant' && isBlank(message.content) && !(message.tool_calls?.length ?? 0);
}

/**
 * Our messages as an Anthropic prompt: system text moves to the top-level `system`, tool
 * results become `tool_result` blocks in a user turn, and consecutive turns of one role merge
 * (the Messages API wants user and assistant to alternate). Blank text becomes no block (the API
 * rejects empty text blocks; see checkAnthropicPrompt for the cases refused or noted before this),
 * and a final assistant turn (a prefill) loses its trailing whitespace, which the API rejects.
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
        if (!isBlank(message.content)) systemParts.push(message.content);
        break;
      case 'user':
        // Files first, then the question about them (Anthropic's advice for long documents).
        append('user', [
          ...(message.attachments ?? []).map(convertAttachmentToAnthropicBlock),
          ...(isBlank(message.content) ? [] : [{ type: 'text' as const, text: message.content }]),
        ]);
        break;
      case 'assistant': {
        const blocks: AnthropicBlock[] = [];
        if (!isBlank(message.content)) blocks.push({ type: 'text', text: message.content });
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
  trimFinalPrefill(out);
  return { system: systemParts.length > 0 ? systemParts.join('\n\n') : undefined, messages: out };
}

/** "final assistant content cannot end with trailing whitespace": trims the prefill's last text block. */
function trimFinalPrefill(messages: AnthropicMessage[]): void {
  const last = messages[messages.length - 1];
  if (last?.role !== 'assistant') return;
  const block = last.content[last.content.length - 1];
  if (block?.type !== 'text') return;
  block.text = block.text.trimEnd();
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
  if (request.responseFormat?.type === 'json_schema') {
    body.output_config = { ...(body.output_config as object | undefined), format: { type: 'json_schema', schema: request.responseFormat.schema } };
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
