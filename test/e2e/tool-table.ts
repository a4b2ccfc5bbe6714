/**
 * Every tool behaviour a host sees, as one table run over each transport (stdio and Streamable
 * HTTP) against the built server: the same cases, not a copy per transport.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { progressDelta } from '../support/harness.js';
import type { Upstream } from '../support/upstream.js';

const PKG = JSON.parse(readFileSync(join(fileURLToPath(new URL('../../', import.meta.url)), 'package.json'), 'utf8')) as { version: string };

export interface ToolTableTransport {
  /** `stdio` or `Streamable HTTP`: names the describe block. */
  name: string;
  /** Starts a fresh server with an empty ledger and connects the SDK client to it. */
  start(): Promise<{ client: Client; stderr: () => string; close: () => Promise<void> }>;
  /** All a healthy server writes to stderr at the default log level. */
  quietStderr: RegExp;
  upstream: () => Upstream;
  /** API keys the server was given: they must appear only in the upstream's requests. */
  keys: { openai: string; anthropic: string };
}

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

    beforeAll(async () => {
      ({ client, stderr, close } = await transport.start());
    }, 60_000);

    afterAll(async () => {
      await close?.();
    });

    it('initializes with the package name and version', () => {
      expect(client.getServerVersion()).toMatchObject({ name: 'llm-service-mcp', version: PKG.version });
      expect(client.getServerCapabilities()?.tools).toBeDefined();
    });

    it('lists exactly the three tools, annotated, with output schemas, in under 5 KB (SPEC §4)', async () => {
      const listed = await client.listTools();
      const byName = Object.fromEntries(listed.tools.map((t) => [t.name, t]));
      expect(listed.tools.map((t) => t.name).sort()).toEqual(['chat', 'get_cost', 'list_models']);
      expect(byName.list_models?.annotations?.readOnlyHint).toBe(true);
      expect(byName.get_cost?.annotations?.readOnlyHint).toBe(true);
      expect(byName.chat?.annotations?.openWorldHint).toBe(true);
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
      const result = (await client.callTool({ name: 'chat', arguments: { model: 'gpt-4o-mini', prompt: 'ping openai' } })) as CallToolResult;
      expect(result.isError).toBeFalsy();
      expect(text(result)).toBe('echo: ping openai');
      expect(result.structuredContent).toMatchObject({ content: 'echo: ping openai', model: 'gpt-4o-mini', provider: 'openai', finish_reason: 'stop' });
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
      const result = (await client.callTool({ name: 'chat', arguments: { model: 'gpt-4o-mini', prompt: 'stream please' } }, undefined, {
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
      const sc = result.structuredContent as { models: { id: string; configured: boolean }[]; default_model: string };
      expect(sc.default_model).toBe('gpt-4o-mini');
      const ids = sc.models.map((m) => m.id);
      expect(ids).toEqual(expect.arrayContaining(['gpt-4o-mini', 'claude-haiku-4-5']));
      expect(sc.models.find((m) => m.id === 'gpt-4o-mini')?.configured).toBe(true);
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
      expect(groups).toMatchObject({ 'gpt-4o-mini': 2, 'claude-haiku-4-5': 1 });
      expect(text(result)).toContain('claude-haiku-4-5');
    });

    it('answers bad arguments with a clear error and keeps serving', async () => {
      const bad = (await client.callTool({ name: 'chat', arguments: { model: 'gpt4', prompt: 'x' } })) as CallToolResult;
      expect(bad.isError).toBe(true);
      expect(text(bad)).toMatch(/Unknown model 'gpt4'/);
      const ok = (await client.callTool({ name: 'list_models', arguments: { provider: 'openai' } })) as CallToolResult;
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
