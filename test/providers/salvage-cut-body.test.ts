/**
 * A completion body cut at the byte limit, made the completion of what arrived (issue #9 item 5):
 * marked as cut for the converters, a cut tool call dropped, a usage kept only when read whole.
 */
import { describe, expect, it } from 'vitest';
import { salvageCutBody } from '../../src/providers/salvage-cut-body.js';

const cutAt = (text: string, marker: string) => new TextEncoder().encode(text.slice(0, text.indexOf(marker) + marker.length));
const salvage = (text: string, marker: string, wire: 'openai' | 'anthropic') => {
  const out = salvageCutBody(cutAt(text, marker), wire);
  return out === undefined ? undefined : (JSON.parse(out) as Record<string, any>);
};

const openai = JSON.stringify({
  id: 'c',
  choices: [{ index: 0, message: { role: 'assistant', content: 'hello world', tool_calls: [{ id: 't1', type: 'function', function: { name: 'f', arguments: '{"q":"small"}' } }, { id: 't2', type: 'function', function: { name: 'f', arguments: '{"q":"long text"}' } }] }, finish_reason: 'tool_calls' }],
  usage: { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 },
});
const anthropic = JSON.stringify({
  id: 'm',
  type: 'message',
  content: [{ type: 'text', text: 'hello world' }, { type: 'tool_use', id: 't1', name: 'f', input: { q: 'small' } }, { type: 'tool_use', id: 't2', name: 'f', input: { q: 'long text' } }],
  stop_reason: 'tool_use',
  usage: { input_tokens: 11, output_tokens: 7 },
});

describe('salvageCutBody, OpenAI Chat Completions', () => {
  it('cut in the text: what arrived, finish_reason length, no usage', () => {
    const body = salvage(openai, 'hello wo', 'openai')!;
    expect(body.choices).toEqual([{ index: 0, message: { role: 'assistant', content: 'hello wo' }, finish_reason: 'length' }]);
    expect(body.usage).toBeUndefined();
  });

  it('cut in the second tool call\'s arguments: that call dropped, the first kept', () => {
    const body = salvage(openai, '"{\\"q\\":\\"long', 'openai')!;
    expect(body.choices[0].message.tool_calls).toEqual([{ id: 't1', type: 'function', function: { name: 'f', arguments: '{"q":"small"}' } }]);
    expect(body.choices[0].finish_reason).toBe('length');
  });

  it('cut in the usage: the usage dropped; cut after it: the usage kept, the provider\'s own report', () => {
    expect(salvage(openai, '"prompt_tokens":11,', 'openai')!.usage).toBeUndefined();
    expect(salvage(openai, '"total_tokens":18}', 'openai')!.usage).toEqual({ prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 });
  });

  it('cut before the first choice has its message, or no JSON at all: nothing', () => {
    expect(salvage(openai, '"index":0,', 'openai')).toBeUndefined();
    expect(salvageCutBody(new TextEncoder().encode('<html><body>x'), 'openai')).toBeUndefined();
  });
});

describe('salvageCutBody, Anthropic Messages', () => {
  it('cut in the text: what arrived, stop_reason max_tokens, no usage', () => {
    const body = salvage(anthropic, 'hello wo', 'anthropic')!;
    expect(body).toMatchObject({ content: [{ type: 'text', text: 'hello wo' }], stop_reason: 'max_tokens' });
    expect(body.usage).toBeUndefined();
  });

  it('cut in the second tool_use input: that block dropped, the first kept', () => {
    const body = salvage(anthropic, '"q":"long', 'anthropic')!;
    expect(body.content).toEqual([{ type: 'text', text: 'hello world' }, { type: 'tool_use', id: 't1', name: 'f', input: { q: 'small' } }]);
    expect(body.stop_reason).toBe('max_tokens');
  });

  it('cut before the content list: nothing', () => {
    expect(salvage(anthropic, '"type":"mess', 'anthropic')).toBeUndefined();
  });
});
