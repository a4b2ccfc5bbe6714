/**
 * Names are data, not code paths (issue #9 item 7); time bounds are checked and name the
 * argument (#9 item 12, #16 item 7); `provider:model` parts are trimmed and `get_cost` resolves
 * aliases like `chat` (#16 item 7). Through the real MCP client and the loopback upstream.
 */
import { describe, expect, it } from 'vitest';
import { parseTimeBound } from '../../src/ledger/time-span.js';
import { MAX_MODEL_NAME_CHARS } from '../../src/registry/registry.js';
import { harnessPerTest, resultText } from '../support/harness.js';

const harness = harnessPerTest();

describe('model names are data', () => {
  it.each(['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'])(
    '%s gets the normal unknown-model error in chat, fallback_models and get_cost',
    async (name) => {
      const h = await harness();
      const chat = await h.callTool('chat', { prompt: 'hi', model: name });
      expect(chat.isError).toBe(true);
      expect(resultText(chat)).toMatch(new RegExp(`^Unknown model '${name.replace(/[$_]/g, '\\$&')}'\\..*list_models`));
      const fallback = await h.callTool('chat', { prompt: 'hi', model: 'gpt-4o-mini', fallback_models: [name] });
      expect(resultText(fallback)).toMatch(/^Unknown model/);
      const cost = await h.callTool('get_cost', { model: name });
      expect(cost.isError).toBeFalsy();
      expect(h.upstream.requests).toHaveLength(0);
      expect(h.logLines.join('')).not.toMatch(/unexpected failure/);
    },
  );

  it('a 9 MB name is answered at once, not echoed whole, and does not hold up other calls', async () => {
    const h = await harness();
    const huge = `gpt-${'4'.repeat(9 * 1000 * 1000)}`;
    const started = Date.now();
    const [chat, listing] = await Promise.all([
      h.callTool('chat', { prompt: 'hi', model: huge }),
      h.callTool('list_models', {}),
    ]);
    const elapsed = Date.now() - started;
    expect(chat.isError).toBe(true);
    const text = resultText(chat);
    expect(text).toMatch(new RegExp(`^Unknown model 'gpt-4{60}…' \\(9000004 characters\\): model names are at most ${MAX_MODEL_NAME_CHARS} characters`));
    expect(text.length).toBeLessThan(400);
    expect(listing.isError).toBeFalsy();
    // Over the in-memory transport a 9 MB argument costs a few copies; the edit distance alone took 15 s.
    expect(elapsed).toBeLessThan(3_000);
  });

  it('a name just under the limit still gets suggestions, computed fast', async () => {
    const h = await harness();
    const name = `gpt-4o-mini${'x'.repeat(MAX_MODEL_NAME_CHARS - 11)}`;
    const started = Date.now();
    const chat = await h.callTool('chat', { prompt: 'hi', model: name });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(resultText(chat)).toMatch(/^Unknown model 'gpt-4o-minix+…'\. Did you mean: [^?]*gpt-4o-mini/);
  });

  it('an unknown provider in a long provider:model name is not echoed whole', async () => {
    const h = await harness();
    const chat = await h.callTool('chat', { prompt: 'hi', model: `${'p'.repeat(200)}:model` });
    expect(resultText(chat)).toMatch(/^Unknown provider 'p{64}…' in model 'p{64}…'\. Known providers: openai, anthropic/);
    const listing = await h.callTool('list_models', { provider: 'q'.repeat(5000) });
    expect(resultText(listing)).toMatch(/^Unknown provider 'q{64}…'\./);
  });

  it('`openai: gpt-4o` calls openai with the model "gpt-4o": both parts are trimmed', async () => {
    const h = await harness();
    const listed = await h.callTool('chat', { prompt: 'hi', model: 'openai: gpt-4o ' });
    expect(listed.isError).toBeFalsy();
    expect(listed.structuredContent).toMatchObject({ model: 'gpt-4o', provider: 'openai', provider_model: 'gpt-4o' });
    const unlisted = await h.callTool('chat', { prompt: 'hi', model: ' openai :  gpt-4.1-nano' });
    expect(unlisted.structuredContent).toMatchObject({ model: 'openai:gpt-4.1-nano', provider_model: 'gpt-4.1-nano' });
    expect(h.upstream.requests.map((r) => r.body.model)).toEqual(['gpt-4o', 'gpt-4.1-nano']);
  });
});

