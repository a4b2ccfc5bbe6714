/**
 * The team gateway: MCP Streamable HTTP at `/mcp`, stateless (nothing a request brings outlives
 * its answer, so any instance can answer any request), behind bearer authentication, an Origin
 * allow-list, a body cap and a per-principal concurrency cap. Plus `/healthz`, `/readyz` and the
 * RFC 9728 protected-resource document.
 *
 * Two paths to the tools: a POST holding one request other than `initialize` goes to one
 * long-lived McpServer over SharedHttpTransport (shared-http-transport.ts: cheap, and it keeps no
 * client's state); everything else (initialize, batches, notifications, header errors) gets a
 * fresh McpServer and the SDK's StreamableHTTPServerTransport, as the SDK's stateless example does.
 *
 * Shape: the transport authenticates and hands the principal to the tools in the SDK's
 * `authInfo.extra.principal`; it knows nothing of models or the ledger.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createAuthenticator } from '../http/auth.js';
import { ConcurrencyLimiter } from '../http/concurrency-limiter.js';
import type { HttpSettings } from '../http/http-settings.js';
import { BodyTooLargeError, readBody } from '../http/read-body.js';
import { logsAt, type Logger } from '../logger.js';
import type { Principal } from '../principal.js';
import type { CreatedServer } from '../server.js';
import { checkHttpBody } from './check-http-body.js';
import { SharedHttpTransport, sharedServerTakes } from './shared-http-transport.js';

export interface HttpGatewayDeps {
  settings: HttpSettings;
  created: CreatedServer;
  logger: Logger;
  /** Whether the ledger can take a call (for `/readyz`). */
  ready: () => Promise<boolean>;
}

export interface HttpGateway {
  /** `http://host:port`, with the port actually bound. */
  url: string;
  /**
   * Stops accepting, lets calls in flight finish for up to `drainMs`, cancels and records the
   * rest, answers every request still open, then closes every socket.
   */
  close(drainMs: number): Promise<void>;
}

const MCP_PATH = '/mcp';
const RESOURCE_METADATA_PATH = '/.well-known/oauth-protected-resource';
// After the service has drained, the last answers are on their way out: how long to let the
// sockets take them before closing them anyway.
const FLUSH_AFTER_DRAIN_MS = 5_000;

