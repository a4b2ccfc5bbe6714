/**
 * A model retirement is driven by the date (src/registry/retirement.ts): claude-sonnet-4-5 reaches
 * end of life on 2026-11-30 (Anthropic's deprecation page and the Anthropic SDK's own table).
 * Before that day it answers and list_models warns "retires 2026-11-30"; from 00:00 UTC that day a
 * call is refused before anything is sent, naming claude-sonnet-5-5, and fallback chains skip it
 * with a note. Every test pins the clock on one side of the date: none depends on today's date.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { ChatResult } from '../../src/llm/llm-service.js';
import type { CompactModelListing } from '../../src/tools/compact-model-listing.js';
import { harnessPerTest, resultText, type Harness } from '../support/harness.js';
import { useUpstream } from '../support/use-upstream.js';

const BEFORE = Date.parse('2026-11-29T23:59:59.999Z');
const FROM = Date.parse('2026-11-30T00:00:00.000Z');

const upstream = useUpstream();
const start = harnessPerTest();
beforeEach(() => {
  upstream.requests.length = 0;
});

async function at(nowMs: number): Promise<Harness> {
  return start({ upstream, now: () => nowMs });
}

/** list_models' warning for one model, and the text lines that mention it. */
async function listed(h: Harness, id: string, provider = 'anthropic'): Promise<{ warning: string | null; text: string }> {
  const result = await h.callTool('list_models', {});
  expect(result.isError, resultText(result)).toBeFalsy();
  const compact = result.structuredContent as unknown as CompactModelListing;
  const row = compact.providers[provider]!.models.find((r) => r[0] === id)!;
  return { warning: row[compact.columns.indexOf('warning')] as string | null, text: resultText(result) };
}

describe('claude-sonnet-4-5 before 2026-11-30', () => {
  it('answers, and list_models warns that it retires 2026-11-30, naming claude-sonnet-5-5', async () => {
    const h = await at(BEFORE);
    const { warning, text } = await listed(h, 'claude-sonnet-4-5');
    expect(warning).toBe('retires 2026-11-30; use claude-sonnet-5-5');
    expect(text).toContain('claude-sonnet-4-5 retires 2026-11-30; use claude-sonnet-5-5');
    expect(text).not.toContain('claude-sonnet-4-5 retired');

    upstream.enqueue({ kind: 'anthropic', content: 'still here' });
    const result = await h.callTool('chat', { model: 'claude-sonnet-4-5', prompt: 'hi' });
    expect(result.isError, resultText(result)).toBeFalsy();
    const out = result.structuredContent as unknown as ChatResult;
    expect(out).toMatchObject({ content: 'still here', model: 'claude-sonnet-4-5' });
    expect(out.notes).toBeUndefined();
    expect(upstream.requests.map((r) => r.body.model)).toEqual(['claude-sonnet-4-5-20250929']);
  });
});

