/**
 * `chat` through a real MCP Client, against the scripted loopback upstream: what the host gets
 * back (every SPEC field) and what the server sent on each wire (path, auth, body).
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ChatResult } from '../../src/llm/llm-service.js';
import { FAKE_KEYS, progressDelta, resultText, startHarness, type Harness } from '../support/harness.js';
import type { RecordedRequest, Reply } from '../support/upstream.js';
import { useUpstream } from '../support/use-upstream.js';

// Catalog prices (USD per million tokens), restated here so the test checks the arithmetic
// rather than reusing the server's own numbers.
const PRICE = {
  'gpt-4o-mini': { input: 0.15, output: 0.6, cached: 0.075 },
  'claude-haiku-4-5': { input: 1, output: 5, cached: 0.1, cacheWrite: 1.25 },
  // deepseek-chat is an alias of deepseek-flash; off-peak prices, doubled on weekdays 01-04 and 06-10 UTC.
  'deepseek-flash': { input: 0.15, output: 0.6, cached: 0.003 },
  'qwen-turbo': { input: 0.05, output: 0.2, cached: 0.01 },
};

/** DeepSeek's published peak rule, restated: weekdays, 01:00-04:00 and 06:00-10:00 UTC. */
function deepseekMultiplier(startedAtIso: string): number {
  const at = new Date(startedAtIso);
  const weekday = at.getUTCDay() >= 1 && at.getUTCDay() <= 5;
  const hour = at.getUTCHours();
  return weekday && ((hour >= 1 && hour < 4) || (hour >= 6 && hour < 10)) ? 2 : 1;
}

function ledgerRow(callId: string): Record<string, any> {
  const db = new Database(h.dbPath, { readonly: true });
  try {
    return db.prepare('SELECT * FROM calls WHERE call_id = ?').get(callId) as Record<string, any>;
  } finally {
    db.close();
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const weatherTool = {
  name: 'get_weather',
  description: 'Current weather for a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};
const timeTool = { name: 'get_time', parameters: { type: 'object', properties: { tz: { type: 'string' } } } };

const upstream = useUpstream();
let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    upstream,
    config: {
      providers: { ollama: { type: 'openai-compatible', baseURL: upstream.openaiBaseURL, apiKeyEnv: 'OLLAMA_API_KEY' } },
      models: {
        'llama3.2': { provider: 'ollama', providerModel: 'llama3.2', contextWindow: 131072, pricing: { inputPerMTok: 0, outputPerMTok: 0 } },
      },
    },
  });
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => {
  upstream.requests.length = 0;
});

interface Called {
  result: CallToolResult;
  out: ChatResult;
  req: RecordedRequest;
}

/** One chat call that must succeed and must have sent exactly one request upstream. */
async function chat(args: Record<string, unknown>, reply?: Reply): Promise<Called> {
  if (reply) upstream.enqueue(reply);
  const result = await h.callTool('chat', args);
  expect(result.isError, resultText(result)).toBeFalsy();
  expect(upstream.requests).toHaveLength(1);
  return { result, out: result.structuredContent as unknown as ChatResult, req: upstream.requests[0]! };
}

function expectCommonFields(out: ChatResult): void {
  expect(out.attempts).toBe(1);
  expect(out.call_id).toMatch(UUID);
  expect(typeof out.latency_ms).toBe('number');
  expect(out.latency_ms).toBeGreaterThanOrEqual(0);
}

