/**
 * Fallback models, end to end through the MCP Client: `fallback_models` on `chat` and
 * `models.<id>.fallbacks` in the config. A model that fails after its retries with a retryable
 * error, or with 404 / a context-length error, hands over to the next model, which gets retries
 * of its own. The result names the model that answered and counts every attempt; the ledger has
 * one row per model tried, sharing the call id.
 */
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { resultText, startHarness, type Harness } from '../support/harness.js';
import type { RecordedRequest, Reply } from '../support/upstream.js';

interface CallRow {
  call_id: string;
  model: string;
  provider: string;
  attempts: number;
  status: string;
  error: string | null;
  finish_reason: string | null;
}

let h: Harness;
let withConfigFallbacks: Harness;

beforeAll(async () => {
  h = await startHarness({ config: { retry: { retries: 2, minDelayMs: 10, maxDelayMs: 100 } } });
  withConfigFallbacks = await startHarness({
    upstream: h.upstream,
    config: {
      retry: { retries: 2, minDelayMs: 10, maxDelayMs: 100 },
      models: { 'gpt-4o-mini': { fallbacks: ['claude-haiku-4-5'] } },
    },
  });
});

afterAll(async () => {
  await withConfigFallbacks?.close();
  await h?.close();
});

function rows(harness: Harness): CallRow[] {
  const db = new Database(harness.dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT * FROM calls ORDER BY id').all() as CallRow[];
  } finally {
    db.close();
  }
}

async function chat(
  harness: Harness,
  replies: Reply[],
  args: Record<string, unknown> = {},
): Promise<{ result: CallToolResult; text: string; requests: RecordedRequest[]; rows: CallRow[] }> {
  const before = harness.upstream.requests.length;
  const rowsBefore = rows(harness).length;
  harness.upstream.enqueue(...replies);
  const result = await harness.callTool('chat', { prompt: 'hello', ...args });
  return { result, text: resultText(result), requests: harness.upstream.requests.slice(before), rows: rows(harness).slice(rowsBefore) };
}

function answer(result: CallToolResult): { model: string; provider: string; attempts: number; content: string; call_id: string } {
  expect(result.isError ?? false, resultText(result)).toBe(false);
  return result.structuredContent as { model: string; provider: string; attempts: number; content: string; call_id: string };
}

const wires = (requests: RecordedRequest[]): string[] => requests.map((r) => (r.path.endsWith('/messages') ? 'anthropic' : 'openai'));

const down: Reply = { kind: 'error', status: 503, message: 'Service unavailable' };

