/**
 * Faults in the middle of a stream. Before any text reached the host a failure is retried like
 * any other (the retry is announced as a progress notice); once text was relayed it is final
 * (a retry would repeat that text) and the error carries the partial text.
 */
import Database from 'better-sqlite3';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import type { ConfigFile } from '../../src/config.js';
import { harnessPerTest, progressDelta, resultText, type Harness } from '../support/harness.js';
import type { ReplySpec } from '../support/upstream.js';

interface Notice {
  progress: number;
  message: string;
  /** `_meta.delta`: answer text; absent on announcements. */
  delta?: string;
}

const startHarness = harnessPerTest();

async function harness(config?: ConfigFile) {
  const h = await startHarness({ config });
  return { h, clientErrors: h.clientErrors };
}

const ANNOUNCEMENT = /; retrying \S+ in [\d.]+ s \(attempt \d+ of \d+\)$/;

async function callStreamed(h: Harness, args: Record<string, unknown>) {
  const notices: Notice[] = [];
  const started = Date.now();
  const result: CallToolResult = await h.callTool('chat', args, {
    onprogress: (p) => void notices.push({ progress: p.progress, message: p.message ?? '', delta: progressDelta(p) }),
  });
  const elapsedMs = Date.now() - started;
  let previous = 0;
  for (const n of notices) {
    expect(n.message.length).toBeGreaterThan(0);
    expect(n.progress).toBeGreaterThan(previous);
    previous = n.progress;
  }
  const text = notices.map((n) => n.delta ?? '').join('');
  const announcements = notices.filter((n) => n.delta === undefined).map((n) => n.message);
  for (const line of announcements) expect(line).toMatch(ANNOUNCEMENT);
  return { result, notices, text, announcements, elapsedMs, structured: result.structuredContent as Record<string, any> | undefined };
}

function ledgerRows(h: Harness): Array<Record<string, any>> {
  const db = new Database(h.dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT * FROM calls ORDER BY id').all() as Array<Record<string, any>>;
  } finally {
    db.close();
  }
}

/** No further request arrives after a final failure. */
async function expectRequests(h: Harness, n: number): Promise<void> {
  await sleep(80);
  expect(h.upstream.requests).toHaveLength(n);
}

