import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { STALE_WARNING, type LlmService, type ModelListing } from '../llm/llm-service.js';
import type { Logger } from '../logger.js';
import { compactModelListing } from './compact-model-listing.js';
import { formatTable } from './format-table.js';
import type { ToolEntry } from './tool-table.js';
import { toolFailure } from './tool-failure.js';

export const listModelsInputSchema = {
  provider: z.string().min(1).optional(),
  configured_only: z.boolean().optional(),
};

// The compact shape (see compact-model-listing.ts), declared loosely: a full schema of the rows
// would cost the host's context on every conversation what the rows themselves save.
export const listModelsOutputSchema = {
  default_model: z.string(),
  columns: z.array(z.string()),
  capability_codes: z.string(),
  providers: z.record(z.string(), z.object({ configured: z.boolean(), models: z.array(z.array(z.union([z.string(), z.number(), z.null()]))) })),
  aliases: z.record(z.string(), z.string()),
  price_checked: z.record(z.string(), z.string()),
};

function price(value: number | null): string {
  return value === null ? '?' : String(value);
}

/** The compact text table a host model reads: one line per model. */
export function formatModelListing(listing: ModelListing): string {
  const rows = listing.models.map((m) => [
    m.id,
    m.provider,
    m.context_window === null ? '?' : `${Math.round(m.context_window / 1000)}k`,
    `${price(m.pricing.input_per_mtok)}/${price(m.pricing.output_per_mtok)}`,
    [m.capabilities.tools ? 'tools' : '', m.capabilities.vision ? 'vision' : '', m.capabilities.reasoning ? 'reasoning' : ''].filter(Boolean).join(','),
    m.configured ? 'yes' : 'no',
  ]);
  const table = formatTable(['model', 'provider', 'context', '$/Mtok in/out', 'capabilities', 'configured'], rows);
  return [
    table,
    ...priceNotes(listing),
    `default model: ${listing.default_model}; any model of a provider also works as provider:model`,
  ].join('\n');
}

/**
 * One line of price-check dates (the usual date, then the exceptions), stale prices, and the
 * retirements past or coming, one line per date and replacement (`gpt-4o, gpt-4o-mini retire
 * 2027-01-14; use gpt-6-luna`): the table itself does not mark them, so its model column stays as
 * narrow as the longest id.
 */
function priceNotes(listing: ModelListing): string[] {
  const byDate = new Map<string, string[]>();
  for (const m of listing.models) {
    const date = m.price_checked ?? 'not checked';
    byDate.set(date, [...(byDate.get(date) ?? []), m.id]);
  }
  const [usual, ...others] = [...byDate.entries()].sort((a, b) => b[1].length - a[1].length);
  const lines: string[] = [];
  if (usual) lines.push(`prices checked ${usual[0]}${others.map(([date, ids]) => `; ${date}: ${ids.join(', ')}`).join('')}`);
  const stale = listing.models.filter((m) => m.warning?.includes(STALE_WARNING)).map((m) => m.id);
  if (stale.length > 0) lines.push(`stale prices (checked over 90 days ago): ${stale.join(', ')}`);
  const retirements = new Map<string, string[]>();
  for (const m of listing.models.filter((model) => model.warning?.startsWith('retire'))) {
    const note = m.warning!.split(`; ${STALE_WARNING}`)[0]!;
    retirements.set(note, [...(retirements.get(note) ?? []), m.id]);
  }
  for (const [note, ids] of retirements) lines.push(`${ids.join(', ')} ${ids.length > 1 ? note.replace(/^retires /, 'retire ') : note}`);
  return lines;
}

/** Registers `list_models`: the registry with prices, limits, capabilities and whether each is usable. */
export function registerListModelsTool(server: McpServer, service: LlmService, logger: Logger): ToolEntry {
  const tool = server.registerTool(
    'list_models',
    {
      title: 'List LLM models',
      description: 'Models chat can call: context, $ per 1M tokens, capabilities, configured.',
      inputSchema: listModelsInputSchema,
      outputSchema: listModelsOutputSchema,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async (args) => {
      try {
        const listing = service.listModels({ provider: args.provider, configuredOnly: args.configured_only });
        return { content: [{ type: 'text', text: formatModelListing(listing) }], structuredContent: { ...compactModelListing(listing) } };
      } catch (error) {
        return toolFailure(error, logger, service.scrubber);
      }
    },
  );
  return ['list_models', tool];
}
