/**
 * Hostile input on stdin, end to end against the built dist/cli.js: oversized messages are
 * answered with an error naming the limit (the process stays up, calls in flight finish), and
 * every malformed request that carries an id gets a readable JSON-RPC error. Each case then
 * checks the server still answers tools/list.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CHILD_KEYS, childSetup, ensureBuilt, RawChild, sdkClient, type ChildSetup } from '../support/stdio-child.js';
import { MALFORMED } from './tool-table.js';
import { useUpstream } from '../support/use-upstream.js';

const TOOLS = ['chat', 'chat_many', 'get_cost', 'list_models'];
const MiB = 1024 * 1024;

const upstream = useUpstream();
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  ensureBuilt();
}, 120_000);
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function setup(config?: unknown): ChildSetup {
  const s = childSetup(upstream, config);
  cleanups.push(s.cleanup);
  return s;
}

function raw(s: ChildSetup): RawChild {
  const child = new RawChild(s);
  cleanups.push(() => child.close());
  return child;
}

describe('messages over the size limit', () => {
  it('answers an 11 MB chat, refuses a 33 MiB one by name of the limit, keeps a call in flight and the connection', async () => {
    const s = setup();
    const { client, stderr } = await sdkClient(s);
    cleanups.push(() => client.close());

    // A slow streamed answer stays in flight while the big messages arrive.
    upstream.enqueue({ kind: 'openai', chunks: ['still ', 'here ', 'after ', 'the ', 'flood'], chunkDelayMs: 150 });
    const before = upstream.requests.length;
    const inFlight = client.callTool({ name: 'chat', arguments: { model: 'gpt-6-luna', prompt: 'slow one' } }, undefined, { onprogress: () => undefined });
    await upstream.waitForRequests(before + 1);

    upstream.enqueue({ kind: 'openai', content: 'got it' });
    const big = 'x'.repeat(11 * 1000 * 1000);
    const bigResult = (await client.callTool({ name: 'chat', arguments: { model: 'gpt-6-luna', prompt: big } })) as CallToolResult;
    expect(bigResult.isError).toBeFalsy();
    expect(bigResult.structuredContent).toMatchObject({ content: 'got it' });
    expect(upstream.requests.at(-1)?.body?.messages?.at(-1)?.content).toHaveLength(big.length);

    const huge = 'y'.repeat(33 * MiB);
    await expect(client.callTool({ name: 'chat', arguments: { model: 'gpt-6-luna', prompt: huge } })).rejects.toThrow(
      /Message too large: \d+ bytes, over the limit of 33554432 bytes \(32 MiB\).*maxMessageBytes/,
    );

    const slow = (await inFlight) as CallToolResult;
    expect(slow.isError).toBeFalsy();
    expect(slow.structuredContent).toMatchObject({ content: 'still here after the flood' });
    expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(TOOLS);
    for (const key of Object.values(CHILD_KEYS)) expect(stderr()).not.toContain(key);
  }, 60_000);

  it('honours maxMessageBytes from the config file and finds the id wherever it sits in the line', async () => {
    const s = setup({ maxMessageBytes: 64 * 1024 });
    const child = raw(s);
    await child.initialize();
    const prompt = 'z'.repeat(100 * 1024);
    // The id last, after the huge params, as some hosts serialise it.
    await child.write(`{"jsonrpc":"2.0","method":"tools/call","params":{"name":"chat","arguments":{"prompt":"${prompt}","x":{"id":"inner"}}},"id":41}\n`);
    const refused = await child.response(41);
    expect(refused.error.code).toBe(-32600);
    expect(refused.error.message).toContain('over the limit of 65536 bytes');
    // A message just under the limit still goes through.
    upstream.enqueue({ kind: 'openai', content: 'fits' });
    await child.request(42, 'tools/call', { name: 'chat', arguments: { model: 'gpt-6-luna', prompt: 'w'.repeat(60 * 1024) } });
    expect((await child.response(42)).result.structuredContent.content).toBe('fits');
    expect(await child.toolsListed(43)).toEqual(TOOLS);
    expect(child.alive()).toBe(true);
  }, 30_000);

  it('refuses a maxMessageBytes the server cannot honour at start, naming the key', async () => {
    const s = setup({ maxMessageBytes: 1024 * MiB });
    const child = raw(s);
    const { code } = await child.exited;
    expect(code).toBe(1);
    expect(child.stderr).toMatch(/maxMessageBytes/);
  });
});

describe('malformed JSON-RPC', () => {
  it('answers each request that has an id with a readable error, and keeps serving', async () => {
    const child = raw(setup());
    await child.initialize();
    // The one table of malformed requests (also run over HTTP), here written all at once.
    const cases = MALFORMED;
    for (const [, line] of cases) await child.write(`${line}\n`);
    for (const [id, line, expected] of cases) {
      const answer = await child.response(id);
      expect(answer.error, line).toBeDefined();
      expect([-32600, -32602]).toContain(answer.error.code);
      expect(answer.error.message, line).toMatch(expected);
      // A sentence, not a dump of validation objects.
      expect(answer.error.message, line).not.toMatch(/[[{]\s*\n|"code":|"expected":/);
    }
    // (The table's string id was echoed as a string above.) An id-less garbage line is logged, never answered.
    await child.write('not json at all\n[1,2]\n{"jsonrpc":"2.0","method":"notifications/x","params":7}\n');
    expect(await child.toolsListed(99)).toEqual(TOOLS);
    for (const line of child.lines) {
      const message = JSON.parse(line);
      expect(message.jsonrpc).toBe('2.0');
      expect(message.id, line).toBeDefined();
    }
    // stderr is a pipe of its own: its line may arrive after the answer on stdout.
    await expect.poll(() => child.stderr, { timeout: 5_000 }).toMatch(/ignored a message with no usable id: Parse error/);
    expect(child.alive()).toBe(true);
  }, 30_000);
});
