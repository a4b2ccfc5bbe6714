import { fileURLToPath } from 'node:url';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import type { ChatHooks, ChatInput, ChatResult, LlmService } from '../llm/llm-service.js';
import type { ChatMessage } from '../llm/types.js';
import { chatSummaryLine } from './chat-summary-line.js';
import { principalOf } from './principal-of.js';
import type { ToolEntry } from './tool-table.js';
import { toolFailure, UserInputError } from './tool-failure.js';
import type { Logger } from '../logger.js';

const toolCallSchema = z.object({
  id: z.string().min(1),
  name: z.string().min(1),
  arguments: z.record(z.string(), z.unknown()),
});

// One flat message object keeps the schema (read into the host's context every time) short;
// the role-specific rules are checked in the handler with clear messages.
const messageSchema = z.object({
  role: z.enum(['system', 'user', 'assistant', 'tool']),
  content: z.string(),
  tool_calls: z.array(toolCallSchema).optional(),
  tool_call_id: z.string().optional(),
});

export const chatInputSchema = {
  // "One of prompt or messages" is said in words: a top-level anyOf of required sets would make
  // the Anthropic API (Claude Code, Claude Desktop) reject every request that lists this tool.
  prompt: z.string().optional().describe('One of prompt or messages'),
  messages: z.array(messageSchema).min(1, 'messages needs at least one message').optional().describe('One of prompt or messages'),
  system: z.string().optional(),
  model: z.string().min(1).optional().describe('Model id, alias or provider:model; see list_models'),
  temperature: z.number().min(0).max(2).optional(),
  max_tokens: z.number().int().positive().optional(),
  // Listed as an array of strings (hosts render a string-or-array union as `unknown`); a single
  // string is still accepted and taken as a one-element list.
  stop: z.preprocess((value) => (typeof value === 'string' ? [value] : value), z.array(z.string())).optional(),
  tools: z
    .array(z.object({ name: z.string().min(1), description: z.string().optional(), parameters: z.record(z.string(), z.unknown()) }))
    .optional(),
  tool_choice: z.string().min(1).optional().describe('auto, none, required or a tool name'),
  fallback_models: z.array(z.string().min(1)).optional(),
  files: z.array(z.string().min(1)).optional().describe('Local paths: text, images, PDFs'),
  reasoning_effort: z.enum(['minimal', 'low', 'medium', 'high']).optional(),
  response_format: z
    .union([z.literal('json'), z.object({ type: z.literal('json_schema'), schema: z.record(z.string(), z.unknown()), name: z.string().optional() })])
    .optional(),
  // Every result returns one; passing it back continues the thread.
  conversation_id: z.string().min(1).optional(),
  store: z.boolean().optional(),
};

// prompt_tokens, completion_tokens, cached_tokens, total_tokens, reasoning_tokens (when reported)
const usageSchema = z.record(z.string(), z.number());

export const chatOutputSchema = {
  content: z.string(),
  tool_calls: z.array(toolCallSchema),
  model: z.string(),
  provider: z.string(),
  provider_model: z.string(),
  finish_reason: z.enum(['stop', 'length', 'tool_calls', 'content_filter', 'other']),
  usage: usageSchema,
  cost_usd: z.number().nullable(),
  attempts: z.number(),
  latency_ms: z.number(),
  call_id: z.string(),
  json: z.unknown().optional(),
  conversation_id: z.string().optional(),
  notes: z.array(z.string()).optional(),
  fallback_from: z.array(z.string()).optional(),
};

type ChatArgs = z.infer<z.ZodObject<typeof chatInputSchema>>;

/** Checks what the schema cannot say per role, and turns the arguments into the service's input. */
export function toChatInput(args: Omit<ChatArgs, 'model' | 'fallback_models' | 'conversation_id' | 'store'> & Partial<ChatArgs>): ChatInput {
  const messages = args.messages?.map((message, index): ChatMessage => {
    switch (message.role) {
      case 'tool':
        if (!message.tool_call_id) {
          throw new UserInputError(`messages[${index}]: a tool message needs tool_call_id (the id of the assistant's tool call it answers)`);
        }
        return { role: 'tool', content: message.content, tool_call_id: message.tool_call_id };
      case 'assistant':
        return message.tool_calls ? { role: 'assistant', content: message.content, tool_calls: message.tool_calls } : { role: 'assistant', content: message.content };
      default:
        if (message.tool_calls || message.tool_call_id) {
          throw new UserInputError(`messages[${index}]: only assistant messages carry tool_calls and only tool messages carry tool_call_id`);
        }
        return { role: message.role, content: message.content };
    }
  });
  return { ...args, messages, tool_choice: args.tool_choice };
}