describe.each(['openai', 'anthropic'] as const)('%s wire: faults mid-stream', (wire) => {
  const model = wire === 'openai' ? 'gpt-4o-mini' : 'claude-haiku-4-5';
  const reply = (r: Record<string, unknown>) => ({ kind: wire, ...r }) as ReplySpec;

  it('a stream cut before any text is retried, announced, and the second attempt succeeds', async () => {
    const { h, clientErrors } = await harness();
    h.upstream.enqueue(reply({ chunks: ['lost'], cutAfterChunks: 0 }), reply({ chunks: ['Second ', 'try'] }));
    const run = await callStreamed(h, { prompt: 'x', model });
    expect(run.result.isError, resultText(run.result)).toBeFalsy();
    expect(run.structured).toMatchObject({ content: 'Second try', attempts: 2 });
    expect(run.text).toBe('Second try');
    expect(run.announcements).toHaveLength(1);
    expect(run.announcements[0]).toMatch(new RegExp(`retrying ${model} in .* \\(attempt 2 of 3\\)$`));
    // The announcement comes first: no text of the broken attempt was relayed.
    expect(ANNOUNCEMENT.test(run.notices[0]!.message)).toBe(true);
    expect(h.upstream.requests.map((r) => r.body.stream)).toEqual([true, true]);
    expect(ledgerRows(h)).toMatchObject([{ status: 'ok', attempts: 2 }]);
    expect(clientErrors).toEqual([]);
  });

  it('a stream cut after 3 chunks is not retried: isError with the partial text, saying it was interrupted', async () => {
    const { h, clientErrors } = await harness();
    h.upstream.enqueue(reply({ chunks: ['one ', 'two ', 'three ', 'four ', 'five'], cutAfterChunks: 3, chunkDelayMs: 5 }), reply({ chunks: ['never'] }));
    const run = await callStreamed(h, { prompt: 'x', model });
    expect(run.result.isError).toBe(true);
    const text = resultText(run.result);
    expect(text).toMatch(/interrupted/);
    expect(text).toMatch(/not retried/);
    expect(text).toContain('one two three ');
    expect(text).not.toContain('four');
    expect(run.text).toBe('one two three ');
    expect(run.announcements).toEqual([]);
    await expectRequests(h, 1);
    const [row] = ledgerRows(h);
    expect(row).toMatchObject({ status: 'error', attempts: 1, finish_reason: null });
    if (wire === 'anthropic') {
      // message_start had arrived: its input tokens are recorded and costed.
      expect(row).toMatchObject({ prompt_tokens: 11 });
      expect(row!.cost_micro_usd).toBeGreaterThan(0);
    }
    expect(clientErrors).toEqual([]);
  });

  it('the interrupted-stream error counts characters as progress does (code points, emoji included)', async () => {
    const { h } = await harness();
    h.upstream.enqueue(reply({ chunks: ['😀 ', '\uD83D', '\uDC4D', ' 中文', 'gone'], cutAfterChunks: 4 }));
    const run = await callStreamed(h, { prompt: 'x', model });
    expect(run.result.isError).toBe(true);
    expect(run.text).toBe('😀 👍 中文');
    const relayedChars = [...run.text].length;
    expect(run.notices.at(-1)!.progress).toBe(relayedChars);
    expect(resultText(run.result)).toContain(`interrupted after ${relayedChars} characters had been relayed`);
    expect(resultText(run.result)).toMatch(/Partial text:\n😀 👍 中文$/);
  });

  it('malformed SSE data before any text: a clear error, not retried', async () => {
    const { h } = await harness();
    const bad = wire === 'openai' ? 'data: {"id":"chatcmpl-x","choices":[{"delta":\n\n' : 'event: message_start\ndata: {"type":"message_start","message":{\n\n';
    h.upstream.enqueue(reply({ rawEvents: [bad] }), reply({ chunks: ['never'] }));
    const run = await callStreamed(h, { prompt: 'x', model });
    expect(run.result.isError).toBe(true);
    expect(resultText(run.result)).toMatch(new RegExp(`${wire} sent data that is not valid JSON`));
    expect(run.notices).toEqual([]);
    await expectRequests(h, 1);
    expect(ledgerRows(h)).toMatchObject([{ status: 'error' }]);
  });

  it('malformed SSE data after text: a clear error with the partial text', async () => {
    const { h } = await harness();
    const frames =
      wire === 'openai'
        ? [
            'data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello "},"finish_reason":null}]}\n\n',
            'data: {"id":"c","choices":[{"index":0,"delta":{"content":"wor\n\n',
          ]
        : [
            'event: message_start\ndata: {"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"c","content":[],"stop_reason":null,"usage":{"input_tokens":5,"output_tokens":1}}}\n\n',
            'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n',
            'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello "}}\n\n',
            'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_d\n\n',
          ];
    h.upstream.enqueue(reply({ rawEvents: frames }), reply({ chunks: ['never'] }));
    const run = await callStreamed(h, { prompt: 'x', model });
    expect(run.result.isError).toBe(true);
    const text = resultText(run.result);
    expect(text).toMatch(/not valid JSON/);
    expect(text).toMatch(/interrupted/);
    expect(text).toContain('Hello ');
    expect(run.text).toBe('Hello ');
    await expectRequests(h, 1);
  });

  const streamError =
    wire === 'openai'
      ? { type: 'server_error', message: 'The server had an error while processing your request' }
      : { type: 'overloaded_error', message: 'Overloaded' };

  it(`an in-stream error event (${streamError.type}) before any text is retried`, async () => {
    const { h } = await harness();
    h.upstream.enqueue(reply({ chunks: ['never'], errorAfterChunks: { ...streamError, after: 0 } }), reply({ chunks: ['Recovered ', 'answer'] }));
    const run = await callStreamed(h, { prompt: 'x', model });
    expect(run.result.isError, resultText(run.result)).toBeFalsy();
    expect(run.structured).toMatchObject({ content: 'Recovered answer', attempts: 2 });
    expect(run.announcements).toHaveLength(1);
    expect(run.announcements[0]).toContain(streamError.type);
    expect(run.text).toBe('Recovered answer');
  });

  it(`an in-stream error event (${streamError.type}) after text: isError naming it, with the partial text`, async () => {
    const { h } = await harness();
    h.upstream.enqueue(reply({ chunks: ['Partial ', 'answer ', 'lost'], errorAfterChunks: { ...streamError, after: 2 } }), reply({ chunks: ['never'] }));
    const run = await callStreamed(h, { prompt: 'x', model });
    expect(run.result.isError).toBe(true);
    const text = resultText(run.result);
    expect(text).toContain(streamError.type);
    expect(text).toContain(streamError.message);
    expect(text).toMatch(/interrupted/);
    expect(text).toContain('Partial answer ');
    expect(run.text).toBe('Partial answer ');
    await expectRequests(h, 1);
    expect(ledgerRows(h)).toMatchObject([{ status: 'error', attempts: 1 }]);
  });

  it('a stream that goes silent for timeoutMs after text ends with a timeout error', async () => {
    const { h } = await harness({ timeoutMs: 300 });
    h.upstream.enqueue(reply({ chunks: ['Slow ', 'then ', 'silent'], stallAfterChunks: 2 }), reply({ chunks: ['never'] }));
    const run = await callStreamed(h, { prompt: 'x', model });
    expect(run.result.isError).toBe(true);
    const text = resultText(run.result);
    expect(text).toMatch(new RegExp(`${wire} timed out: no answer for 0\\.3 s \\(timeoutMs\\)`));
    expect(text).toContain('Slow then ');
    expect(run.text).toBe('Slow then ');
    expect(run.elapsedMs).toBeGreaterThanOrEqual(290);
    expect(run.elapsedMs).toBeLessThan(2000);
    // The silent connection was closed by us.
    await h.upstream.waitForClose(0, 1000);
    expect(h.upstream.requests[0]!.closedBy).toBe('client');
    await expectRequests(h, 1);
    expect(ledgerRows(h)).toMatchObject([{ status: 'error' }]);
  });

  it('a stream that goes silent before any text times out and is retried', async () => {
    const { h } = await harness({ timeoutMs: 300 });
    h.upstream.enqueue(reply({ chunks: ['never'], stallAfterChunks: 0 }), reply({ chunks: ['Fresh ', 'answer'] }));
    const run = await callStreamed(h, { prompt: 'x', model });
    expect(run.result.isError, resultText(run.result)).toBeFalsy();
    expect(run.structured).toMatchObject({ content: 'Fresh answer', attempts: 2 });
    expect(run.announcements[0]).toMatch(/timed out/);
    expect(run.text).toBe('Fresh answer');
  });

  it('a stream that ends without its final event is an error, not a success', async () => {
    const { h } = await harness();
    if (wire === 'anthropic') {
      h.upstream.enqueue(reply({ chunks: ['Almost ', 'done'], omitMessageStop: true }), reply({ chunks: ['never'] }));
    } else {
      const frame = (content: string) => `data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"${content}"},"finish_reason":null}]}\n\n`;
      h.upstream.enqueue(reply({ rawEvents: [frame('Almost '), frame('done'), 'data: [DONE]\n\n'] }), reply({ chunks: ['never'] }));
    }
    const run = await callStreamed(h, { prompt: 'x', model });
    expect(run.result.isError).toBe(true);
    const text = resultText(run.result);
    expect(text).toMatch(new RegExp(`${wire} ended the stream before ${wire === 'openai' ? 'its finish_reason' : 'message_stop'}`));
    expect(text).toMatch(/interrupted/);
    expect(text).toContain('Almost done');
    expect(run.text).toBe('Almost done');
    await expectRequests(h, 1);
    expect(ledgerRows(h)).toMatchObject([{ status: 'error', finish_reason: null }]);
  });
});

describe('anthropic wire: a non-retryable in-stream error', () => {
  it('invalid_request_error before any text is not retried', async () => {
    const { h } = await harness();
    h.upstream.enqueue(
      { kind: 'anthropic', chunks: ['never'], errorAfterChunks: { type: 'invalid_request_error', message: 'Bad thing', after: 0 } },
      { kind: 'anthropic', chunks: ['never'] },
    );
    const run = await callStreamed(h, { prompt: 'x', model: 'claude-haiku-4-5' });
    expect(run.result.isError).toBe(true);
    expect(resultText(run.result)).toMatch(/invalid_request_error/);
    expect(run.notices).toEqual([]);
    await expectRequests(h, 1);
  });
});