describe('claude-sonnet-4-5 from 2026-11-30', () => {
  it('list_models marks it retired, naming claude-sonnet-5-5', async () => {
    const h = await at(FROM);
    const { warning, text } = await listed(h, 'claude-sonnet-4-5');
    expect(warning).toBe('retired 2026-11-30; use claude-sonnet-5-5');
    expect(text).toContain('claude-sonnet-4-5 retired 2026-11-30; use claude-sonnet-5-5');
    expect(text).not.toContain('claude-sonnet-4-5 retires');
  });

  it('a call (by id or by its dated name) is refused before sending, naming the replacement', async () => {
    const h = await at(FROM);
    for (const model of ['claude-sonnet-4-5', 'claude-sonnet-4-5-20250929']) {
      const result = await h.callTool('chat', { model, prompt: 'hi' });
      expect(result.isError).toBe(true);
      expect(resultText(result)).toContain('claude-sonnet-4-5 was retired by anthropic on 2026-11-30 and no longer answers; its replacement is claude-sonnet-5-5');
      expect(resultText(result)).toContain('Call it with model: "claude-sonnet-5-5"');
    }
    expect(upstream.requests).toHaveLength(0);
  });

  it('a fallback chain skips it with a note and calls the next model', async () => {
    const h = await at(FROM);
    upstream.enqueue({ kind: 'anthropic', content: 'from the replacement' });
    const result = await h.callTool('chat', { model: 'claude-sonnet-4-5', prompt: 'hi', fallback_models: ['claude-sonnet-5-5'] });
    expect(result.isError, resultText(result)).toBeFalsy();
    const out = result.structuredContent as unknown as ChatResult;
    expect(out).toMatchObject({ content: 'from the replacement', model: 'claude-sonnet-5-5' });
    expect(out.notes).toEqual([
      'claude-sonnet-4-5 was retired by anthropic on 2026-11-30 and no longer answers; its replacement is claude-sonnet-5-5; skipped',
    ]);
    expect(upstream.requests.map((r) => r.body.model)).toEqual(['claude-sonnet-5-5']);
  });

  it('chat_many reports it as refused and still answers with the other models', async () => {
    const h = await at(FROM);
    upstream.enqueue({ kind: 'openai', content: 'ok' });
    const result = await h.callTool('chat_many', { prompt: 'hi', models: ['gpt-4o-mini', 'claude-sonnet-4-5'] });
    expect(resultText(result)).toContain('claude-sonnet-4-5 was retired by anthropic on 2026-11-30');
    expect(upstream.requests.map((r) => r.body.model)).toEqual(['gpt-4o-mini']);
  });

  it('claude-opus-4-5 still answers then, with its own date (2027-01-22) in the warning', async () => {
    const h = await at(FROM);
    expect((await listed(h, 'claude-opus-4-5')).warning).toBe('retires 2027-01-22; use claude-opus-5-5');
    upstream.enqueue({ kind: 'anthropic', content: 'ok' });
    expect((await h.callTool('chat', { model: 'claude-opus-4-5', prompt: 'hi' })).isError).toBeFalsy();
  });
});

/**
 * OpenAI shuts down gpt-4o, gpt-4o-mini, gpt-4.1 and gpt-4.1-mini on 2027-01-14 and names
 * gpt-6-luna as their replacement (src/registry/catalog.ts has the sources).
 */
