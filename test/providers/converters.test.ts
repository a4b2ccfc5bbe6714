/**
 * The pure converters between our chat shape and each wire: usage, stop reasons, request bodies,
 * the stream assemblers fed hand-written chunk/event sequences, tool arguments, SDK errors.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { LlmError } from '../../src/llm/errors.js';
import { parseToolArguments } from '../../src/llm/parse-tool-arguments.js';
import type { ChatMessage, ChatRequest } from '../../src/llm/types.js';
import {
  AnthropicStreamAssembler,
  convertAnthropicMessage,
  convertAnthropicUsage,
  mapAnthropicStopReason,
} from '../../src/providers/anthropic/convert-anthropic-response.js';
import {
  convertToAnthropicPrompt,
  convertToAnthropicRequest,
  convertToAnthropicToolChoice,
} from '../../src/providers/anthropic/convert-to-anthropic-prompt.js';
import { AttemptControl } from '../../src/providers/attempt-control.js';
import { convertSdkError, type SdkErrorClasses } from '../../src/providers/convert-sdk-error.js';
import {
  convertOpenAICompletion,
  convertOpenAIUsage,
  mapOpenAIFinishReason,
  OpenAIStreamAssembler,
} from '../../src/providers/openai-compatible/convert-openai-response.js';
import { convertToOpenAIMessages, convertToOpenAIRequest } from '../../src/providers/openai-compatible/convert-to-openai-request.js';

const weather = { id: 'call_1', name: 'get_weather', arguments: { city: 'Paris' } };
const time = { id: 'call_2', name: 'get_time', arguments: { tz: 'UTC' } };

describe('usage conversion', () => {
  it('OpenAI: prompt_tokens already includes cached tokens; reasoning tokens are part of completion', () => {
    const raw = {
      prompt_tokens: 1000,
      completion_tokens: 300,
      total_tokens: 1300,
      prompt_tokens_details: { cached_tokens: 400 },
      completion_tokens_details: { reasoning_tokens: 120 },
    };
    expect(convertOpenAIUsage(raw)).toEqual({
      promptTokens: 1000,
      completionTokens: 300,
      cachedTokens: 400,
      cacheWriteTokens: 0,
      reasoningTokens: 120,
      totalTokens: 1300,
      raw,
    });
  });

  it("DeepSeek: prompt_cache_hit_tokens is the cached part, even next to an OpenAI-style cached_tokens of 0", () => {
    expect(convertOpenAIUsage({ prompt_tokens: 1000, completion_tokens: 10, prompt_cache_hit_tokens: 600, prompt_cache_miss_tokens: 400 }).cachedTokens).toBe(600);
    expect(
      convertOpenAIUsage({ prompt_tokens: 1000, completion_tokens: 10, prompt_tokens_details: { cached_tokens: 0 }, prompt_cache_hit_tokens: 600 }).cachedTokens,
    ).toBe(600);
  });

  it('OpenAI: missing fields count 0, total defaults to the sum, cached never exceeds prompt', () => {
    expect(convertOpenAIUsage(undefined)).toMatchObject({ promptTokens: 0, completionTokens: 0, cachedTokens: 0, totalTokens: 0 });
    expect(convertOpenAIUsage({ prompt_tokens: 5, completion_tokens: 3 }).totalTokens).toBe(8);
    expect(convertOpenAIUsage({ prompt_tokens: 5, completion_tokens: 3, prompt_tokens_details: { cached_tokens: 9 } }).cachedTokens).toBe(5);
    expect(convertOpenAIUsage({ prompt_tokens: null, completion_tokens: null, prompt_tokens_details: null })).toMatchObject({ promptTokens: 0, cachedTokens: 0 });
  });

  it('Anthropic: input_tokens excludes cache reads and writes, so the three are added into promptTokens', () => {
    const raw = { input_tokens: 100, cache_read_input_tokens: 2000, cache_creation_input_tokens: 500, output_tokens: 70 };
    expect(convertAnthropicUsage(raw)).toEqual({
      promptTokens: 2600,
      completionTokens: 70,
      cachedTokens: 2000,
      cacheWriteTokens: 500,
      cacheWrite1hTokens: 0,
      reasoningTokens: 0,
      totalTokens: 2670,
      raw,
    });
    expect(convertAnthropicUsage({ input_tokens: 3, output_tokens: 4, cache_read_input_tokens: null })).toMatchObject({ promptTokens: 3, cachedTokens: 0, totalTokens: 7 });
    expect(convertAnthropicUsage(null)).toMatchObject({ promptTokens: 0, completionTokens: 0, totalTokens: 0 });
  });

  it('Anthropic: cache_creation splits the writes into five-minute and one-hour parts', () => {
    const split = { ephemeral_5m_input_tokens: 300, ephemeral_1h_input_tokens: 200 };
    expect(convertAnthropicUsage({ input_tokens: 10, cache_creation_input_tokens: 500, cache_creation: split, output_tokens: 5 })).toMatchObject({
      promptTokens: 510,
      cacheWriteTokens: 500,
      cacheWrite1hTokens: 200,
    });
    // Only the split (a gateway that drops the total): the writes still count.
    expect(convertAnthropicUsage({ input_tokens: 10, cache_creation: split, output_tokens: 5 })).toMatchObject({ promptTokens: 510, cacheWriteTokens: 500, cacheWrite1hTokens: 200 });
    // More one-hour writes than writes in all: capped, never a negative five-minute part.
    expect(convertAnthropicUsage({ input_tokens: 0, cache_creation_input_tokens: 100, cache_creation: { ephemeral_1h_input_tokens: 900 } })).toMatchObject({
      cacheWriteTokens: 100,
      cacheWrite1hTokens: 100,
    });
  });

  it('DashScope: implicit hits are cached_tokens; explicit cache creation is a cache write', () => {
    expect(convertOpenAIUsage({ prompt_tokens: 5000, completion_tokens: 10, prompt_tokens_details: { cached_tokens: 4096 } })).toMatchObject({
      promptTokens: 5000,
      cachedTokens: 4096,
      cacheWriteTokens: 0,
    });
    expect(
      convertOpenAIUsage({ prompt_tokens: 5000, completion_tokens: 10, prompt_tokens_details: { cached_tokens: 0, cache_creation_input_tokens: 3000 } }),
    ).toMatchObject({ cachedTokens: 0, cacheWriteTokens: 3000 });
    // Writes never exceed the prompt left after the cached part.
    expect(
      convertOpenAIUsage({ prompt_tokens: 100, completion_tokens: 1, prompt_tokens_details: { cached_tokens: 80, cache_creation_input_tokens: 500 } }),
    ).toMatchObject({ cachedTokens: 80, cacheWriteTokens: 20 });
  });

  it('DashScope: cache_type "ephemeral" marks the hits as explicit ones; its absence, implicit ones', () => {
    const explicit = convertOpenAIUsage({ prompt_tokens: 18_628, completion_tokens: 445, prompt_tokens_details: { cached_tokens: 18_613, cache_creation_input_tokens: 0, cache_type: 'ephemeral' } });
    expect(explicit).toMatchObject({ cachedTokens: 18_613, cacheWriteTokens: 0, explicitCache: true });
    expect(convertOpenAIUsage({ prompt_tokens: 15_365, completion_tokens: 1, prompt_tokens_details: { cached_tokens: 15_232 } })).not.toHaveProperty('explicitCache');
    // Only DashScope's value counts: anything else is not a claim about the explicit cache.
    expect(convertOpenAIUsage({ prompt_tokens: 10, completion_tokens: 1, prompt_tokens_details: { cached_tokens: 5, cache_type: 'other' } })).not.toHaveProperty('explicitCache');
  });
});

describe('stop reason maps', () => {
  it.each([
    ['stop', 'stop'],
    ['length', 'length'],
    ['tool_calls', 'tool_calls'],
    ['function_call', 'tool_calls'],
    ['content_filter', 'content_filter'],
    [null, 'other'],
    [undefined, 'other'],
    ['insufficient_system_resource', 'other'],
  ] as const)('OpenAI %s -> %s', (wire, ours) => {
    expect(mapOpenAIFinishReason(wire)).toBe(ours);
  });

  it.each([
    ['end_turn', 'stop'],
    ['stop_sequence', 'stop'],
    ['max_tokens', 'length'],
    ['model_context_window_exceeded', 'length'],
    ['tool_use', 'tool_calls'],
    ['refusal', 'content_filter'],
    ['pause_turn', 'other'],
    [null, 'other'],
  ] as const)('Anthropic %s -> %s', (wire, ours) => {
    expect(mapAnthropicStopReason(wire)).toBe(ours);
  });
});

describe('parseToolArguments', () => {
  it.each([
    ['{"city":"Paris"}', { city: 'Paris' }],
    ['', {}],
    ['   ', {}],
    ['{"city": "Par', { _raw: '{"city": "Par' }],
    ['[1,2]', { _raw: '[1,2]' }],
    ['null', { _raw: 'null' }],
    ['"text"', { _raw: '"text"' }],
  ])('%j -> %j', (text, parsed) => {
    expect(parseToolArguments(text)).toEqual(parsed);
  });
});

describe('OpenAI request conversion', () => {
  const messages: ChatMessage[] = [
    { role: 'system', content: 'sys' },
    { role: 'user', content: 'q' },
    { role: 'assistant', content: '', tool_calls: [weather, time] },
    { role: 'tool', tool_call_id: 'call_1', content: '18C' },
    { role: 'tool', tool_call_id: 'call_2', content: '12:00' },
    { role: 'assistant', content: 'It is 18C.' },
  ];

  it('turns tool call arguments back into JSON strings and keeps tool results as role tool', () => {
    expect(convertToOpenAIMessages(messages)).toEqual([
      { role: 'system', content: 'sys' },
      { role: 'user', content: 'q' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '{"tz":"UTC"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_1', content: '18C' },
      { role: 'tool', tool_call_id: 'call_2', content: '12:00' },
      { role: 'assistant', content: 'It is 18C.' },
    ]);
  });

  it('puts the output limit in the field the server knows, and tools in the function form', () => {
    const request: ChatRequest = {
      providerModel: 'gpt-4o',
      messages: [{ role: 'user', content: 'q' }],
      maxTokens: 50,
      temperature: 0,
      stop: ['X'],
      tools: [{ name: 'get_weather', parameters: { type: 'object' } }],
      toolChoice: { name: 'get_weather' },
    };
    expect(convertToOpenAIRequest(request, 'max_completion_tokens')).toEqual({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'q' }],
      max_completion_tokens: 50,
      temperature: 0,
      stop: ['X'],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    });
    const compatible = convertToOpenAIRequest({ ...request, toolChoice: 'required' }, 'max_tokens');
    expect(compatible.max_tokens).toBe(50);
    expect(compatible).not.toHaveProperty('max_completion_tokens');
    expect(compatible.tool_choice).toBe('required');
  });

  it('leaves out what was not given (no tool_choice without tools, no empty stop)', () => {
    const body = convertToOpenAIRequest({ providerModel: 'm', messages: [{ role: 'user', content: 'q' }], stop: [], toolChoice: 'auto' }, 'max_tokens');
    expect(body).toEqual({ model: 'm', messages: [{ role: 'user', content: 'q' }] });
  });
});

describe('Anthropic prompt conversion', () => {
  it('moves system messages to the top-level system, wherever they are', () => {
    const { system, messages } = convertToAnthropicPrompt([
      { role: 'system', content: 'one' },
      { role: 'user', content: 'q' },
      { role: 'system', content: 'two' },
    ]);
    expect(system).toBe('one\n\ntwo');
    expect(messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'q' }] }]);
    expect(convertToAnthropicPrompt([{ role: 'user', content: 'q' }]).system).toBeUndefined();
  });

  it('merges consecutive tool results (and a following user message) into one user turn', () => {
    const { messages } = convertToAnthropicPrompt([
      { role: 'user', content: 'q' },
      { role: 'assistant', content: '', tool_calls: [weather, time] },
      { role: 'tool', tool_call_id: 'call_1', content: '18C' },
      { role: 'tool', tool_call_id: 'call_2', content: '12:00' },
      { role: 'user', content: 'and tomorrow?' },
    ]);
    expect(messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'q' }] },
      {
        role: 'assistant',
        content: [
          { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'call_2', name: 'get_time', input: { tz: 'UTC' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'call_1', content: '18C' },
          { type: 'tool_result', tool_use_id: 'call_2', content: '12:00' },
          { type: 'text', text: 'and tomorrow?' },
        ],
      },
    ]);
  });

  it('merges consecutive turns of one role so user and assistant alternate', () => {
    const { messages } = convertToAnthropicPrompt([
      { role: 'user', content: 'a' },
      { role: 'user', content: 'b' },
      { role: 'assistant', content: 'c' },
      { role: 'assistant', content: 'd', tool_calls: [weather] },
    ]);
    expect(messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'c' },
          { type: 'text', text: 'd' },
          { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
        ],
      },
    ]);
  });

  it.each([
    ['auto', { type: 'auto' }],
    ['none', { type: 'none' }],
    ['required', { type: 'any' }],
    [{ name: 'get_time' }, { type: 'tool', name: 'get_time' }],
  ] as const)('tool_choice %j -> %j', (choice, wire) => {
    expect(convertToAnthropicToolChoice(choice)).toEqual(wire);
  });

  it('builds the request body: max_tokens, system, stop_sequences, tools with input_schema', () => {
    expect(
      convertToAnthropicRequest({
        providerModel: 'claude-x',
        maxTokens: 99,
        temperature: 0.5,
        stop: ['END'],
        messages: [
          { role: 'system', content: 's' },
          { role: 'user', content: 'q' },
        ],
        tools: [{ name: 'get_weather', description: 'd', parameters: { type: 'object' } }],
        toolChoice: 'required',
      }),
    ).toEqual({
      model: 'claude-x',
      max_tokens: 99,
      system: 's',
      temperature: 0.5,
      stop_sequences: ['END'],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'q' }] }],
      tools: [{ name: 'get_weather', description: 'd', input_schema: { type: 'object' } }],
      tool_choice: { type: 'any' },
    });
  });
});

describe('non-streamed answers', () => {
  it('OpenAI: content, tool calls parsed (broken JSON kept raw), snapshot model', () => {
    const response = convertOpenAICompletion(
      {
        model: 'gpt-4o-2024-08-06',
        choices: [
          {
            finish_reason: 'tool_calls',
            message: {
              content: null,
              tool_calls: [
                { id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
                { type: 'function', function: { name: 'get_time', arguments: '{"tz":' } },
              ],
            },
          },
        ],
        usage: { prompt_tokens: 10, completion_tokens: 5 },
      },
      'gpt-4o',
    );
    expect(response).toMatchObject({
      content: '',
      finishReason: 'tool_calls',
      providerModel: 'gpt-4o-2024-08-06',
      toolCalls: [
        { id: 'call_a', name: 'get_weather', arguments: { city: 'Oslo' } },
        { id: 'call_1', name: 'get_time', arguments: { _raw: '{"tz":' } },
      ],
    });
    expect(response.usage.totalTokens).toBe(15);
  });

  it('OpenAI: a refusal is the content; the requested model stands in when none is reported', () => {
    const response = convertOpenAICompletion({ choices: [{ finish_reason: 'stop', message: { content: null, refusal: 'I cannot help.' } }] }, 'gpt-4o');
    expect(response.content).toBe('I cannot help.');
    expect(response.providerModel).toBe('gpt-4o');
  });

  it('Anthropic: text blocks joined, tool_use blocks as calls, other blocks ignored', () => {
    const response = convertAnthropicMessage(
      {
        model: 'claude-sonnet-4-5-20250929',
        stop_reason: 'tool_use',
        content: [
          { type: 'thinking', text: 'hmm' },
          { type: 'text', text: 'Let me ' },
          { type: 'text', text: 'check.' },
          { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Rome' } },
        ],
        usage: { input_tokens: 5, output_tokens: 6, cache_read_input_tokens: 10 },
      },
      'claude-sonnet-4-5',
    );
    expect(response).toMatchObject({
      content: 'Let me check.',
      finishReason: 'tool_calls',
      providerModel: 'claude-sonnet-4-5-20250929',
      toolCalls: [{ id: 'toolu_1', name: 'get_weather', arguments: { city: 'Rome' } }],
      usage: { promptTokens: 15, cachedTokens: 10, completionTokens: 6 },
    });
  });
});

describe('OpenAIStreamAssembler', () => {
  const chunk = (delta: Record<string, unknown>, finish: string | null = null, extra: Record<string, unknown> = {}) => ({
    model: 'gpt-4o-mini-2024-07-18',
    choices: [{ index: 0, delta, finish_reason: finish }],
    ...extra,
  });

  it('assembles text, tool calls arriving in pieces by index, the finish reason and the trailing usage chunk', () => {
    const a = new OpenAIStreamAssembler();
    const texts = [
      a.push(chunk({ role: 'assistant', content: '' })),
      a.push(chunk({ content: 'Checking ' })),
      a.push(chunk({ content: 'both.' })),
      a.push(chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } }] })),
      a.push(chunk({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{"tz"' } }] })),
      a.push(chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] })),
      a.push(chunk({ tool_calls: [{ index: 0, function: { arguments: '"Oslo"}' } }] })),
      a.push(chunk({ tool_calls: [{ index: 1, function: { arguments: ':"UTC"}' } }] })),
    ];
    expect(texts).toEqual(['', 'Checking ', 'both.', '', '', '', '', '']);
    expect(a.finished).toBe(false);
    a.push(chunk({}, 'tool_calls'));
    expect(a.finished).toBe(true);
    a.push({ model: 'gpt-4o-mini-2024-07-18', choices: [], usage: { prompt_tokens: 20, completion_tokens: 9, total_tokens: 29 } });
    expect(a.text).toBe('Checking both.');
    expect(a.result('gpt-4o-mini')).toMatchObject({
      content: 'Checking both.',
      finishReason: 'tool_calls',
      providerModel: 'gpt-4o-mini-2024-07-18',
      toolCalls: [
        { id: 'call_a', name: 'get_weather', arguments: { city: 'Oslo' } },
        { id: 'call_b', name: 'get_time', arguments: { tz: 'UTC' } },
      ],
      usage: { promptTokens: 20, completionTokens: 9, totalTokens: 29 },
    });
  });

  it('takes usage sent on the finish chunk (DeepSeek style) and relays a refusal as text', () => {
    const a = new OpenAIStreamAssembler();
    expect(a.push(chunk({ refusal: 'No.' }))).toBe('No.');
    a.push(chunk({}, 'stop', { usage: { prompt_tokens: 4, completion_tokens: 1, prompt_cache_hit_tokens: 2 } }));
    const result = a.result('deepseek-chat');
    expect(result.content).toBe('No.');
    expect(result.usage).toMatchObject({ promptTokens: 4, completionTokens: 1, cachedTokens: 2 });
  });

  it('a stream without usage leaves raw usage undefined (so the cost can be marked unknown)', () => {
    const a = new OpenAIStreamAssembler();
    a.push(chunk({ content: 'hi' }, 'stop'));
    expect(a.result('m').usage.raw).toBeUndefined();
  });

  it('keeps broken tool arguments raw', () => {
    const a = new OpenAIStreamAssembler();
    a.push(chunk({ tool_calls: [{ index: 0, id: 'c', function: { name: 'f', arguments: '{"a":' } }] }, 'tool_calls'));
    expect(a.result('m').toolCalls).toEqual([{ id: 'c', name: 'f', arguments: { _raw: '{"a":' } }]);
  });
});

describe('AnthropicStreamAssembler', () => {
  const events = [
    {
      type: 'message_start',
      message: { model: 'claude-sonnet-4-5-20250929', content: [], usage: { input_tokens: 30, cache_read_input_tokens: 100, cache_creation_input_tokens: 20, output_tokens: 1 } },
    },
    { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
    { type: 'ping' },
    { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Let me ' } },
    { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'look.' } },
    { type: 'content_block_stop', index: 0 },
    { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} } },
    { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '' } },
    { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"city": ' } },
    { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '"Rome"}' } },
    { type: 'content_block_stop', index: 1 },
    { type: 'content_block_start', index: 2, content_block: { type: 'tool_use', id: 'toolu_2', name: 'get_time', input: {} } },
    { type: 'content_block_stop', index: 2 },
    { type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 42 } },
    { type: 'message_stop' },
  ];

  it('assembles text, tool_use input from JSON deltas, stop reason, and usage from start and delta', () => {
    const a = new AnthropicStreamAssembler();
    const texts = events.map((event) => a.push(event));
    expect(texts.join('|')).toBe('|||Let me |look.||||||||||');
    expect(a.finished).toBe(true);
    expect(a.result('claude-sonnet-4-5')).toMatchObject({
      content: 'Let me look.',
      finishReason: 'tool_calls',
      providerModel: 'claude-sonnet-4-5-20250929',
      toolCalls: [
        { id: 'toolu_1', name: 'get_weather', arguments: { city: 'Rome' } },
        // No JSON deltas: the block's own (empty) input.
        { id: 'toolu_2', name: 'get_time', arguments: {} },
      ],
      usage: { promptTokens: 150, completionTokens: 42, cachedTokens: 100, cacheWriteTokens: 20, totalTokens: 192 },
    });
  });

  it('is not finished without message_stop (a cut stream)', () => {
    const a = new AnthropicStreamAssembler();
    for (const event of events.slice(0, -1)) a.push(event);
    expect(a.finished).toBe(false);
  });

  it('lets input counts repeated in message_delta replace those of message_start, field by field', () => {
    const a = new AnthropicStreamAssembler();
    a.push({ type: 'message_start', message: { usage: { input_tokens: 10, cache_read_input_tokens: 5, output_tokens: 1 } } });
    a.push({ type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { input_tokens: 12, output_tokens: 8 } });
    a.push({ type: 'message_stop' });
    expect(a.result('m').usage).toMatchObject({ promptTokens: 17, cachedTokens: 5, completionTokens: 8 });
  });

  it('keeps broken tool JSON raw', () => {
    const a = new AnthropicStreamAssembler();
    a.push({ type: 'message_start', message: { usage: { input_tokens: 1, output_tokens: 1 } } });
    a.push({ type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 't', name: 'f', input: {} } });
    a.push({ type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: '{"a": tru' } });
    a.push({ type: 'message_delta', delta: { stop_reason: 'max_tokens' }, usage: { output_tokens: 3 } });
    a.push({ type: 'message_stop' });
    const result = a.result('m');
    expect(result.toolCalls).toEqual([{ id: 't', name: 'f', arguments: { _raw: '{"a": tru' } }]);
    expect(result.finishReason).toBe('length');
  });
});

describe('convertSdkError (real SDK error classes)', () => {
  const controls: AttemptControl[] = [];
  afterEach(() => {
    for (const control of controls.splice(0)) control.dispose();
  });
  const control = (parent?: AbortSignal) => {
    const c = new AttemptControl(parent, 60_000);
    controls.push(c);
    return c;
  };
  const openaiClasses: SdkErrorClasses = OpenAI;
  const anthropicClasses: SdkErrorClasses = Anthropic;

  it('an HTTP 429 is retryable and carries retry-after-ms and the provider message', () => {
    const error = OpenAI.APIError.generate(
      429,
      { error: { message: 'Rate limit reached', type: 'requests' } },
      undefined,
      new Headers({ 'retry-after-ms': '1500', 'x-request-id': 'req_1' }),
    );
    const converted = convertSdkError(error, 'openai', control(), openaiClasses, 1000);
    expect(converted).toBeInstanceOf(LlmError);
    expect(converted).toMatchObject({ kind: 'http', status: 429, retryable: true, retryAfterMs: 1500, providerMessage: 'Rate limit reached', requestId: 'req_1' });
  });

  it('an HTTP 400 is not retryable; x-should-retry: false overrides a 500', () => {
    const bad = Anthropic.APIError.generate(400, { type: 'error', error: { type: 'invalid_request_error', message: 'bad' } }, undefined, new Headers());
    expect(convertSdkError(bad, 'anthropic', control(), anthropicClasses, 1000)).toMatchObject({ kind: 'http', status: 400, retryable: false, providerMessage: 'bad' });
    const noRetry = OpenAI.APIError.generate(500, { error: { message: 'x' } }, undefined, new Headers({ 'x-should-retry': 'false' }));
    expect(convertSdkError(noRetry, 'openai', control(), openaiClasses, 1000).retryable).toBe(false);
  });

  it('an error event inside an Anthropic stream: overloaded is retryable, invalid_request is not', () => {
    const overloaded = new Anthropic.APIError(undefined, { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }, undefined, new Headers());
    expect(convertSdkError(overloaded, 'anthropic', control(), anthropicClasses, 1000)).toMatchObject({ kind: 'stream', retryable: true, providerMessage: 'Overloaded' });
    const invalid = new Anthropic.APIError(undefined, { type: 'error', error: { type: 'invalid_request_error', message: 'no' } }, undefined, new Headers());
    expect(convertSdkError(invalid, 'anthropic', control(), anthropicClasses, 1000)).toMatchObject({ kind: 'stream', retryable: false });
  });

  it('connection errors are retryable; an abort by the host is a cancellation', () => {
    const connection = new OpenAI.APIConnectionError({ message: 'Connection error.', cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }) });
    expect(convertSdkError(connection, 'openai', control(), openaiClasses, 1000)).toMatchObject({ kind: 'connection', retryable: true, message: 'Could not reach openai (ECONNREFUSED)' });
    const host = new AbortController();
    host.abort();
    expect(convertSdkError(new OpenAI.APIUserAbortError(), 'openai', control(host.signal), openaiClasses, 1000)).toMatchObject({ kind: 'cancelled', retryable: false });
  });
});
