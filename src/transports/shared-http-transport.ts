/**
 * The gateway's fast path: one long-lived McpServer answers every stateless POST that holds a
 * single request (tools/call, tools/list, ping), over this transport, which writes Streamable HTTP
 * straight onto Node's response: one JSON body, or, when the request carries a progress token, an
 * SSE stream of its notifications ending with its result. Building an McpServer and the SDK's
 * transport for every POST cost more CPU than the rest of the request (see BENCHMARKS.md, http).
 *
 * Stateless all the same: nothing a request brings outlives its answer.
 * - Request ids: every client numbers its own requests, so each request is handed to the server
 *   under a fresh internal id and its answer goes back under the client's own id.
 * - `initialize` never reaches this server (http.ts sends it down the per-request path), so the
 *   server holds no client's capabilities or version: like a fresh per-request server, it never
 *   asks any client for roots, sampling or elicitation.
 * - A cancelled request or a client that went away aborts that request only (a
 *   `notifications/cancelled` for its internal id, or the abort of a direct call), never the
 *   server.
 *
 * A `tools/call` skips the server's Protocol: it is answered from the tool table directly
 * (direct-tool-call.ts), with the same answer, progress notifications and cancellation as the SDK
 * would give it. Everything else (tools/list, ping, task-augmented calls) goes to the server.
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  ErrorCode,
  McpError,
  SUPPORTED_PROTOCOL_VERSIONS,
  type CallToolRequest,
  type JSONRPCMessage,
  type JSONRPCRequest,
  type MessageExtraInfo,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import type { ToolTable } from '../tools/tool-table.js';
import { callTool, isDirectToolCall, type ToolCallExtra } from './direct-tool-call.js';

// As the SDK's Streamable HTTP transport sends them.
const SSE_HEADERS = { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache, no-transform', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' };
// The SDK's default keep-alive comment interval on an SSE answer.
const KEEP_ALIVE_MS = 15_000;
// What a cancelled request's handler sees as its signal's reason.
const CANCEL_REASON = 'The client cancelled the request or went away';

interface PendingRequest {
  clientId: RequestId;
  res: ServerResponse;
  sse: boolean;
  keepAlive?: NodeJS.Timeout;
  /** A tools/call run directly: aborting it cancels the call. */
  call?: AbortController;
}

/** The tools the shared path calls directly, and the server their notifications go out through. */
export interface DirectTools {
  tools: ToolTable;
  /** The McpServer's underlying server, connected to this transport. */
  server: Server;
}

/**
 * Whether the shared server may take this POST: one request (not a batch, not a notification or
 * response), not `initialize`, and headers the SDK's transport would accept. Anything else goes
 * down the per-request path, which answers it exactly as before (including its header errors).
 */
export function sharedServerTakes(messages: readonly JSONRPCMessage[], headers: IncomingHttpHeaders): messages is [JSONRPCRequest] {
  if (messages.length !== 1) return false;
  const message = messages[0] as Partial<JSONRPCRequest>;
  if (typeof message.method !== 'string' || message.id === undefined || message.method === 'initialize') return false;
  const accept = headers.accept;
  if (!accept?.includes('application/json') || !accept.includes('text/event-stream')) return false;
  const type = headers['content-type'];
  if (type !== 'application/json' && !type?.startsWith('application/json;')) return false;
  const version = headers['mcp-protocol-version'];
  return version === undefined || (typeof version === 'string' && SUPPORTED_PROTOCOL_VERSIONS.includes(version));
}

export class SharedHttpTransport implements Transport {
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;

  private lastId = 0;
  private readonly pending = new Map<number, PendingRequest>();
  private closed = false;

  /** Without `direct`, every request goes to the server (the tests compare the two paths). */
  constructor(private readonly direct?: DirectTools) {}

  async start(): Promise<void> {}

