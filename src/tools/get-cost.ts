import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { formatCostReport } from '../ledger/cost-table.js';
import type { LlmService } from '../llm/llm-service.js';
import type { Logger } from '../logger.js';
import { principalOf } from './principal-of.js';
import type { ToolEntry } from './tool-table.js';
import { toolFailure } from './tool-failure.js';

export const getCostInputSchema = {
  since: z.string().min(1).optional().describe('ISO 8601 date/time or a span back: 24h, 7d'),
  until: z.string().min(1).optional(),
  model: z.string().min(1).optional(),
  provider: z.string().min(1).optional(),
  conversation_id: z.string().min(1).optional(),
  group_by: z.enum(['model', 'provider', 'day', 'principal', 'none']).optional(),
};

// calls, failed_calls, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_calls,
// unknown_cost_calls:
// declared as a record of numbers because the full shape, repeated three times, would triple
// this tool's share of the host's context.
const totals = z.record(z.string(), z.number());

export const getCostOutputSchema = {
  total: totals,
  groups: z.array(z.record(z.string(), z.union([z.string(), z.number()]))),
  session: totals,
  budget: z.record(z.string(), z.number().nullable()).nullable(),
};

/** Registers `get_cost`: spend recorded in the ledger, filtered and grouped, with budget status. */
export function registerGetCostTool(server: McpServer, service: LlmService, logger: Logger): ToolEntry {
  const tool = server.registerTool(
    'get_cost',
    {
      title: 'LLM spend',
      description: 'LLM calls and spend in USD from the ledger: totals, groups, this session, budget.',
      inputSchema: getCostInputSchema,
      outputSchema: getCostOutputSchema,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async (args, extra) => {
      try {
        const report = await service.costReport(args, principalOf(extra.authInfo));
        const text = formatCostReport(report, { groupBy: args.group_by ?? 'model' });
        return { content: [{ type: 'text', text }], structuredContent: { ...report } };
      } catch (error) {
        return toolFailure(error, logger, service.scrubber);
      }
    },
  );
  return ['get_cost', tool];
}
