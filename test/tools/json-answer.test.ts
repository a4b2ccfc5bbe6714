/**
 * `chat` with `response_format` against the loopback upstream: the native structured-output
 * parameters each wire receives (OpenAI json_schema/json_object, Anthropic output_config.format),
 * the forced-tool route, DeepSeek JSON mode, and the validation: valid, invalid then fixed (one
 * retry told what was wrong, both calls billed), invalid twice (an error with the raw reply), and
 * streaming.
 */
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { ChatResult } from '../../src/llm/llm-service.js';
import { isClosedSchema } from '../../src/llm/json-answer.js';
import { harnessPerTest, resultText, type Harness } from '../support/harness.js';

const start = harnessPerTest();

const person = {
  type: 'object',
  properties: { name: { type: 'string' }, age: { type: 'integer' } },
  required: ['name', 'age'],
  additionalProperties: false,
};
const openPerson = { type: 'object', properties: { name: { type: 'string' }, age: { type: 'integer' } }, required: ['name'] };

async function ok(h: Harness, args: Record<string, unknown>): Promise<{ out: ChatResult; text: string }> {
  const result = await h.callTool('chat', { prompt: 'Who wrote the first program?', ...args });
  expect(result.isError, resultText(result)).toBeFalsy();
  return { out: result.structuredContent as unknown as ChatResult, text: resultText(result) };
}

describe('native structured output', () => {
  it('OpenAI gets response_format json_schema, strict for a closed schema; the parsed value is in structuredContent.json', async () => {
    const h = await start();
    h.upstream.enqueue({ kind: 'openai', content: '{"name": "Ada", "age": 36}' });
    const { out, text } = await ok(h, { model: 'gpt-4o-mini', response_format: { type: 'json_schema', schema: person, name: 'person' } });
    expect(h.upstream.requests[0]!.body.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'person', schema: person, strict: true } });
    expect(out.json).toEqual({ name: 'Ada', age: 36 });
    expect(out.content).toBe('{"name": "Ada", "age": 36}');
    expect(text).toContain('"Ada"');
  });

  it('OpenAI: a schema that strict mode cannot take is sent with strict false (and still validated here)', async () => {
    const h = await start();
    h.upstream.enqueue({ kind: 'openai', content: '{"name": "Ada"}' });
    const { out } = await ok(h, { model: 'gpt-4o', response_format: { type: 'json_schema', schema: openPerson } });
    expect(h.upstream.requests[0]!.body.response_format.json_schema).toEqual({ name: 'answer', schema: openPerson, strict: false });
    expect(out.json).toEqual({ name: 'Ada' });
  });

  it('"json" on OpenAI is json_object, with the word JSON in a system message', async () => {
    const h = await start();
    h.upstream.enqueue({ kind: 'openai', content: '```json\n{"ok": true}\n```' });
    const { out } = await ok(h, { model: 'gpt-4o-mini', response_format: 'json' });
    const body = h.upstream.requests[0]!.body;
    expect(body.response_format).toEqual({ type: 'json_object' });
    expect(body.messages[0]).toEqual({ role: 'system', content: 'Reply with only a JSON object, no other text.' });
    expect(out.json).toEqual({ ok: true });
  });

  it('Claude 4.5 gets output_config.format; a non-object schema is wrapped in {value} and unwrapped', async () => {
    const h = await start();
    h.upstream.enqueue({ kind: 'anthropic', content: '{"value": ["a", "b"]}' });
    const list = { type: 'array', items: { type: 'string' } };
    const { out } = await ok(h, { model: 'claude-haiku-4-5', response_format: { type: 'json_schema', schema: list } });
    expect(h.upstream.requests[0]!.body.output_config).toEqual({
      format: { type: 'json_schema', schema: { type: 'object', properties: { value: list }, required: ['value'], additionalProperties: false } },
    });
    expect(out.json).toEqual(['a', 'b']);
  });

  it('Claude with adaptive thinking gets the effort and the format in one output_config', async () => {
    const h = await start();
    h.upstream.enqueue({ kind: 'anthropic', content: '{"name": "Ada", "age": 36}' });
    const { out } = await ok(h, { model: 'claude-opus-5-5', reasoning_effort: 'medium', response_format: { type: 'json_schema', schema: person } });
    const body = h.upstream.requests[0]!.body;
    expect(body.thinking).toEqual({ type: 'adaptive' });
    expect(body.output_config).toEqual({ effort: 'medium', format: { type: 'json_schema', schema: person } });
    expect(out.json).toEqual({ name: 'Ada', age: 36 });
  });

  it('DeepSeek gets JSON mode with the schema in a system message', async () => {
    const h = await start();
    h.upstream.enqueue({ kind: 'openai', content: '{"name": "Ada", "age": 36}' });
    const { out } = await ok(h, { model: 'deepseek-chat', response_format: { type: 'json_schema', schema: person } });
    const body = h.upstream.requests[0]!.body;
    expect(body.response_format).toEqual({ type: 'json_object' });
    expect(body.messages[0].content).toBe(`Reply with only a JSON object, no other text, matching this JSON Schema: ${JSON.stringify(person)}`);
    expect(out.json).toEqual({ name: 'Ada', age: 36 });
  });
});