describe('time bounds', () => {
  it.each([
    ['until', '1000000000w'],
    ['since', '99999999999999999999999d'],
    ['since', '900000y'],
  ])('get_cost %s: %s is a clear error naming the argument', async (argument, value) => {
    const h = await harness();
    const result = await h.callTool('get_cost', { [argument]: value });
    expect(result.isError).toBe(true);
    expect(resultText(result)).toMatch(new RegExp(`^${argument}: Time '${value}' is out of range: a span reaches back to the year 0000 at most`));
    expect(h.logLines.join('')).not.toMatch(/unexpected failure|Invalid time value/);
  });

  it('get_cost names the argument of any bad time and does not echo a huge one whole', async () => {
    const h = await harness();
    const result = await h.callTool('get_cost', { since: `2026-${'1'.repeat(100_000)}` });
    expect(resultText(result)).toMatch(/^since: Invalid time '2026-1{35}…': use an ISO 8601 date or time/);
    expect(resultText(result).length).toBeLessThan(300);
  });

  it('offsets: +05, +0530 and +05:30 are read; +99:99 and +15 are refused', () => {
    const now = Date.parse('2026-11-26T04:00:00Z');
    expect(new Date(parseTimeBound('2026-11-01T12:00+05', now)).toISOString()).toBe('2026-11-01T07:00:00.000Z');
    expect(new Date(parseTimeBound('2026-11-01T12:00+0530', now)).toISOString()).toBe('2026-11-01T06:30:00.000Z');
    expect(new Date(parseTimeBound('2026-11-01T12:00-05:30', now)).toISOString()).toBe('2026-11-01T17:30:00.000Z');
    for (const bad of ['2026-11-01T12:00+99:99', '2026-11-01T12:00+15', '2026-11-01T12:00+05:60', '2026-11-01T12:00+5']) {
      expect(() => parseTimeBound(bad, now), bad).toThrow(/^Invalid time/);
    }
  });

  it('6M is refused as ambiguous; 6m is minutes, 6mo and 1y count calendar months back', () => {
    const now = Date.parse('2026-08-31T10:00:00Z');
    expect(() => parseTimeBound('6M', now)).toThrow("Invalid time '6M': 'M' is ambiguous; write 6m for minutes or 6mo for months");
    expect(parseTimeBound('6m', now)).toBe(now - 6 * 60_000);
    expect(parseTimeBound('6min', now)).toBe(now - 6 * 60_000);
    // February has no 31st: the day is clamped to its last.
    expect(new Date(parseTimeBound('6mo', now)).toISOString()).toBe('2026-02-28T10:00:00.000Z');
    expect(new Date(parseTimeBound('1y', now)).toISOString()).toBe('2025-08-31T10:00:00.000Z');
    expect(new Date(parseTimeBound('2MO', now)).toISOString()).toBe('2026-06-30T10:00:00.000Z');
    expect(() => parseTimeBound('1.5mo', now)).toThrow('months and years are counted in whole numbers');
    expect(() => parseTimeBound('3fortnights', now)).toThrow(/units: s, m or min \(minutes\), h, d, w, mo \(months\), y/);
  });
});

describe('get_cost model filter', () => {
  it('accepts an alias (and provider:model of a listed model) and resolves it like chat does', async () => {
    const h = await harness({ config: { aliases: { fast: 'gpt-4o-mini' } } });
    h.upstream.enqueue({ kind: 'openai', usage: { prompt_tokens: 10, completion_tokens: 5 } }, { kind: 'openai', usage: { prompt_tokens: 10, completion_tokens: 5 } });
    expect((await h.callTool('chat', { prompt: 'a', model: 'fast' })).isError).toBeFalsy();
    expect((await h.callTool('chat', { prompt: 'b', model: 'gpt-4o' })).isError).toBeFalsy();
    for (const name of ['fast', 'gpt-4o-mini', 'openai:gpt-4o-mini', ' fast ']) {
      const result = await h.callTool('get_cost', { model: name });
      expect(result.isError, name).toBeFalsy();
      expect((result.structuredContent as { total: { calls: number } }).total.calls, name).toBe(1);
    }
    // A name no longer in the registry still filters the ledger by that name.
    const gone = await h.callTool('get_cost', { model: 'retired-model' });
    expect((gone.structuredContent as { total: { calls: number } }).total.calls).toBe(0);
  });
});
