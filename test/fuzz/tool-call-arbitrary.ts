/**
 * fast-check generators of tool calls as a careless or hostile host might send them: mostly the
 * right shapes with odd values (names that are JavaScript's own property names, huge or empty
 * strings, spans past any date, offsets no place has), sometimes any JSON at all in any field.
 */
import fc from 'fast-check';

const anything = fc.jsonValue({ maxDepth: 3 });

/** The arbitrary itself most of the time, any JSON value sometimes. */
function orJunk<T>(arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T | fc.JsonValue> {
  return fc.oneof({ weight: 5, arbitrary }, { weight: 1, arbitrary: anything });
}

export const modelName: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('gpt-4o-mini', 'gpt-4o', 'claude-haiku-4-5', 'deepseek-chat', 'qwen-turbo', 'fast') },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      'openai:gpt-4.1-nano', ' openai : gpt-4o ', 'anthropic:claude-x', 'nope:model', ':', 'openai:', ':gpt-4o',
      'constructor', '__proto__', 'toString', 'prototype', 'hasOwnProperty', 'valueOf', '', ' ', 'gpt4o', 'GPT-4O-MINI',
    ),
  },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.nat({ max: 4000 }).map((n) => `gpt-${'4'.repeat(n)}`) },
);

const timeBound: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('24h', '7d', '2w', '30m', '6mo', '1y', '6M', '1000000000w', '99999999999999999999d', '900000y', '0h', '1.5h', '-7d'),
  fc.constantFrom('2026-01-01', '2026-02-30', '2026-11-01T12:00+05', '2026-11-01T12:00+99:99', '0000-01-01', '9999-12-31T23:59:59Z', '2026-13-01'),
  fc.tuple(fc.nat({ max: 1e9 }), fc.constantFrom('s', 'm', 'min', 'h', 'd', 'w', 'mo', 'y', 'M', 'x', '')).map(([n, u]) => `${n}${u}`),
  fc.string({ maxLength: 30 }),
);

const message = fc.record(
  {
    role: orJunk(fc.constantFrom('system', 'user', 'assistant', 'tool')),
    content: orJunk(fc.string({ maxLength: 60 })),
    tool_calls: orJunk(
      fc.array(fc.record({ id: fc.string({ maxLength: 8 }), name: fc.string({ maxLength: 12 }), arguments: fc.dictionary(fc.string({ maxLength: 8 }), anything, { maxKeys: 3 }) }), {
        maxLength: 2,
      }),
    ),
    tool_call_id: orJunk(fc.string({ maxLength: 12 })),
  },
  { requiredKeys: ['role', 'content'] },
);

/** A well-formed call whose model, options and text vary: the path that reaches the provider. */
const wellFormedChat = fc.record(
  {
    prompt: fc.string({ maxLength: 120 }),
    model: fc.oneof({ weight: 3, arbitrary: fc.constantFrom('gpt-4o-mini', 'claude-haiku-4-5', 'fast', 'openai: gpt-4o', 'deepseek-chat') }, { weight: 1, arbitrary: modelName }),
    temperature: fc.double({ min: 0, max: 2, noNaN: true }),
    max_tokens: fc.integer({ min: 1, max: 100_000 }),
    stop: fc.array(fc.string({ maxLength: 5 }), { maxLength: 2 }),
    fallback_models: fc.array(modelName, { maxLength: 2 }),
  },
  { requiredKeys: ['prompt'] },
);

const wellFormedConversation = fc.record(
  {
    messages: fc.array(fc.record({ role: fc.constantFrom('system', 'user', 'assistant'), content: fc.string({ maxLength: 60 }) }), { minLength: 1, maxLength: 4 }),
    model: fc.constantFrom('gpt-4o-mini', 'claude-haiku-4-5'),
    system: fc.string({ maxLength: 30 }),
  },
  { requiredKeys: ['messages'] },
);

const oddChat = fc.record(
  {
    prompt: orJunk(fc.string({ maxLength: 120 })),
    messages: orJunk(fc.array(message, { maxLength: 4 })),
    system: orJunk(fc.string({ maxLength: 40 })),
    model: orJunk(modelName),
    temperature: orJunk(fc.double({ min: -1, max: 3, noNaN: true })),
    max_tokens: orJunk(fc.integer({ min: -5, max: 2_000_000 })),
    stop: orJunk(fc.oneof(fc.string({ maxLength: 10 }), fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }))),
    tools: orJunk(
      fc.array(
        fc.record(
          {
            name: orJunk(fc.string({ minLength: 1, maxLength: 20 })),
            description: fc.string({ maxLength: 30 }),
            parameters: orJunk(fc.dictionary(fc.string({ maxLength: 10 }), anything, { maxKeys: 3 })),
          },
          { requiredKeys: ['name', 'parameters'] },
        ),
        { maxLength: 2 },
      ),
    ),
    tool_choice: orJunk(fc.constantFrom('auto', 'none', 'required', 'lookup', '', 'constructor')),
    fallback_models: orJunk(fc.array(modelName, { maxLength: 3 })),
    unexpected_key: anything,
  },
  { requiredKeys: [] },
);

const chatArguments = fc.oneof(
  { weight: 2, arbitrary: wellFormedChat },
  { weight: 1, arbitrary: wellFormedConversation },
  { weight: 2, arbitrary: oddChat },
);

const getCostArguments = fc.record(
  {
    since: orJunk(timeBound),
    until: orJunk(timeBound),
    model: orJunk(modelName),
    provider: orJunk(fc.constantFrom('openai', 'anthropic', 'nope', 'constructor', '')),
    group_by: orJunk(fc.constantFrom('model', 'provider', 'day', 'none', 'week', '__proto__')),
  },
  { requiredKeys: [] },
);

const listModelsArguments = fc.record(
  {
    provider: orJunk(fc.constantFrom('openai', 'anthropic', 'deepseek', 'qwen', 'nope', 'constructor', '__proto__')),
    configured_only: orJunk(fc.boolean()),
  },
  { requiredKeys: [] },
);

export interface FuzzToolCall {
  name: string;
  arguments: unknown;
  /** Ask for progress (a streamed call) where the tool supports it. */
  progress: boolean;
}

/** One tool call: mostly the three tools with odd arguments, sometimes a tool that does not exist. */
export const toolCall: fc.Arbitrary<FuzzToolCall> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ name: fc.constant('chat'), arguments: orJunk(chatArguments), progress: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ name: fc.constant('get_cost'), arguments: orJunk(getCostArguments), progress: fc.constant(false) }) },
  { weight: 1, arbitrary: fc.record({ name: fc.constant('list_models'), arguments: orJunk(listModelsArguments), progress: fc.constant(false) }) },
  { weight: 1, arbitrary: fc.record({ name: fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('constructor', '__proto__')), arguments: orJunk(fc.object()), progress: fc.constant(false) }) },
);
