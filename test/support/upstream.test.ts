import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startUpstream, type Upstream } from './upstream.js';
import { startStallMeter } from './load-slack.js';

let up: Upstream;
let openai: OpenAI;
let anthropic: Anthropic;

beforeEach(async () => {
  up = await startUpstream();
  openai = new OpenAI({ apiKey: 'test-key', baseURL: up.openaiBaseURL, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: 'test-key', baseURL: up.anthropicBaseURL, maxRetries: 0 });
});
afterEach(async () => {
  await up.close();
});

const userMsg = [{ role: 'user' as const, content: 'hi there' }];
const weatherTool = {
  type: 'function' as const,
  function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
};

/** Drain an async iterable, returning what arrived before an error (if any). */
async function drain<T>(it: AsyncIterable<T>): Promise<{ items: T[]; error?: unknown }> {
  const items: T[] = [];
  try {
    for await (const x of it) items.push(x);
    return { items };
  } catch (error) {
    return { items, error };
  }
}

describe('OpenAI chat completions', () => {
  it('serves a JSON text answer with usage and records the request', async () => {
    up.enqueue({ kind: 'openai-json', content: 'Hello world', usage: { prompt_tokens: 20, completion_tokens: 5, cached_tokens: 3, extra: { prompt_cache_hit_tokens: 3 } } });
    const res = await openai.chat.completions.create({ model: 'gpt-x', messages: userMsg });
    expect(res.object).toBe('chat.completion');
    expect(res.model).toBe('gpt-x');
    expect(res.choices[0]!.message.content).toBe('Hello world');
    expect(res.choices[0]!.finish_reason).toBe('stop');
    expect(res.usage).toMatchObject({ prompt_tokens: 20, completion_tokens: 5, total_tokens: 25, prompt_tokens_details: { cached_tokens: 3 }, prompt_cache_hit_tokens: 3 });
    expect(res._request_id).toBe('req_fake1');

    expect(up.requests).toHaveLength(1);
    const rec = up.requests[0]!;
    expect(rec.method).toBe('POST');
    expect(rec.path).toBe('/v1/chat/completions');
    expect(rec.headers['authorization']).toBe('Bearer test-key');
    expect(rec.body).toMatchObject({ model: 'gpt-x', messages: userMsg });
    await up.waitForClose(0);
    expect(rec.closedBy).toBe('complete');
  });

  it('serves a JSON tool call', async () => {
    up.enqueue({ kind: 'openai-json', toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: { city: 'Paris' } }] });
    const res = await openai.chat.completions.create({ model: 'gpt-x', messages: userMsg, tools: [weatherTool] });
    const choice = res.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.content).toBeNull();
    expect(choice.message.tool_calls).toEqual([{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }]);
  });

  it('streams the same answer: text deltas, tool args split across chunks, usage only when requested', async () => {
    const reply = { kind: 'openai' as const, chunks: ['Hel', 'lo ', 'world'], toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }], usage: { prompt_tokens: 9, completion_tokens: 4 } };
    up.enqueue(reply, reply, reply);
    const json = await openai.chat.completions.create({ model: 'gpt-x', messages: userMsg, tools: [weatherTool] });

    const s1 = await openai.chat.completions.create({ model: 'gpt-x', messages: userMsg, tools: [weatherTool], stream: true, stream_options: { include_usage: true } });
    const { items: chunks, error } = await drain(s1);
    expect(error).toBeUndefined();
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('Hello world');
    const argPieces = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []).map((t) => t.function?.arguments ?? '');
    expect(argPieces.filter(Boolean).length).toBeGreaterThan(1);
    expect(JSON.parse(argPieces.join(''))).toEqual({ city: 'Paris' });
    expect(chunks.find((c) => c.choices[0]?.finish_reason)?.choices[0]?.finish_reason).toBe('tool_calls');
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toMatchObject({ prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 });

    // Without include_usage: no usage chunk; the SDK's accumulator rebuilds the JSON answer.
    const runner = openai.chat.completions.stream({ model: 'gpt-x', messages: userMsg, tools: [weatherTool] });
    const final = await runner.finalChatCompletion();
    expect(final.usage ?? undefined).toBeUndefined();
    expect(final.choices[0]!.message.content).toBe(json.choices[0]!.message.content);
    expect(final.choices[0]!.message.tool_calls).toEqual(json.choices[0]!.message.tool_calls?.map((t) => ({ ...t, id: expect.any(String) })));
    expect(final.choices[0]!.finish_reason).toBe('tool_calls');
    expect(up.requests.map((r) => r.body.stream ?? false)).toEqual([false, true, true]);
  });

  it('auto-echoes the last user message in either mode', async () => {
    const res = await openai.chat.completions.create({ model: 'm', messages: userMsg });
    expect(res.choices[0]!.message.content).toBe('echo: hi there');
    const { items } = await drain(await openai.chat.completions.create({ model: 'm', messages: userMsg, stream: true }));
    expect(items.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('echo: hi there');
    expect(items.some((c) => c.usage)).toBe(false);
  });

  it('429 with retry-after surfaces as RateLimitError carrying the headers', async () => {
    up.enqueue({ kind: 'error', status: 429, headers: { 'retry-after': '7', 'x-should-retry': 'true' } });
    const err = await openai.chat.completions.create({ model: 'm', messages: userMsg }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    const e = err as InstanceType<typeof OpenAI.RateLimitError>;
    expect(e.status).toBe(429);
    expect(e.headers.get('retry-after')).toBe('7');
    expect(e.code).toBe('rate_limit_exceeded');
    expect(up.requests).toHaveLength(1);
  });

  it('reset surfaces as APIConnectionError', async () => {
    up.enqueue({ kind: 'reset' });
    const err = await openai.chat.completions.create({ model: 'm', messages: userMsg }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIConnectionError);
    expect(up.requests).toHaveLength(1);
  });

  it('hang + abort: the close is recorded within 100 ms of the abort', async () => {
    up.enqueue({ kind: 'hang' });
    const ac = new AbortController();
    const pending = openai.chat.completions.create({ model: 'm', messages: userMsg }, { signal: ac.signal }).catch((e: unknown) => e);
    await up.waitForRequests(1);
    expect(up.closedAt(0)).toBeUndefined();
    // 100 ms plus the time this process (SDK and upstream both) was held up meanwhile: load-slack.ts.
    const meter = startStallMeter();
    const abortedAt = Date.now();
    ac.abort();
    expect(await pending).toBeInstanceOf(OpenAI.APIUserAbortError);
    const closed = await up.waitForClose(0);
    const stalled = meter.stalledMs;
    meter.stop();
    expect(closed - abortedAt).toBeLessThan(100 + stalled);
    expect(up.requests[0]!.closedBy).toBe('client');
  });

  it('cutAfterChunks makes the SDK stream throw after the first deltas', async () => {
    up.enqueue({ kind: 'openai-stream', chunks: ['a', 'b', 'c', 'd'], cutAfterChunks: 2 });
    const { items, error } = await drain(await openai.chat.completions.create({ model: 'm', messages: userMsg, stream: true }));
    expect(error).toBeInstanceOf(Error);
    expect(items.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('ab');
    await up.waitForClose(0);
    expect(up.requests[0]!.closedBy).toBe('server');
  });

  it('an in-stream error frame makes the SDK throw an APIError', async () => {
    up.enqueue({ kind: 'openai-stream', chunks: ['a', 'b'], errorAfterChunks: { message: 'boom', type: 'server_error', after: 1 } });
    const { items, error } = await drain(await openai.chat.completions.create({ model: 'm', messages: userMsg, stream: true }));
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as Error).message).toContain('boom');
    expect(items.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('a');
  });

  it('rawEvents with malformed data makes the SDK throw a SyntaxError', async () => {
    up.enqueue({ kind: 'openai-stream', rawEvents: ['data: {"not json\n\n'] });
    const { error } = await drain(await openai.chat.completions.create({ model: 'm', messages: userMsg, stream: true }));
    expect(error).toBeInstanceOf(SyntaxError);
  });

  it('stallAfterChunks keeps the connection silent until the client aborts', async () => {
    up.enqueue({ kind: 'openai-stream', chunks: ['a', 'b'], stallAfterChunks: 1 });
    const ac = new AbortController();
    const stream = await openai.chat.completions.create({ model: 'm', messages: userMsg, stream: true }, { signal: ac.signal });
    const seen: string[] = [];
    const done = (async () => {
      for await (const c of stream) {
        seen.push(c.choices[0]?.delta.content ?? '');
        if (seen.join('') === 'a') setTimeout(() => ac.abort(), 50);
      }
    })().catch((e: unknown) => e);
    await done;
    expect(seen.join('')).toBe('a');
    expect(await up.waitForClose(0)).toBeGreaterThan(up.requests[0]!.receivedAt);
    expect(up.requests[0]!.closedBy).toBe('client');
  });
});