/** Starts listening; resolves once bound (port 0 picks a free one). */
export async function startHttpGateway(deps: HttpGatewayDeps): Promise<HttpGateway> {
  const { settings, created, logger } = deps;
  const authenticate = createAuthenticator(settings);
  const limiter = new ConcurrencyLimiter(settings.maxConcurrentPerPrincipal);
  // Requests whose tools/call is running, by principal and JSON-RPC id: a stateless server gets a
  // client's notifications/cancelled on another POST, and finds the call to stop here.
  const cancellable = new Map<string, () => void>();
  const open = new Set<ServerResponse>();
  let draining = false;
  // The request log line (at info): off by default, and then neither built nor listened for.
  const logRequests = logsAt(logger, 'info');
  const { server: sharedServer, tools } = created.mcpServer();
  const shared = new SharedHttpTransport({ tools, server: sharedServer.server });
  await sharedServer.connect(shared);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = Date.now();
    open.add(res);
    // One close listener per answer: what the request holds by then (its concurrency slot, its
    // entry among the cancellable calls) is let go here.
    let letGo: (() => void) | undefined;
    res.on('close', () => {
      open.delete(res);
      letGo?.();
    });
    // Nearly every request is for exactly `/mcp`: its path needs no URL parsing.
    const path = req.url === MCP_PATH ? MCP_PATH : new URL(req.url ?? '/', 'http://gateway').pathname;
    let principalName = '-';
    if (logRequests && path === MCP_PATH) {
      res.on('finish', () => logger.info(`http ${req.method} ${path} principal=${principalName} status=${res.statusCode} latency=${Date.now() - started}ms`));
    }

    if (req.method === 'GET' && path === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (req.method === 'GET' && path === '/readyz') {
      const ready = !draining && (await deps.ready());
      return sendJson(res, ready ? 200 : 503, { status: draining ? 'draining' : ready ? 'ready' : 'not ready' });
    }
    if (req.method === 'GET' && (path === RESOURCE_METADATA_PATH || path === `${RESOURCE_METADATA_PATH}${MCP_PATH}`)) {
      return sendJson(res, 200, {
        resource: `${publicBase(req, settings)}${MCP_PATH}`,
        authorization_servers: settings.authorizationServers,
        bearer_methods_supported: ['header'],
        resource_name: 'llm-service-mcp',
      });
    }
    if (path !== MCP_PATH) return sendJson(res, 404, { error: 'not_found', error_description: `No such path; MCP is served at ${MCP_PATH}` });

    // DNS rebinding: a browser page on another site must not reach us through a name that
    // resolves to our address. Clients that are not browsers send no Origin.
    const origin = req.headers.origin;
    if (origin !== undefined && !settings.allowedOrigins.includes(origin)) {
      return sendRpcError(res, 403, -32000, 'Forbidden: this Origin is not in http.allowedOrigins');
    }
    if (draining) {
      res.setHeader('Retry-After', '5');
      res.setHeader('Connection', 'close');
      return sendRpcError(res, 503, -32000, 'The server is shutting down: retry on another instance');
    }
    if (req.method !== 'POST') {
      // Stateless: no session, so no standalone SSE stream (GET) and nothing to delete (DELETE).
      res.setHeader('Allow', 'POST');
      return sendRpcError(res, 405, -32000, 'Method not allowed: this stateless server takes POST only');
    }

    const auth = await authenticate(req.headers.authorization);
    if (!auth.ok) {
      const metadata = `${publicBase(req, settings)}${RESOURCE_METADATA_PATH}`;
      res.setHeader('WWW-Authenticate', `Bearer error="invalid_token", error_description="${auth.description.replace(/"/g, "'")}", resource_metadata="${metadata}"`);
      return sendJson(res, 401, { error: 'invalid_token', error_description: auth.description });
    }
    const principal = auth.principal;
    principalName = principal?.name ?? '-';

    const slot = limiter.acquire(principal?.name ?? '');
    if (!slot) {
      res.setHeader('Retry-After', '1');
      return sendRpcError(res, 429, -32000, `Too many concurrent requests for ${principal?.name ?? 'this client'} (at most ${settings.maxConcurrentPerPrincipal}): retry shortly`);
    }
    letGo = slot.release;
    // The client went away while its token was verified (a JWKS fetch can take seconds): its
    // close has been and gone, so the slot is given back here or never.
    if (res.closed) return slot.release();

    let body: unknown;
    try {
      body = JSON.parse(await readBody(req, settings.maxBodyBytes));
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        res.setHeader('Connection', 'close');
        return sendRpcError(res, 413, -32000, `Request body over ${settings.maxBodyBytes} bytes (http.maxBodyBytes)`);
      }
      return sendRpcError(res, 400, -32700, 'Parse error: the body is not JSON');
    }

    // Checked here, as on stdio, so a malformed message gets a readable JSON-RPC error under its
    // id rather than the SDK transport's raw validation text.
    const checked = checkHttpBody(body);
    if (!checked.ok) {
      logger.debug(`http: answered a malformed body with status ${checked.status}`);
      return sendJson(res, checked.status, checked.answer);
    }

    const messages = checked.messages;
    for (const message of messages) cancelIfAsked(message, principal, cancellable);

    if (sharedServerTakes(messages, req.headers)) {
      const [message] = messages;
      const key = callKey(message, principal);
      let stopCall = (): void => undefined;
      // Cancelled by the client: MCP sends no answer to a cancelled request, so the open HTTP
      // answer just ends.
      const cancel = (): void => {
        stopCall();
        if (!res.headersSent) res.writeHead(204);
        res.end();
      };
      if (key !== undefined) {
        cancellable.set(key, cancel);
        letGo = () => {
          slot.release();
          if (cancellable.get(key) === cancel) cancellable.delete(key);
        };
      }
      // A tools/call with a progress token streams its notifications, so it is answered as SSE.
      stopCall = shared.dispatch(message, res, { sse: wantsProgress(message), authInfo: authInfoFor(principal), headers: req.headers });
      return;
    }

    const { server } = created.mcpServer();
    // A tools/call with a progress token streams its notifications, so it is answered as SSE;
    // everything else as one JSON body.
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: !messages.some(wantsProgress) });
    const keys = messages.map((message) => callKey(message, principal)).filter((key): key is string => key !== undefined);
    const stop = (): void => {
      void transport.close().catch(() => undefined);
      void server.close().catch(() => undefined);
    };
    // Cancelled by the client: the call is aborted (and recorded); MCP sends no answer to a
    // cancelled request, so the open HTTP answer just ends.
    const cancel = (): void => {
      stop();
      if (!res.headersSent) res.writeHead(204);
      res.end();
    };
    for (const key of keys) cancellable.set(key, cancel);
    // The client went away (or the answer is done): abort what is still running, so the provider
    // request is cut and the call recorded as cancelled.
    res.on('close', () => {
      for (const key of keys) if (cancellable.get(key) === cancel) cancellable.delete(key);
      stop();
    });
    const request = req as IncomingMessage & { auth?: AuthInfo };
    request.auth = authInfoFor(principal);
    try {
      await server.connect(transport);
      await transport.handleRequest(request, res, body);
    } catch (error) {
      logger.error(`http: ${error instanceof Error ? error.message : String(error)}`);
      if (!res.headersSent) sendRpcError(res, 500, -32603, 'Internal server error');
    }
  };

  // Node checks the header and request timeouts only every connectionsCheckingInterval (30 s by
  // default): check every second so a stalled client is cut near its limit.
  const httpServer: Server = createHttpServer({ connectionsCheckingInterval: 1_000 }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      logger.error(`http: ${error instanceof Error ? error.message : String(error)}`);
      if (!res.headersSent) sendRpcError(res, 500, -32603, 'Internal server error');
      else res.destroy();
    });
  });
  // A slow or stalled client must not hold a socket: bounded time for the headers and the whole
  // request body; idle keep-alive sockets close soon. Answers (SSE) are not bounded here: a call
  // may stream for minutes, and its own timeouts end it.
  httpServer.headersTimeout = settings.headersTimeoutMs;
  httpServer.requestTimeout = settings.requestTimeoutMs;
  httpServer.keepAliveTimeout = settings.keepAliveTimeoutMs;

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(settings.port, settings.host, () => {
      httpServer.off('error', reject);
      resolve();
    });
  });
  const address = httpServer.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;

  return {
    url,
    close: async (drainMs: number) => {
      if (draining) return;
      draining = true;
      // No new connections; idle keep-alive sockets go now, busy ones when their answer is sent.
      const closed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
      httpServer.closeIdleConnections();
      // The calls in flight finish (or are cancelled at drainMs) and are recorded.
      await created.close({ drainMs });
      await sharedServer.close();
      // Their answers are being written: give the sockets a bounded moment, then close them all.
      const deadline = Date.now() + FLUSH_AFTER_DRAIN_MS;
      while (open.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      httpServer.closeAllConnections();
      await closed;
    },
  };
}

