/**
 * Issue #9 item 5 (bounded answers), the non-streamed half: the SDKs read a non-streamed body
 * whole, so the fetch they are given stops reading it at 2 × maxAnswerBytes + 64 KiB. A 40 MB
 * completion is answered with what arrived: the upstream's connection closed early, the JSON
 * read so far closed into a completion (close-truncated-json.ts), cut at maxAnswerBytes with
 * finish_reason "length" and a note naming the limit, not retried, the process's memory far
 * below the body's size, the call recorded with an unknown cost (the usage never arrived). A
 * body that is no JSON (a proxy's page) still ends the attempt with an error naming the limit.
 */
import { describe, expect, it } from 'vitest';
import { bodyLimitOf } from '../../src/providers/bounded-fetch.js';
import { FAKE_KEYS, harnessPerTest, type Harness } from '../support/harness.js';
import { heldMicro, readRows, structured, textOf } from '../ledger-integration/fixtures/helpers.js';

const startHarness = harnessPerTest();
const BODY = 40_000_000;
const LIMIT = bodyLimitOf(1_048_576);

/** The peak growth of the process's memory (RSS, and JS heap plus buffers) while `run` runs. */
async function peakGrowth<T>(run: () => Promise<T>): Promise<{ value: T; rss: number; heap: number }> {
  const base = process.memoryUsage();
  let rss = 0;
  let heap = 0;
  const sample = () => {
    const now = process.memoryUsage();
    rss = Math.max(rss, now.rss - base.rss);
    heap = Math.max(heap, now.heapUsed + now.arrayBuffers - base.heapUsed - base.arrayBuffers);
  };
  const timer = setInterval(sample, 2);
  try {
    const value = await run();
    sample();
    return { value, rss, heap };
  } finally {
    clearInterval(timer);
  }
}

async function stillAnswers(h: Harness): Promise<void> {
  const { tools } = await h.client.listTools();
  expect(tools.map((tool) => tool.name)).toContain('chat');
}

