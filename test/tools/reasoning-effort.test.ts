/**
 * `chat` with `reasoning_effort` against the loopback upstream: the exact parameters each model
 * family receives, the notes when a model cannot take it, reasoning tokens reported and priced
 * (inside output for OpenAI, thinking as output for Anthropic), and streaming that says
 * "thinking…" without relaying the thinking text.
 */
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { ChatResult } from '../../src/llm/llm-service.js';
import { claudeVersion, thinkingBudget } from '../../src/llm/reasoning-effort.js';
import { harnessPerTest, type Harness } from '../support/harness.js';

const start = harnessPerTest();
const config = {
  models: {
    // A Qwen thinking model as a user would configure it.
    qwen3: { provider: 'qwen', providerModel: 'qwen3-max', maxOutputTokens: 32_768, capabilities: { reasoning: true } },
  },
};

async function call(h: Harness, args: Record<string, unknown>): Promise<{ out: ChatResult; body: any }> {
  const before = h.upstream.requests.length;
  const result = await h.callTool('chat', { prompt: 'Think about it', ...args });
  expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
  return { out: result.structuredContent as unknown as ChatResult, body: h.upstream.requests[before]!.body };
}

describe('effort per model family', () => {
  it('OpenAI reasoning models get reasoning_effort; o-series take minimal as low, with a note', async () => {
    // Before OpenAI shut down o4-mini (2026-10-23) and gpt-5 (2026-12-11): both still answer then.
    const h = await start({ config, now: () => Date.parse('2026-10-01T12:00:00Z') });
    const gpt5 = await call(h, { model: 'gpt-5', reasoning_effort: 'minimal' });
    expect(gpt5.body.reasoning_effort).toBe('minimal');
    expect(gpt5.out.notes).toBeUndefined();
    const o4 = await call(h, { model: 'o4-mini', reasoning_effort: 'minimal' });
    expect(o4.body.reasoning_effort).toBe('low');
    expect(o4.out.notes).toContain("o4-mini takes no 'minimal' reasoning effort; 'low' was sent");
  });

  it('gpt-6-luna with tools is sent at effort none (Chat Completions take its tools only so), with a note when another was asked; without tools as asked', async () => {
    const h = await start({ config });
    const tools = [{ name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } } } }];
    const plain = await call(h, { model: 'gpt-6-luna', tools });
    expect(plain.body.reasoning_effort).toBe('none');
    expect(plain.out.notes).toBeUndefined();
    const asked = await call(h, { model: 'gpt-6-luna', tools, reasoning_effort: 'high' });
    expect(asked.body.reasoning_effort).toBe('none');
    expect(asked.out.notes).toContain("gpt-6-luna takes tools only without reasoning; reasoning_effort 'high' was not sent");
    expect((await call(h, { model: 'gpt-6-luna', reasoning_effort: 'high' })).body.reasoning_effort).toBe('high');
    expect((await call(h, { model: 'gpt-6-luna' })).body).not.toHaveProperty('reasoning_effort');
    // gpt-5.4 takes tools while it reasons: nothing changes there.
    expect((await call(h, { model: 'gpt-5.4', tools })).body).not.toHaveProperty('reasoning_effort');
  });

  it('Claude 4.5 gets extended thinking with a budget from the table, max_tokens raised by it, temperature dropped', async () => {
    const h = await start({ config });
    const medium = await call(h, { model: 'claude-haiku-4-5', reasoning_effort: 'medium', temperature: 0.5 });
    expect(medium.body.thinking).toEqual({ type: 'enabled', budget_tokens: 16_000 });
    expect(medium.body.max_tokens).toBe(64_000);
    expect(medium.body.temperature).toBeUndefined();
    expect(medium.out.notes).toContain('anthropic accepts no temperature while thinking; it was not sent');
    const low = await call(h, { model: 'claude-haiku-4-5', reasoning_effort: 'low', max_tokens: 1000 });
    expect(low.body.thinking).toEqual({ type: 'enabled', budget_tokens: 6_400 });
    expect(low.body.max_tokens).toBe(7_400);
    const minimal = await call(h, { model: 'claude-haiku-4-5', reasoning_effort: 'minimal', max_tokens: 100 });
    expect(minimal.body.thinking).toEqual({ type: 'enabled', budget_tokens: 1024 });
    expect(minimal.body.max_tokens).toBe(1124);
  });

  it('newer Claude models get adaptive thinking with output_config.effort', async () => {
    const h = await start({ config });
    const high = await call(h, { model: 'claude-opus-5-5', reasoning_effort: 'high' });
    expect(high.body.thinking).toEqual({ type: 'adaptive' });
    expect(high.body.output_config).toEqual({ effort: 'high' });
    const minimal = await call(h, { model: 'claude-sonnet-5-5', reasoning_effort: 'minimal' });
    expect(minimal.body.output_config).toEqual({ effort: 'low' });
    expect(minimal.out.notes).toContain("claude-sonnet-5-5 takes no 'minimal' effort; 'low' was sent");
  });

  it('Qwen thinking models get enable_thinking and thinking_budget', async () => {
    const h = await start({ config });
    const { body } = await call(h, { model: 'qwen3', reasoning_effort: 'high', max_tokens: 2000 });
    expect(body).toMatchObject({ enable_thinking: true, thinking_budget: 16_384, max_tokens: 18_384 });
    expect(body.reasoning_effort).toBeUndefined();
  });

  it('models without reasoning, and DeepSeek, ignore it with a note, never an error', async () => {
    const h = await start({ config });
    const mini = await call(h, { model: 'gpt-4o-mini', reasoning_effort: 'high' });
    expect(mini.body.reasoning_effort).toBeUndefined();
    expect(mini.out.notes).toContain('gpt-4o-mini has no reasoning; reasoning_effort was ignored');
    const qwen = await call(h, { model: 'qwen-plus', reasoning_effort: 'high' });
    expect(qwen.body.enable_thinking).toBeUndefined();
    expect(qwen.out.notes).toContain('qwen-plus has no reasoning; reasoning_effort was ignored');
    // deepseek-reasoner is an alias of deepseek-flash since DeepSeek retired the name.
    const reasoner = await call(h, { model: 'deepseek-reasoner', reasoning_effort: 'low' });
    expect(reasoner.body.reasoning_effort).toBeUndefined();
    expect(reasoner.out.notes).toContain('deepseek-flash always reasons and takes no reasoning_effort; it was not sent');
  });

  it('Claude does not think when a tool is forced or a tool loop continues', async () => {
    const h = await start({ config });
    const tool = { name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } } } };
    const forced = await call(h, { model: 'claude-haiku-4-5', reasoning_effort: 'high', tools: [tool], tool_choice: 'lookup' });
    expect(forced.body.thinking).toBeUndefined();
    expect(forced.out.notes?.join(' ')).toMatch(/does not think when a tool is forced/);
    const loop = await call(h, {
      prompt: undefined,
      model: 'claude-haiku-4-5',
      reasoning_effort: 'high',
      tools: [tool],
      messages: [
        { role: 'user', content: 'look it up' },
        { role: 'assistant', content: '', tool_calls: [{ id: 't1', name: 'lookup', arguments: { q: 'x' } }] },
        { role: 'tool', tool_call_id: 't1', content: 'found' },
      ],
    });
    expect(loop.body.thinking).toBeUndefined();
  });
});