describe('chat on OpenAI (gpt-4o-mini)', () => {
  it('returns the answer with usage, cost from the catalog price, provider_model and call_id', async () => {
    const { result, out, req } = await chat(
      { model: 'gpt-4o-mini', prompt: 'Say hi', system: 'Be terse.' },
      {
        kind: 'openai',
        content: 'Hi there.',
        model: 'gpt-4o-mini-2024-07-18',
        usage: { prompt_tokens: 1000, completion_tokens: 500, cached_tokens: 200, reasoning_tokens: 0 },
      },
    );
    expect(resultText(result)).toBe('Hi there.');
    // The answer, the thread's id (conversations.test.ts) for hosts that show only content, then
    // the one summary line (no notes).
    expect(result.content).toHaveLength(3);
    expect(result.content[1]).toEqual({ type: 'text', text: `conversation_id: ${out.conversation_id}` });
    expect(result.content[2]).toMatchObject({ type: 'text', text: expect.stringMatching(/^— gpt-4o-mini \(openai\) · /) });
    const p = PRICE['gpt-4o-mini'];
    const expectedCost = (800 * p.input + 200 * p.cached + 500 * p.output) / 1e6;
    expect(out).toMatchObject({
      content: 'Hi there.',
      tool_calls: [],
      model: 'gpt-4o-mini',
      provider: 'openai',
      provider_model: 'gpt-4o-mini-2024-07-18',
      finish_reason: 'stop',
      usage: { prompt_tokens: 1000, completion_tokens: 500, cached_tokens: 200, total_tokens: 1500 },
    });
    expect(out.cost_usd).toBeCloseTo(expectedCost, 12);
    expect(out.notes).toBeUndefined();
    expectCommonFields(out);

    expect(req.method).toBe('POST');
    expect(req.path).toBe('/v1/chat/completions');
    expect(req.headers.authorization).toBe(`Bearer ${FAKE_KEYS.OPENAI_API_KEY}`);
    expect(req.body).toEqual({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'Be terse.' },
        { role: 'user', content: 'Say hi' },
      ],
    });
  });

  it('sends max_tokens as max_completion_tokens, temperature and stop (string -> array)', async () => {
    const { req } = await chat({ model: 'gpt-4o-mini', prompt: 'x', max_tokens: 77, temperature: 0.3, stop: 'END' });
    expect(req.body.max_completion_tokens).toBe(77);
    expect(req.body).not.toHaveProperty('max_tokens');
    expect(req.body.temperature).toBe(0.3);
    expect(req.body.stop).toEqual(['END']);
  });

  it('sends stop given as an array', async () => {
    const { req } = await chat({ model: 'gpt-4o-mini', prompt: 'x', stop: ['END', '###'] });
    expect(req.body.stop).toEqual(['END', '###']);
  });

  it('converts tools and tool_choice, and parses tool calls in the answer into objects', async () => {
    const { result, out, req } = await chat(
      { model: 'gpt-4o-mini', prompt: 'Weather in Paris and the time?', tools: [weatherTool, timeTool], tool_choice: 'required' },
      {
        kind: 'openai',
        toolCalls: [
          { id: 'call_a', name: 'get_weather', arguments: { city: 'Paris' } },
          { id: 'call_b', name: 'get_time', arguments: '{"tz":"Europe/Paris"}' },
        ],
      },
    );
    expect(req.body.tools).toEqual([
      { type: 'function', function: { name: 'get_weather', description: 'Current weather for a city', parameters: weatherTool.parameters } },
      { type: 'function', function: { name: 'get_time', parameters: timeTool.parameters } },
    ]);
    expect(req.body.tool_choice).toBe('required');
    expect(out.finish_reason).toBe('tool_calls');
    expect(out.content).toBe('');
    expect(out.tool_calls).toEqual([
      { id: 'call_a', name: 'get_weather', arguments: { city: 'Paris' } },
      { id: 'call_b', name: 'get_time', arguments: { tz: 'Europe/Paris' } },
    ]);
    expect(resultText(result)).toContain('get_weather({"city":"Paris"}) [id call_a]');
  });

  it('maps tool_choice naming a tool to {type:function, function:{name}}', async () => {
    const { req } = await chat(
      { model: 'gpt-4o-mini', prompt: 'x', tools: [weatherTool, timeTool], tool_choice: 'get_time' },
      { kind: 'openai', toolCalls: [{ name: 'get_time', arguments: {} }] },
    );
    expect(req.body.tool_choice).toEqual({ type: 'function', function: { name: 'get_time' } });
  });

  it('sends a multi-turn conversation with assistant tool_calls (JSON-string arguments) and tool results', async () => {
    const { out, req } = await chat(
      {
        model: 'gpt-4o-mini',
        tools: [weatherTool, timeTool],
        messages: [
          { role: 'system', content: 'You are helpful.' },
          { role: 'user', content: 'Weather in Paris and the time?' },
          {
            role: 'assistant',
            content: '',
            tool_calls: [
              { id: 'call_1', name: 'get_weather', arguments: { city: 'Paris' } },
              { id: 'call_2', name: 'get_time', arguments: { tz: 'Europe/Paris' } },
            ],
          },
          { role: 'tool', tool_call_id: 'call_1', content: '18C, sunny' },
          { role: 'tool', tool_call_id: 'call_2', content: '14:05' },
        ],
      },
      { kind: 'openai', content: 'It is 18C and 14:05.' },
    );
    expect(out.content).toBe('It is 18C and 14:05.');
    expect(req.body.messages).toEqual([
      { role: 'system', content: 'You are helpful.' },
      { role: 'user', content: 'Weather in Paris and the time?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '{"tz":"Europe/Paris"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_1', content: '18C, sunny' },
      { role: 'tool', tool_call_id: 'call_2', content: '14:05' },
    ]);
  });

  it.each([
    // Reasoning models that are not retiring (this file runs on the real clock).
    ['gpt-5.4', 'gpt-5.4'],
    ['gpt-5.4-mini', 'gpt-5.4-mini'],
  ])('drops temperature for %s with a note in the result and none in the body', async (model, providerModel) => {
    const { result, out, req } = await chat({ model, prompt: 'x', temperature: 0.7 });
    expect(req.body.model).toBe(providerModel);
    expect(req.body).not.toHaveProperty('temperature');
    expect(out.notes).toEqual([`${model} does not accept temperature; it was not sent`]);
    const note = result.content[1];
    expect(note?.type === 'text' && note.text).toContain('does not accept temperature');
  });

  it.each([
    ['length', 'length'],
    ['tool_calls', 'tool_calls'],
    ['content_filter', 'content_filter'],
    ['function_call', 'tool_calls'],
    ['something_new', 'other'],
  ])('maps finish_reason %s to %s', async (wire, mapped) => {
    const { out } = await chat({ model: 'gpt-4o-mini', prompt: 'x' }, { kind: 'openai', content: 'partial', finishReason: wire });
    expect(out.finish_reason).toBe(mapped);
  });

  it('streams when a progress token is given: stream + include_usage sent, text relayed, whole answer returned', async () => {
    upstream.enqueue({
      kind: 'openai',
      chunks: ['Once ', 'upon ', 'a time.'],
      usage: { prompt_tokens: 100, completion_tokens: 40 },
      toolCalls: [{ id: 'call_s', name: 'get_weather', arguments: { city: 'Rome' } }],
      finishReason: 'tool_calls',
    });
    const messages: string[] = [];
    const result = await h.callTool(
      'chat',
      { model: 'gpt-4o-mini', prompt: 'story', tools: [weatherTool] },
      { onprogress: (p) => void messages.push(progressDelta(p) ?? '') },
    );
    expect(result.isError, resultText(result)).toBeFalsy();
    const out = result.structuredContent as unknown as ChatResult;
    expect(messages.join('')).toBe('Once upon a time.');
    expect(out.content).toBe('Once upon a time.');
    expect(out.tool_calls).toEqual([{ id: 'call_s', name: 'get_weather', arguments: { city: 'Rome' } }]);
    expect(out.finish_reason).toBe('tool_calls');
    expect(out.usage).toEqual({ prompt_tokens: 100, completion_tokens: 40, cached_tokens: 0, total_tokens: 140 });
    const p = PRICE['gpt-4o-mini'];
    expect(out.cost_usd).toBeCloseTo((100 * p.input + 40 * p.output) / 1e6, 12);
    const req = upstream.requests[0]!;
    expect(req.body.stream).toBe(true);
    expect(req.body.stream_options).toEqual({ include_usage: true });
  });
});