function resultText(result: ChatResult): string {
  const parts: string[] = [];
  if (result.content !== '') parts.push(result.content);
  if (result.tool_calls.length > 0) {
    parts.push(`Tool calls: ${result.tool_calls.map((c) => `${c.name}(${JSON.stringify(c.arguments)}) [id ${c.id}]`).join('; ')}`);
  }
  return parts.length > 0 ? parts.join('\n\n') : '(empty answer)';
}

/**
 * What a tool call hands the service of its request: the host's cancel signal, its roots, the
 * principal the HTTP transport authenticated, and, when the host asked for progress, a sender of
 * its notices (`_meta.delta` carries a notice's exact new text, so a client can rebuild the
 * answer; `message` is for people). Shared by `chat` and `chat_many`.
 */
export function hostHooks(server: McpServer, extra: RequestHandlerExtra<ServerRequest, ServerNotification>): ChatHooks {
  const progressToken = extra._meta?.progressToken;
  return {
    signal: extra.signal,
    roots: () => clientRoots(server, extra.signal),
    principal: principalOf(extra.authInfo),
    progress:
      progressToken === undefined
        ? undefined
        : (notice) =>
            extra.sendNotification({
              method: 'notifications/progress',
              params: {
                progressToken,
                progress: notice.progress,
                message: notice.message,
                ...(notice.delta === undefined ? {} : { _meta: { delta: notice.delta } }),
              },
            }),
  };
}

/**
 * The content lines after the answer that `chat` and `chat_many` share: the notes, and the thread
 * id (hosts that show only content still need it to continue the thread).
 */
export function notesAndThread(result: { notes?: string[]; conversation_id?: string }): Array<{ type: 'text'; text: string }> {
  return [
    ...(result.notes ? [{ type: 'text' as const, text: `Note: ${result.notes.join('; ')}` }] : []),
    ...(result.conversation_id ? [{ type: 'text' as const, text: `conversation_id: ${result.conversation_id}` }] : []),
  ];
}

// A client that never answers roots/list must not hold the call up for long.
const ROOTS_TIMEOUT_MS = 5000;

/** The client's roots as local paths, or undefined when it has no roots capability. */
async function clientRoots(server: McpServer, signal: AbortSignal): Promise<string[] | undefined> {
  if (!server.server.getClientCapabilities()?.roots) return undefined;
  const { roots } = await server.server.listRoots(undefined, { signal, timeout: ROOTS_TIMEOUT_MS });
  return roots.filter((root) => root.uri.startsWith('file://')).map((root) => fileURLToPath(root.uri));
}

/** Registers `chat`: one call to one model (with fallbacks), streamed as progress when asked. */
export function registerChatTool(server: McpServer, service: LlmService, logger: Logger): ToolEntry {
  const tool = server.registerTool(
    'chat',
    {
      title: 'Chat with an LLM',
      description:
        'Ask an LLM (OpenAI, Anthropic, DeepSeek, Qwen, custom). Give prompt or messages. Returns answer, tool calls, usage, cost USD.',
      inputSchema: chatInputSchema,
      outputSchema: chatOutputSchema,
      // readOnlyHint and idempotentHint are false by default (MCP spec); destructiveHint is not.
      annotations: { destructiveHint: false, openWorldHint: true },
    },
    async (args, extra) => {
      try {
        const result = await service.chat(toChatInput(args), hostHooks(server, extra));
        const content = [{ type: 'text' as const, text: resultText(result) }, ...notesAndThread(result)];
        content.push({ type: 'text', text: chatSummaryLine(result) });
        return { content, structuredContent: { ...result } };
      } catch (error) {
        return toolFailure(error, logger, service.scrubber);
      }
    },
  );
  return ['chat', tool];
}
