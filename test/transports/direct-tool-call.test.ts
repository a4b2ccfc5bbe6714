/**
 * The gateway's shared path answers tools/call from the tool table (direct-tool-call.ts) instead
 * of through the SDK's Protocol and McpServer. Each case here is sent to both, over real HTTP on
 * loopback: a SharedHttpTransport calling the tools directly, and one handing every request to
 * its McpServer as before (no tool table). A client must not be able to tell them apart: the same
 * status, headers and bytes, for the branches the shared tool table (test/e2e/tool-table.ts) does
 * not reach: an unknown or disabled tool, arguments the schema refuses, a handler's own error,
 * progress over SSE, and a cancelled call.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JSONRPCRequest } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRows } from '../ledger-integration/fixtures/helpers.js';
import { startHarness, type Harness } from '../support/harness.js';
import { SharedHttpTransport } from '../../src/transports/shared-http-transport.js';
import type { ToolServer } from '../../src/server.js';

interface Endpoint {
  url: string;
  served: ToolServer;
  close: () => Promise<void>;
}

/** A loopback HTTP server handing each POSTed request to `transport`, as http.ts does. */
async function endpoint(served: ToolServer, transport: SharedHttpTransport): Promise<Endpoint> {
  await served.server.connect(transport);
  const http: Server = createHttpServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      const message = JSON.parse(body) as JSONRPCRequest;
      const sse = (message.params as { _meta?: { progressToken?: unknown } } | undefined)?._meta?.progressToken !== undefined;
      transport.dispatch(message, res, { sse, headers: req.headers });
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    served,
    close: async () => {
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
      await served.server.close();
    },
  };
}

interface Answer {
  status: number;
  type: string | null;
  body: string;
}

async function post(at: Endpoint, request: object, signal?: AbortSignal): Promise<Answer> {
  const response = await fetch(at.url, { method: 'POST', body: JSON.stringify(request), headers: { 'content-type': 'application/json' }, signal });
  return { status: response.status, type: response.headers.get('content-type'), body: await response.text() };
}

let id = 0;
const toolCall = (name: string, args?: unknown, meta?: object): object => ({
  jsonrpc: '2.0',
  id: ++id,
  method: 'tools/call',
  params: { name, ...(args === undefined ? {} : { arguments: args }), ...(meta ? { _meta: meta } : {}) },
});

// What differs between two calls of the same chat: its ids and timing, not its shape.
const VARYING = /"(call_id|conversation_id|latency_ms)":("[^"]*"|\d+)|conversation_id: [\w-]+/g;
const steady = (answer: Answer): Answer => ({ ...answer, body: answer.body.replace(VARYING, (match, key) => (key ? `"${key}":"…"` : 'conversation_id: …')) });

/**
 * How a streamed answer's deltas are coalesced into progress notifications depends on timing
 * (one notice per 50 ms of deltas 20 ms apart: a loaded machine groups them otherwise), not on
 * the path that sends them: the notices are compared as one, with the deltas joined and the last
 * progress and message, every other byte of them as sent.
 */
const steadyProgress = (answer: Answer): Answer => {
  const { body } = steady(answer);
  const events = body.split('\n\n').filter(Boolean);
  const notices = events.filter((event) => event.includes('"method":"notifications/progress"'));
  if (notices.length === 0) return { ...answer, body };
  const parsed = notices.map((event) => JSON.parse(event.slice(event.indexOf('data: ') + 6)) as { params: { progress: number; message: string; _meta?: { delta?: string } } });
  const merged = structuredClone(parsed.at(-1)!);
  merged.params._meta = { ...merged.params._meta, delta: parsed.map((notice) => notice.params._meta?.delta ?? '').join('') };
  const first = notices[0]!;
  const rest = events.filter((event) => !notices.includes(event));
  return { ...answer, body: [`${first.slice(0, first.indexOf('data: ') + 6)}${JSON.stringify(merged)}`, ...rest].join('\n\n') };
};

