/**
 * SPEC §5: no API key ever appears in a tool result, a progress notification, a log line, an
 * error or the ledger — not even when the provider echoes the key back in its error body.
 */
import { readFileSync, existsSync } from 'node:fs';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FAKE_KEYS, resultText, startHarness, type Harness } from '../support/harness.js';

const KEYS = Object.values(FAKE_KEYS);
const FRAGMENT = 12;

/** Every piece of a key long enough to be worth stealing (or to identify the key). */
function keyFragments(): string[] {
  const out = new Set<string>();
  for (const key of KEYS) {
    for (let i = 0; i + FRAGMENT <= key.length; i++) out.add(key.slice(i, i + FRAGMENT));
  }
  return [...out];
}

function expectNoKey(haystack: string, where: string): void {
  for (const key of KEYS) expect(haystack, `${where} contains a whole key`).not.toContain(key);
  for (const fragment of keyFragments()) {
    expect(haystack.includes(fragment), `${where} contains the key fragment '${fragment}'`).toBe(false);
  }
}

const openaiKey = FAKE_KEYS.OPENAI_API_KEY;
const anthropicKey = FAKE_KEYS.ANTHROPIC_API_KEY;
const masked = `${openaiKey.slice(0, 9)}***...${openaiKey.slice(-4)}`; // sk-test-o***...cdef

let h: Harness;
const results: CallToolResult[] = [];
const progress: string[] = [];
const consoleLines: string[] = [];

async function call(name: string, args: Record<string, unknown>, stream = false): Promise<CallToolResult> {
  const result = await h.callTool(name, args, stream ? { onprogress: (p) => void progress.push(JSON.stringify(p)) } : undefined);
  results.push(result);
  return result;
}

beforeAll(async () => {
  // Anything the SDKs themselves print goes to the console: capture it too.
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void consoleLines.push(args.map(String).join(' ')));
  }
  h = await startHarness();
});
afterAll(async () => {
  vi.restoreAllMocks();
  await h?.close();
});

