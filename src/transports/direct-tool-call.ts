/**
 * A `tools/call` answered without the SDK's per-request machinery, for the gateway's shared path
 * (shared-http-transport.ts). Per call the SDK's Protocol re-checks the message with zod (is it a
 * response? a request?), its Server wrapper parses the request and the result with zod, and its
 * McpServer parses the result once more against the tool's output schema: together about a
 * quarter of the gateway's own CPU per call, for checks that either already ran (check-message.ts
 * checks every request's params with the SDK's own schemas before it gets here) or check our own
 * output (its schemas are asserted by the tests instead: test/tools/output-schemas.test.ts).
 *
 * What a client sees is the McpServer's answer, to the byte: the same `isError` texts for an
 * unknown or disabled tool and for arguments the tool's schema refuses (the SDK's own zod parse
 * and message formatting, from its zod-compat module), the handler's result as is, and a handler's
 * throw as an `isError` result with its message.
 */
import type { RegisteredTool } from '@modelcontextprotocol/sdk/server/mcp.js';
import { getParseErrorMessage, safeParseAsync } from '@modelcontextprotocol/sdk/server/zod-compat.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  ErrorCode,
  McpError,
  RELATED_TASK_META_KEY,
  type CallToolRequest,
  type CallToolResult,
  type JSONRPCRequest,
  type ServerNotification,
  type ServerRequest,
} from '@modelcontextprotocol/sdk/types.js';
import type { ToolTable } from '../tools/tool-table.js';

export type ToolCallExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/**
 * Whether `request` is a tools/call this module answers as the SDK would. Task-augmented calls
 * (`params.task`, or `_meta` naming a related task) take the SDK's path, which answers them with
 * its own errors: none of our tools runs as a task.
 */
export function isDirectToolCall(request: JSONRPCRequest): boolean {
  if (request.method !== 'tools/call') return false;
  const params = request.params as (Partial<CallToolRequest['params']> & { task?: unknown }) | undefined;
  if (typeof params?.name !== 'string' || params.task !== undefined) return false;
  return params._meta === undefined || !(RELATED_TASK_META_KEY in params._meta);
}

/**
 * Runs the tool `params.name` names, as McpServer's tools/call handler does: unknown or disabled
 * tool, or arguments its input schema refuses, give the same `isError` result; otherwise the
 * handler's result. Our McpServers set no `maxToolInputElements`, so the SDK's element count is
 * not repeated here.
 */
export async function callTool(tools: ToolTable, params: CallToolRequest['params'], extra: ToolCallExtra): Promise<CallToolResult> {
  const name = params.name;
  try {
    const tool = tools.get(name);
    if (!tool) throw new McpError(ErrorCode.InvalidParams, `Tool ${name} not found`);
    if (!tool.enabled) throw new McpError(ErrorCode.InvalidParams, `Tool ${name} disabled`);
    return await runHandler(tool, name, params.arguments, extra);
  } catch (error) {
    return { content: [{ type: 'text', text: error instanceof Error ? error.message : String(error) }], isError: true };
  }
}

async function runHandler(tool: RegisteredTool, name: string, args: Record<string, unknown> | undefined, extra: ToolCallExtra): Promise<CallToolResult> {
  // registerTool registers no task handlers (taskSupport 'forbidden'): a tool with an input schema
  // is called with (args, extra), one without with (extra), as in the SDK's executeToolHandler.
  if (!tool.inputSchema) return await (tool.handler as (extra: ToolCallExtra) => CallToolResult | Promise<CallToolResult>)(extra);
  const handler = tool.handler as (args: unknown, extra: ToolCallExtra) => CallToolResult | Promise<CallToolResult>;
  const parsed = await safeParseAsync(tool.inputSchema, args ?? {});
  if (!parsed.success) {
    throw new McpError(ErrorCode.InvalidParams, `Input validation error: Invalid arguments for tool ${name}: ${getParseErrorMessage(parsed.error)}`);
  }
  return await handler(parsed.data, extra);
}