const GPT4_FAMILY = ['gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'gpt-4.1-mini'];
const GPT4_BEFORE = Date.parse('2027-01-13T23:59:59.999Z');
const GPT4_FROM = Date.parse('2027-01-14T00:00:00.000Z');

describe('gpt-4o, gpt-4o-mini, gpt-4.1 and gpt-4.1-mini before 2027-01-14', () => {
  it.each(GPT4_FAMILY)('%s answers, and list_models warns that it retires 2027-01-14, naming gpt-6-luna', async (id) => {
    const h = await at(GPT4_BEFORE);
    const { warning, text } = await listed(h, id, 'openai');
    expect(warning).toBe('retires 2027-01-14; use gpt-6-luna');
    // One line for the four: they go on the same day, to the same replacement.
    expect(text).toContain('gpt-4o, gpt-4o-mini, gpt-4.1, gpt-4.1-mini retire 2027-01-14; use gpt-6-luna');
    expect(text).not.toContain('retired 2027-01-14');

    upstream.enqueue({ kind: 'openai', content: 'still here' });
    const result = await h.callTool('chat', { model: id, prompt: 'hi' });
    expect(result.isError, resultText(result)).toBeFalsy();
    const out = result.structuredContent as unknown as ChatResult;
    expect(out).toMatchObject({ content: 'still here', model: id });
    expect(out.notes).toBeUndefined();
    expect(upstream.requests.map((r) => r.body.model)).toEqual([id]);
  });
});

describe('gpt-4o, gpt-4o-mini, gpt-4.1 and gpt-4.1-mini from 2027-01-14', () => {
  it.each(GPT4_FAMILY)('%s: list_models marks it retired, and a call (by id or as openai:%s) is refused before sending, naming gpt-6-luna', async (id) => {
    const h = await at(GPT4_FROM);
    const { warning, text } = await listed(h, id, 'openai');
    expect(warning).toBe('retired 2027-01-14; use gpt-6-luna');
    expect(text).toContain('gpt-4o, gpt-4o-mini, gpt-4.1, gpt-4.1-mini retired 2027-01-14; use gpt-6-luna');
    for (const model of [id, `openai:${id}`]) {
      const result = await h.callTool('chat', { model, prompt: 'hi' });
      expect(result.isError).toBe(true);
      expect(resultText(result)).toContain(`${id} was retired by openai on 2027-01-14 and no longer answers; its replacement is gpt-6-luna`);
      expect(resultText(result)).toContain('Call it with model: "gpt-6-luna"');
    }
    expect(upstream.requests).toHaveLength(0);
  });

  it('gpt-6-luna, the replacement, answers then and carries no warning', async () => {
    const h = await at(GPT4_FROM);
    expect((await listed(h, 'gpt-6-luna', 'openai')).warning).toBeNull();
    upstream.enqueue({ kind: 'openai', content: 'from luna' });
    const result = await h.callTool('chat', { model: 'gpt-4o-mini', prompt: 'hi', fallback_models: ['gpt-6-luna'] });
    expect(result.isError, resultText(result)).toBeFalsy();
    const out = result.structuredContent as unknown as ChatResult;
    expect(out).toMatchObject({ content: 'from luna', model: 'gpt-6-luna' });
    expect(out.notes).toEqual(['gpt-4o-mini was retired by openai on 2027-01-14 and no longer answers; its replacement is gpt-6-luna; skipped']);
    expect(upstream.requests.map((r) => r.body.model)).toEqual(['gpt-6-luna']);
  });
});

describe('the default model around 2027-01-14', () => {
  it('before: a call that names no model goes to the built-in gpt-4o-mini, and list_models says so', async () => {
    const h = await at(GPT4_BEFORE);
    const listing = (await h.callTool('list_models', {})).structuredContent as unknown as CompactModelListing;
    expect(listing.default_model).toBe('gpt-4o-mini');
    upstream.enqueue({ kind: 'openai', content: 'mini' });
    const result = await h.callTool('chat', { prompt: 'hi' });
    expect(result.isError, resultText(result)).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ content: 'mini', model: 'gpt-4o-mini' });
    expect(upstream.requests.map((r) => r.body.model)).toEqual(['gpt-4o-mini']);
  });

  it('from: the built-in default follows the replacement, gpt-6-luna, without a note of refusal', async () => {
    const h = await at(GPT4_FROM);
    const listing = (await h.callTool('list_models', {})).structuredContent as unknown as CompactModelListing;
    expect(listing.default_model).toBe('gpt-6-luna');
    expect(resultText(await h.callTool('list_models', {}))).toContain('default model: gpt-6-luna');
    upstream.enqueue({ kind: 'openai', content: 'luna' });
    const result = await h.callTool('chat', { prompt: 'hi' });
    expect(result.isError, resultText(result)).toBeFalsy();
    const out = result.structuredContent as unknown as ChatResult;
    expect(out).toMatchObject({ content: 'luna', model: 'gpt-6-luna' });
    expect(out.notes).toBeUndefined();
    expect(upstream.requests.map((r) => r.body.model)).toEqual(['gpt-6-luna']);
  });

  it('from: a default the user set on a retired model (directly or by alias) is refused like an explicit call, naming the replacement', async () => {
    for (const options of [{ env: { LLM_SERVICE_DEFAULT_MODEL: 'gpt-4o-mini' } }, { config: { defaultModel: 'fast', aliases: { fast: 'gpt-4.1-mini' } } }]) {
      const h = await start({ upstream, now: () => GPT4_FROM, ...options });
      const result = await h.callTool('chat', { prompt: 'hi' });
      expect(result.isError).toBe(true);
      expect(resultText(result)).toMatch(/gpt-4(o|\.1)-mini was retired by openai on 2027-01-14 and no longer answers; its replacement is gpt-6-luna/);
      expect(resultText(result)).toContain('Call it with model: "gpt-6-luna"');
    }
    expect(upstream.requests).toHaveLength(0);
  });
});
