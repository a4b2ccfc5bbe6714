/**
 * Streaming (a call with `_meta.progressToken`) must give exactly the answer the non-streaming
 * path gives for the same scripted reply: content, tool calls with parsed arguments, finish
 * reason, usage and cost — on both wires, whichever event the usage arrives in.
 */
import Database from 'better-sqlite3';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { progressDelta, startHarness, resultText, type Harness } from '../support/harness.js';
import type { ReplySpec } from '../support/upstream.js';

interface Notice {
  progress: number;
  /** The notice's `_meta.delta` (the exact text it added). */
  message: string;
  at: number;
}

let h: Harness;
let clientErrors: Error[];

beforeEach(async () => {
  h = await startHarness();
  clientErrors = h.clientErrors;
});
afterEach(async () => {
  await h.close();
});

async function callStreamed(args: Record<string, unknown>): Promise<{ result: CallToolResult; notices: Notice[] }> {
  const notices: Notice[] = [];
  const result = await h.callTool('chat', args, {
    onprogress: (p) => void notices.push({ progress: p.progress, message: progressDelta(p) ?? '', at: performance.now() }),
  });
  return { result, notices };
}

/** The structured result without the fields that differ between any two calls. */
function comparable(result: CallToolResult): Record<string, unknown> {
  expect(result.isError, resultText(result)).toBeFalsy();
  const { latency_ms: _latency, call_id: _callId, ...rest } = result.structuredContent as Record<string, unknown>;
  return rest;
}

function ledgerRows(): Array<Record<string, unknown>> {
  const db = new Database(h.dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT * FROM calls ORDER BY id').all() as Array<Record<string, unknown>>;
  } finally {
    db.close();
  }
}

/**
 * Runs the same reply once without and once with a progress token; checks the requests each sent
 * and that both answers (and both ledger rows) are the same. Returns the streamed call.
 */
async function sameBothWays(callArgs: Record<string, unknown>, reply: ReplySpec, wire: 'openai' | 'anthropic') {
  // No thread: each would get its own conversation_id, the one field that must differ.
  const args = { ...callArgs, store: false };
  h.upstream.enqueue(reply, reply);
  const plain = await h.callTool('chat', args);
  const { result: streamed, notices } = await callStreamed(args);

  const [plainReq, streamReq] = h.upstream.requests;
  // No token stream without a token.
  expect(plainReq!.body.stream).toBeUndefined();
  expect(plainReq!.body.stream_options).toBeUndefined();
  expect(streamReq!.body.stream).toBe(true);
  if (wire === 'openai') expect(streamReq!.body.stream_options).toEqual({ include_usage: true });
  else expect(streamReq!.body.stream_options).toBeUndefined();
  expect(streamReq!.path).toBe(plainReq!.path);

  expect(comparable(streamed)).toEqual(comparable(plain));
  expect(streamed.content).toEqual(plain.content);

  const s = streamed.structuredContent as { content: string; cost_usd: number | null; usage: Record<string, number> };
  // The relayed text is the content, exactly.
  expect(notices.map((n) => n.message).join('')).toBe(s.content);
  if (s.content !== '') expect(notices.length).toBeGreaterThan(0);

  const rows = ledgerRows();
  expect(rows).toHaveLength(2);
  const strip = (row: Record<string, unknown>) => {
    const { id: _id, call_id: _c, started_at: _s, latency_ms: _l, ...rest } = row;
    return rest;
  };
  expect(strip(rows[1]!)).toEqual(strip(rows[0]!));
  expect(rows[1]!.status).toBe('ok');
  expect(clientErrors).toEqual([]);
  return { structured: s, notices, rows };
}

