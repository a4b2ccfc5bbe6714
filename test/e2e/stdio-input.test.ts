/**
 * Hostile input on stdin, end to end against the built dist/cli.js: oversized messages are
 * answered with an error naming the limit (the process stays up, calls in flight finish), and
 * every malformed request that carries an id gets a readable JSON-RPC error. Each case then
 * checks the server still answers tools/list.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CHILD_KEYS, childSetup, ensureBuilt, RawChild, sdkClient, type ChildSetup } from '../support/stdio-child.js';
import { startUpstream, type Upstream } from '../support/upstream.js';

const TOOLS = ['chat', 'chat_many', 'get_cost', 'list_models'];
const MiB = 1024 * 1024;

let upstream: Upstream;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  ensureBuilt();
  upstream = await startUpstream();
}, 120_000);
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  await upstream?.close();
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
    const inFlight = client.callTool({ name: 'chat', arguments: { model: 'gpt-4o-mini', prompt: 'slow one' } }, undefined, { onprogress: () => undefined });
    await upstream.waitForRequests(before + 1);

    upstream.enqueue({ kind: 'openai', content: 'got it' });
    const big = 'x'.repeat(11 * 1000 * 1000);
    const bigResult = (await client.callTool({ name: 'chat', arguments: { model: 'gpt-4o-mini', prompt: big } })) as CallToolResult;
    expect(bigResult.isError).toBeFalsy();
    expect(bigResult.structuredContent).toMatchObject({ content: 'got it' });
    expect(upstream.requests.at(-1)?.body?.messages?.at(-1)?.content).toHaveLength(big.length);

    const huge = 'y'.repeat(33 * MiB);
    await expect(client.callTool({ name: 'chat', arguments: { model: 'gpt-4o-mini', prompt: huge } })).rejects.toThrow(
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
    await child.request(42, 'tools/call', { name: 'chat', arguments: { model: 'gpt-4o-mini', prompt: 'w'.repeat(60 * 1024) } });
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
    const cases: Array<[id: number, line: string, expected: RegExp]> = [
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
    ];
    for (const [, line] of cases) await child.write(`${line}\n`);
    for (const [id, line, expected] of cases) {
      const answer = await child.response(id);
      expect(answer.error, line).toBeDefined();
      expect([-32600, -32602]).toContain(answer.error.code);
      expect(answer.error.message, line).toMatch(expected);
      // A sentence, not a dump of validation objects.
      expect(answer.error.message, line).not.toMatch(/[[{]\s*\n|"code":|"expected":/);
    }
    // A string id is echoed as a string; an id-less garbage line is logged, never answered.
    await child.write('{"jsonrpc":"2.0","id":"str-id","method":"initialize"}\n');
    expect((await child.response('str-id')).error.message).toMatch(/initialize needs params/);
    await child.write('not json at all\n[1,2]\n{"jsonrpc":"2.0","method":"notifications/x","params":7}\n');
    expect(await child.toolsListed(99)).toEqual(TOOLS);
    for (const line of child.lines) {
      const message = JSON.parse(line);
      expect(message.jsonrpc).toBe('2.0');
      expect(message.id, line).toBeDefined();
    }
    expect(child.stderr).toMatch(/ignored a message with no usable id: Parse error/);
    expect(child.alive()).toBe(true);
  }, 30_000);
});