describe('chat on Anthropic (claude-haiku-4-5)', () => {
  it('returns the answer with cache-aware usage and cost; sends /v1/messages with top-level system', async () => {
    const { result, out, req } = await chat(
      { model: 'claude-haiku-4-5', prompt: 'Say hi', system: 'Be terse.' },
      {
        kind: 'anthropic',
        content: 'Hello!',
        usage: { input_tokens: 1000, cache_read_input_tokens: 2000, cache_creation_input_tokens: 500, output_tokens: 300 },
      },
    );
    expect(resultText(result)).toBe('Hello!');
    const p = PRICE['claude-haiku-4-5'];
    const expectedCost = (1000 * p.input + 2000 * p.cached + 500 * p.cacheWrite + 300 * p.output) / 1e6;
    expect(out).toMatchObject({
      content: 'Hello!',
      tool_calls: [],
      model: 'claude-haiku-4-5',
      provider: 'anthropic',
      provider_model: 'claude-haiku-4-5-20251001',
      finish_reason: 'stop',
      // prompt_tokens counts every input token: uncached + cache reads + cache writes.
      usage: { prompt_tokens: 3500, completion_tokens: 300, cached_tokens: 2000, total_tokens: 3800 },
    });
    expect(out.cost_usd).toBeCloseTo(expectedCost, 12);
    expectCommonFields(out);

    expect(req.method).toBe('POST');
    expect(req.path).toBe('/v1/messages');
    // @anthropic-ai/sdk 1.14 sends the API key as a bearer token, not x-api-key.
    expect(req.headers.authorization).toBe(`Bearer ${FAKE_KEYS.ANTHROPIC_API_KEY}`);
    expect(req.headers['anthropic-version']).toBeTruthy();
    expect(req.body).toEqual({
      model: 'claude-haiku-4-5-20251001',
      max_tokens: 64000,
      system: 'Be terse.',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Say hi' }] }],
    });
  });

  it("always sends max_tokens: the caller's when given", async () => {
    const { req } = await chat({ model: 'claude-haiku-4-5', prompt: 'x', max_tokens: 123 });
    expect(req.body.max_tokens).toBe(123);
  });

  it('refuses claude-3-5-sonnet (retired by Anthropic) without sending, naming the replacement', async () => {
    const result = await h.callTool('chat', { model: 'claude-3-5-sonnet', prompt: 'x' });
    expect(result.isError).toBe(true);
    expect(resultText(result)).toContain('claude-3-5-sonnet was retired by anthropic on 2025-10-22');
    expect(resultText(result)).toContain('claude-sonnet-5-5');
    expect(upstream.requests).toHaveLength(0);
  });

  it('skips claude-3-5-sonnet for the fallbacks given, with a note naming the replacement', async () => {
    const { out, req } = await chat({ model: 'claude-3-5-sonnet', prompt: 'x', fallback_models: ['claude-haiku-4-5'] }, { kind: 'anthropic', content: 'ok' });
    expect(req.body.model).toBe('claude-haiku-4-5-20251001');
    expect(out.model).toBe('claude-haiku-4-5');
    expect(out.notes).toEqual([expect.stringContaining('claude-3-5-sonnet was retired by anthropic on 2025-10-22 and no longer answers; its replacement is claude-sonnet-5-5')]);
  });

  it('sends temperature 1.5 as 1 with a note', async () => {
    const { out, req } = await chat({ model: 'claude-haiku-4-5', prompt: 'x', temperature: 1.5 });
    expect(req.body.temperature).toBe(1);
    expect(out.notes).toEqual(['anthropic accepts temperature up to 1; 1.5 was sent as 1']);
  });

  it('sends temperature within range unchanged and stop as stop_sequences (string and array)', async () => {
    let { out, req } = await chat({ model: 'claude-haiku-4-5', prompt: 'x', temperature: 0.4, stop: 'END' });
    expect(req.body.temperature).toBe(0.4);
    expect(req.body.stop_sequences).toEqual(['END']);
    expect(req.body).not.toHaveProperty('stop');
    expect(out.notes).toBeUndefined();
    upstream.requests.length = 0;
    ({ req } = await chat({ model: 'claude-haiku-4-5', prompt: 'x', stop: ['END', '###'] }, { kind: 'anthropic', content: 'a', stopReason: 'stop_sequence' }));
    expect(req.body.stop_sequences).toEqual(['END', '###']);
  });

  it('converts tools to input_schema, tool_choice required to {type:any}, and parses tool_use blocks', async () => {
    const { result, out, req } = await chat(
      { model: 'claude-haiku-4-5', prompt: 'Weather?', tools: [weatherTool, timeTool], tool_choice: 'required' },
      {
        kind: 'anthropic',
        content: 'Let me check.',
        toolUses: [
          { id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
          { id: 'toolu_2', name: 'get_time', input: { tz: 'UTC' } },
        ],
      },
    );
    expect(req.body.tools).toEqual([
      { name: 'get_weather', description: 'Current weather for a city', input_schema: weatherTool.parameters },
      { name: 'get_time', input_schema: timeTool.parameters },
    ]);
    expect(req.body.tool_choice).toEqual({ type: 'any' });
    expect(out.finish_reason).toBe('tool_calls');
    expect(out.content).toBe('Let me check.');
    expect(out.tool_calls).toEqual([
      { id: 'toolu_1', name: 'get_weather', arguments: { city: 'Paris' } },
      { id: 'toolu_2', name: 'get_time', arguments: { tz: 'UTC' } },
    ]);
    expect(resultText(result)).toContain('Let me check.');
    expect(resultText(result)).toContain('get_time({"tz":"UTC"}) [id toolu_2]');
  });

  it.each([
    ['get_time', { type: 'tool', name: 'get_time' }],
    ['auto', { type: 'auto' }],
    ['none', { type: 'none' }],
  ])('maps tool_choice %s to %j', async (choice, wire) => {
    const { req } = await chat({ model: 'claude-haiku-4-5', prompt: 'x', tools: [weatherTool, timeTool], tool_choice: choice });
    expect(req.body.tool_choice).toEqual(wire);
  });

  it('sends a multi-turn conversation as tool_use blocks and tool_result blocks merged into one user turn', async () => {
    const { out, req } = await chat(
      {
        model: 'claude-haiku-4-5',
        tools: [weatherTool, timeTool],
        messages: [
          { role: 'system', content: 'You are helpful.' },
          { role: 'user', content: 'Weather in Paris and the time?' },
          {
            role: 'assistant',
            content: 'Checking.',
            tool_calls: [
              { id: 'toolu_1', name: 'get_weather', arguments: { city: 'Paris' } },
              { id: 'toolu_2', name: 'get_time', arguments: { tz: 'Europe/Paris' } },
            ],
          },
          { role: 'tool', tool_call_id: 'toolu_1', content: '18C, sunny' },
          { role: 'tool', tool_call_id: 'toolu_2', content: '14:05' },
        ],
      },
      { kind: 'anthropic', content: 'It is 18C and 14:05.' },
    );
    expect(out.content).toBe('It is 18C and 14:05.');
    expect(req.body.system).toBe('You are helpful.');
    expect(req.body.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris and the time?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Checking.' },
          { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'toolu_2', name: 'get_time', input: { tz: 'Europe/Paris' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_1', content: '18C, sunny' },
          { type: 'tool_result', tool_use_id: 'toolu_2', content: '14:05' },
        ],
      },
    ]);
    expect(req.body.messages.some((m: { role: string }) => m.role === 'system')).toBe(false);
  });

  it.each([
    ['max_tokens', 'length'],
    ['tool_use', 'tool_calls'],
    ['refusal', 'content_filter'],
    ['stop_sequence', 'stop'],
    ['pause_turn', 'other'],
  ])('maps stop_reason %s to %s', async (wire, mapped) => {
    const { out } = await chat({ model: 'claude-haiku-4-5', prompt: 'x' }, { kind: 'anthropic', content: 'partial', stopReason: wire });
    expect(out.finish_reason).toBe(mapped);
  });

  it('streams when a progress token is given, tool_use input assembled from JSON deltas', async () => {
    upstream.enqueue({
      kind: 'anthropic',
      chunks: ['Sure, ', 'checking ', 'now.'],
      toolUses: [{ id: 'toolu_s', name: 'get_weather', input: { city: 'Rome' } }],
      usage: { input_tokens: 50, cache_read_input_tokens: 10, output_tokens: 20 },
    });
    const messages: string[] = [];
    const result = await h.callTool(
      'chat',
      { model: 'claude-haiku-4-5', prompt: 'weather', tools: [weatherTool] },
      { onprogress: (p) => void messages.push(progressDelta(p) ?? '') },
    );
    expect(result.isError, resultText(result)).toBeFalsy();
    const out = result.structuredContent as unknown as ChatResult;
    expect(messages.join('')).toBe('Sure, checking now.');
    expect(out.content).toBe('Sure, checking now.');
    expect(out.tool_calls).toEqual([{ id: 'toolu_s', name: 'get_weather', arguments: { city: 'Rome' } }]);
    expect(out.finish_reason).toBe('tool_calls');
    expect(out.usage).toEqual({ prompt_tokens: 60, completion_tokens: 20, cached_tokens: 10, total_tokens: 80 });
    const p = PRICE['claude-haiku-4-5'];
    expect(out.cost_usd).toBeCloseTo((50 * p.input + 10 * p.cached + 20 * p.output) / 1e6, 12);
    const req = upstream.requests[0]!;
    expect(req.path).toBe('/v1/messages');
    expect(req.body.stream).toBe(true);
    expect(req.body.max_tokens).toBe(64000);
  });
});

