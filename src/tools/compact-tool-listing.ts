import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ListToolsRequestSchema, type ListToolsResult } from '@modelcontextprotocol/sdk/types.js';

type Json = unknown;

/** Drops JSON Schema keywords that cost context and tell a host model nothing it needs. */
export function compactSchema(schema: Json, isOutput: boolean): Json {
  if (Array.isArray(schema)) return schema.map((item) => compactSchema(item, isOutput));
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Record<string, Json> = {};
  for (const [key, value] of Object.entries(schema as Record<string, Json>)) {
    if (key === '$schema') continue;
    if (key === 'additionalProperties' && value === false) continue;
    if (key === 'propertyNames') continue;
    // zod writes these for .int() and .min(1); the server checks them anyway.
    if (key === 'maximum' && value === Number.MAX_SAFE_INTEGER) continue;
    if ((key === 'minLength' || key === 'minItems') && value === 1) continue;
    // Output schemas are for reading results; their length limits and required lists add
    // context on every conversation while the server already checks its own output.
    if (isOutput && (key === 'minLength' || key === 'minItems' || key === 'required')) continue;
    out[key] = key === 'properties' ? Object.fromEntries(Object.entries(value as Record<string, Json>).map(([k, v]) => [k, compactSchema(v, isOutput)])) : compactSchema(value, isOutput);
  }
  return out;
}

/**
 * The whole `tools/list` answer is read into the host model's context on every conversation,
 * so the schemas the SDK generates are trimmed before they are sent. The SDK offers no hook
 * for this, so the registered handler is wrapped.
 */
export function compactToolListing(server: McpServer): void {
  const handlers = (server.server as unknown as { _requestHandlers: Map<string, (request: unknown, extra: unknown) => Promise<ListToolsResult>> })._requestHandlers;
  const original = handlers.get('tools/list');
  if (!original) return;
  server.server.setRequestHandler(ListToolsRequestSchema, async (request, extra) => {
    const result = await original(request, extra);
    return {
      ...result,
      tools: result.tools.map(({ execution, ...tool }) => ({
        ...tool,
        // taskSupport 'forbidden' is what an absent `execution` means already.
        ...(execution && execution.taskSupport !== 'forbidden' ? { execution } : {}),
        inputSchema: compactSchema(tool.inputSchema, false) as ListToolsResult['tools'][number]['inputSchema'],
        ...(tool.outputSchema ? { outputSchema: compactSchema(tool.outputSchema, true) as ListToolsResult['tools'][number]['outputSchema'] } : {}),
      })),
    };
  });
}
