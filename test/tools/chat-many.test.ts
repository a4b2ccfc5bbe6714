/**
 * `chat_many` through a real MCP Client against the loopback upstream: models in parallel, one
 * past the deadline cancelled (its upstream request closed) while the others answer, a failing
 * model, the budget held for all models first (and the refusal counting how many would fit),
 * cancellation of the whole call, progress, and a ledger row for every model.
 */
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { ChatManyFailure, ChatManyResult } from '../../src/llm/chat-many.js';
import type { ChatResult } from '../../src/llm/llm-service.js';
import { BUILT_IN_MODELS } from '../../src/registry/catalog.js';
import { chatMany } from '../../src/llm/chat-many.js';
import { harnessPerTest, resultText, type Harness } from '../support/harness.js';
import type { RecordedRequest, Reply } from '../support/upstream.js';
import { useUpstream } from '../support/use-upstream.js';

const upstream = useUpstream();
afterEach(() => {
  upstream.requests.length = 0;
  upstream.setDefault({ kind: 'auto' });
});
const harness = harnessPerTest();

/** Every request answered by model: the replies do not depend on the order requests arrive in. */
function answerBy(byModel: Record<string, Reply>): void {
  // Anthropic's provider model is dated (claude-haiku-4-5-20251001): matched by its start.
  upstream.setDefault((req: RecordedRequest) => {
    const key = Object.keys(byModel).find((name) => String(req.body.model).startsWith(name));
    return key ? byModel[key]! : { kind: 'error', status: 400, message: `unexpected model ${req.body.model}` };
  });
}

function rows(h: Harness): Array<{ model: string; status: string; error: string | null }> {
  const db = new Database(h.dbPath, { readonly: true });
  try {
    return db.prepare('SELECT model, status, error FROM calls ORDER BY model').all() as Array<{ model: string; status: string; error: string | null }>;
  } finally {
    db.close();
  }
}

const MODELS = ['gpt-4o-mini', 'claude-haiku-4-5', 'deepseek-chat'];

