/**
 * Property-based fuzzing of every tool's input (issue #9): at least 10,000 generated calls
 * through the real MCP client over the in-memory transport, then a smaller run of raw lines
 * against the built server over stdio. Asserted throughout: the server never exits, every request
 * is answered (a result, or a JSON-RPC error, never a timeout), stdout carries only JSON-RPC,
 * and no API key appears in any byte of output, log or ledger.
 */
import { existsSync, readFileSync } from 'node:fs';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAKE_KEYS, startHarness, type Harness } from '../support/harness.js';
import { CHILD_KEYS, childSetup, ensureBuilt, RawChild } from '../support/stdio-child.js';
import { toolCall, type FuzzToolCall } from './tool-call-arbitrary.js';
import { useUpstream } from '../support/use-upstream.js';

const IN_MEMORY_CALLS = 10_000;
const BATCH = 25;
const STDIO_CALLS = 400;
/** Fixed, so a failure replays; fast-check prints the counterexample and its path. */
const SEED = 20261129;

/** Every place bytes could leave the process: the ledger file and its write-ahead log. */
function ledgerBytes(dbPath: string): string {
  return [dbPath, `${dbPath}-wal`].filter(existsSync).map((path) => readFileSync(path).toString('latin1')).join('');
}

function expectNoKey(text: string, keys: readonly string[], where: string): void {
  for (const key of keys) expect(text.includes(key), `${where} contains a key`).toBe(false);
}

const upstream = useUpstream();
beforeAll(async () => {
  ensureBuilt();
}, 120_000);

describe('fuzzing the tools over the in-memory MCP client', () => {
  let h: Harness;
  afterAll(async () => {
    await h?.close();
  });

  it(`answers ${IN_MEMORY_CALLS} generated calls, each with a result or a JSON-RPC error, and never leaks a key`, async () => {
    h = await startHarness({ upstream, config: { aliases: { fast: 'gpt-4o-mini' }, retry: { retries: 0 } } });
    const keys = Object.values(FAKE_KEYS);
    const outputs: string[] = [];
    let calls = 0;
    const started = Date.now();

    const answer = async (call: FuzzToolCall): Promise<void> => {
      calls++;
      try {
        const result = (await h.client.callTool({ name: call.name, arguments: call.arguments as Record<string, unknown> }, undefined, {
          timeout: 15_000,
          ...(call.progress ? { onprogress: () => undefined } : {}),
        })) as CallToolResult;
        expect(Array.isArray(result.content)).toBe(true);
        if (result.isError) {
          const first = result.content[0];
          expect(first?.type === 'text' && first.text.length > 0, 'an isError result says what went wrong').toBe(true);
        }
        outputs.push(JSON.stringify(result));
      } catch (error) {
        // A protocol error is an answer; a timeout or a closed connection is not.
        expect(error).toBeInstanceOf(McpError);
        expect([-32000, -32001]).not.toContain((error as McpError).code);
        outputs.push((error as Error).message);
      }
    };

    await fc.assert(
      fc.asyncProperty(fc.array(toolCall, { minLength: BATCH, maxLength: BATCH }), async (batch) => {
        await Promise.all(batch.map(answer));
      }),
      { numRuns: IN_MEMORY_CALLS / BATCH, seed: SEED, endOnFailure: true },
    );

    expect(calls).toBeGreaterThanOrEqual(IN_MEMORY_CALLS);
    // Still serving after all that.
    expect((await h.client.listTools()).tools.map((t) => t.name).sort()).toEqual(['chat', 'chat_many', 'get_cost', 'list_models']);
    expect(h.clientErrors).toEqual([]);
    // Bad input is the caller's to fix: nothing reached the "bug of ours" path.
    expect(h.logLines.filter((line) => line.includes('unexpected failure'))).toEqual([]);
    expectNoKey(outputs.join('\n'), keys, 'a tool answer');
    expectNoKey(h.logLines.join(''), keys, 'the log');
    expectNoKey(ledgerBytes(h.dbPath), keys, 'the ledger');
    console.info(`fuzz: ${calls} in-memory calls in ${Date.now() - started} ms, ${upstream.requests.length} reached the upstream`);
  }, 300_000);
});

describe('fuzzing the built server over stdio with raw lines', () => {
  it(`answers every request of ${STDIO_CALLS} generated lines, keeps stdout pure JSON-RPC and never leaks a key`, async () => {
    const setup = childSetup(upstream, { aliases: { fast: 'gpt-4o-mini' }, retry: { retries: 0 } });
    const child = new RawChild(setup);
    try {
      await child.initialize();
      const calls = fc.sample(toolCall, { numRuns: STDIO_CALLS, seed: SEED });
      // Every tenth line is broken at the envelope: a JSON-RPC fault, answered under its id.
      const envelopes = [
        (id: number) => ({ jsonrpc: '1.0', id, method: 'tools/list' }),
        (id: number) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: 'chat' }),
        (id: number) => ({ jsonrpc: '2.0', id, method: 'tools/call' }),
        (id: number) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'list_models', _meta: { progressToken: { odd: true } } } }),
      ];
      const ids: number[] = [];
      for (const [index, call] of calls.entries()) {
        const id = index + 1;
        ids.push(id);
        const line =
          index % 10 === 9
            ? envelopes[(index / 10) % envelopes.length | 0]!(id)
            : {
                jsonrpc: '2.0',
                id,
                method: 'tools/call',
                params: { name: call.name, arguments: call.arguments, ...(call.progress ? { _meta: { progressToken: `p${id}` } } : {}) },
              };
        await child.write(`${JSON.stringify(line)}\n`);
        if (index % 50 === 0) await child.write('not json {\n');
      }
      for (const id of ids) {
        const answer = await child.response(id, 30_000);
        expect('result' in answer || 'error' in answer, JSON.stringify(answer).slice(0, 200)).toBe(true);
      }
      expect(await child.toolsListed('last')).toEqual(['chat', 'chat_many', 'get_cost', 'list_models']);
      expect(child.alive()).toBe(true);
      for (const line of child.lines) {
        const message = JSON.parse(line);
        expect(message.jsonrpc).toBe('2.0');
      }
      const keys = Object.values(CHILD_KEYS);
      await child.close();
      expectNoKey(child.lines.join('\n'), keys, 'stdout');
      expectNoKey(child.stderr, keys, 'stderr');
      expectNoKey(ledgerBytes(setup.dbPath), keys, 'the ledger');
    } finally {
      await child.close();
      setup.cleanup();
    }
  }, 180_000);
});