describe('forced tool call', () => {
  it('older Claude answers through a forced tool; the tool call is the answer, not a tool call', async () => {
    const h = await start();
    h.upstream.enqueue({ kind: 'anthropic', toolUses: [{ name: 'person', input: { name: 'Ada', age: 36 } }] });
    const { out } = await ok(h, { model: 'anthropic:claude-3-7-sonnet-20250219', response_format: { type: 'json_schema', schema: person, name: 'person' } });
    const body = h.upstream.requests[0]!.body;
    expect(body.tools).toEqual([{ name: 'person', description: 'Give your answer as the arguments of this tool.', input_schema: person }]);
    expect(body.tool_choice).toEqual({ type: 'tool', name: 'person' });
    expect(body.output_config).toBeUndefined();
    expect(out).toMatchObject({ json: { name: 'Ada', age: 36 }, tool_calls: [], finish_reason: 'stop', content: '{"name":"Ada","age":36}' });
  });

  it('"json" on Claude is a forced tool too, and Claude then does not think (note)', async () => {
    const h = await start();
    h.upstream.enqueue({ kind: 'anthropic', toolUses: [{ name: 'answer', input: { ok: 1 } }] });
    const { out } = await ok(h, { model: 'claude-haiku-4-5', response_format: 'json', reasoning_effort: 'high' });
    const body = h.upstream.requests[0]!.body;
    expect(body.tool_choice).toEqual({ type: 'tool', name: 'answer' });
    expect(body.thinking).toBeUndefined();
    expect(out.json).toEqual({ ok: 1 });
    expect(out.notes?.join(' ')).toMatch(/does not think when a tool is forced/);
  });

  it('refuses tools together with a forced-tool answer, and a schema that does not compile, before any request', async () => {
    const h = await start();
    const withTools = await h.callTool('chat', {
      prompt: 'x',
      model: 'anthropic:claude-3-7-sonnet-20250219',
      tools: [{ name: 'lookup', parameters: { type: 'object' } }],
      response_format: { type: 'json_schema', schema: person },
    });
    expect(withTools.isError).toBe(true);
    expect(resultText(withTools)).toMatch(/no native structured output.*leave out tools/);
    const badSchema = await h.callTool('chat', { prompt: 'x', model: 'gpt-4o', response_format: { type: 'json_schema', schema: { type: 'nonsense' } } });
    expect(badSchema.isError).toBe(true);
    expect(resultText(badSchema)).toMatch(/response_format\.schema is not a valid JSON Schema/);
    expect(h.upstream.requests).toHaveLength(0);
  });
});

