/**
 * Malformed or impossible tool arguments: each is answered with `isError: true` and a message
 * that says what is wrong, nothing reaches the provider, and the server keeps serving.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resultText, startHarness, type Harness } from '../support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

interface BadCase {
  name: string;
  tool: 'chat' | 'list_models' | 'get_cost';
  args: Record<string, unknown>;
  /** Every one of these must appear in the error text. */
  says: Array<string | RegExp>;
}

const weatherTool = { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } };

const cases: BadCase[] = [
  { name: 'prompt of the wrong type', tool: 'chat', args: { prompt: 42 }, says: ['prompt', /expected string/i] },
  { name: 'temperature of the wrong type', tool: 'chat', args: { prompt: 'hi', temperature: 'hot' }, says: ['temperature', /expected number/i] },
  { name: 'empty messages', tool: 'chat', args: { messages: [] }, says: ['messages', 'at least one message'] },
  {
    name: 'both prompt and messages',
    tool: 'chat',
    args: { prompt: 'hi', messages: [{ role: 'user', content: 'hi' }] },
    says: ['exactly one of', 'prompt', 'messages'],
  },
  { name: 'neither prompt nor messages', tool: 'chat', args: { model: 'gpt-4o-mini' }, says: ['exactly one of', 'prompt', 'messages'] },
  {
    name: 'unknown role',
    tool: 'chat',
    args: { messages: [{ role: 'wizard', content: 'hi' }] },
    says: ['messages[0].role', /system.*user.*assistant.*tool/],
  },
  { name: 'negative max_tokens', tool: 'chat', args: { prompt: 'hi', max_tokens: -5 }, says: ['max_tokens', /too small|>0/i] },
  { name: 'zero max_tokens', tool: 'chat', args: { prompt: 'hi', max_tokens: 0 }, says: ['max_tokens', /too small|>0/i] },
  { name: 'non-integer max_tokens', tool: 'chat', args: { prompt: 'hi', max_tokens: 10.5 }, says: ['max_tokens', /int/i] },
  { name: 'temperature below 0', tool: 'chat', args: { prompt: 'hi', temperature: -0.1 }, says: ['temperature', /too small|>=0/i] },
  { name: 'temperature above 2', tool: 'chat', args: { prompt: 'hi', temperature: 2.5 }, says: ['temperature', /too big|<=2/i] },
  { name: 'unknown model', tool: 'chat', args: { model: 'gpt4o', prompt: 'hi' }, says: ["Unknown model 'gpt4o'", 'Did you mean', 'gpt-4o'] },
  { name: 'unknown fallback model', tool: 'chat', args: { model: 'gpt-4o', fallback_models: ['claude-sonet'], prompt: 'hi' }, says: ["Unknown model 'claude-sonet'", 'Did you mean', 'claude-sonnet-4-5'] },
  {
    name: 'unknown provider prefix',
    tool: 'chat',
    args: { model: 'mistral:large', prompt: 'hi' },
    says: ["Unknown provider 'mistral'", 'openai', 'anthropic', 'deepseek', 'qwen'],
  },
  {
    name: 'tool_choice naming an unknown tool',
    tool: 'chat',
    args: { prompt: 'hi', tools: [weatherTool], tool_choice: 'get_time' },
    says: ["unknown tool 'get_time'", 'get_weather'],
  },
  { name: 'tool_choice required without tools', tool: 'chat', args: { prompt: 'hi', tool_choice: 'required' }, says: ['required', 'tools'] },
  {
    name: 'tool message without tool_call_id',
    tool: 'chat',
    args: { messages: [{ role: 'user', content: 'hi' }, { role: 'tool', content: '18C' }] },
    says: ['messages[1]', 'tool_call_id'],
  },
  {
    name: 'tool message whose tool_call_id matches no earlier call',
    tool: 'chat',
    args: {
      messages: [
        { role: 'user', content: 'weather?' },
        { role: 'assistant', content: '', tool_calls: [{ id: 'call_1', name: 'get_weather', arguments: { city: 'Paris' } }] },
        { role: 'tool', tool_call_id: 'call_9', content: '18C' },
      ],
    },
    says: ['messages[2]', "'call_9'", 'matches no'],
  },
  {
    name: 'tool_call_id on a user message',
    tool: 'chat',
    args: { messages: [{ role: 'user', content: 'hi', tool_call_id: 'x' }] },
    says: ['messages[0]', 'tool_call_id'],
  },
  {
    name: 'only a system message',
    tool: 'chat',
    args: { messages: [{ role: 'system', content: 'Be nice.' }] },
    says: ['at least one user message'],
  },
  {
    name: 'tools on a model without tools (qwen-turbo)',
    tool: 'chat',
    args: { model: 'qwen-turbo', prompt: 'hi', tools: [weatherTool] },
    says: ['qwen-turbo', 'does not accept tools'],
  },
  { name: 'list_models with an unknown provider', tool: 'list_models', args: { provider: 'mistral' }, says: ["Unknown provider 'mistral'", 'openai'] },
  { name: 'get_cost with a bad since', tool: 'get_cost', args: { since: '7x' }, says: ['since', "'7x'", 'ISO 8601', '7d'] },
  { name: 'get_cost with a bad group_by', tool: 'get_cost', args: { group_by: 'week' }, says: ['group_by', 'model'] },
];

describe('bad input is refused clearly, before anything is sent', () => {
  it.each(cases)('$name', async ({ tool, args, says }) => {
    const before = h.upstream.requests.length;
    const result = await h.callTool(tool, args);
    expect(result.isError).toBe(true);
    const text = resultText(result);
    for (const word of says) {
      if (typeof word === 'string') expect(text).toContain(word);
      else expect(text).toMatch(word);
    }
    expect(h.upstream.requests.length).toBe(before);

    // The server is still up and answers a good call, which does reach the upstream.
    const good = await h.callTool('chat', { model: 'gpt-4o-mini', prompt: 'still there?' });
    expect(good.isError, resultText(good)).toBeFalsy();
    expect(resultText(good)).toBe('echo: still there?');
    expect(h.upstream.requests.length).toBe(before + 1);
  });
});
