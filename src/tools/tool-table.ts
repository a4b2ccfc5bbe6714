import type { RegisteredTool } from '@modelcontextprotocol/sdk/server/mcp.js';

/** One registered tool: its name and what the SDK's `registerTool` returned for it. */
export type ToolEntry = readonly [name: string, tool: RegisteredTool];

/**
 * The tools of one McpServer by name, as its `registerTool` calls returned them (the SDK's public
 * RegisteredTool: input schema, handler, enabled), so the gateway's shared path can call a tool
 * without the SDK's per-request machinery (src/transports/direct-tool-call.ts). Our tools are
 * registered once and never renamed or removed, so this table and the server's own agree.
 */
export type ToolTable = ReadonlyMap<string, RegisteredTool>;