describe('chat_many', () => {
  it('returns every answer in the order given; a model past the deadline is cancelled, its socket closed', async () => {
    const h = await harness({ upstream });
    answerBy({
      'gpt-4o-mini': { kind: 'openai', content: 'Paris.', usage: { prompt_tokens: 10, completion_tokens: 2 } },
      'claude-haiku-4-5': { kind: 'anthropic', content: 'Paris, France.', usage: { input_tokens: 12, output_tokens: 4 } },
      // deepseek-chat's provider model is whatever DeepSeek now serves under it.
      deepseek: { kind: 'hang' },
    });
    const started = Date.now();
    const result = await h.callTool('chat_many', { prompt: 'Capital of France?', models: MODELS, deadline_ms: 3000 });
    const elapsed = Date.now() - started;
    expect(result.isError, resultText(result)).toBeFalsy();
    const out = result.structuredContent as unknown as ChatManyResult;
    expect(out.results.map((r) => r.model)).toEqual(MODELS);
    const [gpt, claude, deepseek] = out.results as [ChatResult, ChatResult, ChatManyFailure];
    expect(gpt).toMatchObject({ content: 'Paris.', provider: 'openai', usage: { prompt_tokens: 10, completion_tokens: 2 } });
    expect(claude).toMatchObject({ content: 'Paris, France.', provider: 'anthropic' });
    expect(deepseek).toMatchObject({ error: 'no answer within deadline_ms (3000 ms): cancelled', cancelled: true });
    expect(elapsed).toBeLessThan(8000);
    // The hung request was aborted by us, not left open.
    const hung = upstream.requests.findIndex((r) => String(r.body.model).startsWith('deepseek'));
    await upstream.waitForClose(hung, 2000);
    expect(upstream.requests[hung]!.closedBy).toBe('client');
    // The hung request was not streamed: whether the provider billed it cannot be known, so the
    // total is not a confident number (as chat's "cost unknown"); the known part is said.
    expect(deepseek.cost_usd).toBeNull();
    expect(deepseek.call_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(out.total_cost_usd).toBeNull();
    const known = (gpt.cost_usd! + claude.cost_usd!).toFixed(6);
    expect(gpt.cost_usd! * claude.cost_usd!).toBeGreaterThan(0);
    expect(out.notes).toEqual([
      `total cost at least $${known}; cost of 1 model unknown (deepseek-chat)`,
      `conversation ${out.conversation_id} starts with gpt-4o-mini's answer (the first of models that answered)`,
    ]);
    // A short section per model, then the total line.
    const text = resultText(result);
    expect(text).toMatch(/^## gpt-4o-mini \(openai\) · [\d.]+ s · 12 tokens · \$[\d.]+\nParis\./);
    expect(text).toContain('## deepseek-chat: cancelled · cost unknown\nno answer within deadline_ms (3000 ms): cancelled');
    expect(text.split('\n').at(-1)).toBe(`Total: at least $${known}; cost of 1 model unknown (2 of 3 answered)`);
    // One ledger row per model; the cut one is cancelled.
    expect(rows(h).map((r) => [r.model, r.status])).toEqual([
      ['claude-haiku-4-5', 'ok'],
      // The row names the model the alias resolved to.
      [expect.stringMatching(/^deepseek-/), 'cancelled'],
      ['gpt-4o-mini', 'ok'],
    ]);
  });

  it('reports a failing model as its own entry and still returns the others', async () => {
    const h = await harness({ upstream });
    answerBy({
      'gpt-4o-mini': { kind: 'openai', content: 'ok' },
      'claude-haiku-4-5': { kind: 'error', status: 400, message: 'prompt is too long' },
    });
    const result = await h.callTool('chat_many', { prompt: 'hi', models: ['gpt-4o-mini', 'claude-haiku-4-5', 'no-such-model'] });
    expect(result.isError, resultText(result)).toBeFalsy();
    const out = result.structuredContent as unknown as ChatManyResult;
    expect((out.results[0] as ChatResult).content).toBe('ok');
    expect((out.results[1] as ChatManyFailure).error).toContain('prompt is too long');
    expect((out.results[1] as ChatManyFailure).cancelled).toBeUndefined();
    expect((out.results[2] as ChatManyFailure).error).toContain("Unknown model 'no-such-model'");
    // A 400 billed nothing; the unknown model was never sent: both cost $0, only the sent one has a call id.
    expect(out.results[1]).toMatchObject({ cost_usd: 0, call_id: expect.any(String) });
    expect(out.results[2]).toMatchObject({ cost_usd: 0 });
    expect((out.results[2] as ChatManyFailure).call_id).toBeUndefined();
    expect(out.total_cost_usd).toBe((out.results[0] as ChatResult).cost_usd);
    expect(resultText(result)).toContain('## claude-haiku-4-5: failed · $0.000000\n');
    expect(resultText(result)).toContain('## no-such-model: failed\n');
    // The unknown model was never sent; the other two each have a row.
    expect(upstream.requests).toHaveLength(2);
    expect(rows(h).map((r) => [r.model, r.status])).toEqual([
      ['claude-haiku-4-5', 'error'],
      ['gpt-4o-mini', 'ok'],
    ]);
  });

  it('total_cost_usd is the sum of every ledger row: an answer, a failed stream that reported usage, a model cancelled while answering', async () => {
    const h = await harness({ upstream });
    answerBy({
      'gpt-4o-mini': { kind: 'openai', chunks: ['Fine.'], usage: { prompt_tokens: 1000, completion_tokens: 100 } },
      // message_start reports the input (and 1 output token), then the socket is cut: billed.
      'claude-haiku-4-5': { kind: 'anthropic', chunks: ['Half', ' an answer'], cutAfterChunks: 1, usage: { input_tokens: 2000, output_tokens: 50 } },
      // message_start, one delta, then silence until the deadline cancels it: billed too.
      'claude-sonnet-5-5': { kind: 'anthropic', chunks: ['Slow', ' thought'], stallAfterChunks: 1, usage: { input_tokens: 3000, output_tokens: 50 } },
    });
    const models = ['gpt-4o-mini', 'claude-haiku-4-5', 'claude-sonnet-5-5'];
    // A progress token makes every model stream, so each reports usage as it goes.
    const result = (await h.client.callTool({ name: 'chat_many', arguments: { prompt: 'How?', models, deadline_ms: 1500 } }, undefined, {
      onprogress: () => undefined,
    })) as Parameters<typeof resultText>[0];
    expect(result.isError, resultText(result)).toBeFalsy();
    const out = result.structuredContent as unknown as ChatManyResult;
    const [gpt, haiku, opus] = out.results as [ChatResult, ChatManyFailure, ChatManyFailure];
    expect(gpt.content).toBe('Fine.');
    expect(haiku.error).toBeTruthy();
    expect(haiku.cancelled).toBeUndefined();
    expect(opus).toMatchObject({ cancelled: true, error: 'no answer within deadline_ms (1500 ms): cancelled' });
    // The catalog's $ per 1M tokens times what the upstream reported (Anthropic: message_start's 1 output token).
    const priceOf = (id: string) => BUILT_IN_MODELS.find((m) => m.id === id)!.pricing;
    const micro = (id: string, input: number, output: number) => input * priceOf(id).inputPerMTok! + output * priceOf(id).outputPerMTok!;
    const expected = { 'gpt-4o-mini': micro('gpt-4o-mini', 1000, 100), 'claude-haiku-4-5': micro('claude-haiku-4-5', 2000, 1), 'claude-sonnet-5-5': micro('claude-sonnet-5-5', 3000, 1) };
    const db = new Database(h.dbPath, { readonly: true });
    const ledger = db.prepare('SELECT call_id, model, status, prompt_tokens, completion_tokens, cost_micro_usd FROM calls ORDER BY model').all() as Array<{
      call_id: string; model: string; status: string; prompt_tokens: number; completion_tokens: number; cost_micro_usd: number;
    }>;
    db.close();
    expect(ledger.map((r) => [r.model, r.status, r.prompt_tokens, r.completion_tokens, r.cost_micro_usd])).toEqual([
      ['claude-haiku-4-5', 'error', 2000, 1, expected['claude-haiku-4-5']],
      ['claude-sonnet-5-5', 'cancelled', 3000, 1, expected['claude-sonnet-5-5']],
      ['gpt-4o-mini', 'ok', 1000, 100, expected['gpt-4o-mini']],
    ]);
    // Each entry carries its own row's cost and call id; the total is exactly the rows' sum.
    for (const entry of [gpt, haiku, opus]) {
      const row = ledger.find((r) => r.model === entry.model)!;
      expect(entry.call_id).toBe(row.call_id);
      expect(entry.cost_usd).toBe(row.cost_micro_usd / 1e6);
    }
    const sum = ledger.reduce((total, r) => total + r.cost_micro_usd, 0);
    expect(sum).toBe(Object.values(expected).reduce((a, b) => a + b, 0));
    expect(out.total_cost_usd).toBe(sum / 1e6);
    // The only note is the thread's: no word of an unknown cost.
    expect(out.notes).toEqual([expect.stringMatching(/^conversation [0-9a-f-]{36} starts with gpt-4o-mini's answer/)]);
    expect(resultText(result).split('\n').at(-1)).toBe(`Total: $${(sum / 1e6).toFixed(6)} (1 of 3 answered)`);
  });

  it('refuses before contacting any model when the budget cannot hold them all, saying how many fit', async () => {
    const h = await harness({ upstream, config: { budget: { dailyUsd: 0.005 } } });
    // Each worst case (the catalog output limit at the model's price) is above half a cent, so
    // one hold reaches the cap and the next is refused.
    const result = await h.callTool('chat_many', { prompt: 'hi', models: ['gpt-4o-mini', 'claude-haiku-4-5'] });
    expect(result.isError).toBe(true);
    expect(resultText(result)).toMatch(/^The budget cannot hold the worst case of all 2 models \(\$[\d.]+\); 1 would fit: send fewer models or a lower max_tokens\. Daily budget/);
    expect(upstream.requests).toHaveLength(0);
    const db = new Database(h.dbPath, { readonly: true });
    expect(db.prepare('SELECT COUNT(*) AS n FROM reservations').get()).toEqual({ n: 0 });
    db.close();
    // Within the cap, the same call goes through, and leaves no hold behind.
    const cheap = await h.callTool('chat_many', { prompt: 'hi', models: ['gpt-4o-mini', 'deepseek-chat'], max_tokens: 50 });
    expect(cheap.isError, resultText(cheap)).toBeFalsy();
    const after = new Database(h.dbPath, { readonly: true });
    expect(after.prepare('SELECT COUNT(*) AS n FROM reservations').get()).toEqual({ n: 0 });
    after.close();
  });

  it('cancelling the call aborts every model at once, and each is recorded as cancelled', async () => {
    const h = await harness({ upstream });
    answerBy({ 'gpt-4o-mini': { kind: 'hang' }, 'claude-haiku-4-5': { kind: 'hang' } });
    const controller = new AbortController();
    const call = h.callTool('chat_many', { prompt: 'hi', models: ['gpt-4o-mini', 'claude-haiku-4-5'] }, { signal: controller.signal });
    await upstream.waitForRequests(2);
    const cancelledAt = Date.now();
    controller.abort();
    await expect(call).rejects.toThrow();
    for (const i of [0, 1]) {
      const closed = await upstream.waitForClose(i, 2000);
      expect(closed - cancelledAt).toBeLessThan(1000);
    }
    await expect.poll(() => rows(h).map((r) => r.status), { timeout: 3000 }).toEqual(['cancelled', 'cancelled']);
  });

  it('relays progress: which models answered and the tail of the fastest running answer; nothing after the result', async () => {
    const h = await harness({ upstream });
    answerBy({
      'gpt-4o-mini': { kind: 'openai', chunks: ['Quick ', 'answer.'] },
      'claude-haiku-4-5': { kind: 'anthropic', chunks: ['Slow ', 'and ', 'steady ', 'wins.'], chunkDelayMs: 150 },
    });
    const notices: Array<{ progress: number; message?: string }> = [];
    const result = await h.client.callTool({ name: 'chat_many', arguments: { prompt: 'go', models: ['gpt-4o-mini', 'claude-haiku-4-5'] } }, undefined, {
      onprogress: (p) => void notices.push(p),
    });
    const countAtResult = notices.length;
    expect(result.isError, resultText(result as never)).toBeFalsy();
    expect(notices.length).toBeGreaterThan(0);
    const progress = notices.map((n) => n.progress);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(new Set(progress).size).toBe(progress.length);
    expect(notices.some((n) => n.message?.startsWith('1/2 answered (gpt-4o-mini); claude-haiku-4-5: Slow'))).toBe(true);
    expect(notices.at(-1)!.message).toBe('2/2 answered (gpt-4o-mini, claude-haiku-4-5)');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(notices.length).toBe(countAtResult);
  });

  it('heartbeat: silent models get "waiting for …" lines naming who has answered; progress increases; nothing after the result', async () => {
    // A 100 ms heartbeat stands for the production 10 s one.
    const h = await harness({ upstream, heartbeatMs: 100 });
    answerBy({ 'gpt-4o-mini': { kind: 'openai', content: 'Done.' }, 'claude-haiku-4-5': { kind: 'hang' }, deepseek: { kind: 'hang' } });
    const notices: Array<{ progress: number; message?: string }> = [];
    const result = await h.client.callTool(
      { name: 'chat_many', arguments: { prompt: 'go', models: ['gpt-4o-mini', 'claude-haiku-4-5', 'deepseek-chat'], deadline_ms: 1000 } },
      undefined,
      { onprogress: (p) => void notices.push(p) },
    );
    const countAtResult = notices.length;
    expect(result.isError, resultText(result as never)).toBeFalsy();
    // Both silent models beat, each naming itself once; the answered one is named in every line after it answered.
    const claude = notices.filter((n) => /; waiting for claude-haiku-4-5 \(anthropic\), \d+ s(;|$)/.test(n.message ?? ''));
    const deepseek = notices.filter((n) => /; deepseek-chat: waiting for deepseek-\S+ \(deepseek\), \d+ s(;|$)/.test(n.message ?? ''));
    expect(claude.length).toBeGreaterThanOrEqual(2);
    expect(deepseek.length).toBeGreaterThanOrEqual(2);
    // Beats that fire together are one notice, as chat's one heartbeat.
    expect(notices.some((n) => claude.includes(n) && deepseek.includes(n))).toBe(true);
    const afterAnswer = notices.slice(notices.findIndex((n) => n.message?.startsWith('1/3 answered (gpt-4o-mini)')));
    expect(afterAnswer.length).toBeGreaterThan(2);
    expect(afterAnswer.every((n) => n.message?.startsWith('1/3 answered (gpt-4o-mini)'))).toBe(true);
    expect(claude.at(-1)!.message).toMatch(/^1\/3 answered \(gpt-4o-mini\); waiting for/);
    // Strictly increasing, and silence once the result is in (the cut models' relays are closed).
    const progress = notices.map((n) => n.progress);
    progress.slice(1).forEach((p, i) => expect(p).toBeGreaterThan(progress[i]!));
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(notices.length).toBe(countAtResult);
    expect(h.clientErrors).toEqual([]);
  });

  it('refuses a bad input with a clear message', async () => {
    const h = await harness({ upstream });
    const one = await h.callTool('chat_many', { prompt: 'hi', models: ['gpt-4o-mini'] });
    expect(one.isError).toBe(true);
    const withModel = await h.callTool('chat_many', { prompt: 'hi', models: ['gpt-4o-mini', 'deepseek-chat'], model: 'x' });
    expect(withModel.isError).toBe(true);
    expect(resultText(withModel)).toContain("chat_many takes chat's input (no model or fallback_models) plus models and deadline_ms");
    const fraction = await h.callTool('chat_many', { prompt: 'hi', models: ['gpt-4o-mini', 'deepseek-chat'], deadline_ms: 1500.5 });
    expect(resultText(fraction)).toBe('deadline_ms must be a whole number of milliseconds, at least 1000 (got 1500.5)');
    expect(upstream.requests).toHaveLength(0);
  });
});

describe('chat_many in a conversation', () => {
  async function chat(h: Harness, args: Record<string, unknown>): Promise<ChatResult> {
    const result = await h.callTool('chat', args);
    expect(result.isError, resultText(result)).toBeFalsy();
    return result.structuredContent as unknown as ChatResult;
  }

  function conversationIds(h: Harness): Array<string | null> {
    const db = new Database(h.dbPath, { readonly: true });
    try {
      return (db.prepare('SELECT conversation_id FROM calls ORDER BY id').all() as Array<{ conversation_id: string | null }>).map((r) => r.conversation_id);
    } finally {
      db.close();
    }
  }

  it('sends the thread to every model; the thread goes on with the first answer in models order, not the fastest', async () => {
    const h = await harness({ upstream });
    const first = await chat(h, { model: 'gpt-4o-mini', system: 'Be terse.', prompt: 'My name is Ada.' });
    const id = first.conversation_id!;
    upstream.requests.length = 0;
    answerBy({
      deepseek: { kind: 'error', status: 400, message: 'nope' },
      // The second model answers last, yet it is the one the thread keeps: the first in order that answered.
      'claude-haiku-4-5': { kind: 'anthropic', content: 'You are Ada (Claude).', delayMs: 400 },
      'gpt-4o-mini': { kind: 'openai', content: 'Ada (GPT).' },
    });
    const models = ['deepseek-chat', 'claude-haiku-4-5', 'gpt-4o-mini'];
    const result = await h.callTool('chat_many', { prompt: 'What is my name?', models, conversation_id: id });
    expect(result.isError, resultText(result)).toBeFalsy();
    const out = result.structuredContent as unknown as ChatManyResult;
    expect(out.results.map((r) => 'error' in r)).toEqual([true, false, false]);
    // Every model's request carried the history before the new turn, in its own wire's shape.
    expect(upstream.requests).toHaveLength(3);
    for (const req of upstream.requests) {
      const anthropic = String(req.body.model).startsWith('claude');
      const history = [
        { role: 'user', content: 'My name is Ada.' },
        { role: 'assistant', content: 'echo: My name is Ada.' },
        { role: 'user', content: 'What is my name?' },
      ];
      if (anthropic) {
        expect(JSON.stringify(req.body.system)).toContain('Be terse.');
        expect(req.body.messages.map((m: { role: string; content: unknown }) => ({ role: m.role, content: textOf(m.content) }))).toEqual(history);
      } else {
        expect(req.body.messages).toEqual([{ role: 'system', content: 'Be terse.' }, ...history]);
      }
    }
    expect(out.conversation_id).toBe(id);
    const note = `conversation ${id} continues with claude-haiku-4-5's answer (the first of models that answered)`;
    expect(out.notes).toEqual([note]);
    expect(result.content).toEqual([expect.anything(), { type: 'text', text: `Note: ${note}` }, { type: 'text', text: `conversation_id: ${id}` }]);
    // Every model's ledger row is a turn of the thread (the failed one too).
    expect(conversationIds(h)).toEqual([id, id, id, id]);

    // A following chat continues from the chosen answer.
    upstream.setDefault({ kind: 'auto' });
    upstream.requests.length = 0;
    await chat(h, { model: 'gpt-4o-mini', prompt: 'And again?', conversation_id: id });
    expect(upstream.requests[0]!.body.messages).toEqual([
      { role: 'system', content: 'Be terse.' },
      { role: 'user', content: 'My name is Ada.' },
      { role: 'assistant', content: 'echo: My name is Ada.' },
      { role: 'user', content: 'What is my name?' },
      { role: 'assistant', content: 'You are Ada (Claude).' },
      { role: 'user', content: 'And again?' },
    ]);
  });

  it('without conversation_id a new thread starts with the first answer, as chat; store: false keeps none', async () => {
    const h = await harness({ upstream });
    const result = await h.callTool('chat_many', { prompt: 'Pick a colour.', models: ['gpt-4o-mini', 'claude-haiku-4-5'] });
    const out = result.structuredContent as unknown as ChatManyResult;
    expect(out.conversation_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(out.notes).toEqual([`conversation ${out.conversation_id} starts with gpt-4o-mini's answer (the first of models that answered)`]);
    expect(conversationIds(h)).toEqual([out.conversation_id, out.conversation_id]);
    upstream.requests.length = 0;
    await chat(h, { model: 'claude-haiku-4-5', prompt: 'Why?', conversation_id: out.conversation_id });
    expect(upstream.requests[0]!.body.messages.map((m: { content: unknown }) => textOf(m.content))).toEqual(['Pick a colour.', 'echo: Pick a colour.', 'Why?']);

    const none = await h.callTool('chat_many', { prompt: 'hi', models: ['gpt-4o-mini', 'claude-haiku-4-5'], store: false });
    const bare = none.structuredContent as unknown as ChatManyResult;
    expect(bare.conversation_id).toBeUndefined();
    expect(bare.notes).toBeUndefined();
    const db = new Database(h.dbPath, { readonly: true });
    expect(db.prepare('SELECT COUNT(*) AS n FROM conversations').get()).toEqual({ n: 1 });
    db.close();

    // No answer, no thread: nothing is kept, and no id names a thread that does not exist.
    answerBy({ 'gpt-4o-mini': { kind: 'error', status: 400, message: 'no' }, 'claude-haiku-4-5': { kind: 'error', status: 400, message: 'no' } });
    const failed = (await h.callTool('chat_many', { prompt: 'hi', models: ['gpt-4o-mini', 'claude-haiku-4-5'] })).structuredContent as unknown as ChatManyResult;
    expect(failed.conversation_id).toBeUndefined();
    expect(failed.notes).toEqual(['no model answered, so no conversation was started']);
    const kept = (await h.callTool('chat_many', { prompt: 'hi', models: ['gpt-4o-mini', 'claude-haiku-4-5'], conversation_id: out.conversation_id })).structuredContent as unknown as ChatManyResult;
    expect(kept.conversation_id).toBe(out.conversation_id);
    expect(kept.notes).toEqual([`no model answered: conversation ${out.conversation_id} is unchanged`]);
    expect((await h.ledger.loadThread(out.conversation_id!))!.turns).toHaveLength(2);
  });

  it("refuses another principal's thread (and an unknown one) before contacting any model", async () => {
    const h = await harness({ upstream });
    const deps = { service: h.created.service, ledger: h.ledger, settings: h.settings };
    const alice = { name: 'alice', admin: false };
    const mine = await h.created.service.chat({ model: 'gpt-4o-mini', prompt: 'secret plan' }, { principal: alice });
    upstream.requests.length = 0;
    const input = { prompt: 'tell me', models: ['gpt-4o-mini', 'claude-haiku-4-5'], conversation_id: mine.conversation_id };
    await expect(chatMany(deps, input, { principal: { name: 'bob', admin: true } })).rejects.toThrow(`No conversation '${mine.conversation_id}'`);
    await expect(chatMany(deps, input)).rejects.toThrow('No conversation');
    const unknown = await h.callTool('chat_many', { ...input, conversation_id: 'no-such-thread' });
    expect(unknown.isError).toBe(true);
    expect(resultText(unknown)).toMatch(/^No conversation 'no-such-thread'/);
    expect(upstream.requests).toHaveLength(0);
    // Its owner goes on.
    const again = await chatMany(deps, input, { principal: alice });
    expect(again.conversation_id).toBe(mine.conversation_id);
    expect(upstream.requests).toHaveLength(2);
  });
});

/** The text of a message's content, a string (OpenAI) or Anthropic's text blocks. */
function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  return (content as Array<{ type: string; text?: string }>).map((b) => b.text ?? '').join('');
}
