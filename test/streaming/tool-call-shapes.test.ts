/**
 * Streamed tool calls from OpenAI-compatible servers that do not follow OpenAI's exact shape must
 * assemble to the non-streamed answer: pieces without `index` (parallel calls must not merge),
 * the id or the function name repeated in every piece (a name must not read `get_weatherget_weather`),
 * and `index` 0 for every call. Each stream is written verbatim on the wire by the loopback upstream.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { harnessPerTest, resultText } from '../support/harness.js';

const startHarness = harnessPerTest();

const WEATHER = { id: 'call_a', name: 'get_weather', arguments: { city: 'Paris', days: 2 } };
const TIME = { id: 'call_b', name: 'get_time', arguments: { tz: 'UTC' } };
const TOOLS = [
  { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'number' } } } },
  { name: 'get_time', parameters: { type: 'object', properties: { tz: { type: 'string' } } } },
];

type Piece = { index?: number; id?: string; type?: 'function'; function: { name?: string; arguments?: string } };

/** One SSE frame carrying tool call pieces, in the Chat Completions chunk envelope. */
function frame(pieces: Piece[], finish: string | null = null): string {
  return `data: ${JSON.stringify({
    id: 'chatcmpl-shapes',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'gpt-4o-mini',
    choices: [{ index: 0, delta: finish ? {} : { role: 'assistant', content: null, tool_calls: pieces }, finish_reason: finish }],
  })}\n\n`;
}

/** The end of every stream: the finish reason, the usage chunk, [DONE]. */
const END = [
  frame([], 'tool_calls'),
  `data: ${JSON.stringify({ id: 'chatcmpl-shapes', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini', choices: [], usage: { prompt_tokens: 20, completion_tokens: 10, total_tokens: 30 } })}\n\n`,
  'data: [DONE]\n\n',
];

function argPieces(args: object): string[] {
  const json = JSON.stringify(args);
  return [json.slice(0, 5), json.slice(5, 12), json.slice(12)];
}

/** A stream of both calls, built by `piece(call, k, text, first)` for each argument fragment. */
function stream(piece: (call: typeof WEATHER | typeof TIME, position: number, args: string, first: boolean) => Piece): string[] {
  const frames: string[] = [];
  [WEATHER, TIME].forEach((call, position) => {
    argPieces(call.arguments).forEach((args, k) => frames.push(frame([piece(call, position, args, k === 0)])));
  });
  return [...frames, ...END];
}

const SHAPES: Record<string, { frames: string[]; idsOnWire: boolean }> = {
  'no index; id and name in the first piece only': {
    frames: stream((call, _p, args, first) => (first ? { id: call.id, type: 'function', function: { name: call.name, arguments: args } } : { function: { arguments: args } })),
    idsOnWire: true,
  },
  'no index and no id at all': {
    frames: stream((call, _p, args, first) => (first ? { function: { name: call.name, arguments: args } } : { function: { arguments: args } })),
    idsOnWire: false,
  },
  'index present; the name repeated in every piece': {
    frames: stream((call, position, args, first) => ({ index: position, ...(first ? { id: call.id } : {}), function: { name: call.name, arguments: args } })),
    idsOnWire: true,
  },
  'no index; id and name repeated in every piece': {
    frames: stream((call, _p, args) => ({ id: call.id, type: 'function', function: { name: call.name, arguments: args } })),
    idsOnWire: true,
  },
  'index 0 for every call, told apart by id': {
    frames: stream((call, _p, args, first) => ({ index: 0, ...(first ? { id: call.id } : {}), function: { ...(first ? { name: call.name } : {}), arguments: args } })),
    idsOnWire: true,
  },
};

function toolCalls(result: CallToolResult): Array<{ id: string; name: string; arguments: unknown }> {
  expect(result.isError, resultText(result)).toBeFalsy();
  return (result.structuredContent as { tool_calls: Array<{ id: string; name: string; arguments: unknown }> }).tool_calls;
}

describe('streamed tool calls from OpenAI-compatible servers equal the non-streamed answer', () => {
  for (const [shape, { frames, idsOnWire }] of Object.entries(SHAPES)) {
    it(shape, async () => {
      const h = await startHarness();
      const args = { model: 'deepseek-chat', prompt: 'weather and time', tools: TOOLS };
      h.upstream.enqueue({ kind: 'openai-json', toolCalls: [WEATHER, TIME] });
      const plain = toolCalls(await h.callTool('chat', args));
      h.upstream.enqueue({ kind: 'openai-stream', rawEvents: frames });
      const streamed = toolCalls(await h.callTool('chat', args, { onprogress: () => undefined }));
      expect(h.upstream.requests[1]?.body.stream).toBe(true);

      expect(plain).toEqual([WEATHER, TIME]);
      if (idsOnWire) expect(streamed).toEqual(plain);
      else expect(streamed).toEqual([{ ...WEATHER, id: 'call_0' }, { ...TIME, id: 'call_1' }]);
    });
  }
});