const weatherTools = [
  { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
  { name: 'get_time', parameters: { type: 'object', properties: { tz: { type: 'string' } } } },
];

describe('OpenAI wire: streamed == non-streamed', () => {
  it('text with usage in the final `choices: []` chunk after finish_reason (cached tokens included)', async () => {
    const { structured, rows } = await sameBothWays(
      { prompt: 'Say hello', model: 'gpt-4o-mini' },
      {
        kind: 'openai',
        chunks: ['Hello', ', ', 'streamed ', 'world', '!'],
        chunkDelayMs: 5,
        usage: { prompt_tokens: 1200, completion_tokens: 345, cached_tokens: 1000 },
      },
      'openai',
    );
    expect(structured.content).toBe('Hello, streamed world!');
    expect(structured.usage).toEqual({ prompt_tokens: 1200, completion_tokens: 345, cached_tokens: 1000, total_tokens: 1545 });
    // gpt-4o-mini: 0.15 in, 0.6 out, 0.075 cached (USD per MTok).
    const expected = Math.round(200 * 0.15 + 1000 * 0.075 + 345 * 0.6) / 1e6;
    expect(structured.cost_usd).toBe(expected);
    expect(structured.cost_usd).toBeGreaterThan(0);
    expect(rows[1]!.cost_micro_usd).toBe(Math.round(expected * 1e6));
  });

  it('text and several tool calls whose arguments arrive in pieces', async () => {
    const { structured } = await sameBothWays(
      { prompt: 'Weather and time in Paris?', model: 'gpt-4o-mini', tools: weatherTools },
      {
        kind: 'openai',
        chunks: ['Let me ', 'check.'],
        toolCalls: [
          { id: 'call_a', name: 'get_weather', arguments: { city: 'Paris', units: ['C', 'F'], nested: { deep: true } } },
          { id: 'call_b', name: 'get_time', arguments: { tz: 'Europe/Paris' } },
        ],
        usage: { prompt_tokens: 80, completion_tokens: 40 },
      },
      'openai',
    );
    expect(structured).toMatchObject({
      content: 'Let me check.',
      finish_reason: 'tool_calls',
      tool_calls: [
        { id: 'call_a', name: 'get_weather', arguments: { city: 'Paris', units: ['C', 'F'], nested: { deep: true } } },
        { id: 'call_b', name: 'get_time', arguments: { tz: 'Europe/Paris' } },
      ],
    });
    expect(structured.cost_usd).toBeGreaterThan(0);
  });

  it('tool calls only (no text at all): no text notices, same result', async () => {
    const { structured, notices } = await sameBothWays(
      { prompt: 'Weather?', model: 'gpt-4o-mini', tools: weatherTools, tool_choice: 'get_weather' },
      { kind: 'openai', toolCalls: [{ id: 'call_x', name: 'get_weather', arguments: '{"city":"Oslo"}' }] },
      'openai',
    );
    expect(structured.content).toBe('');
    expect(notices).toEqual([]);
    expect(structured.cost_usd).toBeGreaterThan(0);
  });

  it('DeepSeek-style usage on the finish_reason chunk (prompt_cache_hit_tokens)', async () => {
    const { structured } = await sameBothWays(
      { prompt: 'Hi', model: 'deepseek-chat' },
      {
        kind: 'openai',
        chunks: ['你好', '，', '世界'],
        includeUsage: 'with-finish',
        usage: { prompt_tokens: 500, completion_tokens: 20, cached_tokens: 300, extra: { prompt_cache_hit_tokens: 300, prompt_cache_miss_tokens: 200 } },
      },
      'openai',
    );
    expect(structured.content).toBe('你好，世界');
    expect(structured.usage).toMatchObject({ prompt_tokens: 500, completion_tokens: 20, cached_tokens: 300 });
    expect(structured.cost_usd).toBeGreaterThan(0);
  });

  it('finish_reason length and a stream without `data: [DONE]` are still the same answer', async () => {
    const { structured } = await sameBothWays(
      { prompt: 'Long', model: 'gpt-4o-mini', max_tokens: 3 },
      { kind: 'openai', chunks: ['one ', 'two ', 'three'], finishReason: 'length', omitDone: true, usage: { prompt_tokens: 9, completion_tokens: 3 } },
      'openai',
    );
    expect(structured).toMatchObject({ content: 'one two three', finish_reason: 'length' });
  });

  it('a server that ignores stream_options (no usage in the stream) is costed as unknown, never $0', async () => {
    h.upstream.enqueue({ kind: 'openai', chunks: ['no ', 'usage'], includeUsage: false });
    const { result, notices } = await callStreamed({ prompt: 'x', model: 'gpt-4o-mini' });
    expect(result.isError).toBeFalsy();
    const s = result.structuredContent as { content: string; cost_usd: number | null; notes?: string[] };
    expect(s.content).toBe('no usage');
    expect(notices.map((n) => n.message).join('')).toBe('no usage');
    expect(s.cost_usd).toBeNull();
    expect(s.notes?.join(' ')).toMatch(/no token usage/);
    const rows = ledgerRows();
    expect(rows[0]!.cost_micro_usd).toBeNull();
    expect(h.upstream.requests[0]!.body.stream_options).toEqual({ include_usage: true });
  });
});

describe('Anthropic wire: streamed == non-streamed', () => {
  it('text: input and cache usage from message_start, output_tokens from message_delta', async () => {
    const { structured, rows } = await sameBothWays(
      { prompt: 'Hello', model: 'claude-haiku-4-5' },
      {
        kind: 'anthropic',
        chunks: ['Bonjour', ' le ', 'monde', ' !'],
        chunkDelayMs: 5,
        usage: { input_tokens: 100, output_tokens: 250, cache_read_input_tokens: 2000, cache_creation_input_tokens: 400 },
      },
      'anthropic',
    );
    expect(structured.content).toBe('Bonjour le monde !');
    expect(structured.usage).toEqual({ prompt_tokens: 2500, completion_tokens: 250, cached_tokens: 2000, total_tokens: 2750 });
    // claude-haiku-4-5: 1 in, 5 out, 0.1 cache read, 1.25 cache write.
    const micro = Math.round(100 * 1 + 2000 * 0.1 + 400 * 1.25 + 250 * 5);
    expect(structured.cost_usd).toBe(micro / 1e6);
    expect(rows[1]!.cost_micro_usd).toBe(micro);
    expect(rows[1]!.cache_write_tokens).toBe(400);
  });

  it('text and tool uses whose input arrives as input_json_delta pieces', async () => {
    const { structured } = await sameBothWays(
      { prompt: 'Weather?', model: 'claude-haiku-4-5', tools: weatherTools },
      {
        kind: 'anthropic',
        chunks: ['Checking', ' now.'],
        toolUses: [
          { id: 'toolu_1', name: 'get_weather', input: { city: 'Paris', days: [1, 2], opts: { metric: true } } },
          { id: 'toolu_2', name: 'get_time', input: { tz: 'UTC' } },
        ],
        usage: { input_tokens: 300, output_tokens: 60 },
      },
      'anthropic',
    );
    expect(structured).toMatchObject({
      content: 'Checking now.',
      finish_reason: 'tool_calls',
      tool_calls: [
        { id: 'toolu_1', name: 'get_weather', arguments: { city: 'Paris', days: [1, 2], opts: { metric: true } } },
        { id: 'toolu_2', name: 'get_time', arguments: { tz: 'UTC' } },
      ],
    });
    expect(structured.cost_usd).toBeGreaterThan(0);
  });

  it('a tool use with an empty input object, no text', async () => {
    const { structured, notices } = await sameBothWays(
      { prompt: 'Time?', model: 'claude-haiku-4-5', tools: weatherTools },
      { kind: 'anthropic', toolUses: [{ id: 'toolu_e', name: 'get_time', input: {} }] },
      'anthropic',
    );
    expect(structured).toMatchObject({ content: '', tool_calls: [{ id: 'toolu_e', name: 'get_time', arguments: {} }] });
    expect(notices).toEqual([]);
  });

  it('newer API: message_delta repeats the input/cache totals', async () => {
    const { structured } = await sameBothWays(
      { prompt: 'Hi', model: 'claude-haiku-4-5' },
      {
        kind: 'anthropic',
        chunks: ['Hi ', 'there'],
        fullDeltaUsage: true,
        stopReason: 'max_tokens',
        usage: { input_tokens: 40, output_tokens: 2, cache_read_input_tokens: 10 },
      },
      'anthropic',
    );
    expect(structured).toMatchObject({ content: 'Hi there', finish_reason: 'length' });
    expect(structured.usage).toMatchObject({ prompt_tokens: 50, completion_tokens: 2, cached_tokens: 10 });
  });
});
