/**
 * Conversation threads through a real MCP Client against the loopback upstream: a thread kept in
 * the ledger's SQLite file survives a restart, switches provider mid-thread with tool calls
 * converted for each wire, is trimmed to the context window, expires, belongs to its principal,
 * and tags its ledger rows (get_cost by conversation_id).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ChatResult } from '../../src/llm/llm-service.js';
import { harnessPerTest, resultText, type Harness } from '../support/harness.js';
import { useUpstream } from '../support/use-upstream.js';

const upstream = useUpstream();
let dir: string;
afterEach(() => {
  upstream.requests.length = 0;
  if (dir) rmSync(dir, { recursive: true, force: true });
});
const harness = harnessPerTest();

const weatherTool = { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } };

async function chat(h: Harness, args: Record<string, unknown>): Promise<ChatResult> {
  const result = await h.callTool('chat', args);
  expect(result.isError, resultText(result)).toBeFalsy();
  return result.structuredContent as unknown as ChatResult;
}

async function chatError(h: Harness, args: Record<string, unknown>): Promise<string> {
  const result = await h.callTool('chat', args);
  expect(result.isError).toBe(true);
  return resultText(result);
}

function lastBody(): any {
  return upstream.requests[upstream.requests.length - 1]!.body;
}

describe('conversation threads', () => {
  it('returns a new id, and a server started on the same file continues the thread', async () => {
    dir = mkdtempSync(join(tmpdir(), 'conv-'));
    const dbPath = join(dir, 'ledger.db');
    const first = await harness({ upstream, dbPath });
    const one = await chat(first, { model: 'gpt-4o-mini', system: 'Be terse.', prompt: 'My name is Ada.' });
    // A UUID v7 (ledger/time-ordered-id.ts): time-ordered, so the ledger appends new threads at its b-trees' right edge.
    expect(one.conversation_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(one.content).toBe('echo: My name is Ada.');
    await first.close();

    const second = await harness({ upstream, dbPath });
    const two = await chat(second, { model: 'gpt-4o-mini', prompt: 'What is my name?', conversation_id: one.conversation_id });
    expect(two.conversation_id).toBe(one.conversation_id);
    expect(lastBody().messages).toEqual([
      { role: 'system', content: 'Be terse.' },
      { role: 'user', content: 'My name is Ada.' },
      { role: 'assistant', content: 'echo: My name is Ada.' },
      { role: 'user', content: 'What is my name?' },
    ]);
    // Each turn's ledger row carries the thread's id.
    const db = new Database(dbPath, { readonly: true });
    const rows = db.prepare('SELECT conversation_id FROM calls ORDER BY id').all() as Array<{ conversation_id: string }>;
    db.close();
    expect(rows.map((r) => r.conversation_id)).toEqual([one.conversation_id, one.conversation_id]);
  });

  it('store: false keeps no thread and returns no id; an unknown id is refused without a call', async () => {
    const h = await harness({ upstream });
    const out = await chat(h, { model: 'gpt-4o-mini', prompt: 'hi', store: false });
    expect(out.conversation_id).toBeUndefined();
    const db = new Database(h.dbPath, { readonly: true });
    expect(db.prepare('SELECT COUNT(*) AS n FROM conversations').get()).toEqual({ n: 0 });
    db.close();
    upstream.requests.length = 0;
    const text = await chatError(h, { model: 'gpt-4o-mini', prompt: 'hi', conversation_id: 'nope' });
    expect(text).toContain("No conversation 'nope'");
    expect(text).toContain('omit conversation_id');
    expect(upstream.requests).toHaveLength(0);
  });

  it('switches from OpenAI to Anthropic after a tool call: tool_use and tool_result on the Messages wire', async () => {
    const h = await harness({ upstream });
    upstream.enqueue({ kind: 'openai', toolCalls: [{ id: 'call_w1', name: 'get_weather', arguments: { city: 'Oslo' } }] });
    const one = await chat(h, { model: 'gpt-4o-mini', prompt: 'Weather in Oslo?', tools: [weatherTool] });
    expect(one.tool_calls).toEqual([{ id: 'call_w1', name: 'get_weather', arguments: { city: 'Oslo' } }]);
    upstream.enqueue({ kind: 'anthropic', content: 'It is sunny in Oslo.' });
    const two = await chat(h, {
      model: 'claude-haiku-4-5',
      conversation_id: one.conversation_id,
      messages: [{ role: 'tool', tool_call_id: 'call_w1', content: 'sunny, 21 C' }],
    });
    expect(two.provider).toBe('anthropic');
    expect(two.content).toBe('It is sunny in Oslo.');
    const body = lastBody();
    expect(upstream.requests.at(-1)!.path).toContain('/messages');
    expect(body.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Weather in Oslo?' }] },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'call_w1', name: 'get_weather', input: { city: 'Oslo' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_w1', content: 'sunny, 21 C' }] },
    ].map((m) => expect.objectContaining({ role: m.role, content: expect.arrayContaining(m.content.map((c) => expect.objectContaining(c))) })));
    // The thread kept its tools: the Messages API needs them beside tool_use blocks.
    expect(body.tools.map((t: { name: string }) => t.name)).toEqual(['get_weather']);
  });

  it('switches from Anthropic to OpenAI after a tool call: tool_calls and a tool message on the Chat wire', async () => {
    const h = await harness({ upstream });
    upstream.enqueue({ kind: 'anthropic', toolUses: [{ id: 'toolu_01A', name: 'get_weather', input: { city: 'Rome' } }] });
    const one = await chat(h, { model: 'claude-haiku-4-5', prompt: 'Weather in Rome?', tools: [weatherTool] });
    expect(one.tool_calls[0]!.id).toBe('toolu_01A');
    upstream.enqueue({ kind: 'openai', content: 'Rainy in Rome.' });
    const two = await chat(h, {
      model: 'gpt-4o-mini',
      conversation_id: one.conversation_id,
      messages: [{ role: 'tool', tool_call_id: 'toolu_01A', content: 'rain' }],
    });
    expect(two.provider).toBe('openai');
    const body = lastBody();
    expect(body.messages[0]).toEqual({ role: 'user', content: 'Weather in Rome?' });
    expect(body.messages[1]).toMatchObject({
      role: 'assistant',
      tool_calls: [{ id: 'toolu_01A', type: 'function', function: { name: 'get_weather', arguments: JSON.stringify({ city: 'Rome' }) } }],
    });
    expect(body.messages[2]).toEqual({ role: 'tool', tool_call_id: 'toolu_01A', content: 'rain' });
    expect(body.tools.map((t: { function: { name: string } }) => t.function.name)).toEqual(['get_weather']);
    // And back again to Anthropic with the whole history.
    const three = await chat(h, { model: 'claude-haiku-4-5', conversation_id: one.conversation_id, prompt: 'Thanks' });
    expect(three.provider).toBe('anthropic');
    expect(lastBody().messages).toHaveLength(5);
  });

  it('trims the oldest turns to fit the context window, keeping the system message, with a note', async () => {
    const h = await harness({
      upstream,
      config: {
        providers: { local: { type: 'openai-compatible', baseURL: upstream.openaiBaseURL, apiKeyEnv: 'OPENAI_API_KEY' } },
        models: { tiny: { provider: 'local', providerModel: 'tiny', contextWindow: 800, maxOutputTokens: 100, pricing: { inputPerMTok: 0, outputPerMTok: 0 } } },
      },
    });
    const long = (n: number): string => `turn ${n} ${'x'.repeat(300)}`;
    const one = await chat(h, { model: 'tiny', system: 'SYS', prompt: long(1) });
    for (let n = 2; n <= 4; n++) await chat(h, { model: 'tiny', conversation_id: one.conversation_id, prompt: long(n) });
    const result = await h.callTool('chat', { model: 'tiny', conversation_id: one.conversation_id, prompt: 'last' });
    const out = result.structuredContent as unknown as ChatResult;
    const messages = lastBody().messages as Array<{ role: string; content: string }>;
    expect(messages[0]).toEqual({ role: 'system', content: 'SYS' });
    expect(messages.at(-1)).toEqual({ role: 'user', content: 'last' });
    // Each stored turn is ~220 tokens by the estimator; 700 tokens of room keep the newest 2 or 3.
    const keptTurns = (messages.length - 2) / 2;
    expect(keptTurns).toBeGreaterThanOrEqual(1);
    expect(keptTurns).toBeLessThan(4);
    expect(messages[1]!.content).toContain(`turn ${5 - keptTurns}`);
    expect(out.notes).toContain(`${4 - keptTurns} earlier turn${4 - keptTurns === 1 ? ' was' : 's were'} left out to fit tiny's context window`);
    expect(resultText(result)).toBeTruthy();
  });

  it('expires a thread after the idle time (refused on read) and sweeps it from the database', async () => {
    let clock = Date.parse('2026-11-01T10:00:00Z');
    const h = await harness({ upstream, now: () => clock, config: { conversations: { idleDays: 1 } } });
    const one = await chat(h, { model: 'gpt-4o-mini', prompt: 'hi' });
    clock += 23 * 3_600_000;
    await chat(h, { model: 'gpt-4o-mini', prompt: 'still there?', conversation_id: one.conversation_id });
    clock += 25 * 3_600_000;
    const text = await chatError(h, { model: 'gpt-4o-mini', prompt: 'and now?', conversation_id: one.conversation_id });
    expect(text).toContain(`Conversation '${one.conversation_id}' expired after 1 day`);
    expect(await h.ledger.loadThread(one.conversation_id!)).toBeDefined();
    // The next kept turn sweeps expired threads.
    await chat(h, { model: 'gpt-4o-mini', prompt: 'new thread' });
    expect(await h.ledger.loadThread(one.conversation_id!)).toBeUndefined();
    const db = new Database(h.dbPath, { readonly: true });
    expect(db.prepare('SELECT COUNT(*) AS n FROM conversation_turns WHERE conversation_id = ?').get(one.conversation_id)).toEqual({ n: 0 });
    db.close();
  });

  it("writes the turn in the answering call's ledger transaction; a row the ledger refuses leaves the turn to be kept on its own", async () => {
    const h = await harness({ upstream });
    const record = vi.spyOn(h.ledger, 'record');
    const appendTurn = vi.spyOn(h.ledger, 'appendTurn');
    const one = await chat(h, { model: 'gpt-4o-mini', prompt: 'one' });
    expect(record).toHaveBeenCalledTimes(1);
    expect(record.mock.calls[0]![2]).toMatchObject({ id: one.conversation_id, principal: null, messages: [{ role: 'user', content: 'one' }, { role: 'assistant', content: 'echo: one' }] });
    expect(appendTurn).not.toHaveBeenCalled();
    expect((await h.ledger.loadThread(one.conversation_id!))!.turns).toHaveLength(1);

    // The file now refuses call rows (a real SQLite error inside record()'s transaction).
    const db = new Database(h.dbPath);
    db.exec("CREATE TRIGGER refuse_calls BEFORE INSERT ON calls BEGIN SELECT RAISE(ABORT, 'calls refused by the test'); END");
    db.close();
    const two = await chat(h, { model: 'gpt-4o-mini', prompt: 'two', conversation_id: one.conversation_id });
    expect(two.content).toBe('echo: two');
    expect(two.notes?.join(' ')).toContain('the cost ledger could not record this call');
    // The row's transaction took the turn down with it; the service kept the turn alone.
    expect(appendTurn).toHaveBeenCalledTimes(1);
    expect((await h.ledger.loadThread(one.conversation_id!))!.turns.map((turn) => turn[0]!.content)).toEqual(['one', 'two']);
    expect((await h.ledger.stats()).rows).toBe(1);
  });

  it("refuses another principal's thread, and a local caller's, as unknown", async () => {
    const h = await harness({ upstream });
    const service = h.created.service;
    const alice = { name: 'alice', admin: false };
    const mine = await service.chat({ model: 'gpt-4o-mini', prompt: 'secret plan' }, { principal: alice });
    upstream.requests.length = 0;
    await expect(service.chat({ model: 'gpt-4o-mini', prompt: 'tell me', conversation_id: mine.conversation_id }, { principal: { name: 'bob', admin: true } })).rejects.toThrow(
      `No conversation '${mine.conversation_id}'`,
    );
    await expect(service.chat({ model: 'gpt-4o-mini', prompt: 'tell me', conversation_id: mine.conversation_id })).rejects.toThrow('No conversation');
    expect(upstream.requests).toHaveLength(0);
    const again = await service.chat({ model: 'gpt-4o-mini', prompt: 'go on', conversation_id: mine.conversation_id }, { principal: alice });
    expect(again.conversation_id).toBe(mine.conversation_id);
    expect(lastBody().messages.map((m: { content: string }) => m.content)).toEqual(['secret plan', 'echo: secret plan', 'go on']);
  });

  it('get_cost filters by conversation_id', async () => {
    const h = await harness({ upstream });
    const a = await chat(h, { model: 'gpt-4o-mini', prompt: 'a1' });
    await chat(h, { model: 'gpt-4o-mini', prompt: 'a2', conversation_id: a.conversation_id });
    await chat(h, { model: 'gpt-4o-mini', prompt: 'b1' });
    const all = await h.callTool('get_cost', {});
    expect((all.structuredContent as any).total.calls).toBe(3);
    const one = await h.callTool('get_cost', { conversation_id: a.conversation_id });
    expect(one.isError, resultText(one)).toBeFalsy();
    expect((one.structuredContent as any).total.calls).toBe(2);
  });
});
