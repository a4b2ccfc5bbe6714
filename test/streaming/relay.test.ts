/**
 * How streamed text reaches the MCP client as `notifications/progress`: the first delta at once,
 * then at most one notice per progressIntervalMs, `progress` strictly increasing, nothing lost
 * (Unicode included, whatever the upstream split), everything before the result, nothing after.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigFile } from '../../src/config.js';
import { answerTail } from '../../src/llm/answer-tail.js';
import { harnessPerTest, progressDelta, resultText, type Harness } from '../support/harness.js';
import { startStallMeter } from '../support/load-slack.js';

interface Notice {
  progress: number;
  message: string;
  /** `_meta.delta`: the exact text since the previous notice. */
  delta: string;
  /** performance.now() at arrival. */
  at: number;
  /** Date.now() at arrival, comparable with the upstream's timestamps. */
  wallAt: number;
}

interface Run {
  result: CallToolResult;
  notices: Notice[];
  startedAt: number;
  resultAt: number;
}

const startHarness = harnessPerTest();
const rawServers: RawSse[] = [];
afterEach(async () => {
  for (const s of rawServers.splice(0)) await s.close();
});

async function harness(options: { config?: ConfigFile; env?: Record<string, string> } = {}) {
  const h = await startHarness(options);
  return { h, clientErrors: h.clientErrors };
}

async function callStreamed(h: Harness, args: Record<string, unknown>): Promise<Run> {
  const notices: Notice[] = [];
  const startedAt = performance.now();
  const result = await h.callTool('chat', args, {
    onprogress: (p) =>
      void notices.push({ progress: p.progress, message: p.message ?? '', delta: progressDelta(p) ?? '', at: performance.now(), wallAt: Date.now() }),
  });
  return { result, notices, startedAt, resultAt: performance.now() };
}

const isHigh = (c: number) => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number) => c >= 0xdc00 && c <= 0xdfff;

/**
 * The relay contract as the client sees it. `paced` notices (all but the last, which may be the
 * flush just before the result) are at least `minGapMs` apart.
 */
function checkRelay(run: Run, content: string, minGapMs = 45): void {
  const { notices } = run;
  expect(run.result.isError, resultText(run.result)).toBeFalsy();
  expect((run.result.structuredContent as { content: string }).content).toBe(content);
  expect(notices.length).toBeGreaterThan(0);
  // _meta.delta rebuilds the answer exactly; message is the line a person sees.
  expect(notices.map((n) => n.delta).join('')).toBe(content);
  let previous = 0;
  let soFar = '';
  for (const n of notices) {
    expect(n.delta.length).toBeGreaterThan(0);
    soFar += n.delta;
    expect(n.message).toBe(answerTail(soFar) || '…');
    expect([...n.message].length).toBeLessThanOrEqual(200);
    expect(n.message).not.toMatch(/\n/);
    expect(n.progress).toBeGreaterThan(previous);
    previous = n.progress;
    // A surrogate pair is never torn across two notices.
    expect(isHigh(n.delta.charCodeAt(n.delta.length - 1))).toBe(false);
    expect(isLow(n.delta.charCodeAt(0))).toBe(false);
    expect(n.at).toBeLessThanOrEqual(run.resultAt);
  }
  // progress counts code points relayed.
  expect(notices.at(-1)!.progress).toBe([...content].length);
  for (let i = 1; i < notices.length - 1; i++) {
    expect(notices[i]!.at - notices[i - 1]!.at, `gap before notice ${i} of ${notices.length}`).toBeGreaterThanOrEqual(minGapMs);
  }
}

/** After the result: no late notice, no client error, nothing logged at error level. */
async function checkNothingAfter(run: Run, h: Harness, clientErrors: Error[]): Promise<void> {
  const count = run.notices.length;
  await sleep(150);
  expect(run.notices.length).toBe(count);
  expect(clientErrors).toEqual([]);
  expect(h.logLines.filter((line) => /error|unknown token/i.test(line))).toEqual([]);
}

// Text whose characters span 1–4 UTF-8 bytes and 1–2 UTF-16 units, emoji with modifiers included.
const UNICODE_TEXT_CHUNKS = ['Hi ', '\uD83D', '\uDE00', ' caf', 'é ', '👍', '🏽', ' 中', '文', ' 𝄞', ' 👩‍👩‍👧', ' end.'];