describe('reasoning tokens', () => {
  it('OpenAI: reported, inside completion tokens, priced once at the output price, recorded in the ledger', async () => {
    const h = await start({ config });
    h.upstream.enqueue({ kind: 'openai', content: 'done', usage: { prompt_tokens: 1000, completion_tokens: 500, reasoning_tokens: 300 } });
    const { out } = await call(h, { model: 'gpt-5.4', reasoning_effort: 'high' });
    expect(out.usage).toMatchObject({ completion_tokens: 500, reasoning_tokens: 300 });
    // gpt-5.4: $2.50 in, $15 out per million; the 300 reasoning tokens are part of the 500.
    expect(out.cost_usd).toBeCloseTo((1000 * 2.5 + 500 * 15) / 1e6, 12);
    const row = new Database(h.dbPath, { readonly: true }).prepare('SELECT reasoning_tokens, completion_tokens FROM calls WHERE call_id = ?').get(out.call_id);
    expect(row).toEqual({ reasoning_tokens: 300, completion_tokens: 500 });
  });

  it("Anthropic: thinking tokens from output_tokens_details, billed as output; thinking text is not the answer", async () => {
    const h = await start({ config });
    h.upstream.enqueue((req) => {
      expect(req.body.thinking).toBeDefined();
      return {
        kind: 'raw',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-haiku-4-5-20251001',
          content: [{ type: 'thinking', thinking: 'secret musings', signature: 'sig' }, { type: 'text', text: 'The answer.' }],
          stop_reason: 'end_turn', stop_sequence: null,
          usage: { input_tokens: 100, output_tokens: 900, output_tokens_details: { thinking_tokens: 800 } },
        }),
      };
    });
    const { out } = await call(h, { model: 'claude-haiku-4-5', reasoning_effort: 'low' });
    expect(out.content).toBe('The answer.');
    expect(out.usage).toMatchObject({ prompt_tokens: 100, completion_tokens: 900, reasoning_tokens: 800 });
    expect(out.cost_usd).toBeCloseTo((100 * 1 + 900 * 5) / 1e6, 12);
  });
});