describe('a non-streamed answer of tens of megabytes', () => {
  for (const [model, wire] of [['gpt-4o-mini', 'openai'], ['claude-haiku-4-5', 'anthropic']] as const) {
    it(`${wire}: read to ${LIMIT} bytes and answered with what fits, finish_reason length, memory bounded, cost unknown`, async () => {
      const h = await startHarness({ config: { retry: { retries: 2 } } });
      // A first call loads the provider's SDK, so the growth measured below is the body's alone.
      h.upstream.enqueue({ kind: wire, content: 'warm' }, { kind: 'huge-json', wire, bytes: BODY });
      expect(structured(await h.callTool('chat', { prompt: 'warm up', model })).content).toBe('warm');
      const { value: result, rss, heap } = await peakGrowth(() => h.callTool('chat', { prompt: 'everything', model, fallback_models: [] }));
      expect(result.isError, textOf(result)).toBeFalsy();
      const out = structured(result);
      // The upstream's text is 'x' repeated: what fits of it, at the cap.
      expect(out).toMatchObject({ content: 'x'.repeat(1_048_576), finish_reason: 'length', model, cost_usd: null });
      expect(out.notes.join(' ')).toContain(`the provider's answer ran past ${LIMIT} bytes; reading stopped there and the answer was cut (maxAnswerBytes)`);
      for (const key of Object.values(FAKE_KEYS)) expect(textOf(result)).not.toContain(key);
      // Not retried: one request for the call.
      expect(h.upstream.requests).toHaveLength(2);
      await h.upstream.waitForClose(1);
      expect(h.upstream.requests[1]!.closedBy).toBe('client');
      // What the upstream got out before the connection closed: the limit plus the socket buffers.
      expect(h.upstream.requests[1]!.bytesWritten).toBeLessThan(BODY / 4);
      // Read whole, the body alone would add 40 MB, its text and parsed copy as much again each
      // (over 120 MB). The answer of 1 MiB goes through the MCP pipe in several copies: a body
      // just under the limit, read whole and cut at the cap, grew the heap by about 30 MB here
      // (this one 23 MB; its RSS 43 MB once, with the whole suite running beside it).
      expect(heap).toBeLessThan(BODY);
      expect(rss).toBeLessThan(BODY * 1.5);
      // The usage never arrived: recorded, its cost unknown.
      expect(readRows(h.dbPath)[1]).toMatchObject({ status: 'ok', model, finish_reason: 'length', cost_micro_usd: null });
      await stillAnswers(h);
    });
  }

  it('a body that is no JSON (an HTML page) is still refused at the limit, not retried', async () => {
    const h = await startHarness({ config: { retry: { retries: 2 } } });
    h.upstream.enqueue({ kind: 'huge-json', wire: 'openai', bytes: BODY, notJson: true });
    const result = await h.callTool('chat', { prompt: 'everything', model: 'gpt-4o-mini', fallback_models: [] });
    expect(result.isError).toBe(true);
    const text = textOf(result);
    expect(text).toContain(`larger than ${LIMIT} bytes`);
    expect(text).toContain('maxAnswerBytes');
    expect(h.upstream.requests).toHaveLength(1);
    await h.upstream.waitForClose(0);
    expect(h.upstream.requests[0]!.bytesWritten).toBeLessThan(BODY / 4);
    expect(readRows(h.dbPath)).toMatchObject([{ status: 'error', cost_micro_usd: null }]);
  });

  for (const [model, wire] of [['gpt-4o-mini', 'openai'], ['claude-haiku-4-5', 'anthropic']] as const) {
    it(`${wire}: a tool call whose arguments were cut is dropped; the whole one before it is kept`, async () => {
      const h = await startHarness({ config: { maxAnswerBytes: 4096 } });
      const huge = 'a'.repeat(200_000);
      h.upstream.enqueue(
        wire === 'openai'
          ? { kind: 'openai', content: 'calling', toolCalls: [{ id: 'call_1', name: 'lookup', arguments: { q: 'small' } }, { id: 'call_2', name: 'lookup', arguments: { q: huge } }] }
          : { kind: 'anthropic', content: 'calling', toolUses: [{ id: 'toolu_1', name: 'lookup', input: { q: 'small' } }, { id: 'toolu_2', name: 'lookup', input: { q: huge } }] },
      );
      const tools = [{ name: 'lookup', description: 'looks up', parameters: { type: 'object', properties: { q: { type: 'string' } } } }];
      const result = await h.callTool('chat', { prompt: 'x', model, tools });
      expect(result.isError, textOf(result)).toBeFalsy();
      const out = structured(result);
      expect(out).toMatchObject({ content: 'calling', finish_reason: 'length', cost_usd: null });
      expect(out.tool_calls).toHaveLength(1);
      expect(out.tool_calls[0]).toMatchObject({ name: 'lookup', arguments: { q: 'small' } });
      expect(out.notes.join(' ')).toContain(`ran past ${bodyLimitOf(4096)} bytes`);
      expect(readRows(h.dbPath)).toMatchObject([{ status: 'ok', cost_micro_usd: null }]);
    });
  }

  it('a body that declares its length past the limit is read only to the limit', async () => {
    const h = await startHarness({ config: { retry: { retries: 0 } } });
    h.upstream.enqueue({ kind: 'huge-json', wire: 'openai', bytes: BODY, declareLength: true });
    const result = await h.callTool('chat', { prompt: 'everything', model: 'gpt-4o-mini', fallback_models: [] });
    expect(structured(result)).toMatchObject({ finish_reason: 'length' });
    await h.upstream.waitForClose(0);
    expect(h.upstream.requests[0]!.bytesWritten).toBeLessThan(BODY / 4);
  });

  it('an error body of tens of megabytes is bounded too, and its status still reported', async () => {
    const h = await startHarness({ config: { retry: { retries: 0 } } });
    h.upstream.enqueue({ kind: 'huge-json', wire: 'openai', bytes: BODY, status: 400 });
    const { value: result, heap } = await peakGrowth(() => h.callTool('chat', { prompt: 'x', model: 'gpt-4o-mini', fallback_models: [] }));
    expect(textOf(result)).toMatch(/\(400\)/);
    await h.upstream.waitForClose(0);
    expect(h.upstream.requests[0]!.bytesWritten).toBeLessThan(BODY / 4);
    expect(heap).toBeLessThan(BODY / 2);
    // Refused with an error status: nothing billed.
    expect(readRows(h.dbPath)).toMatchObject([{ status: 'error', cost_micro_usd: 0 }]);
  });

  it('after a body that is no JSON, a fallback model is still tried, and answers', async () => {
    const h = await startHarness();
    h.upstream.enqueue({ kind: 'huge-json', wire: 'openai', bytes: BODY, notJson: true }, { kind: 'anthropic', content: 'short and sound' });
    const result = await h.callTool('chat', { prompt: 'x', model: 'gpt-4o-mini', fallback_models: ['claude-haiku-4-5'] });
    expect(result.isError, textOf(result)).toBeFalsy();
    const out = structured(result);
    expect(out).toMatchObject({ content: 'short and sound', model: 'claude-haiku-4-5', cost_usd: null });
    expect(out.fallback_from).toEqual(['gpt-4o-mini (invalid-response, 1 attempt)']);
    expect(readRows(h.dbPath).map((row) => [row.model, row.cost_micro_usd === null])).toEqual([
      ['gpt-4o-mini', true],
      ['claude-haiku-4-5', false],
    ]);
  });

  it('under a budget, the worst-case hold of the cut answer (its usage never came) stays counted as spent', async () => {
    const h = await startHarness({ config: { budget: { dailyUsd: 10 }, retry: { retries: 0 } } });
    h.upstream.enqueue({ kind: 'huge-json', wire: 'openai', bytes: BODY });
    const result = await h.callTool('chat', { prompt: 'x', model: 'gpt-4o-mini', fallback_models: [], max_tokens: 1000 });
    expect(structured(result)).toMatchObject({ finish_reason: 'length', cost_usd: null });
    expect(heldMicro(h.dbPath)).toBeGreaterThan(0);
  });

  it('an answer between maxAnswerBytes and the body limit is still read, and cut at the cap', async () => {
    const h = await startHarness({ config: { maxAnswerBytes: 4096 } });
    const content = 'z'.repeat(bodyLimitOf(4096) - 4096);
    h.upstream.enqueue({ kind: 'openai', content });
    const out = structured(await h.callTool('chat', { prompt: 'x', model: 'gpt-4o-mini' }));
    expect(out).toMatchObject({ content: 'z'.repeat(4096), finish_reason: 'length' });
  });

  it('a streamed answer whose SSE body is many times the limit is not counted by it', async () => {
    const h = await startHarness({ config: { maxAnswerBytes: 1024 } });
    // 1,000 one-character deltas: 1,000 bytes of text, under the cap, in over 150 KB of SSE (the limit is 66 KB).
    h.upstream.enqueue({ kind: 'openai', chunks: Array.from({ length: 1000 }, () => 'w') });
    const result = await h.callTool('chat', { prompt: 'x', model: 'gpt-4o-mini' }, { onprogress: () => {} });
    expect(result.isError, textOf(result)).toBeFalsy();
    expect(structured(result)).toMatchObject({ content: 'w'.repeat(1000), finish_reason: 'stop' });
  });
});