describe('fallback_models', () => {
  it('gpt-4o-mini fails all 3 attempts; claude-haiku-4-5 answers: attempts 4, two ledger rows', async () => {
    const { result, requests, rows: written } = await chat(h, [down, down, down, { kind: 'anthropic', content: 'from haiku' }], {
      fallback_models: ['claude-haiku-4-5'],
    });
    const out = answer(result);
    expect(out).toMatchObject({ content: 'from haiku', model: 'claude-haiku-4-5', provider: 'anthropic', attempts: 4 });
    expect(wires(requests)).toEqual(['openai', 'openai', 'openai', 'anthropic']);
    expect(requests[0]!.body.model).toBe('gpt-4o-mini');
    expect(requests[3]!.body.model).toBe('claude-haiku-4-5-20251001');

    expect(written).toHaveLength(2);
    expect(written[0]).toMatchObject({ model: 'gpt-4o-mini', provider: 'openai', status: 'error', attempts: 3, call_id: out.call_id });
    expect(written[0]!.error).toEqual(expect.stringContaining('503'));
    expect(written[1]).toMatchObject({ model: 'claude-haiku-4-5', provider: 'anthropic', status: 'ok', attempts: 1, call_id: out.call_id, error: null });
  });

  it('the fallback gets retries of its own', async () => {
    const { result, requests, rows: written } = await chat(h, [down, down, down, down, { kind: 'anthropic' }], {
      fallback_models: ['claude-haiku-4-5'],
    });
    expect(answer(result)).toMatchObject({ model: 'claude-haiku-4-5', attempts: 5 });
    expect(wires(requests)).toEqual(['openai', 'openai', 'openai', 'anthropic', 'anthropic']);
    expect(written.map((r) => [r.model, r.status, r.attempts])).toEqual([
      ['gpt-4o-mini', 'error', 3],
      ['claude-haiku-4-5', 'ok', 2],
    ]);
  });

  it('a 404 (model not found) falls back at once, without retrying', async () => {
    const { result, requests, rows: written } = await chat(h, [{ kind: 'error', status: 404 }, { kind: 'anthropic' }], {
      fallback_models: ['claude-haiku-4-5'],
    });
    expect(answer(result)).toMatchObject({ model: 'claude-haiku-4-5', attempts: 2 });
    expect(wires(requests)).toEqual(['openai', 'anthropic']);
    expect(written.map((r) => [r.model, r.status, r.attempts])).toEqual([
      ['gpt-4o-mini', 'error', 1],
      ['claude-haiku-4-5', 'ok', 1],
    ]);
  });

  it('a context-length error falls back at once, without retrying', async () => {
    const tooLong: Reply = {
      kind: 'error',
      status: 400,
      code: 'context_length_exceeded',
      message: "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.",
    };
    const { result, requests } = await chat(h, [tooLong, { kind: 'anthropic' }], { fallback_models: ['claude-haiku-4-5'] });
    expect(answer(result)).toMatchObject({ model: 'claude-haiku-4-5', attempts: 2 });
    expect(wires(requests)).toEqual(['openai', 'anthropic']);
  });

  it('a context-length error with no fallback says the prompt does not fit', async () => {
    const { result, text, requests } = await chat(h, [
      { kind: 'error', status: 400, message: 'prompt is too long: 210000 tokens > 200000 maximum' },
    ], { model: 'claude-haiku-4-5' });
    expect(result.isError).toBe(true);
    expect(requests).toHaveLength(1);
    expect(text).toContain('does not fit');
    expect(text).toContain('fallback_models');
    expect(text).toContain('prompt is too long');
  });

  it('a provider asking to wait longer than the cap falls back at once', async () => {
    const { result, requests } = await chat(h, [{ kind: 'error', status: 429, headers: { 'retry-after': '999' } }, { kind: 'anthropic' }], {
      fallback_models: ['claude-haiku-4-5'],
    });
    expect(answer(result)).toMatchObject({ model: 'claude-haiku-4-5', attempts: 2 });
    expect(wires(requests)).toEqual(['openai', 'anthropic']);
  });

  // 401, 402 and quota 429s do fall back to another provider: see fallback-chain.test.ts.
  it.each([
    [400, 'fix the request', {}],
    [400, 'fix the request', { 'retry-after': '999' }],
  ])('a %i does not fall back (another model would not fix it) %o', async (status, hint, headers) => {
    const { result, text, requests, rows: written } = await chat(h, [{ kind: 'error', status, headers }], { fallback_models: ['claude-haiku-4-5'] });
    expect(result.isError).toBe(true);
    expect(text).toContain(hint);
    expect(wires(requests)).toEqual(['openai']);
    expect(written).toHaveLength(1);
  });

  it('a chain: 404 on the first, 3 × 503 on the second, the third answers (attempts 5, three rows)', async () => {
    const { result, requests, rows: written } = await chat(
      h,
      [{ kind: 'error', status: 404 }, down, down, down, { kind: 'openai', content: 'from 4o' }],
      { fallback_models: ['claude-haiku-4-5', 'gpt-4o'] },
    );
    const out = answer(result);
    expect(out).toMatchObject({ content: 'from 4o', model: 'gpt-4o', provider: 'openai', attempts: 5 });
    expect(wires(requests)).toEqual(['openai', 'anthropic', 'anthropic', 'anthropic', 'openai']);
    expect(written.map((r) => [r.model, r.status, r.attempts])).toEqual([
      ['gpt-4o-mini', 'error', 1],
      ['claude-haiku-4-5', 'error', 3],
      ['gpt-4o', 'ok', 1],
    ]);
    expect(new Set(written.map((r) => r.call_id))).toEqual(new Set([out.call_id]));
  });

  it('when every model fails, the error describes the last one and lists what was tried before', async () => {
    const { result, text, requests, rows: written } = await chat(h, [down, down, down, { kind: 'error', status: 529 }, { kind: 'error', status: 529 }, { kind: 'error', status: 529 }], {
      fallback_models: ['claude-haiku-4-5'],
    });
    expect(result.isError).toBe(true);
    expect(requests).toHaveLength(6);
    expect(text).toMatch(/^anthropic overloaded \(529\) after 3 attempts over /);
    expect(text).toContain('gpt-4o-mini');
    expect(text).toContain('503');
    expect(written.map((r) => [r.model, r.status, r.attempts])).toEqual([
      ['gpt-4o-mini', 'error', 3],
      ['claude-haiku-4-5', 'error', 3],
    ]);
  });
});