function anthropicThinkingStream(): string[] {
  const event = (type: string, data: object) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  return [
    event('message_start', { message: { id: 'msg_s', type: 'message', role: 'assistant', model: 'claude-haiku-4-5-20251001', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 20, output_tokens: 1 } } }),
    event('content_block_start', { index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } }),
    event('content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: 'Let me consider ' } }),
    event('content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: 'hidden steps.' } }),
    event('content_block_delta', { index: 0, delta: { type: 'signature_delta', signature: 'c2ln' } }),
    event('content_block_stop', { index: 0 }),
    event('content_block_start', { index: 1, content_block: { type: 'text', text: '' } }),
    event('content_block_delta', { index: 1, delta: { type: 'text_delta', text: 'Forty-two.' } }),
    event('content_block_stop', { index: 1 }),
    event('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 60, output_tokens_details: { thinking_tokens: 45 } } }),
    event('message_stop', {}),
  ];
}

describe('streaming', () => {
  it('Anthropic: progress says "thinking…" while Claude thinks; only the answer text is relayed', async () => {
    const h = await start({ config });
    h.upstream.enqueue({ kind: 'anthropic-stream', rawEvents: anthropicThinkingStream(), chunkDelayMs: 5 });
    const messages: string[] = [];
    const result = await h.callTool('chat', { model: 'claude-haiku-4-5', prompt: 'What is it?', reasoning_effort: 'medium' }, { onprogress: (p) => void messages.push(p.message ?? '') });
    expect(result.isError).toBeFalsy();
    const out = result.structuredContent as unknown as ChatResult;
    expect(h.upstream.requests[0]!.body).toMatchObject({ stream: true, thinking: { type: 'enabled', budget_tokens: 16_000 } });
    expect(messages).toContain('thinking…');
    expect(messages.join('')).not.toMatch(/hidden steps|Let me consider/);
    expect(messages.join('')).toContain('Forty-two.');
    expect(out.content).toBe('Forty-two.');
    expect(out.usage).toMatchObject({ completion_tokens: 60, reasoning_tokens: 45 });
  });

  it('DeepSeek: reasoning_content deltas become "thinking…", not answer text', async () => {
    const h = await start({ config });
    const chunk = (delta: object, finish: string | null = null, usage?: object) =>
      `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'deepseek-reasoner', choices: [{ index: 0, delta, finish_reason: finish }], ...(usage ? { usage } : {}) })}\n\n`;
    h.upstream.enqueue({
      kind: 'openai-stream',
      chunkDelayMs: 5,
      rawEvents: [
        chunk({ role: 'assistant', content: null, reasoning_content: '' }),
        chunk({ reasoning_content: 'pondering privately' }),
        chunk({ content: 'Yes.' }),
        chunk({}, 'stop', { prompt_tokens: 10, completion_tokens: 30, total_tokens: 40, completion_tokens_details: { reasoning_tokens: 25 } }),
        'data: [DONE]\n\n',
      ],
    });
    const messages: string[] = [];
    const result = await h.callTool('chat', { model: 'deepseek-reasoner', prompt: 'Is it?' }, { onprogress: (p) => void messages.push(p.message ?? '') });
    const out = result.structuredContent as unknown as ChatResult;
    expect(messages).toContain('thinking…');
    expect(messages.join('')).not.toContain('pondering');
    expect(out.content).toBe('Yes.');
    expect(out.usage).toMatchObject({ completion_tokens: 30, reasoning_tokens: 25 });
  });
});

describe('pure parts', () => {
  it('reads Claude versions and sizes budgets from the output limit', () => {
    expect(claudeVersion('claude-sonnet-4-5-20250929')).toEqual({ major: 4, minor: 5 });
    expect(claudeVersion('claude-sonnet-4-20250514')).toEqual({ major: 4, minor: 0 });
    expect(claudeVersion('claude-3-7-sonnet-20250219')).toEqual({ major: 3, minor: 7 });
    expect(claudeVersion('claude-opus-5-5')).toEqual({ major: 5, minor: 5 });
    expect(thinkingBudget('minimal', 64_000)).toBe(1024);
    expect(thinkingBudget('low', 64_000)).toBe(6400);
    expect(thinkingBudget('medium', 64_000)).toBe(16_000);
    expect(thinkingBudget('high', 64_000)).toBe(32_000);
    expect(thinkingBudget('low', 4096)).toBe(1024);
  });
});