describe('validation and the one retry', () => {
  it('an invalid answer is retried once with the validation error; both calls are billed and recorded', async () => {
    const h = await start();
    h.upstream.enqueue(
      { kind: 'openai', content: '{"name": "Ada", "age": "thirty-six"}', usage: { prompt_tokens: 100, completion_tokens: 10 } },
      { kind: 'openai', content: '{"name": "Ada", "age": 36}', usage: { prompt_tokens: 130, completion_tokens: 12 } },
    );
    const { out } = await ok(h, { model: 'gpt-4o-mini', response_format: { type: 'json_schema', schema: person } });
    expect(out.json).toEqual({ name: 'Ada', age: 36 });
    const retry = h.upstream.requests[1]!.body.messages;
    expect(retry.at(-2)).toEqual({ role: 'assistant', content: '{"name": "Ada", "age": "thirty-six"}' });
    expect(retry.at(-1).role).toBe('user');
    expect(retry.at(-1).content).toMatch(/does not match the schema: \/age must be integer/);
    expect(out.usage).toMatchObject({ prompt_tokens: 230, completion_tokens: 22 });
    expect(out.attempts).toBe(2);
    // gpt-4o-mini: $0.15 in, $0.60 out per million; each call is costed in whole micro-dollars:
    // 100×0.15 + 10×0.6 = 21, and 130×0.15 + 12×0.6 = 26.7 → 27.
    expect(out.cost_usd).toBeCloseTo((21 + 27) / 1e6, 12);
    expect(out.notes?.join(' ')).toMatch(/first answer did not match response_format/);
    const rows = new Database(h.dbPath, { readonly: true }).prepare('SELECT status, prompt_tokens FROM calls WHERE call_id = ? ORDER BY id').all(out.call_id);
    expect(rows).toEqual([{ status: 'ok', prompt_tokens: 100 }, { status: 'ok', prompt_tokens: 130 }]);
  });

  it('a reply that is not JSON is retried too', async () => {
    const h = await start();
    h.upstream.enqueue({ kind: 'anthropic', content: 'Sure! Here it is: Ada, 36' }, { kind: 'anthropic', content: '{"name":"Ada","age":36}' });
    const { out } = await ok(h, { model: 'claude-haiku-4-5', response_format: { type: 'json_schema', schema: person } });
    expect(h.upstream.requests[1]!.body.messages.at(-1).content[0].text).toMatch(/not valid JSON/);
    expect(out.json).toEqual({ name: 'Ada', age: 36 });
  });

  it('invalid twice: an error result that says why and includes the raw reply', async () => {
    const h = await start();
    h.upstream.enqueue({ kind: 'openai', content: '{"name": 1}' }, { kind: 'openai', content: '{"nom": "Ada"}' });
    const result = await h.callTool('chat', { prompt: 'x', model: 'gpt-4o-mini', response_format: { type: 'json_schema', schema: person } });
    expect(result.isError).toBe(true);
    const text = resultText(result);
    expect(text).toMatch(/gpt-4o-mini answered twice without valid JSON for response_format/);
    expect(text).toMatch(/must have required property 'name'/);
    expect(text).toContain('Raw reply: {"nom": "Ada"}');
    expect(h.upstream.requests).toHaveLength(2);
  });

  it('an answer that calls one of the caller\'s tools is returned as tool calls, not validated', async () => {
    const h = await start();
    h.upstream.enqueue({ kind: 'openai', toolCalls: [{ name: 'lookup', arguments: { q: 'Ada' } }] });
    const { out } = await ok(h, {
      model: 'gpt-4o-mini',
      tools: [{ name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } } } }],
      response_format: { type: 'json_schema', schema: person },
    });
    expect(out.tool_calls).toEqual([{ id: expect.any(String), name: 'lookup', arguments: { q: 'Ada' } }]);
    expect(out.json).toBeUndefined();
    expect(h.upstream.requests).toHaveLength(1);
  });
});

describe('streaming', () => {
  it('streams the JSON text as progress and returns the parsed value', async () => {
    const h = await start();
    h.upstream.enqueue({ kind: 'openai', chunks: ['{"name": ', '"Ada", ', '"age": 36}'] });
    const messages: string[] = [];
    const result = await h.callTool(
      'chat',
      { prompt: 'x', model: 'gpt-4o-mini', response_format: { type: 'json_schema', schema: person } },
      { onprogress: (p) => void messages.push(p.message ?? '') },
    );
    const out = result.structuredContent as unknown as ChatResult;
    expect(h.upstream.requests[0]!.body).toMatchObject({ stream: true, response_format: { type: 'json_schema' } });
    expect(messages.join('')).toContain('"Ada"');
    expect(out.json).toEqual({ name: 'Ada', age: 36 });
  });

  it('an invalid streamed answer is announced and asked for again without streaming', async () => {
    const h = await start();
    h.upstream.enqueue({ kind: 'anthropic', content: '{"name": "Ada"}' }, { kind: 'anthropic', content: '{"name": "Ada", "age": 36}' });
    const messages: string[] = [];
    const result = await h.callTool(
      'chat',
      { prompt: 'x', model: 'claude-haiku-4-5', response_format: { type: 'json_schema', schema: person } },
      { onprogress: (p) => void messages.push(p.message ?? '') },
    );
    const out = result.structuredContent as unknown as ChatResult;
    expect(h.upstream.requests[0]!.body.stream).toBe(true);
    expect(h.upstream.requests[1]!.body.stream).toBeUndefined();
    expect(messages.some((m) => /did not match response_format .*asking claude-haiku-4-5 again/.test(m))).toBe(true);
    expect(out.json).toEqual({ name: 'Ada', age: 36 });
  });
});

describe('isClosedSchema', () => {
  it('requires every object closed with all properties required', () => {
    expect(isClosedSchema(person)).toBe(true);
    expect(isClosedSchema(openPerson)).toBe(false);
    expect(isClosedSchema({ type: 'object', properties: { a: { type: 'object', properties: {} } }, required: ['a'], additionalProperties: false })).toBe(false);
    expect(isClosedSchema({ type: 'array', items: person })).toBe(true);
  });
});
