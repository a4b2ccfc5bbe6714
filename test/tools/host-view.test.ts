/**
 * What a host shows a person, recorded through the MCP SDK client: the `chat` form (one of prompt
 * or messages said in words, a `stop` field hosts can render, no top-level anyOf that the
 * Anthropic API would refuse) and the short last line of `chat`'s text for hosts that show only
 * `content`.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { usdAmount } from '../../src/tools/chat-summary-line.js';
import { harnessPerTest, resultText } from '../support/harness.js';

const startHarness = harnessPerTest();

/** Every text item of a result, in order. */
function texts(result: CallToolResult): string[] {
  return result.content.flatMap((item) => (item.type === 'text' ? [item.text] : []));
}

describe('the chat form in tools/list', () => {
  it('says "one of prompt or messages", lists stop as an array of strings, and has no top-level anyOf/oneOf/allOf', async () => {
    const h = await startHarness();
    const { tools } = await h.client.listTools();
    const chat = tools.find((tool) => tool.name === 'chat')!;
    const schema = chat.inputSchema as { properties: Record<string, { description?: string; type?: string; items?: unknown }>; required?: string[] } & Record<string, unknown>;
    for (const keyword of ['anyOf', 'oneOf', 'allOf', 'not', 'if']) expect(schema, keyword).not.toHaveProperty(keyword);
    expect(schema.properties.prompt!.description).toMatch(/one of prompt or messages/i);
    expect(schema.properties.messages!.description).toMatch(/one of prompt or messages/i);
    expect(chat.description).toMatch(/prompt or messages/);
    expect(schema.properties.stop).toEqual({ type: 'array', items: { type: 'string' } });
    expect(schema.required ?? []).toEqual([]);
    // The whole listing stays within SPEC's 5 KB.
    expect(Buffer.byteLength(JSON.stringify({ tools }), 'utf8')).toBeLessThan(5000);
  });

  it('still takes stop as one string, and says what is wrong with neither prompt nor messages', async () => {
    const h = await startHarness();
    h.upstream.enqueue({ kind: 'openai', content: 'ok' });
    const result = await h.callTool('chat', { prompt: 'x', stop: 'END' });
    expect(result.isError, resultText(result)).toBeFalsy();
    expect(h.upstream.requests[0]!.body.stop).toEqual(['END']);
    const neither = await h.callTool('chat', { model: 'gpt-4o-mini' });
    expect(neither.isError).toBe(true);
    expect(resultText(neither)).toMatch(/exactly one of .*prompt.*messages/);
  });
});

describe("chat's last content line: what answered, tokens, cost, and the story", () => {
  it('a plain answer: model (provider) · tokens · cost', async () => {
    const h = await startHarness();
    h.upstream.enqueue({ kind: 'openai', content: 'Paris.', usage: { prompt_tokens: 1200, completion_tokens: 5 } });
    const result = await h.callTool('chat', { prompt: 'Capital of France?', model: 'gpt-4o-mini' });
    const lines = texts(result);
    expect(lines[0]).toBe('Paris.');
    // gpt-4o-mini: 1,200 x $0.15 + 5 x $0.60 per million = $0.000183
    expect(lines.at(-1)).toBe('— gpt-4o-mini (openai) · 1,200 in + 5 out tokens · $0.00018');
  });

  it('a retried answer says how many attempts', async () => {
    const h = await startHarness();
    h.upstream.enqueue({ kind: 'error', status: 503 }, { kind: 'anthropic', content: 'ok', usage: { input_tokens: 10, output_tokens: 2 } });
    const result = await h.callTool('chat', { prompt: 'x', model: 'claude-haiku-4-5' });
    expect(result.isError, resultText(result)).toBeFalsy();
    expect(texts(result).at(-1)).toMatch(/^— claude-haiku-4-5 \(anthropic\) · 10 in \+ 2 out tokens · \$0\.00002 · 2 attempts$/);
  });

  it('a fallback says which model failed and why; the structured result lists it too', async () => {
    const h = await startHarness({ config: { retry: { retries: 1 } } });
    const down = { kind: 'error' as const, status: 503 };
    h.upstream.enqueue(down, down, { kind: 'anthropic', content: 'from haiku' });
    const result = await h.callTool('chat', { prompt: 'x', model: 'gpt-4o-mini', fallback_models: ['claude-haiku-4-5'] });
    expect(result.isError, resultText(result)).toBeFalsy();
    expect(texts(result).at(-1)).toMatch(/^— claude-haiku-4-5 \(anthropic\) · .* tokens · \$\S+ · after gpt-4o-mini \(503, 2 attempts\) failed$/);
    expect(result.structuredContent).toMatchObject({ model: 'claude-haiku-4-5', attempts: 3, fallback_from: ['gpt-4o-mini (503, 2 attempts)'] });
  });

  it('an unknown price says "cost unknown", never $0', async () => {
    const h = await startHarness();
    h.upstream.enqueue({ kind: 'openai', content: 'hi' });
    const result = await h.callTool('chat', { prompt: 'x', model: 'openai:gpt-unlisted' });
    expect(result.isError, resultText(result)).toBeFalsy();
    expect(texts(result).at(-1)).toMatch(/^— openai:gpt-unlisted \(openai\) · \d+ in \+ \d+ out tokens · cost unknown$/);
  });

  it('amounts: two significant digits under $1, cents above, never an exponent', () => {
    expect(usdAmount(0)).toBe('0');
    expect(usdAmount(0.0000048)).toBe('0.0000048');
    expect(usdAmount(0.000183)).toBe('0.00018');
    expect(usdAmount(0.0125)).toBe('0.013');
    expect(usdAmount(0.5)).toBe('0.5');
    expect(usdAmount(12.345)).toBe('12.35');
    expect(usdAmount(1e-9)).toBe('0');
  });
});
