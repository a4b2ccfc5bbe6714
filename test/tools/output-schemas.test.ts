/**
 * Every tool's result matches the output schema it lists. The gateway's shared path does not
 * re-check its own results against these schemas on every call (src/transports/direct-tool-call.ts),
 * so a result that drifts from its schema must fail here: each tool's structuredContent is parsed
 * with its declared schema as the SDK's McpServer parses it (a zod object of the declared shape),
 * for a plain answer and for the richer shapes (tool calls, JSON, fallbacks, a failed model).
 */
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { chatManyOutputSchema } from '../../src/tools/chat-many.js';
import { chatOutputSchema } from '../../src/tools/chat.js';
import { getCostOutputSchema } from '../../src/tools/get-cost.js';
import { listModelsOutputSchema } from '../../src/tools/list-models.js';
import { startHarness } from '../support/harness.js';

const schemas: Record<string, z.ZodObject> = {
  chat: z.object(chatOutputSchema),
  chat_many: z.object(chatManyOutputSchema),
  get_cost: z.object(getCostOutputSchema),
  list_models: z.object(listModelsOutputSchema),
};

describe('tool results and their output schemas', () => {
  it('every tool, in its plain and richer shapes, returns structuredContent its output schema accepts', async () => {
    const h = await startHarness({ config: { retry: { retries: 1 } } });
    try {
      const down = { kind: 'error' as const, status: 503 };
      h.upstream.enqueue(
        { kind: 'auto' },
        { kind: 'openai', toolCalls: [{ name: 'lookup', arguments: { q: 'x' } }] },
        { kind: 'openai', content: '{"a":1}' },
        down,
        down,
      );
      const calls: Array<[string, Record<string, unknown>]> = [
        ['chat', { model: 'gpt-6-luna', prompt: 'plain' }],
        ['chat', { model: 'gpt-6-luna', prompt: 'use the tool', tools: [{ name: 'lookup', parameters: { type: 'object' } }] }],
        ['chat', { model: 'gpt-6-luna', prompt: 'json please', response_format: 'json' }],
        ['chat', { model: 'gpt-6-luna', prompt: 'fall back', fallback_models: ['claude-haiku-4-5'] }],
        ['chat_many', { models: ['gpt-6-luna', 'claude-haiku-4-5'], prompt: 'both' }],
        ['get_cost', {}],
        ['get_cost', { group_by: 'day' }],
        ['list_models', {}],
      ];
      const results: Array<Record<string, unknown> | undefined> = [];
      for (const [name, args] of calls) {
        const result = await h.callTool(name, args);
        expect(result.isError, `${name} ${JSON.stringify(args)}: ${JSON.stringify(result.content)}`).toBeFalsy();
        const parsed = schemas[name]!.safeParse(result.structuredContent);
        expect(parsed.success, `${name} ${JSON.stringify(args)}: ${parsed.error?.message}`).toBe(true);
        results.push(result.structuredContent);
      }
      expect([...new Set(calls.map(([name]) => name))].sort()).toEqual(Object.keys(schemas).sort());
      // The richer shapes really were produced.
      expect(results[1]).toMatchObject({ tool_calls: [{ name: 'lookup' }] });
      expect(results[2]).toMatchObject({ json: { a: 1 } });
      expect(results[3]).toMatchObject({ model: 'claude-haiku-4-5', fallback_from: [expect.stringContaining('gpt-6-luna')] });
    } finally {
      await h.close();
    }
  });

  it('a result that drifts from its schema is refused by that schema', () => {
    expect(schemas.chat!.safeParse({ content: 'x' }).success).toBe(false);
    expect(schemas.get_cost!.safeParse({ total: { calls: 'three' }, groups: [], session: {}, budget: null }).success).toBe(false);
  });
});