describe('chat on DeepSeek (deepseek-chat, now an alias of deepseek-flash)', () => {
  it("bills DeepSeek's prompt_cache_hit_tokens at the cached rate (peak or off-peak) and sends max_tokens", async () => {
    const { out, req } = await chat(
      { model: 'deepseek-chat', prompt: 'Hi', max_tokens: 256 },
      {
        kind: 'openai',
        content: 'Hello from DeepSeek',
        usage: { prompt_tokens: 1000, completion_tokens: 200, extra: { prompt_cache_hit_tokens: 500, prompt_cache_miss_tokens: 500 } },
      },
    );
    const p = PRICE['deepseek-flash'];
    const row = ledgerRow(out.call_id);
    const expectedCost = (deepseekMultiplier(row.started_at) * (500 * p.input + 500 * p.cached + 200 * p.output)) / 1e6;
    expect(row.cost_micro_usd).toBe(Math.round(expectedCost * 1e6));
    expect(out).toMatchObject({
      content: 'Hello from DeepSeek',
      model: 'deepseek-flash',
      provider: 'deepseek',
      provider_model: 'deepseek-flash',
      finish_reason: 'stop',
      usage: { prompt_tokens: 1000, completion_tokens: 200, cached_tokens: 500, total_tokens: 1200 },
    });
    expect(out.cost_usd).toBe(Math.round(expectedCost * 1e6) / 1e6);
    expectCommonFields(out);

    expect(req.path).toBe('/v1/chat/completions');
    expect(req.headers.authorization).toBe(`Bearer ${FAKE_KEYS.DEEPSEEK_API_KEY}`);
    expect(req.body.model).toBe('deepseek-flash');
    expect(req.body.max_tokens).toBe(256);
    expect(req.body).not.toHaveProperty('max_completion_tokens');
  });

  it('sends tools in the OpenAI function form', async () => {
    const { req } = await chat(
      { model: 'deepseek-chat', prompt: 'x', tools: [weatherTool], tool_choice: 'get_weather' },
      { kind: 'openai', toolCalls: [{ id: 'c1', name: 'get_weather', arguments: { city: 'Oslo' } }] },
    );
    expect(req.body.tools).toEqual([
      { type: 'function', function: { name: 'get_weather', description: 'Current weather for a city', parameters: weatherTool.parameters } },
    ]);
    expect(req.body.tool_choice).toEqual({ type: 'function', function: { name: 'get_weather' } });
  });
});

