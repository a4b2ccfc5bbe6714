import {
  ClientRequestSchema,
  ErrorCode,
  JSONRPCMessageSchema,
  JSONRPCNotificationSchema,
  JSONRPCRequestSchema,
  type JSONRPCMessage,
  type JSONRPCRequest,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';

/** One incoming line, judged: a message to hand to the server, or a fault to answer or log. */
export type CheckedMessage =
  | { ok: true; message: JSONRPCMessage }
  | {
      ok: false;
      /** The sender's id when it could be read: the fault is then answered under that id. */
      id?: RequestId;
      code: number;
      reason: string;
    };

// The SDK checks each request's params only inside its handler, and answers a failure with the
// raw zod issue list. Checking them here, with the SDK's own schemas, gives the same verdict
// with a sentence a person can read.
let paramsSchemas: Map<string, z.ZodType> | undefined;
function paramsSchemaOf(method: string): z.ZodType | undefined {
  paramsSchemas ??= new Map(
    ClientRequestSchema.options.map((schema) => [schema.shape.method.value as string, schema as unknown as z.ZodType]),
  );
  return paramsSchemas.get(method);
}

const MAX_REASON_CHARS = 300;

/** Parses one JSON-RPC line and checks it as the MCP SDK would, with readable reasons. */
export function checkIncomingMessage(line: string): CheckedMessage {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    return { ok: false, code: ErrorCode.ParseError, reason: `Parse error: the line is not JSON (${clip((error as Error).message)})` };
  }
  if (Array.isArray(value)) {
    return { ok: false, code: ErrorCode.InvalidRequest, reason: 'Invalid request: a JSON-RPC message is one JSON object (batches are not part of MCP)' };
  }
  return checkMessageValue(value);
}

/**
 * Checks one parsed JSON-RPC message (a line on stdio, a POST body or one member of a batch over
 * HTTP) as the MCP SDK would, with readable reasons.
 */
export function checkMessageValue(value: unknown): CheckedMessage {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, code: ErrorCode.InvalidRequest, reason: `Invalid request: a JSON-RPC message is one JSON object, not ${preview(value)}` };
  }
  const record = value as Record<string, unknown>;
  if (isSoundToolCall(record)) return { ok: true, message: record as JSONRPCRequest };
  const id = usableId(record.id);
  let parsed: ReturnType<typeof JSONRPCMessageSchema.safeParse>;
  try {
    parsed = JSONRPCMessageSchema.safeParse(record);
  } catch (error) {
    // A message nested deeper than the stack allows.
    return { ok: false, id, code: ErrorCode.InvalidRequest, reason: `Invalid request: ${clip((error as Error).message)}` };
  }
  if (!parsed.success) return { ok: false, id, code: ErrorCode.InvalidRequest, reason: `Invalid request: ${envelopeProblem(record)}` };

  const message = parsed.data;
  if ('method' in message && 'id' in message) {
    const schema = paramsSchemaOf(message.method);
    if (schema) {
      let result: ReturnType<z.ZodType['safeParse']>;
      try {
        result = schema.safeParse(message);
      } catch (error) {
        return { ok: false, id, code: ErrorCode.InvalidParams, reason: `Invalid params for ${message.method}: ${clip((error as Error).message)}` };
      }
      if (!result.success) {
        const missing = message.params === undefined;
        const reason = missing
          ? `Invalid params: ${message.method} needs params (an object)${message.method === 'tools/call' ? ' such as {"name": "chat", "arguments": {"prompt": "…"}}' : ''}; none were sent`
          : `Invalid params for ${message.method}: ${describeIssues(result.error.issues)}`;
        return { ok: false, id, code: ErrorCode.InvalidParams, reason };
      }
    }
  }
  return { ok: true, message };
}

const REQUEST_KEYS = new Set(['jsonrpc', 'id', 'method', 'params']);

/**
 * The gateway's hot path, a well-formed `tools/call`, judged with one zod parse instead of two:
 * an envelope JSONRPCRequestSchema takes (jsonrpc "2.0", a string or safe-integer id, no other
 * keys) and params CallToolRequestSchema takes. Those params satisfy the request schema's own
 * params (both check `_meta` with the same schema), so the full check would accept the message
 * too, and give it back unchanged but for copying. Anything else, or a throw, takes the full
 * check below, which alone words the reasons.
 */
function isSoundToolCall(record: Record<string, unknown>): boolean {
  if (record.method !== 'tools/call' || record.jsonrpc !== '2.0') return false;
  if (typeof record.id !== 'string' && !Number.isSafeInteger(record.id)) return false;
  for (const key of Object.keys(record)) if (!REQUEST_KEYS.has(key)) return false;
  try {
    return paramsSchemaOf('tools/call')!.safeParse(record).success;
  } catch {
    return false;
  }
}

/** An id the answer can carry: JSON-RPC allows a string or a number. */
function usableId(id: unknown): RequestId | undefined {
  if (typeof id === 'string') return id;
  if (typeof id === 'number' && Number.isFinite(id)) return id;
  return undefined;
}

/** The first thing wrong with a message's envelope, said plainly (the union's own error is not). */
function envelopeProblem(record: Record<string, unknown>): string {
  if (record.jsonrpc !== '2.0') return `"jsonrpc" must be "2.0", not ${preview(record.jsonrpc)}`;
  if ('id' in record && !(typeof record.id === 'string' || Number.isInteger(record.id))) {
    return `"id" must be a string or an integer, not ${preview(record.id)}`;
  }
  if ('method' in record) {
    if (typeof record.method !== 'string') return `"method" must be a string, not ${preview(record.method)}`;
    if ('params' in record && (typeof record.params !== 'object' || record.params === null || Array.isArray(record.params))) {
      return `"params" must be an object or left out, not ${preview(record.params)}`;
    }
    const meta = (record.params as Record<string, unknown> | undefined)?._meta;
    if (meta !== undefined) {
      if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) return `"params._meta" must be an object, not ${preview(meta)}`;
      const token = (meta as Record<string, unknown>).progressToken;
      if ('progressToken' in meta && !(typeof token === 'string' || Number.isInteger(token))) {
        return `"params._meta.progressToken" must be a string or an integer, not ${preview(token)}`;
      }
    }
    const schema = 'id' in record ? JSONRPCRequestSchema : JSONRPCNotificationSchema;
    const result = schema.safeParse(record);
    if (!result.success) return describeIssues(result.error.issues);
  }
  if (!('method' in record) && !('result' in record) && !('error' in record)) {
    return 'a message needs "method" (a request or notification), or "result" or "error" (a response)';
  }
  return 'not a JSON-RPC 2.0 request, notification or response';
}

/** Up to three zod issues as `path: problem`. */
function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  const parts = issues.slice(0, 3).map((issue) => {
    const path = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => `${path ? `${path}.` : ''}${key}: unknown key`).join('; ');
    const message = issue.code === 'invalid_union' ? 'not any of the accepted shapes' : issue.message.replace(/^Invalid input: /, '');
    return `${path || '(message)'}: ${message}`;
  });
  if (issues.length > 3) parts.push(`and ${issues.length - 3} more`);
  return clip(parts.join('; '));
}

/** A short rendering of a value for an error message: never the whole of a huge input. */
function preview(value: unknown): string {
  if (value === undefined) return 'missing';
  if (typeof value === 'string') return `${JSON.stringify(value.slice(0, 40))}${value.length > 40 ? '…' : ''}`;
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object' && value !== null) return 'an object';
  return String(value);
}

function clip(text: string): string {
  return text.length > MAX_REASON_CHARS ? `${text.slice(0, MAX_REASON_CHARS)}…` : text;
}