describe('Anthropic messages', () => {
  const base = { model: 'claude-x', max_tokens: 100, messages: userMsg };

  it('serves JSON and SSE versions of the same scripted answer', async () => {
    const reply = {
      kind: 'anthropic' as const,
      content: 'Hello there world',
      toolUses: [{ id: 'toolu_1', name: 'get_weather', input: { city: 'Paris', days: [1, 2] } }],
      usage: { input_tokens: 30, output_tokens: 12, cache_read_input_tokens: 5, cache_creation_input_tokens: 2 },
    };
    up.enqueue(reply, reply, reply);
    const json = await anthropic.messages.create(base);
    expect(json).toMatchObject({
      type: 'message', role: 'assistant', model: 'claude-x', stop_reason: 'tool_use',
      content: [{ type: 'text', text: 'Hello there world' }, { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris', days: [1, 2] } }],
      usage: { input_tokens: 30, output_tokens: 12, cache_read_input_tokens: 5, cache_creation_input_tokens: 2 },
    });
    expect(json._request_id).toBe('req_fake1');

    const final = await anthropic.messages.stream(base).finalMessage();
    expect(final.content).toEqual(json.content);
    expect(final.stop_reason).toBe('tool_use');
    expect(final.usage).toMatchObject({ input_tokens: 30, output_tokens: 12, cache_read_input_tokens: 5, cache_creation_input_tokens: 2 });

    const { items: events, error } = await drain(await anthropic.messages.create({ ...base, stream: true }));
    expect(error).toBeUndefined();
    expect(events[0]).toMatchObject({ type: 'message_start', message: { usage: { input_tokens: 30, output_tokens: 1 } } });
    expect(events.at(-2)).toMatchObject({ type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 12 } });
    expect(events.at(-1)).toMatchObject({ type: 'message_stop' });
    const partials = events.flatMap((e) => (e.type === 'content_block_delta' && e.delta.type === 'input_json_delta' ? [e.delta.partial_json] : []));
    expect(partials.filter(Boolean).length).toBeGreaterThan(1);
    expect(JSON.parse(partials.join(''))).toEqual({ city: 'Paris', days: [1, 2] });
    expect(up.requests.map((r) => r.path)).toEqual(['/v1/messages', '/v1/messages', '/v1/messages']);
    // @anthropic-ai/sdk 1.x sends the API key as a Bearer token (not x-api-key).
    expect(up.requests[0]!.headers['authorization']).toBe('Bearer test-key');
    expect(up.requests[0]!.headers['anthropic-version']).toBeTruthy();
  });

  it('auto-echoes with stop_reason end_turn', async () => {
    const res = await anthropic.messages.create(base);
    expect(res.content).toEqual([{ type: 'text', text: 'echo: hi there' }]);
    expect(res.stop_reason).toBe('end_turn');
    const streamed = await anthropic.messages.stream(base).finalMessage();
    expect(streamed.content).toEqual(res.content);
  });

  it('529 surfaces as an APIError with status 529 and overloaded_error', async () => {
    up.enqueue({ kind: 'error', status: 529, headers: { 'retry-after': '2' } });
    const err = await anthropic.messages.create(base).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.APIError);
    const e = err as InstanceType<typeof Anthropic.APIError>;
    expect(e.status).toBe(529);
    expect(e.type).toBe('overloaded_error');
    expect(e.headers?.get('retry-after')).toBe('2');
  });

  it('reset surfaces as APIConnectionError', async () => {
    up.enqueue({ kind: 'reset' });
    const err = await anthropic.messages.create(base).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.APIConnectionError);
  });

  it('hang + abort: the close is recorded within 100 ms of the abort', async () => {
    up.enqueue({ kind: 'hang' });
    const ac = new AbortController();
    const pending = anthropic.messages.create(base, { signal: ac.signal }).catch((e: unknown) => e);
    await up.waitForRequests(1);
    // 100 ms plus the time this process (SDK and upstream both) was held up meanwhile: load-slack.ts.
    const meter = startStallMeter();
    const abortedAt = Date.now();
    ac.abort();
    expect(await pending).toBeInstanceOf(Anthropic.APIUserAbortError);
    const closed = await up.waitForClose(0);
    const stalled = meter.stalledMs;
    meter.stop();
    expect(closed - abortedAt).toBeLessThan(100 + stalled);
  });

  it('cutAfterChunks makes the stream throw', async () => {
    up.enqueue({ kind: 'anthropic-stream', chunks: ['a', 'b', 'c'], cutAfterChunks: 1 });
    const { items, error } = await drain(await anthropic.messages.create({ ...base, stream: true }));
    expect(error).toBeInstanceOf(Error);
    const text = items.flatMap((e) => (e.type === 'content_block_delta' && e.delta.type === 'text_delta' ? [e.delta.text] : []));
    expect(text).toEqual(['a']);
  });

  it('errorAfterChunks makes the stream throw an overloaded_error APIError', async () => {
    up.enqueue({ kind: 'anthropic-stream', chunks: ['a', 'b', 'c'], errorAfterChunks: { type: 'overloaded_error', message: 'Overloaded', after: 2 } });
    const { items, error } = await drain(await anthropic.messages.create({ ...base, stream: true }));
    expect(error).toBeInstanceOf(Anthropic.APIError);
    const e = error as InstanceType<typeof Anthropic.APIError>;
    expect(e.type).toBe('overloaded_error');
    expect(e.status).toBeUndefined();
    expect(e.error).toMatchObject({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
    expect(items.filter((x) => x.type === 'content_block_delta')).toHaveLength(2);

    up.enqueue({ kind: 'anthropic-stream', chunks: ['a'], errorAfterChunks: { type: 'overloaded_error', message: 'Overloaded' } });
    await expect(anthropic.messages.stream(base).finalMessage()).rejects.toMatchObject({ type: 'overloaded_error' });
  });
});