describe('API keys never leave the server', () => {
  it('successful calls on every built-in provider send the key upstream and nowhere else', async () => {
    for (const model of ['gpt-4o-mini', 'claude-haiku-4-5', 'deepseek-chat', 'qwen-turbo']) {
      const result = await call('chat', { model, prompt: `hello ${model}` });
      expect(result.isError, resultText(result)).toBeFalsy();
    }
    // The keys really were in play: each went to the upstream in its auth header.
    const auth = h.upstream.requests.map((r) => String(r.headers.authorization));
    expect(auth).toEqual([
      `Bearer ${FAKE_KEYS.OPENAI_API_KEY}`,
      `Bearer ${FAKE_KEYS.ANTHROPIC_API_KEY}`,
      `Bearer ${FAKE_KEYS.DEEPSEEK_API_KEY}`,
      `Bearer ${FAKE_KEYS.DASHSCOPE_API_KEY}`,
    ]);
  });

  it('a 401 whose body echoes the key (masked and whole) says what to fix, without the key', async () => {
    h.upstream.enqueue({
      kind: 'error',
      status: 401,
      message: `Incorrect API key provided: ${masked}. You can find your API key at https://platform.openai.com/account/api-keys. (sent: ${openaiKey})`,
    });
    const result = await call('chat', { model: 'gpt-4o-mini', prompt: 'hi' });
    expect(result.isError).toBe(true);
    const text = resultText(result);
    expect(text).toContain('rejected the API key (401)');
    expect(text).toContain('OPENAI_API_KEY');
    expect(text).toContain('Incorrect API key provided');
  });

  it('a 401 echoing a long piece of the key without its sk- prefix is scrubbed too', async () => {
    h.upstream.enqueue({ kind: 'error', status: 401, message: `Invalid key ending in ...${anthropicKey.slice(7, -2)}` });
    const result = await call('chat', { model: 'claude-haiku-4-5', prompt: 'hi' });
    expect(result.isError).toBe(true);
    expect(resultText(result)).toContain('rejected the API key (401)');
    expect(resultText(result)).toContain('ANTHROPIC_API_KEY');
  });

  it('a 400 echoing the key in its message and in a non-standard field', async () => {
    h.upstream.enqueue({
      kind: 'error',
      status: 400,
      body: { type: 'error', error: { type: 'invalid_request_error', message: `bad header x-api-key: ${anthropicKey}`, key: anthropicKey } },
    });
    const result = await call('chat', { model: 'claude-haiku-4-5', prompt: 'hi' });
    expect(result.isError).toBe(true);
    expect(resultText(result)).toContain('rejected the request (400)');
  });

  it('a plain-text 500 that echoes the key, retried to the end', async () => {
    for (let i = 0; i < 3; i++) h.upstream.enqueue({ kind: 'raw', status: 500, body: `proxy failure for Authorization: Bearer ${FAKE_KEYS.DEEPSEEK_API_KEY}` });
    const result = await call('chat', { model: 'deepseek-chat', prompt: 'hi' });
    expect(result.isError).toBe(true);
    expect(resultText(result)).toContain('server error (500)');
  });

  it('a connection error', async () => {
    for (let i = 0; i < 3; i++) h.upstream.enqueue({ kind: 'reset' });
    const result = await call('chat', { model: 'qwen-turbo', prompt: 'hi' });
    expect(result.isError).toBe(true);
    expect(resultText(result)).toContain('Could not reach qwen');
    expect(resultText(result)).toContain('DASHSCOPE_BASE_URL');
  });

  it('streamed calls: a retry announced after a 429 echoing the key, then text; and a stream error echoing it', async () => {
    h.upstream.enqueue(
      { kind: 'error', status: 429, message: `Rate limit reached for key ${openaiKey}`, headers: { 'retry-after-ms': '5' } },
      { kind: 'openai', chunks: ['streamed ', 'answer'] },
    );
    const ok = await call('chat', { model: 'gpt-4o-mini', prompt: 'stream please' }, true);
    expect(ok.isError, resultText(ok)).toBeFalsy();
    expect(resultText(ok)).toBe('streamed answer');
    expect(progress.some((p) => p.includes('retrying'))).toBe(true);

    h.upstream.enqueue({ kind: 'openai', chunks: ['partial ', 'text'], errorAfterChunks: { message: `server fault, key=${openaiKey}`, after: 1 } });
    const broken = await call('chat', { model: 'gpt-4o-mini', prompt: 'stream again' }, true);
    expect(broken.isError).toBe(true);
    expect(resultText(broken)).toContain('partial ');

    h.upstream.enqueue({ kind: 'anthropic', chunks: ['from ', 'claude'], errorAfterChunks: { type: 'api_error', message: `oops ${anthropicKey}`, after: 1 } });
    const brokenAnthropic = await call('chat', { model: 'claude-haiku-4-5', prompt: 'stream' }, true);
    expect(brokenAnthropic.isError).toBe(true);
    expect(progress.length).toBeGreaterThan(0);
  });

  it('list_models and get_cost', async () => {
    const models = await call('list_models', {});
    expect(models.isError).toBeFalsy();
    const cost = await call('get_cost', { group_by: 'provider' });
    expect(cost.isError).toBeFalsy();
    const failed = (cost.structuredContent as { total: { failed_calls: number } }).total.failed_calls;
    expect(failed).toBeGreaterThanOrEqual(7);
  });

  it('no key or 12+ character fragment of one in any result, notification, log line, console line or the ledger', () => {
    expect(results.length).toBeGreaterThanOrEqual(13);
    for (const [i, result] of results.entries()) expectNoKey(JSON.stringify(result), `tool result #${i}`);
    expectNoKey(progress.join('\n'), 'progress notifications');
    expectNoKey(h.logLines.join(''), 'log lines');
    expectNoKey(consoleLines.join('\n'), 'console output');

    const db = new Database(h.dbPath, { readonly: true });
    let rows: unknown[];
    try {
      rows = db.prepare('SELECT * FROM calls').all();
    } finally {
      db.close();
    }
    expect(rows.length).toBeGreaterThanOrEqual(11);
    expectNoKey(JSON.stringify(rows), 'ledger rows');
    // The raw bytes, WAL included: a key in a row since overwritten would still be there.
    for (const suffix of ['', '-wal', '-journal']) {
      const path = `${h.dbPath}${suffix}`;
      if (existsSync(path)) expectNoKey(readFileSync(path).toString('latin1'), `ledger file ${path}`);
    }
  });
});