describe('a streamed answer the cap must hold in other ways', () => {
  for (const [model, wire] of [['gpt-4o-mini', 'openai'], ['claude-haiku-4-5', 'anthropic']] as const) {
    it(`${wire}: one SSE line of 5 MB is refused at the limit, the stream closed`, async () => {
      const h = await startHarness({ config: { retry: { retries: 0 } } });
      h.upstream.enqueue({ kind: wire, chunks: ['ok ', 'y'.repeat(5_000_000)] });
      const result = await h.callTool('chat', { prompt: 'x', model, fallback_models: [] }, { onprogress: () => {} });
      expect(result.isError).toBe(true);
      expect(textOf(result)).toContain(`sent one line of a stream larger than ${LIMIT} bytes`);
      // Anthropic's message_start reported the input tokens: those are billed and known.
      expect(readRows(h.dbPath)).toMatchObject([{ status: 'error', cost_micro_usd: wire === 'openai' ? null : expect.any(Number) }]);
      await stillAnswers(h);
    });

    it(`${wire}: tool-call arguments streamed past maxAnswerBytes end the answer there, with no tool call`, async () => {
      const h = await startHarness({ config: { maxAnswerBytes: 4096 } });
      // 2,000 argument pieces of 100 characters (200 KB) in events of their own, then the end.
      const piece = 'a'.repeat(100);
      const frames =
        wire === 'openai'
          ? [
              openaiChunk({ role: 'assistant', content: 'calling' }),
              openaiChunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"q":"' } }] }),
              ...Array.from({ length: 2000 }, () => openaiChunk({ tool_calls: [{ index: 0, function: { arguments: piece } }] })),
              openaiChunk({ tool_calls: [{ index: 0, function: { arguments: '"}' } }] }, 'tool_calls'),
              'data: [DONE]\n\n',
            ]
          : [
              anthropicEvent('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-fake', content: [], stop_reason: null, usage: { input_tokens: 11, output_tokens: 1 } } }),
              anthropicEvent('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
              anthropicEvent('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'calling' } }),
              anthropicEvent('content_block_stop', { index: 0 }),
              anthropicEvent('content_block_start', { index: 1, content_block: { type: 'tool_use', id: 'toolu_1', name: 'lookup', input: {} } }),
              ...Array.from({ length: 2000 }, () => anthropicEvent('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: piece } })),
              anthropicEvent('content_block_stop', { index: 1 }),
              anthropicEvent('message_delta', { delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 9000 } }),
              anthropicEvent('message_stop', {}),
            ];
      h.upstream.enqueue({ kind: wire, rawEvents: frames, chunkDelayMs: 0 });
      const tools = [{ name: 'lookup', description: 'looks up', parameters: { type: 'object', properties: { q: { type: 'string' } } } }];
      const result = await h.callTool('chat', { prompt: 'x', model, tools }, { onprogress: () => {} });
      expect(result.isError, textOf(result)).toBeFalsy();
      const out = structured(result);
      expect(out).toMatchObject({ content: 'calling', tool_calls: [], finish_reason: 'length' });
      expect(out.notes.join(' ')).toContain('the answer was cut at 4096 bytes (maxAnswerBytes)');
    });
  }
});

function openaiChunk(delta: Record<string, unknown>, finish: string | null = null): string {
  const chunk = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'gpt-fake', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] };
  return `data: ${JSON.stringify(chunk)}\n\n`;
}

function anthropicEvent(type: string, data: Record<string, unknown>): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
}