describe('chat on Qwen (qwen-turbo)', () => {
  it('returns the answer and cost; sends DASHSCOPE_API_KEY and max_tokens', async () => {
    const { out, req } = await chat(
      { model: 'qwen-turbo', prompt: 'Hi', max_tokens: 64, temperature: 0.2 },
      { kind: 'openai', content: '你好', usage: { prompt_tokens: 2000, completion_tokens: 1000 } },
    );
    const p = PRICE['qwen-turbo'];
    expect(out).toMatchObject({
      content: '你好',
      model: 'qwen-turbo',
      provider: 'qwen',
      provider_model: 'qwen-turbo',
      finish_reason: 'stop',
      usage: { prompt_tokens: 2000, completion_tokens: 1000, cached_tokens: 0, total_tokens: 3000 },
    });
    expect(out.cost_usd).toBeCloseTo((2000 * p.input + 1000 * p.output) / 1e6, 12);
    expectCommonFields(out);
    expect(req.path).toBe('/v1/chat/completions');
    expect(req.headers.authorization).toBe(`Bearer ${FAKE_KEYS.DASHSCOPE_API_KEY}`);
    expect(req.body).toEqual({ model: 'qwen-turbo', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 64, temperature: 0.2 });
  });
});

describe('chat on a custom openai-compatible provider from the config (ollama)', () => {
  it('calls a listed model (llama3.2) at its configured price of 0', async () => {
    const { out, req } = await chat(
      { model: 'llama3.2', prompt: 'Hi', max_tokens: 10 },
      { kind: 'openai', content: 'Hi from llama', usage: { prompt_tokens: 30, completion_tokens: 5 } },
    );
    expect(out).toMatchObject({
      content: 'Hi from llama',
      model: 'llama3.2',
      provider: 'ollama',
      provider_model: 'llama3.2',
      finish_reason: 'stop',
      usage: { prompt_tokens: 30, completion_tokens: 5, cached_tokens: 0, total_tokens: 35 },
      cost_usd: 0,
    });
    expect(out.notes).toBeUndefined();
    expectCommonFields(out);
    expect(req.path).toBe('/v1/chat/completions');
    expect(req.body.model).toBe('llama3.2');
    expect(req.body.max_tokens).toBe(10);
    // No key is set for ollama: none of the other providers' keys may be sent to it.
    const auth = String(req.headers.authorization ?? '');
    for (const key of Object.values(FAKE_KEYS)) expect(auth).not.toContain(key);
  });

  it('calls an unlisted model (ollama:qwen2.5): cost_usd null with a note', async () => {
    const { result, out, req } = await chat({ model: 'ollama:qwen2.5', prompt: 'Hi' }, { kind: 'openai', content: 'Hi from qwen2.5' });
    expect(out).toMatchObject({
      content: 'Hi from qwen2.5',
      model: 'ollama:qwen2.5',
      provider: 'ollama',
      provider_model: 'qwen2.5',
      finish_reason: 'stop',
      usage: { prompt_tokens: 11, completion_tokens: 7, cached_tokens: 0, total_tokens: 18 },
      cost_usd: null,
    });
    expect(out.notes).toHaveLength(1);
    expect(out.notes![0]).toMatch(/No price is known for ollama:qwen2\.5/);
    expect(result.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n')).toContain('cost is unknown');
    expect(req.body.model).toBe('qwen2.5');
  });
});

describe('chat records every call in the ledger', () => {
  it('writes one row with the call_id, tokens, cost in micro-dollars and status before answering', async () => {
    const { out } = await chat(
      { model: 'qwen-turbo', prompt: 'ledger' },
      { kind: 'openai', content: 'ok', usage: { prompt_tokens: 1000, completion_tokens: 1000 } },
    );
    const db = new Database(h.dbPath, { readonly: true });
    try {
      const row = db.prepare('SELECT * FROM calls WHERE call_id = ?').get(out.call_id) as Record<string, unknown>;
      expect(row).toMatchObject({
        model: 'qwen-turbo',
        provider: 'qwen',
        provider_model: 'qwen-turbo',
        prompt_tokens: 1000,
        completion_tokens: 1000,
        cost_micro_usd: 1000 * PRICE['qwen-turbo'].input + 1000 * PRICE['qwen-turbo'].output,
        attempts: 1,
        status: 'ok',
        finish_reason: 'stop',
      });
    } finally {
      db.close();
    }
  });
});