  /**
   * Hands `request` to the server; its answer is written to `res`, as SSE when `sse`. Returns a
   * function that cancels the request (its answer is then never written).
   */
  dispatch(request: JSONRPCRequest, res: ServerResponse, options: { sse: boolean; authInfo?: AuthInfo; headers: IncomingHttpHeaders }): () => void {
    const id = ++this.lastId;
    const entry: PendingRequest = { clientId: request.id, res, sse: options.sse };
    this.pending.set(id, entry);
    if (entry.sse) {
      res.writeHead(200, SSE_HEADERS);
      res.flushHeaders();
      entry.keepAlive = setInterval(() => res.write(': keepalive\n\n'), KEEP_ALIVE_MS);
      entry.keepAlive.unref();
    }
    if (this.direct && isDirectToolCall(request)) entry.call = new AbortController();
    const cancel = (): void => {
      if (this.pending.get(id) !== entry) return;
      this.forget(id, entry);
      if (entry.call) entry.call.abort(CANCEL_REASON);
      else this.onmessage?.({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: CANCEL_REASON } });
    };
    // The client went away before its answer: stop the call (it is recorded as cancelled).
    res.on('close', cancel);
    if (entry.call) this.callDirectly(this.direct!, id, entry.call.signal, request, options).catch((error: unknown) => this.onerror?.(error instanceof Error ? error : new Error(String(error))));
    else this.onmessage?.({ ...request, id }, { authInfo: options.authInfo, requestInfo: { headers: options.headers } });
    return cancel;
  }

  /**
   * Runs a tools/call as the SDK's Protocol would hand it to McpServer's handler (the same
   * `extra`; notifications go out through the server under this request's internal id) and
   * writes its answer, unless it was cancelled meanwhile: MCP answers no cancelled request.
   */
  private async callDirectly(
    direct: DirectTools,
    id: number,
    signal: AbortSignal,
    request: JSONRPCRequest,
    options: { authInfo?: AuthInfo; headers: IncomingHttpHeaders },
  ): Promise<void> {
    const params = request.params as CallToolRequest['params'];
    const extra: ToolCallExtra = {
      signal,
      requestId: id,
      _meta: params._meta,
      authInfo: options.authInfo,
      requestInfo: { headers: options.headers },
      sendNotification: async (notification) => {
        if (!signal.aborted) await direct.server.notification(notification, { relatedRequestId: id });
      },
      sendRequest: async (message, resultSchema, requestOptions) => {
        if (signal.aborted) throw new McpError(ErrorCode.ConnectionClosed, 'Request was cancelled');
        return await direct.server.request(message, resultSchema, { ...requestOptions, relatedRequestId: id });
      },
    };
    const result = await callTool(direct.tools, params, extra);
    if (signal.aborted) return;
    // Key order as the SDK's Protocol builds a response: the bytes are the same.
    await this.send({ result, jsonrpc: '2.0', id });
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const isAnswer = 'id' in message && ('result' in message || 'error' in message);
    const id = isAnswer ? message.id : options?.relatedRequestId;
    // Nothing outside a request's answer: a stateless server has no standalone stream.
    if (typeof id !== 'number') return;
    const entry = this.pending.get(id);
    // Cancelled, or its client went away: the answer has nowhere to go.
    if (!entry) return;
    if (!isAnswer) {
      // A JSON answer carries the result only; notifications go out on an SSE answer.
      if (entry.sse) entry.res.write(sseEvent(message));
      return;
    }
    this.forget(id, entry);
    const answer = { ...message, id: entry.clientId } as JSONRPCMessage;
    if (entry.sse) {
      entry.res.end(sseEvent(answer));
      return;
    }
    const text = JSON.stringify(answer);
    entry.res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    entry.res.end(text);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [id, entry] of this.pending) {
      this.forget(id, entry);
      // As the SDK's Protocol aborts its request handlers when its transport closes.
      entry.call?.abort();
    }
    this.onclose?.();
  }

  private forget(id: number, entry: PendingRequest): void {
    this.pending.delete(id);
    if (entry.keepAlive) clearInterval(entry.keepAlive);
  }
}

function sseEvent(message: JSONRPCMessage): string {
  return `event: message\ndata: ${JSON.stringify(message)}\n\n`;
}
