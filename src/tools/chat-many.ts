import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { formatUsd } from '../ledger/cost.js';
import { chatMany, unknownTotal, type ChatManyDeps, type ChatManyEntry, type ChatManyResult } from '../llm/chat-many.js';
import type { Logger } from '../logger.js';
import { chatInputSchema, hostHooks, notesAndThread, toChatInput } from './chat.js';
import type { ToolEntry } from './tool-table.js';
import { toolFailure, UserInputError } from './tool-failure.js';

// The rest of chat's input is accepted but not repeated here: tools/list is read into the host's
// context on every conversation (SPEC: 5 KB for all tools), and chat's entry already spells those
// fields out. They are checked in the handler against chat's own schema.
const { model: _model, fallback_models: _fallbacks, ...shared } = chatInputSchema;
const sharedInput = z.strictObject(shared);

export const chatManyInputSchema = z.looseObject({
  models: z.array(z.string().min(1)).min(2).max(8),
  // A whole number of at least 1000, checked in the handler: `.int()` alone would list the
  // safe-integer bounds, and the listing is read into every host's context.
  deadline_ms: z.number().optional(),
});

export const chatManyOutputSchema = {
  // Each entry: chat's result fields, or {model, error, cancelled?, latency_ms, cost_usd, call_id?}.
  // `conversation_id` and `notes` (the kept answer, an unknown total) are not listed: the
  // listing's bytes are every host's context.
  results: z.array(z.unknown()),
  total_cost_usd: z.number().nullable(),
};

// A section per model stays short; the whole answers are in structuredContent.results.
const SECTION_CHARS = 1200;

/** The side-by-side text: a short section per model, then the total. */
export function chatManyText(result: ChatManyResult): string {
  const sections = result.results.map((entry: ChatManyEntry) => {
    const cost = entry.cost_usd === null ? 'cost unknown' : formatUsd(entry.cost_usd, 6);
    // A model never contacted billed nothing: its section says only why.
    if ('error' in entry) return `## ${entry.model}: ${entry.cancelled ? 'cancelled' : 'failed'}${entry.call_id ? ` · ${cost}` : ''}\n${entry.error}`;
    const head = `## ${entry.model} (${entry.provider}) · ${(entry.latency_ms / 1000).toFixed(1)} s · ${entry.usage.total_tokens ?? 0} tokens · ${cost}`;
    let body = entry.content === '' ? '' : entry.content;
    if (body.length > SECTION_CHARS) body = `${body.slice(0, SECTION_CHARS)}… (${body.length - SECTION_CHARS} more characters in structuredContent)`;
    if (entry.tool_calls.length > 0) body += `${body ? '\n' : ''}Tool calls: ${entry.tool_calls.map((c) => `${c.name}(${JSON.stringify(c.arguments)})`).join('; ')}`;
    return `${head}\n${body || '(empty answer)'}`;
  });
  const answered = result.results.filter((r) => !('error' in r)).length;
  const unknown = result.results.filter((r) => r.cost_usd === null).length;
  const known = result.results.reduce((sum, r) => sum + (r.cost_usd ?? 0), 0);
  const total = result.total_cost_usd === null ? unknownTotal(known, unknown) : formatUsd(result.total_cost_usd, 6);
  sections.push(`Total: ${total} (${answered} of ${result.results.length} answered)`);
  return sections.join('\n\n');
}

/** Registers `chat_many`: the same request to 2–8 models in parallel under one deadline. */
export function registerChatManyTool(server: McpServer, deps: ChatManyDeps, logger: Logger): ToolEntry {
  const tool = server.registerTool(
    'chat_many',
    {
      description: "chat's input, on 2-8 models at once until deadline_ms",
      inputSchema: chatManyInputSchema,
      outputSchema: chatManyOutputSchema,
      annotations: { openWorldHint: true },
    },
    async (args, extra) => {
      try {
        const { models, deadline_ms, ...rest } = args;
        if (deadline_ms !== undefined && !(Number.isInteger(deadline_ms) && deadline_ms >= 1000)) {
          throw new UserInputError(`deadline_ms must be a whole number of milliseconds, at least 1000 (got ${deadline_ms})`);
        }
        const parsed = sharedInput.safeParse(rest);
        if (!parsed.success) {
          const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(arguments)'}: ${i.message}`).join('; ');
          throw new UserInputError(`chat_many takes chat's input (no model or fallback_models) plus models and deadline_ms: ${issues}`);
        }
        // The same hooks as chat's: a chat_many notice never carries a delta (chat-many-progress.ts).
        const result = await chatMany(deps, { ...toChatInput(parsed.data), models, deadline_ms }, hostHooks(server, extra));
        const content = [{ type: 'text' as const, text: chatManyText(result) }, ...notesAndThread(result)];
        return { content, structuredContent: { ...result } };
      } catch (error) {
        return toolFailure(error, logger, deps.service.scrubber);
      }
    },
  );
  return ['chat_many', tool];
}
