/**
 * Every tool behaviour a host sees, as one table run over each transport (stdio and Streamable
 * HTTP) against the built server: the same cases, not a copy per transport.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult, RequestId } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { progressDelta } from '../support/harness.js';
import type { Upstream } from '../support/upstream.js';

const PKG = JSON.parse(readFileSync(join(fileURLToPath(new URL('../../', import.meta.url)), 'package.json'), 'utf8')) as { version: string };

export interface ToolTableTransport {
  /** `stdio` or `Streamable HTTP`: names the describe block. */
  name: string;
  /** Starts a fresh server with an empty ledger and connects the SDK client to it. */
  start(): Promise<{ client: Client; stderr: () => string; close: () => Promise<void>; raw: RawSender }>;
  /** All a healthy server writes to stderr at the default log level. */
  quietStderr: RegExp;
  upstream: () => Upstream;
  /** API keys the server was given: they must appear only in the upstream's requests. */
  keys: { openai: string; anthropic: string };
}

/**
 * Sends one hand-written JSON-RPC text to an initialized server (a line on stdio, a POST body over
 * HTTP) and resolves with the answer carrying `id`, and the HTTP status where there is one.
 */
export type RawSender = (text: string, id: RequestId) => Promise<{ answer: any; status?: number }>;

/** Malformed requests a broken or hostile host could send, each with the reason its answer must give. */
export const MALFORMED: Array<[id: RequestId, text: string, expected: RegExp]> = [
  [1, '{"jsonrpc":"1.0","id":1,"method":"tools/list"}', /"jsonrpc" must be "2\.0"/],
  [2, '{"id":2,"method":"tools/list"}', /"jsonrpc" must be "2\.0", not missing/],
  [3, '{"jsonrpc":"2.0","id":3,"method":"tools/list","params":"all"}', /"params" must be an object/],
  [4, '{"jsonrpc":"2.0","id":4,"method":"tools/list","params":[1]}', /"params" must be an object/],
  [5, '{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"list_models","arguments":{},"_meta":{"progressToken":1.5}}}', /progressToken" must be a string or an integer, not 1\.5/],
  [6, '{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"list_models","arguments":{},"_meta":{"progressToken":{"a":1}}}}', /progressToken" must be a string or an integer/],
  [7, '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"list_models","arguments":{},"_meta":{"progressToken":null}}}', /progressToken" must be a string or an integer, not null/],
  [8, '{"jsonrpc":"2.0","id":8,"method":"tools/call"}', /tools\/call needs params \(an object\).*none were sent/],
  [9, '{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"arguments":{}}}', /Invalid params for tools\/call: params\.name: expected string/],
  [10, '{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"chat","arguments":"prompt"}}', /params\.arguments: expected record/],
  [11, '{"jsonrpc":"2.0","id":11,"method":42}', /"method" must be a string/],
  [12, '{"jsonrpc":"2.0","id":12,"method":"ping","surprise":true}', /surprise: unknown key/],
  [13, '{"jsonrpc":"2.0","id":13}', /needs "method"/],
  [14, '{"jsonrpc":"2.0","id":14,"method":"tools/call","params":{"name":"list_models","_meta":"x"}}', /"params\._meta" must be an object/],
  ['str-id', '{"jsonrpc":"2.0","id":"str-id","method":"initialize"}', /initialize needs params/],
];

function text(result: CallToolResult): string {
  const first = result.content[0];
  return first && first.type === 'text' ? first.text : '';
}

/** Declares the table's cases over one transport. */
export function describeToolTable(transport: ToolTableTransport): void {
  describe(`the tools over ${transport.name} with the MCP SDK client`, () => {
    let client: Client;
    let stderr: () => string;
    let close: () => Promise<void>;
    let raw: RawSender;

    beforeAll(async () => {
      ({ client, stderr, close, raw } = await transport.start());
    }, 60_000);

    afterAll(async () => {
      await close?.();
    });

    it('initializes with the package name and version', () => {
      expect(client.getServerVersion()).toMatchObject({ name: 'llm-service-mcp', version: PKG.version });
      expect(client.getServerCapabilities()?.tools).toBeDefined();
    });

    it('lists exactly the four tools, annotated, with output schemas, in under 5 KB (SPEC §4)', async () => {
      const listed = await client.listTools();
      const byName = Object.fromEntries(listed.tools.map((t) => [t.name, t]));
      expect(listed.tools.map((t) => t.name).sort()).toEqual(['chat', 'chat_many', 'get_cost', 'list_models']);
      expect(byName.list_models?.annotations?.readOnlyHint).toBe(true);
      expect(byName.get_cost?.annotations?.readOnlyHint).toBe(true);
      expect(byName.chat?.annotations?.openWorldHint).toBe(true);
      expect(byName.chat_many?.annotations?.openWorldHint).toBe(true);
      for (const tool of listed.tools) {
        expect(tool.outputSchema, `${tool.name} outputSchema`).toBeDefined();
        expect(tool.outputSchema?.type).toBe('object');
      }
      const bytes = Buffer.byteLength(JSON.stringify(listed), 'utf8');
      expect(bytes).toBeLessThan(5000);
    });

    it('chats with an OpenAI model through the upstream', async () => {
      const upstream = transport.upstream();
      const before = upstream.requests.length;
      const result = (await client.callTool({ name: 'chat', arguments: { model: 'gpt-6-luna', prompt: 'ping openai' } })) as CallToolResult;
      expect(result.isError).toBeFalsy();
      expect(text(result)).toBe('echo: ping openai');
      expect(result.structuredContent).toMatchObject({ content: 'echo: ping openai', model: 'gpt-6-luna', provider: 'openai', finish_reason: 'stop' });
      const req = upstream.requests[before];
      expect(req?.path).toBe('/v1/chat/completions');
      expect(req?.headers.authorization).toBe(`Bearer ${transport.keys.openai}`);
    });

    it('chats with an Anthropic model through the upstream', async () => {
      const upstream = transport.upstream();
      const before = upstream.requests.length;
      const result = (await client.callTool({ name: 'chat', arguments: { model: 'claude-haiku-4-5', prompt: 'ping anthropic' } })) as CallToolResult;
      expect(result.isError).toBeFalsy();
      expect(text(result)).toBe('echo: ping anthropic');
      expect(result.structuredContent).toMatchObject({ model: 'claude-haiku-4-5', provider: 'anthropic' });
      const req = upstream.requests[before];
      expect(req?.path).toBe('/v1/messages');
      // @anthropic-ai/sdk 1.x sends the key as a bearer token; older versions used x-api-key.
      const sentKey = req?.headers['x-api-key'] ?? String(req?.headers.authorization ?? '').replace(/^Bearer /, '');
      expect(sentKey).toBe(transport.keys.anthropic);
    });

    it('streams a chat as progress notifications', async () => {
      const upstream = transport.upstream();
      const chunks = ['Streaming ', 'over ', 'the ', 'wire ', 'works.'];
      upstream.enqueue({ kind: 'openai', chunks, chunkDelayMs: 70 });
      const progress: { progress: number; message?: string; delta?: string }[] = [];
      const result = (await client.callTool({ name: 'chat', arguments: { model: 'gpt-6-luna', prompt: 'stream please' } }, undefined, {
        onprogress: (p) => progress.push({ progress: p.progress, message: p.message, delta: progressDelta(p) }),
      })) as CallToolResult;
      expect(result.isError).toBeFalsy();
      expect(text(result)).toBe(chunks.join(''));
      expect(upstream.requests.at(-1)?.body?.stream).toBe(true);
      expect(progress.length).toBeGreaterThanOrEqual(2);
      for (let i = 1; i < progress.length; i++) expect(progress[i]!.progress).toBeGreaterThan(progress[i - 1]!.progress);
      // `_meta.delta` rebuilds the answer; `message` is the line a host shows: the answer so far.
      expect(progress.map((p) => p.delta ?? '').join('')).toBe(chunks.join(''));
      expect(progress.at(-1)!.message).toBe('Streaming over the wire works.');
      expect(progress[0]!.message).toBe('Streaming');
    });

    it('lists models', async () => {
      const result = (await client.callTool({ name: 'list_models', arguments: {} })) as CallToolResult;
      expect(result.isError).toBeFalsy();
      // The compact shape: rows under their provider, the column names said once.
      const sc = result.structuredContent as {
        default_model: string;
        columns: string[];
        providers: Record<string, { configured: boolean; models: unknown[][] }>;
      };
      // The built-in default of the day (gpt-4o-mini, gpt-6-luna from 2027-01-14): which one on
      // which day is pinned by test/tools/retirement.test.ts; the child runs on the real clock.
      expect(['gpt-4o-mini', 'gpt-6-luna']).toContain(sc.default_model);
      expect(sc.columns[0]).toBe('id');
      const ids = Object.values(sc.providers).flatMap((p) => p.models.map((row) => row[0]));
      expect(ids).toEqual(expect.arrayContaining(['gpt-4o-mini', 'claude-haiku-4-5']));
      expect(sc.providers.openai?.configured).toBe(true);
      expect(sc.providers.openai?.models.some((row) => row[0] === 'gpt-4o-mini')).toBe(true);
      expect(text(result)).toContain('gpt-4o-mini');
    });

    it('reports the calls just made in get_cost', async () => {
      const result = (await client.callTool({ name: 'get_cost', arguments: { group_by: 'model' } })) as CallToolResult;
      expect(result.isError).toBeFalsy();
      const sc = result.structuredContent as {
        total: Record<string, number>;
        session: Record<string, number>;
        groups: { key: string; calls: number }[];
      };
      expect(sc.total.calls).toBe(3);
      expect(sc.session.calls).toBe(3);
      expect(sc.total.failed_calls).toBe(0);
      expect(sc.total.cost_usd).toBeGreaterThan(0);
      const groups = Object.fromEntries(sc.groups.map((g) => [g.key, g.calls]));
      expect(groups).toMatchObject({ 'gpt-6-luna': 2, 'claude-haiku-4-5': 1 });
      expect(text(result)).toContain('claude-haiku-4-5');
    });

    it('answers bad arguments with a clear error and keeps serving', async () => {
      const bad = (await client.callTool({ name: 'chat', arguments: { model: 'gpt4', prompt: 'x' } })) as CallToolResult;
      expect(bad.isError).toBe(true);
      expect(text(bad)).toMatch(/Unknown model 'gpt4'/);
      const ok = (await client.callTool({ name: 'list_models', arguments: { provider: 'openai' } })) as CallToolResult;
      expect(ok.isError).toBeFalsy();
    });

    it('answers each malformed request under its id with a readable JSON-RPC error, and keeps serving', async () => {
      for (const [id, line, expected] of MALFORMED) {
        const { answer, status } = await raw(line, id);
        // Over HTTP the error is the request's answer (200), so the client matches it to its call.
        if (status !== undefined) expect(status, line).toBe(200);
        expect(answer.jsonrpc, line).toBe('2.0');
        expect(answer.id, line).toBe(id);
        expect(answer.result, line).toBeUndefined();
        expect([-32600, -32602], line).toContain(answer.error?.code);
        expect(answer.error.message, line).toMatch(expected);
        // A sentence, not a dump of validation objects.
        expect(answer.error.message, line).not.toMatch(/[[{]\s*\n|"code":|"expected":/);
      }
      const ok = (await client.callTool({ name: 'list_models', arguments: { provider: 'anthropic' } })) as CallToolResult;
      expect(ok.isError).toBeFalsy();
    });

    it('at the default log level, stderr holds no more than the start-up address, and never a key', () => {
      const log = stderr();
      expect(log).toMatch(transport.quietStderr);
      expect(log).not.toContain(transport.keys.openai);
      expect(log).not.toContain(transport.keys.anthropic);
    });
  });
}