describe.each(['openai', 'anthropic'] as const)('%s wire: relay', (wire) => {
  const model = wire === 'openai' ? 'gpt-4o-mini' : 'claude-haiku-4-5';

  it('sends the first delta at once, then coalesces to one notice per ~50 ms; emoji split at the surrogate level arrive whole', async () => {
    const { h, clientErrors } = await harness();
    const chunks = [...UNICODE_TEXT_CHUNKS, ...UNICODE_TEXT_CHUNKS, ...UNICODE_TEXT_CHUNKS];
    const content = chunks.join('');
    h.upstream.enqueue({ kind: wire, chunks, chunkDelayMs: 12 });
    const meter = startStallMeter();
    const run = await callStreamed(h, { prompt: 'unicode please', model });
    const stalled = meter.stalledMs;
    meter.stop();
    checkRelay(run, content);
    // The first delta went out alone and at once, not held for the interval.
    expect(run.notices[0]!.delta).toBe('Hi ');
    expect(run.notices[0]!.message).toBe('Hi');
    // The upstream writes the first delta 12 ms (OpenAI) or 36 ms (Anthropic: message_start,
    // content_block_start and ping come first) after it read the request; the 60 ms allowance
    // gets the time this process was held up during the call on top (load-slack.ts), so a
    // loaded machine's scheduling is not taken for a slow first notice. (One held back for the
    // interval is caught anyway: the first delta would not be 'Hi ' alone.)
    expect(run.notices[0]!.wallAt - h.upstream.requests[0]!.receivedAt).toBeLessThan(36 + 60 + stalled);
    // 36 deltas 12 ms apart (~430 ms) coalesced into about one notice per 50 ms: counted against
    // the span the notices actually took (a loaded machine stretches it), not a fixed number.
    const spanMs = run.notices.at(-1)!.at - run.notices[0]!.at;
    expect(run.notices.length).toBeGreaterThanOrEqual(5);
    expect(run.notices.length).toBeLessThanOrEqual(Math.ceil(spanMs / 45) + 2);
    expect(run.notices.length).toBeLessThan(36);
    await checkNothingAfter(run, h, clientErrors);
  });

  it('honours progressIntervalMs from the config', async () => {
    const { h, clientErrors } = await harness({ config: { progressIntervalMs: 120 } });
    const chunks = Array.from({ length: 40 }, (_, i) => `w${i} `);
    h.upstream.enqueue({ kind: wire, chunks, chunkDelayMs: 10 });
    const run = await callStreamed(h, { prompt: 'x', model });
    checkRelay(run, chunks.join(''), 115);
    expect(run.notices.length).toBeGreaterThanOrEqual(3);
    await checkNothingAfter(run, h, clientErrors);
  });

  it('flushes the text still pending when the stream ends, before the result', async () => {
    const { h, clientErrors } = await harness();
    // Everything arrives within a few ms: the first delta at once, the rest in the final flush.
    const chunks = ['first', ' second', ' third', ' fourth'];
    h.upstream.enqueue({ kind: wire, chunks });
    const run = await callStreamed(h, { prompt: 'x', model });
    checkRelay(run, chunks.join(''));
    expect(run.notices[0]!.delta).toBe('first');
    expect(run.notices.length).toBeLessThanOrEqual(2);
    await checkNothingAfter(run, h, clientErrors);
  });

  it('5,000 tiny deltas as fast as the upstream can send: spaced >= ~45 ms, none lost', async () => {
    const { h, clientErrors } = await harness();
    const alphabet = ['a', 'b', ' ', 'é', '中', '\uD83D', '\uDE00', '\n'];
    const chunks = Array.from({ length: 5000 }, (_, i) => alphabet[i % alphabet.length]!);
    h.upstream.enqueue({ kind: wire, chunks, chunkDelayMs: 0 });
    const run = await callStreamed(h, { prompt: 'x', model });
    checkRelay(run, chunks.join(''));
    expect(run.notices.length).toBeLessThan(5000 / 10);
    await checkNothingAfter(run, h, clientErrors);
  });

  it('5,000 tiny deltas in bursts (raw upstream): spaced >= ~45 ms, none lost', async () => {
    const alphabet = ['x', 'y', ' ', 'ü', '字', '😀', '\n'];
    const chunks = Array.from({ length: 5000 }, (_, i) => alphabet[i % alphabet.length]!);
    // 25 bursts of 200 frames, one burst every 20 ms (~500 ms in all).
    const frames = wire === 'openai' ? openAIFrames(chunks) : anthropicFrames(chunks);
    const raw = await startRawSse(() => burst(frames, 25, 20));
    const { h, clientErrors } = await harness({ env: baseUrlEnv(wire, raw.url) });
    const run = await callStreamed(h, { prompt: 'x', model });
    checkRelay(run, chunks.join(''));
    const spanMs = run.notices.at(-1)!.at - run.notices[0]!.at;
    expect(spanMs).toBeGreaterThan(300);
    // About one notice per 50 ms over the stream, not one per burst or per delta.
    expect(run.notices.length).toBeLessThanOrEqual(Math.ceil(spanMs / 45) + 2);
    expect(run.notices.length).toBeGreaterThanOrEqual(5);
    await checkNothingAfter(run, h, clientErrors);
  });

  it('characters cut at the byte level across network writes arrive whole', async () => {
    const chunks = ['Emoji 😀', ' and 👍🏽', ' 中文 ', 'é 𝄞!'];
    const frames = wire === 'openai' ? openAIFrames(chunks) : anthropicFrames(chunks);
    // Cut every multi-byte character in the middle, each piece its own write 15 ms apart.
    const raw = await startRawSse(() => cutInsideCharacters(Buffer.from(frames.join(''), 'utf8'), 15));
    const { h, clientErrors } = await harness({ env: baseUrlEnv(wire, raw.url) });
    const run = await callStreamed(h, { prompt: 'x', model });
    checkRelay(run, chunks.join(''));
    expect(raw.requests[0]!.stream).toBe(true);
    // Usage arrived too: the cost is known and not zero.
    expect((run.result.structuredContent as { cost_usd: number | null }).cost_usd).toBeGreaterThan(0);
    await checkNothingAfter(run, h, clientErrors);
  });
});

