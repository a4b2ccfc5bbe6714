/**
 * A minimal, fast loopback fake of OpenAI Chat Completions for the benchmarks (plain .mjs, no
 * build step). It answers every POST to .../chat/completions; behaviour is set on `upstream.mode`
 * between phases (the bench process owns it), or from argv when run as a child process:
 *
 *   node bench/upstream.mjs [delayMs]     prints {"url": ...} on stdout, then serves until killed
 *
 * mode.delayMs         wait before answering (time to first byte), default 0
 * mode.streamDeltas    deltas per streamed answer (request has stream: true), default 3
 * mode.streamGapMs     pause after the first delta before the rest, default 0
 * mode.deltaText       text of each delta, default 'ab'
 *
 * For streams it records `performance.now()` right after the first content delta was handed to
 * the socket (`firstDeltaAt`), so a client in the same process can time the relay.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

const USAGE = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 };

function completionBody(model) {
  return JSON.stringify({
    id: 'chatcmpl-bench',
    object: 'chat.completion',
    created: 1_700_000_000,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: 'pong', refusal: null }, logprobs: null, finish_reason: 'stop' }],
    usage: USAGE,
  });
}

const chunk = (model, delta, finish = null, usage) =>
  `data: ${JSON.stringify({
    id: 'chatcmpl-bench',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model,
    choices: usage ? [] : [{ index: 0, delta, finish_reason: finish }],
    ...(usage ? { usage } : {}),
  })}\n\n`;

/** Writes `frames` in batches, honouring back-pressure. */
async function writeAll(res, frameFor, count) {
  const BATCH = 256;
  for (let i = 0; i < count; ) {
    let text = '';
    const end = Math.min(count, i + BATCH);
    for (; i < end; i++) text += frameFor(i);
    if (res.destroyed) return;
    if (!res.write(text)) await new Promise((resolve) => res.once('drain', resolve));
  }
}

export async function startUpstream(initial = {}) {
  const mode = { delayMs: 0, streamDeltas: 3, streamGapMs: 0, deltaText: 'ab', ...initial };
  const state = { mode, requests: 0, firstDeltaAt: [], streamDoneAt: [] };
  const bodies = new Map();

  const answer = async (req, res, body) => {
    const model = body.model ?? 'gpt-4o-mini';
    if (mode.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, mode.delayMs));
    if (body.stream !== true) {
      let text = bodies.get(model);
      if (text === undefined) bodies.set(model, (text = completionBody(model)));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-request-id': 'req_bench' });
      res.end(text);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-request-id': 'req_bench' });
    const deltas = mode.streamDeltas;
    const frame = chunk(model, { content: mode.deltaText });
    // Preamble and the first content delta go out together, then the clock is read.
    res.write(chunk(model, { role: 'assistant', content: '' }) + frame);
    state.firstDeltaAt.push(performance.now());
    if (mode.streamGapMs > 0) await new Promise((resolve) => setTimeout(resolve, mode.streamGapMs));
    await writeAll(res, () => frame, deltas - 1);
    const usage = body.stream_options?.include_usage ? chunk(model, null, null, USAGE) : '';
    res.end(chunk(model, {}, 'stop') + usage + 'data: [DONE]\n\n');
    state.streamDoneAt.push(performance.now());
  };

  const server = http.createServer((req, res) => {
    const pieces = [];
    req.on('data', (piece) => pieces.push(piece));
    req.on('end', () => {
      state.requests++;
      let body;
      try {
        body = JSON.parse(Buffer.concat(pieces).toString('utf8') || '{}');
      } catch {
        body = {};
      }
      if (!req.url?.endsWith('/chat/completions')) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"not found","type":"invalid_request_error"}}');
        return;
      }
      answer(req, res, body).catch(() => res.destroy());
    });
  });
  server.keepAliveTimeout = 60_000;
  server.maxRequestsPerSocket = 0;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    // A deep accept queue: 1,000 clients connecting at once must not overflow Node's default
    // backlog of 511 (overflowing SYNs are retried by the kernel only after a second).
    server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve);
  });
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    baseURL: `${url}/v1`,
    mode,
    state,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// As a child process: `node bench/upstream.mjs [delayMs]`.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const upstream = await startUpstream({ delayMs: Number(process.argv[2] ?? 0) });
  process.stdout.write(`${JSON.stringify({ url: upstream.url, baseURL: upstream.baseURL })}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => void upstream.close().then(() => process.exit(0)));
}
