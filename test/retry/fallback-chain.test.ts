/**
 * Fallback chains through the MCP client: a fallback that cannot take the request is skipped with
 * a note instead of ending the chain; failures another provider would not share (401, 402, a quota
 * 429 marked x-should-retry: false) move on to another provider, skipping the same provider's
 * models; a failure of the request itself stops the chain, and the error never advises adding
 * fallback_models that were given.
 */
import Database from 'better-sqlite3';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { harnessPerTest, resultText, type Harness } from '../support/harness.js';

const startHarness = harnessPerTest();
const FAST = { retry: { retries: 2, minDelayMs: 10, maxDelayMs: 100 } };
const TOOLS = [{ name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }];

function wires(h: Harness): string[] {
  return h.upstream.requests.map((r) => (r.path.endsWith('/messages') ? 'anthropic' : String(r.body?.model)));
}

function rows(h: Harness): Array<{ model: string; status: string }> {
  const db = new Database(h.dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT model, status FROM calls ORDER BY id').all() as Array<{ model: string; status: string }>;
  } finally {
    db.close();
  }
}

function ok(result: CallToolResult): Record<string, any> {
  expect(result.isError, resultText(result)).toBeFalsy();
  return result.structuredContent as Record<string, any>;
}

describe('fallback chains', () => {
  it('a fallback that does not accept tools is skipped with a note; the next one answers', async () => {
    const h = await startHarness({ config: FAST });
    h.upstream.enqueue({ kind: 'error', status: 500 }, { kind: 'error', status: 500 }, { kind: 'error', status: 500 }, { kind: 'anthropic', content: 'from claude' });
    const result = await h.callTool('chat', {
      model: 'gpt-4o-mini',
      prompt: 'weather?',
      tools: TOOLS,
      fallback_models: ['qwen-turbo', 'claude-haiku-4-5'],
    });
    const out = ok(result);
    expect(out).toMatchObject({ content: 'from claude', model: 'claude-haiku-4-5', attempts: 4 });
    expect(out.notes).toContain('fallback qwen-turbo skipped: qwen-turbo does not accept tools');
    expect(wires(h)).toEqual(['gpt-4o-mini', 'gpt-4o-mini', 'gpt-4o-mini', 'anthropic']);
  });

  it('when every other fallback fails, the error is the primary\'s, and names the skipped fallback', async () => {
    const h = await startHarness({ config: FAST });
    h.upstream.setDefault({ kind: 'error', status: 500 });
    const result = await h.callTool('chat', { model: 'gpt-4o-mini', prompt: 'weather?', tools: TOOLS, fallback_models: ['qwen-turbo'] });
    expect(result.isError).toBe(true);
    const text = resultText(result);
    expect(text).toMatch(/^openai server error \(500\) after 3 attempts/);
    expect(text).toContain('fallback qwen-turbo skipped: qwen-turbo does not accept tools');
    expect(text).not.toContain('add fallback_models');
  });

  it('a 401 skips the same provider\'s fallbacks and moves to another provider', async () => {
    const h = await startHarness({ config: FAST });
    h.upstream.enqueue({ kind: 'error', status: 401 }, { kind: 'anthropic', content: 'from claude' });
    const out = ok(await h.callTool('chat', { model: 'gpt-4o-mini', prompt: 'hi', fallback_models: ['gpt-4o', 'claude-haiku-4-5'] }));
    expect(out).toMatchObject({ model: 'claude-haiku-4-5', content: 'from claude', attempts: 2 });
    expect(wires(h)).toEqual(['gpt-4o-mini', 'anthropic']);
    expect(rows(h)).toEqual([
      { model: 'gpt-4o-mini', status: 'error' },
      { model: 'claude-haiku-4-5', status: 'ok' },
    ]);
  });

  it('a 402 (billing) moves to another provider', async () => {
    const h = await startHarness({ config: FAST });
    h.upstream.enqueue({ kind: 'error', status: 402 }, { kind: 'openai', content: 'from openai' });
    const out = ok(await h.callTool('chat', { model: 'claude-haiku-4-5', prompt: 'hi', fallback_models: ['gpt-4o-mini'] }));
    expect(out).toMatchObject({ model: 'gpt-4o-mini', content: 'from openai', attempts: 2 });
  });

  it('a quota 429 marked x-should-retry: false moves to another provider, not to the same one', async () => {
    const h = await startHarness({ config: FAST });
    h.upstream.enqueue(
      { kind: 'error', status: 429, code: 'insufficient_quota', message: 'You exceeded your current quota', headers: { 'x-should-retry': 'false' } },
      { kind: 'anthropic', content: 'from claude' },
    );
    const out = ok(await h.callTool('chat', { model: 'gpt-4o-mini', prompt: 'hi', fallback_models: ['gpt-4o', 'claude-haiku-4-5'] }));
    expect(out).toMatchObject({ model: 'claude-haiku-4-5', attempts: 2 });
    expect(wires(h)).toEqual(['gpt-4o-mini', 'anthropic']);
  });

  it('a 503 marked x-should-retry: false moves to the next model, even of the same provider', async () => {
    const h = await startHarness({ config: FAST });
    h.upstream.enqueue({ kind: 'error', status: 503, headers: { 'x-should-retry': 'false' } }, { kind: 'openai', content: 'from 4o' });
    const out = ok(await h.callTool('chat', { model: 'gpt-4o-mini', prompt: 'hi', fallback_models: ['gpt-4o'] }));
    expect(out).toMatchObject({ model: 'gpt-4o', content: 'from 4o', attempts: 2 });
  });

  it('a 401 with only the same provider left: the error names the skipped model and does not advise adding fallbacks', async () => {
    const h = await startHarness({ config: FAST });
    h.upstream.enqueue({ kind: 'error', status: 401 });
    const result = await h.callTool('chat', { model: 'gpt-4o-mini', prompt: 'hi', fallback_models: ['gpt-4o'] });
    expect(result.isError).toBe(true);
    const text = resultText(result);
    expect(text).toMatch(/^openai rejected the API key \(401\): check OPENAI_API_KEY/);
    expect(text).toContain('gpt-4o skipped (openai already failed with 401)');
    expect(text).not.toContain('add fallback_models');
    expect(wires(h)).toEqual(['gpt-4o-mini']);
  });

  it('a 429 after the retries, with fallbacks given, does not advise adding fallback_models', async () => {
    const h = await startHarness({ config: FAST });
    h.upstream.setDefault({ kind: 'error', status: 429 });
    const result = await h.callTool('chat', { model: 'gpt-4o-mini', prompt: 'hi', fallback_models: ['gpt-4o'] });
    expect(result.isError).toBe(true);
    expect(resultText(result)).toMatch(/^openai rate limited the call \(429\) after 3 attempts over [^;]*; try again later \(openai said/);
    expect(resultText(result)).not.toContain('add fallback_models');
  });

  it('a 400 stops the chain and says which fallbacks were not tried', async () => {
    const h = await startHarness({ config: FAST });
    h.upstream.enqueue({ kind: 'error', status: 400, message: 'Invalid value for stop' });
    const result = await h.callTool('chat', { model: 'gpt-4o-mini', prompt: 'hi', fallback_models: ['claude-haiku-4-5'] });
    expect(result.isError).toBe(true);
    expect(resultText(result)).toContain('Fallbacks not tried, as this error would recur on them: claude-haiku-4-5');
    expect(wires(h)).toEqual(['gpt-4o-mini']);
  });
});