describe('no token stream without a token', () => {
  it.each(['openai', 'anthropic'] as const)('%s: a call without onprogress sends a non-streaming request', async (wire) => {
    const { h, clientErrors } = await harness();
    h.upstream.enqueue({ kind: wire, chunks: ['plain ', 'answer'] });
    const result = await h.callTool('chat', { prompt: 'x', model: wire === 'openai' ? 'gpt-4o-mini' : 'claude-haiku-4-5' });
    expect(result.isError).toBeFalsy();
    expect((result.structuredContent as { content: string }).content).toBe('plain answer');
    const body = h.upstream.requests[0]!.body;
    expect(body.stream).not.toBe(true);
    expect(body.stream_options).toBeUndefined();
    expect(clientErrors).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// A raw SSE upstream: full control over how the bytes are cut and paced on the wire.

interface Piece {
  data: Buffer;
  waitMs: number;
}

interface RawSse {
  url: string;
  requests: any[];
  close(): Promise<void>;
}

async function startRawSse(script: () => Piece[]): Promise<RawSse> {
  const requests: any[] = [];
  const server = http.createServer(async (req, res) => {
    const parts: Buffer[] = [];
    for await (const part of req) parts.push(part as Buffer);
    requests.push(JSON.parse(Buffer.concat(parts).toString('utf8')));
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    res.flushHeaders();
    for (const piece of script()) {
      if (piece.waitMs > 0) await sleep(piece.waitMs);
      if (res.destroyed) return;
      res.write(piece.data);
    }
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const raw: RawSse = {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  rawServers.push(raw);
  return raw;
}

function baseUrlEnv(wire: 'openai' | 'anthropic', url: string): Record<string, string> {
  return wire === 'openai' ? { OPENAI_BASE_URL: `${url}/v1` } : { ANTHROPIC_BASE_URL: url };
}

function openAIFrames(chunks: string[]): string[] {
  const frame = (choices: unknown[], extra: object = {}) =>
    `data: ${JSON.stringify({ id: 'chatcmpl-raw', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini-raw', choices, usage: null, ...extra })}\n\n`;
  return [
    frame([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]),
    ...chunks.map((c) => frame([{ index: 0, delta: { content: c }, finish_reason: null }])),
    frame([{ index: 0, delta: {}, finish_reason: 'stop' }]),
    frame([], { usage: { prompt_tokens: 12, completion_tokens: 34, total_tokens: 46 } }),
    'data: [DONE]\n\n',
  ];
}

function anthropicFrames(chunks: string[]): string[] {
  const event = (type: string, data: object) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  return [
    event('message_start', {
      message: { id: 'msg_raw', type: 'message', role: 'assistant', model: 'claude-raw', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 12, output_tokens: 1 } },
    }),
    event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    event('ping', {}),
    ...chunks.map((c) => event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: c } })),
    event('content_block_stop', { index: 0 }),
    event('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 34 } }),
    event('message_stop', {}),
  ];
}

/** The frames in `bursts` writes, `gapMs` apart. */
function burst(frames: string[], bursts: number, gapMs: number): Piece[] {
  const pieces: Piece[] = [];
  const size = Math.ceil(frames.length / bursts);
  for (let i = 0; i < frames.length; i += size) {
    pieces.push({ data: Buffer.from(frames.slice(i, i + size).join(''), 'utf8'), waitMs: i === 0 ? 0 : gapMs });
  }
  return pieces;
}

/** Splits `bytes` inside every multi-byte UTF-8 sequence. */
function cutInsideCharacters(bytes: Buffer, gapMs: number): Piece[] {
  const pieces: Piece[] = [];
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    // A lead byte of a 2–4 byte sequence: cut right after it.
    if (b >= 0xc0) {
      pieces.push({ data: bytes.subarray(start, i + 1), waitMs: pieces.length === 0 ? 0 : gapMs });
      start = i + 1;
    }
  }
  pieces.push({ data: bytes.subarray(start), waitMs: gapMs });
  return pieces;
}