describe('tools/call on the shared path, answered directly or by the SDK', () => {
  let harness: Harness;
  let direct: Endpoint;
  let sdk: Endpoint;

  beforeAll(async () => {
    harness = await startHarness();
    const directServed = harness.created.mcpServer();
    direct = await endpoint(directServed, new SharedHttpTransport({ tools: directServed.tools, server: directServed.server.server }));
    sdk = await endpoint(harness.created.mcpServer(), new SharedHttpTransport());
  }, 30_000);

  afterAll(async () => {
    await direct?.close();
    await sdk?.close();
    await harness?.close();
  });

  /** Sends `request` to both (the SDK first) and expects the same answer from each. */
  async function same(request: object, normalize: (answer: Answer) => Answer = (answer) => answer): Promise<Answer> {
    const bySdk = normalize(await post(sdk, request));
    const byDirect = normalize(await post(direct, request));
    expect(byDirect).toEqual(bySdk);
    return byDirect;
  }

  it.each([
    ['an unknown tool', toolCall('no_such_tool', {}), /"MCP error -32602: Tool no_such_tool not found"/],
    ['a wrong argument type', toolCall('chat', { prompt: 3 }), /"MCP error -32602: Input validation error: Invalid arguments for tool chat: /],
    ['an argument out of range and an unknown enum value', toolCall('chat', { prompt: 'x', temperature: 5, reasoning_effort: 'max' }), /at temperature\\n.*at reasoning_effort"/],
    ['an empty messages list', toolCall('chat', { messages: [] }), /messages needs at least one message at messages"/],
    ["chat_many's own schema", toolCall('chat_many', { models: ['gpt-6-luna'] }), /Invalid arguments for tool chat_many: .* at models"/],
    ['no arguments at all (taken as {})', toolCall('chat'), /"isError":true/],
    ["the handler's own refusal", toolCall('chat', { model: 'gpt4', prompt: 'x' }), /Unknown model 'gpt4'/],
  ])('%s: the same isError answer', async (_name, request, expected) => {
    const answer = await same(request);
    expect(answer).toMatchObject({ status: 200, type: 'application/json' });
    expect(answer.body).toMatch(expected);
    expect(JSON.parse(answer.body)).toMatchObject({ jsonrpc: '2.0', id: (request as { id: number }).id, result: { isError: true } });
  });

  it('list_models, get_cost and a chat: the same answers, byte for byte', async () => {
    await same(toolCall('list_models', {}));
    await same(toolCall('list_models', { provider: 'anthropic', configured_only: true }));
    await same(toolCall('get_cost', { group_by: 'model' }));
    const chat = await same(toolCall('chat', { model: 'gpt-6-luna', prompt: 'same bytes' }), steady);
    expect(JSON.parse(chat.body).result.structuredContent).toMatchObject({ content: 'echo: same bytes', model: 'gpt-6-luna' });
  });

  it('a disabled tool: the same answer', async () => {
    direct.served.tools.get('get_cost')!.disable();
    sdk.served.tools.get('get_cost')!.disable();
    try {
      const answer = await same(toolCall('get_cost', {}));
      expect(answer.body).toMatch(/"MCP error -32602: Tool get_cost disabled"/);
    } finally {
      direct.served.tools.get('get_cost')!.enable();
      sdk.served.tools.get('get_cost')!.enable();
    }
  });

  it('a chat with a progress token: the same SSE stream of progress notifications and result', async () => {
    const chunks = ['Progress ', 'goes ', 'out ', 'as SSE.'];
    harness.upstream.enqueue({ kind: 'openai', chunks, chunkDelayMs: 20 }, { kind: 'openai', chunks, chunkDelayMs: 20 });
    const request = toolCall('chat', { model: 'gpt-6-luna', prompt: 'stream' }, { progressToken: 'p-1' });
    const bySdk = await post(sdk, request);
    const answer = await post(direct, request);
    expect(steadyProgress(answer)).toEqual(steadyProgress(bySdk));
    expect(answer.type).toBe('text/event-stream');
    const events = steady(answer).body.split('\n\n').filter(Boolean);
    const progress = events.slice(0, -1);
    expect(progress.length).toBeGreaterThanOrEqual(2);
    for (const event of progress) expect(event).toMatch(/^event: message\ndata: \{"method":"notifications\/progress","params":\{"progressToken":"p-1",/);
    const deltas = progress.map((event) => (JSON.parse(event.slice(event.indexOf('data: ') + 6)) as { params: { _meta?: { delta?: string } } }).params._meta?.delta ?? '');
    expect(deltas.join('')).toBe(chunks.join(''));
    expect(events.at(-1)).toMatch(/^event: message\ndata: \{"result":\{"content":\[\{"type":"text","text":"Progress goes out as SSE\."/);
  });

  it('a client that goes away cancels the call: the provider request is cut and it is recorded as cancelled, as by the SDK', async () => {
    const cancelled = () => readRows(harness.dbPath, "status = 'cancelled'").map((row) => `${row.status}: ${row.error}`);
    harness.upstream.setDefault({ kind: 'hang' });
    try {
      for (const at of [sdk, direct]) {
        const before = cancelled().length;
        const index = harness.upstream.requests.length;
        const controller = new AbortController();
        const pending = post(at, toolCall('chat', { model: 'gpt-6-luna', prompt: 'never answered' }), controller.signal).catch((error: Error) => error);
        await harness.upstream.waitForRequests(index + 1, 10_000);
        controller.abort();
        expect(await pending).toBeInstanceOf(Error);
        await harness.upstream.waitForClose(index, 5_000);
        await expect.poll(() => cancelled().length, { timeout: 5_000 }).toBe(before + 1);
      }
    } finally {
      harness.upstream.setDefault({ kind: 'auto' });
    }
    // The direct call's row says what the SDK's says.
    const [bySdk, byDirect] = cancelled();
    expect(byDirect).toBe(bySdk);
    expect(bySdk).toMatch(/^cancelled: /);
  });
});
