/**
 * Issue #9 item 2: keys never escape, by any path. A provider that echoes the API key in its
 * `model` field, in extra `usage` fields, or in an SSE line the SDK cannot parse (the openai SDK
 * logs such lines itself): nothing of the key reaches a result, a log line, the console or a
 * ledger byte, and the server still answers afterwards.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FAKE_KEYS, startHarness, type Harness } from '../support/harness.js';
import { readRows, structured, textOf } from '../ledger-integration/fixtures/helpers.js';

const KEYS = Object.values(FAKE_KEYS);
const openaiKey = FAKE_KEYS.OPENAI_API_KEY;
const anthropicKey = FAKE_KEYS.ANTHROPIC_API_KEY;

function expectNoKey(haystack: string, where: string): void {
  for (const key of KEYS) {
    for (let i = 0; i + 12 <= key.length; i++) expect(haystack.includes(key.slice(i, i + 12)), `${where} holds a piece of a key`).toBe(false);
  }
}

let h: Harness;
const results: CallToolResult[] = [];
const consoleLines: string[] = [];
beforeAll(async () => {
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void consoleLines.push(args.map(String).join(' ')));
  }
  h = await startHarness();
});
afterAll(async () => {
  vi.restoreAllMocks();
  await h?.close();
});

async function call(args: Record<string, unknown>, stream = false): Promise<CallToolResult> {
  const result = await h.callTool('chat', args, stream ? { onprogress: () => {} } : undefined);
  results.push(result);
  return result;
}

describe('a provider that echoes the key', () => {
  it('in its model field: provider_model is scrubbed in the result and the ledger', async () => {
    for (const stream of [false, true]) {
      h.upstream.enqueue({ kind: 'openai', model: `gpt-4o-mini (key ${openaiKey})` });
      const result = await call({ prompt: 'hi', model: 'gpt-4o-mini' }, stream);
      expect(result.isError, textOf(result)).toBeFalsy();
      expect(structured(result).provider_model).toBe('gpt-4o-mini (key [redacted])');
      h.upstream.enqueue({ kind: 'anthropic', model: anthropicKey });
      const claude = await call({ prompt: 'hi', model: 'claude-haiku-4-5' }, stream);
      expect(structured(claude).provider_model).toBe('[redacted]');
    }
  });

  it('a model field of 100,000 characters is cut to 200', async () => {
    h.upstream.enqueue({ kind: 'openai', model: 'm'.repeat(100_000) });
    const result = await call({ prompt: 'hi', model: 'gpt-4o-mini' });
    expect(structured(result).provider_model).toHaveLength(201);
  });

  it('in extra usage fields (as a value and as a key): the raw usage stored is scrubbed', async () => {
    h.upstream.enqueue({ kind: 'openai', usage: { extra: { echo: `Bearer ${openaiKey}`, [openaiKey]: 1, nested: { deeper: [anthropicKey] } } } });
    const result = await call({ prompt: 'hi', model: 'gpt-4o-mini' });
    expect(result.isError, textOf(result)).toBeFalsy();
    const raw = JSON.parse(readRows(h.dbPath).at(-1)!.raw_usage!);
    expect(raw).toMatchObject({ prompt_tokens: 11, echo: 'Bearer [redacted]', '[redacted]': 1, nested: { deeper: ['[redacted]'] } });
  });

  it('stuffed usage (100 KB of extra fields) is stored bounded, its numbers kept', async () => {
    h.upstream.enqueue({ kind: 'openai', usage: { extra: { padding: 'x'.repeat(100_000) } } });
    await call({ prompt: 'hi', model: 'gpt-4o-mini' });
    const raw = readRows(h.dbPath).at(-1)!.raw_usage!;
    expect(raw.length).toBeLessThan(8_000);
    expect(JSON.parse(raw)).toMatchObject({ truncated: true, prompt_tokens: 11, completion_tokens: 7 });
  });

  it('in an SSE line the SDK cannot parse: the SDK logs through our scrubbing logger, not the console', async () => {
    h.upstream.enqueue({ kind: 'openai-stream', rawEvents: [`data: {"broken": "${openaiKey}\n\n`] });
    const result = await call({ prompt: 'hi', model: 'gpt-4o-mini' }, true);
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/not valid JSON/);
    // The SDK's own line did arrive, scrubbed and cut short.
    expect(h.logLines.some((line) => line.includes('provider SDK: Could not parse message into JSON'))).toBe(true);
    expect(consoleLines).toEqual([]);
    h.upstream.enqueue({ kind: 'openai', content: 'still fine' });
    expect(structured(await call({ prompt: 'hi', model: 'gpt-4o-mini' })).content).toBe('still fine');
  });

  it('no piece of any key in a result, log line, console line or ledger byte', () => {
    for (const [i, result] of results.entries()) expectNoKey(JSON.stringify(result), `result #${i}`);
    expectNoKey(h.logLines.join('\n'), 'log lines');
    expectNoKey(consoleLines.join('\n'), 'console');
    for (const suffix of ['', '-wal']) {
      const path = `${h.dbPath}${suffix}`;
      if (existsSync(path)) expectNoKey(readFileSync(path).toString('latin1'), `ledger file ${path}`);
    }
  });
});