/** The principal travels to the tools in the SDK's authInfo; the token itself does not. */
function authInfoFor(principal: Principal | undefined): AuthInfo | undefined {
  if (!principal) return undefined;
  return { token: '(not kept)', clientId: principal.name, scopes: [], extra: { principal } };
}

function callKey(message: unknown, principal: Principal | undefined): string | undefined {
  const m = message as { method?: unknown; id?: unknown } | null;
  if (!m || m.method !== 'tools/call' || (typeof m.id !== 'string' && typeof m.id !== 'number')) return undefined;
  return `${principal?.name ?? ''}\n${String(m.id)}`;
}

/** A client's `notifications/cancelled` stops that client's (same principal's) call. */
function cancelIfAsked(message: unknown, principal: Principal | undefined, cancellable: Map<string, () => void>): void {
  const m = message as { method?: unknown; params?: { requestId?: unknown } } | null;
  if (!m || m.method !== 'notifications/cancelled') return;
  const id = m.params?.requestId;
  if (typeof id !== 'string' && typeof id !== 'number') return;
  const key = `${principal?.name ?? ''}\n${String(id)}`;
  const stop = cancellable.get(key);
  if (stop) {
    cancellable.delete(key);
    stop();
  }
}

function wantsProgress(message: unknown): boolean {
  const m = message as { method?: unknown; params?: { _meta?: { progressToken?: unknown } } } | null;
  return m?.method === 'tools/call' && m.params?._meta?.progressToken !== undefined;
}

/** The base URL clients reach us at: `http.publicUrl`, else what the request's Host says. */
function publicBase(req: IncomingMessage, settings: HttpSettings): string {
  if (settings.publicUrl) return settings.publicUrl;
  const host = req.headers.host ?? `${settings.host}:${settings.port}`;
  return `http://${host}`;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function sendRpcError(res: ServerResponse, status: number, code: number, message: string): void {
  sendJson(res, status, { jsonrpc: '2.0', error: { code, message }, id: null });
}