describe('a fallback whose provider has no API key', () => {
  it('is skipped with no attempt counted, and the next fallback answers', async () => {
    const noDeepseek = await startHarness({
      upstream: h.upstream,
      env: { DEEPSEEK_API_KEY: undefined },
      config: { retry: { retries: 2, minDelayMs: 10, maxDelayMs: 100 } },
    });
    try {
      const { result, requests, rows: written } = await chat(noDeepseek, [down, down, down, { kind: 'anthropic', content: 'haiku' }], {
        fallback_models: ['deepseek-chat', 'claude-haiku-4-5'],
      });
      // 3 HTTP attempts on gpt-4o-mini, none on deepseek-chat (an alias of deepseek-flash; nothing was sent), 1 on claude-haiku-4-5.
      expect(answer(result)).toMatchObject({ content: 'haiku', model: 'claude-haiku-4-5', attempts: 4 });
      expect(wires(requests)).toEqual(['openai', 'openai', 'openai', 'anthropic']);
      expect(written.map((r) => [r.model, r.status, r.attempts])).toEqual([
        ['gpt-4o-mini', 'error', 3],
        ['deepseek-flash', 'error', 0],
        ['claude-haiku-4-5', 'ok', 1],
      ]);
      expect(written[1]!.error).toContain('DEEPSEEK_API_KEY');
    } finally {
      await noDeepseek.close();
    }
  });
});

describe('config models.<id>.fallbacks', () => {
  it('are used when the call gives no fallback_models', async () => {
    const { result, requests, rows: written } = await chat(withConfigFallbacks, [down, down, down, { kind: 'anthropic', content: 'configured fallback' }]);
    expect(answer(result)).toMatchObject({ content: 'configured fallback', model: 'claude-haiku-4-5', attempts: 4 });
    expect(wires(requests)).toEqual(['openai', 'openai', 'openai', 'anthropic']);
    expect(written.map((r) => [r.model, r.status, r.attempts])).toEqual([
      ['gpt-4o-mini', 'error', 3],
      ['claude-haiku-4-5', 'ok', 1],
    ]);
  });

  it('fallback_models on the call replaces them', async () => {
    const { result, requests } = await chat(withConfigFallbacks, [{ kind: 'error', status: 404 }, { kind: 'openai', content: 'from deepseek' }], {
      fallback_models: ['deepseek-chat'],
    });
    expect(answer(result)).toMatchObject({ content: 'from deepseek', model: 'deepseek-flash', provider: 'deepseek', attempts: 2 });
    expect(wires(requests)).toEqual(['openai', 'openai']);
    expect(requests[1]!.body.model).toBe('deepseek-flash');
  });

  it('an unknown fallback name fails before anything is sent', async () => {
    const { result, text, requests } = await chat(h, [], { fallback_models: ['claude-haiku-45'] });
    expect(result.isError).toBe(true);
    expect(text).toContain('claude-haiku-45');
    expect(requests).toHaveLength(0);
  });
});
