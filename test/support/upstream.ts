/**
 * A scripted loopback fake of the OpenAI Chat Completions and Anthropic Messages HTTP APIs,
 * faithful enough to the wire formats that the real `openai` and `@anthropic-ai/sdk` clients
 * accept it. Tests enqueue one `Reply` per expected request and inspect `requests` afterwards.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the fake received, recorded whatever the reply was. */
export interface RecordedRequest {
  method: string;
  /** Path including any query string, e.g. `/v1/chat/completions`. */
  path: string;
  /** Lower-cased request headers (as Node delivers them). */
  headers: Record<string, string | string[] | undefined>;
  /** The parsed JSON body, or the raw text when it was not JSON (undefined when empty). */
  body: any;
  /** `Date.now()` when the request body had been read. */
  receivedAt: number;
  /** `Date.now()` when the response/connection closed; undefined while still open. */
  closedAt?: number;
  /** Who ended it: we finished the response, the client went away first, or we destroyed the socket. */
  closedBy?: 'complete' | 'client' | 'server';
  /** Body bytes a `huge-json` reply handed to the socket before it finished or the client left. */
  bytesWritten?: number;
}

/** Options every answering reply accepts. */
export interface ReplyCommon {
  /** Extra response headers (e.g. `retry-after`, `x-request-id`). */
  headers?: Record<string, string>;
  /** Wait this long before sending the status line (time-to-first-byte). */
  delayMs?: number;
}

/** Knobs shared by both SSE encodings. A "chunk" is one content delta frame. */
export interface StreamKnobs {
  /** Pause between consecutive SSE frames. */
  chunkDelayMs?: number;
  /** Destroy the socket after this many content deltas (0 = right after the preamble). */
  cutAfterChunks?: number;
  /** Stop writing after this many content deltas but keep the connection open (silent stall). */
  stallAfterChunks?: number;
  /** Write these strings verbatim instead of the generated frames (include your own `\n\n`). */
  rawEvents?: string[];
  /**
   * After `after` content deltas, stop answering but keep the connection busy with keep-alives
   * every `everyMs` until the client goes away (at most 100,000 of them): `comment` is an SSE
   * comment (`: keep-alive`), `empty` an empty-delta chunk (OpenAI) or a `ping` event (Anthropic).
   */
  keepAlive?: { after: number; everyMs: number; frame: 'comment' | 'empty' };
}

export interface OpenAIToolCallSpec { id?: string; name: string; arguments: string | object }
export interface OpenAIUsageSpec {
  prompt_tokens?: number;
  completion_tokens?: number;
  cached_tokens?: number;
  reasoning_tokens?: number;
  /** Merged into the wire `usage` object verbatim, e.g. DeepSeek's `prompt_cache_hit_tokens`. */
  extra?: Record<string, unknown>;
}
/** What the assistant "says" on the OpenAI wire. Text is `chunks.join('')` or `content`. */
export interface OpenAIAnswer extends ReplyCommon {
  /** Whole text; `null` for an explicit null content. Default: the auto echo text unless tool calls. */
  content?: string | null;
  /** Text deltas for streaming (also joined for JSON); default: `content` split at word ends. */
  chunks?: string[];
  toolCalls?: OpenAIToolCallSpec[];
  /** Default `tool_calls` when tool calls are present, else `stop`. */
  finishReason?: string;
  /** Default: echo the request's `model`. */
  model?: string;
  usage?: OpenAIUsageSpec;
  /** Send no `usage` at all (a server that ignores stream_options, or a bare proxy). */
  omitUsage?: boolean;
}
export interface OpenAIStreamKnobs extends StreamKnobs {
  /** Leave out the final `data: [DONE]`. */
  omitDone?: boolean;
  /** Send `data: {"error":{...}}` after `after` deltas (default: all of them) and end the response. */
  errorAfterChunks?: { message: string; type?: string; code?: string | null; after?: number };
  /**
   * Usage reporting; default follows the request's `stream_options.include_usage`.
   * `true`/`false` force it; `'with-finish'` puts `usage` on the finish_reason chunk (DeepSeek style).
   */
  includeUsage?: boolean | 'with-finish';
}

export interface AnthropicToolUseSpec { id?: string; name: string; input: object }
export interface AnthropicUsageSpec {
  input_tokens?: number;
  output_tokens?: number;
  cache_read_input_tokens?: number;
  cache_creation_input_tokens?: number;
  /** The split of cache writes by lifetime; sent wherever the input usage goes (message_start too). */
  cache_creation?: { ephemeral_5m_input_tokens: number; ephemeral_1h_input_tokens: number };
  extra?: Record<string, unknown>;
}
/** What the assistant "says" on the Anthropic wire. Text is `chunks.join('')` or `content`. */
export interface AnthropicAnswer extends ReplyCommon {
  content?: string;
  chunks?: string[];
  toolUses?: AnthropicToolUseSpec[];
  /** Default `tool_use` when tool uses are present, else `end_turn`. */
  stopReason?: string;
  stopSequence?: string | null;
  model?: string;
  usage?: AnthropicUsageSpec;
  /** Send no `usage` at all, in the JSON body or in message_start / message_delta. */
  omitUsage?: boolean;
}
export interface AnthropicStreamKnobs extends StreamKnobs {
  /** Send `event: error` (e.g. overloaded_error) after `after` deltas (default: all) and end the response. */
  errorAfterChunks?: { type: string; message: string; after?: number };
  omitMessageStop?: boolean;
  /** Also repeat input/cache token totals in `message_delta.usage` (newer API behaviour). */
  fullDeltaUsage?: boolean;
}

/** One scripted answer. `openai` / `anthropic` serve JSON or SSE according to the request's `stream` flag. */
export type Reply =
  | ({ kind: 'openai' } & OpenAIAnswer & OpenAIStreamKnobs)
  | ({ kind: 'openai-json' } & OpenAIAnswer)
  | ({ kind: 'openai-stream' } & OpenAIAnswer & OpenAIStreamKnobs)
  | ({ kind: 'anthropic' } & AnthropicAnswer & AnthropicStreamKnobs)
  | ({ kind: 'anthropic-json' } & AnthropicAnswer)
  | ({ kind: 'anthropic-stream' } & AnthropicAnswer & AnthropicStreamKnobs)
  | ({
      kind: 'error';
      status: number;
      /** Full body; a string is sent verbatim. Default: the wire's error envelope. */
      body?: unknown;
      message?: string;
      type?: string;
      code?: string | null;
      /** Envelope shape; default by path (`/messages` -> anthropic, otherwise openai). */
      wire?: 'openai' | 'anthropic';
    } & ReplyCommon)
  | ({ kind: 'raw'; status?: number; body?: string } & ReplyCommon)
  /**
   * A 200 that is not a completion, as proxies and wrong base URLs produce: an HTML page, JSON
   * without choices (OpenAI) / content (Anthropic), or an SSE response with no events at all.
   */
  | ({ kind: 'not-a-completion'; shape: 'html' | 'json-without-choices' | 'empty-sse' } & ReplyCommon)
  /**
   * A non-streamed completion of the wire whose text is `bytes` bytes of "x", written in pieces
   * as fast as the client takes them (never held whole); `bytesWritten` on the request counts
   * what went out. `declareLength` sends a content-length header instead of chunked encoding;
   * `status` answers it as an error body instead (default 200).
   */
  /** `notJson`: the same size of HTML page instead (a proxy's page), which no repair makes a completion. */
  | { kind: 'huge-json'; wire: 'openai' | 'anthropic'; bytes: number; declareLength?: boolean; status?: number; notJson?: boolean }
  | { kind: 'hang' }
  | { kind: 'reset'; delayMs?: number }
  | { kind: 'auto' };

/** A reply, or a function choosing one from the recorded request. */
export type ReplySpec = Reply | ((req: RecordedRequest) => Reply);

/** Handle on a running fake upstream. */
export interface Upstream {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `url + '/v1'`, for `new OpenAI({ baseURL })`. */
  openaiBaseURL: string;
  /** `url`, for `new Anthropic({ baseURL })`. */
  anthropicBaseURL: string;
  requests: RecordedRequest[];
  /** Queue replies, consumed one per request in arrival order; when empty the default is used. */
  enqueue(...replies: ReplySpec[]): void;
  /** Reply used when the queue is empty (initially `{ kind: 'auto' }`). */
  setDefault(reply: ReplySpec): void;
  /** `Date.now()` at which request #i's response/connection closed, if it has. */
  closedAt(i: number): number | undefined;
  /** Resolves with request #i's close time once it closed. */
  waitForClose(i: number, timeoutMs?: number): Promise<number>;
  /** Resolves once at least n requests have been recorded. */
  waitForRequests(n: number, timeoutMs?: number): Promise<void>;
  /** Destroys all open connections and stops listening. */
  close(): Promise<void>;
}

type Res = http.ServerResponse;

const DEFAULT_OPENAI_USAGE = { prompt_tokens: 11, completion_tokens: 7, cached_tokens: 0, reasoning_tokens: 0 };
const DEFAULT_ANTHROPIC_USAGE = { input_tokens: 11, output_tokens: 7, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 };

const OPENAI_ERROR_TYPES: Record<number, [type: string, code: string | null, message: string]> = {
  400: ['invalid_request_error', null, 'Bad request'],
  401: ['invalid_request_error', 'invalid_api_key', 'Incorrect API key provided'],
  403: ['invalid_request_error', 'unsupported_country_region_territory', 'Forbidden'],
  404: ['invalid_request_error', 'model_not_found', 'The model does not exist'],
  429: ['requests', 'rate_limit_exceeded', 'Rate limit reached'],
};
const ANTHROPIC_ERROR_TYPES: Record<number, [type: string, message: string]> = {
  400: ['invalid_request_error', 'Bad request'],
  401: ['authentication_error', 'invalid x-api-key'],
  402: ['billing_error', 'Billing error'],
  403: ['permission_error', 'Forbidden'],
  404: ['not_found_error', 'Not found'],
  413: ['request_too_large', 'Request exceeds the maximum allowed number of bytes'],
  429: ['rate_limit_error', 'Rate limited'],
  500: ['api_error', 'Internal server error'],
  504: ['timeout_error', 'Request timed out'],
  529: ['overloaded_error', 'Overloaded'],
};

/** Split text into word-sized deltas ("Hello world" -> ["Hello ", "world"]). */
function splitWords(text: string): string[] {
  return text.match(/\s*\S+\s*/g) ?? (text ? [text] : []);
}

/** Split a string into about three pieces so JSON arguments arrive across several frames. */
function splitInThree(s: string): string[] {
  if (s.length < 2) return [s];
  const size = Math.ceil(s.length / 3);
  const out: string[] = [];
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size));
  return out;
}

/** Text of the last user message, for either wire's request body. */
function lastUserText(body: any): string {
  const messages: any[] = Array.isArray(body?.messages) ? body.messages : [];
  const last = [...messages].reverse().find((m) => m?.role === 'user');
  if (!last) return '';
  if (typeof last.content === 'string') return last.content;
  if (Array.isArray(last.content)) {
    return last.content.filter((p: any) => p?.type === 'text').map((p: any) => String(p.text)).join('');
  }
  return '';
}

/** Resolves after ms, or early when the response closes (so nothing lingers after close()). */
function sleep(ms: number | undefined, res: Res): Promise<void> {
  return new Promise((resolve) => {
    if (!ms || ms <= 0 || res.destroyed) return resolve();
    const done = () => (clearTimeout(timer), res.off('close', done), resolve());
    const timer = setTimeout(done, ms);
    res.once('close', done);
  });
}

/** Start a fake upstream on 127.0.0.1 with an ephemeral port. */
export async function startUpstream(): Promise<Upstream> {
  const requests: RecordedRequest[] = [];
  const queue: ReplySpec[] = [];
  let fallback: ReplySpec = { kind: 'auto' };
  let seq = 0;
  const waiters = new Set<{ check: () => boolean; fail: (e: Error) => void }>();
  const notify = () => {
    for (const w of waiters) if (w.check()) waiters.delete(w);
  };

  /** Poll-free wait: `check` is re-run whenever a request is recorded or closes. */
  function waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(w);
        reject(new Error(`upstream: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const w = {
        check: () => check() && (clearTimeout(timer), resolve(), true),
        fail: (e: Error) => (clearTimeout(timer), reject(e)),
      };
      waiters.add(w);
    });
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`upstream fake crashed: ${String(err)}`);
      } else {
        res.destroy();
      }
    });
  });

  async function handle(req: http.IncomingMessage, res: Res): Promise<void> {
    const rec: RecordedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', headers: { ...req.headers }, body: undefined, receivedAt: 0 };
    let serverDestroyed = false;
    res.on('close', () => {
      rec.closedAt = Date.now();
      rec.closedBy = res.writableFinished ? 'complete' : serverDestroyed ? 'server' : 'client';
      notify();
    });
    const destroy = (reset: boolean) => {
      serverDestroyed = true;
      const socket = req.socket;
      if (reset && typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
      else socket.destroy();
    };

    const pieces: Buffer[] = [];
    for await (const piece of req) pieces.push(piece as Buffer);
    const text = Buffer.concat(pieces).toString('utf8');
    try {
      rec.body = text ? JSON.parse(text) : undefined;
    } catch {
      rec.body = text;
    }
    rec.receivedAt = Date.now();
    requests.push(rec);
    const id = ++seq;
    const spec = queue.length > 0 ? queue.shift()! : fallback;
    notify();

    const reply = typeof spec === 'function' ? spec(rec) : spec;
    const pathname = rec.path.split('?')[0] ?? '';
    const anthropicPath = pathname.endsWith('/messages');
    const streamRequested = rec.body?.stream === true;

    switch (reply.kind) {
      case 'hang':
        return; // the 'close' listener records when the client gives up
      case 'reset':
        await sleep(reply.delayMs, res);
        return destroy(true);
      case 'raw':
        await sleep(reply.delayMs, res);
        res.writeHead(reply.status ?? 200, { 'content-type': 'text/plain', ...reply.headers });
        res.end(reply.body ?? '');
        return;
      case 'not-a-completion': {
        await sleep(reply.delayMs, res);
        const shapes = {
          html: ['text/html; charset=utf-8', '<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>'],
          'json-without-choices': ['application/json', JSON.stringify(anthropicPath ? { id: 'msg_x', type: 'message', role: 'assistant' } : { id: 'chatcmpl-x', object: 'chat.completion', created: 1 })],
          'empty-sse': ['text/event-stream', ''],
        } as const;
        const [contentType, body] = shapes[reply.shape];
        res.writeHead(200, { 'content-type': contentType, ...reply.headers });
        res.end(body);
        return;
      }
      case 'huge-json':
        return writeHugeJson(res, reply, rec);
      case 'error':
        await sleep(reply.delayMs, res);
        return sendError(res, reply, reply.wire ?? (anthropicPath ? 'anthropic' : 'openai'));
      case 'auto':
        if (anthropicPath) return answerAnthropic(res, {}, rec, id, streamRequested, destroy);
        if (pathname.endsWith('/chat/completions')) return answerOpenAI(res, {}, rec, id, streamRequested, destroy);
        return sendError(res, { status: 404, message: `Unknown path ${pathname}`, code: 'unknown_url' }, 'openai');
      case 'openai':
      case 'openai-json':
      case 'openai-stream': {
        const stream = reply.kind === 'openai' ? streamRequested : reply.kind === 'openai-stream';
        return answerOpenAI(res, reply, rec, id, stream, destroy);
      }
      case 'anthropic':
      case 'anthropic-json':
      case 'anthropic-stream': {
        const stream = reply.kind === 'anthropic' ? streamRequested : reply.kind === 'anthropic-stream';
        return answerAnthropic(res, reply, rec, id, stream, destroy);
      }
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    openaiBaseURL: `${url}/v1`,
    anthropicBaseURL: url,
    requests,
    enqueue: (...replies) => void queue.push(...replies),
    setDefault: (reply) => void (fallback = reply),
    closedAt: (i) => requests[i]?.closedAt,
    async waitForClose(i, timeoutMs = 5000) {
      await waitUntil(() => requests[i]?.closedAt !== undefined, timeoutMs, `request #${i} to close`);
      return requests[i]!.closedAt!;
    },
    waitForRequests: (n, timeoutMs = 5000) =>
      waitUntil(() => requests.length >= n, timeoutMs, `${n} request(s) (got ${requests.length})`),
    async close() {
      for (const w of waiters) w.fail(new Error('upstream closed'));
      waiters.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

type Destroy = (reset: boolean) => void;

// A piece of a huge body: 64 KiB, written again and again, so the fake holds no more than that.
const HUGE_PIECE = Buffer.alloc(64 * 1024, 'x');

/** Writes a huge non-streamed completion with backpressure, counting the bytes written (see `huge-json`). */
async function writeHugeJson(res: Res, r: Extract<Reply, { kind: 'huge-json' }>, rec: RecordedRequest): Promise<void> {
  const [head, tail] = r.notJson
    ? ['<!doctype html><html><body>', '</body></html>']
    : r.wire === 'openai'
      ? [
          `{"id":"chatcmpl-huge","object":"chat.completion","created":1,"model":"gpt-fake","choices":[{"index":0,"message":{"role":"assistant","content":"`,
          `","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}`,
        ]
      : [
          `{"id":"msg_huge","type":"message","role":"assistant","model":"claude-fake","content":[{"type":"text","text":"`,
          `"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":11,"output_tokens":7}}`,
        ];
  const length = head.length + r.bytes + tail.length;
  res.writeHead(r.status ?? 200, { 'content-type': 'application/json', ...(r.declareLength ? { 'content-length': String(length) } : {}) });
  rec.bytesWritten = 0;
  const write = async (piece: string | Buffer): Promise<boolean> => {
    if (res.destroyed) return false;
    rec.bytesWritten! += piece.length;
    if (!res.write(piece)) {
      await new Promise<void>((resolve) => {
        const done = () => (res.off('drain', done), res.off('close', done), resolve());
        res.once('drain', done);
        res.once('close', done);
      });
    }
    return !res.destroyed;
  };
  if (!(await write(head))) return;
  for (let left = r.bytes; left > 0; left -= HUGE_PIECE.length) {
    if (!(await write(left >= HUGE_PIECE.length ? HUGE_PIECE : HUGE_PIECE.subarray(0, left)))) return;
  }
  if (await write(tail)) res.end();
}

/** Send an error status with the wire's error envelope (or the given body). */
function sendError(
  res: Res,
  r: { status: number; body?: unknown; message?: string; type?: string; code?: string | null; headers?: Record<string, string> },
  wire: 'openai' | 'anthropic',
): void {
  let body = r.body;
  if (body === undefined && wire === 'anthropic') {
    const [type, message] = ANTHROPIC_ERROR_TYPES[r.status] ?? ['api_error', `Error ${r.status}`];
    body = { type: 'error', error: { type: r.type ?? type, message: r.message ?? message }, request_id: 'req_fake_error' };
  } else if (body === undefined) {
    const [type, code, message] = OPENAI_ERROR_TYPES[r.status] ?? ['server_error', null, `Error ${r.status}`];
    body = { error: { message: r.message ?? message, type: r.type ?? type, param: null, code: r.code !== undefined ? r.code : code } };
  }
  const isText = typeof body === 'string';
  res.writeHead(r.status, {
    'content-type': isText ? 'text/plain; charset=utf-8' : 'application/json',
    ...(wire === 'anthropic' ? { 'request-id': 'req_fake_error' } : { 'x-request-id': 'req_fake_error' }),
    ...r.headers,
  });
  res.end(isText ? body : JSON.stringify(body));
}

/** Writes SSE frames with the reply's pacing, cutting/stalling/erroring after the configured delta counts. */
class SseWriter {
  private deltas = 0;
  private frames = 0;
  /** Set once the writer must not write any more (closed, cut or stalled). */
  stopped = false;
  /** The wire's empty keep-alive frame (an empty-delta chunk, a ping event), for `keepAlive`. */
  emptyFrame = ': keep-alive\n\n';

  constructor(
    private res: Res,
    private knobs: StreamKnobs,
    private destroy: Destroy,
  ) {}

  /** Write one frame; `delta` marks a counted content delta. */
  async write(frame: string, delta = false): Promise<void> {
    if (this.stopped || this.res.destroyed) return void (this.stopped = true);
    if (this.frames++ > 0) await sleep(this.knobs.chunkDelayMs, this.res);
    if (this.res.destroyed) return void (this.stopped = true);
    this.res.write(frame);
    if (delta) this.deltas++;
    this.checkLimits();
  }

  /** Apply cut/stall limits; also called once after the preamble (limit 0). */
  checkLimits(): void {
    if (this.stopped) return;
    if (this.knobs.cutAfterChunks !== undefined && this.deltas >= this.knobs.cutAfterChunks) {
      this.stopped = true;
      // Let the frames already written reach the client before the connection drops.
      setTimeout(() => this.destroy(false), 20);
    } else if (this.knobs.stallAfterChunks !== undefined && this.deltas >= this.knobs.stallAfterChunks) {
      this.stopped = true;
    } else if (this.knobs.keepAlive !== undefined && this.deltas >= this.knobs.keepAlive.after) {
      this.stopped = true;
      void this.keepAlive(this.knobs.keepAlive);
    }
  }

  /** Keep-alives only, until the client closes (bounded in count). */
  private async keepAlive(knob: NonNullable<StreamKnobs['keepAlive']>): Promise<void> {
    const frame = knob.frame === 'comment' ? ': keep-alive\n\n' : this.emptyFrame;
    for (let i = 0; i < 100_000 && !this.res.destroyed; i++) {
      await sleep(knob.everyMs, this.res);
      if (this.res.destroyed) return;
      this.res.write(frame);
    }
  }

  /** Whether an in-stream error is due now (after `after` deltas). */
  errorDue(after: number | undefined): boolean {
    return after !== undefined && !this.stopped && this.deltas >= after;
  }

  end(): void {
    if (!this.stopped && !this.res.destroyed) this.res.end();
  }
}

/** Start an SSE response; returns null when the reply's rawEvents were written instead. */
async function startSse(res: Res, knobs: StreamKnobs & ReplyCommon, idHeader: Record<string, string>, destroy: Destroy) {
  await sleep(knobs.delayMs, res);
  if (res.destroyed) return null;
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...idHeader, ...knobs.headers });
  res.flushHeaders();
  const w = new SseWriter(res, knobs, destroy);
  if (!knobs.rawEvents) return w;
  for (const frame of knobs.rawEvents) await w.write(frame, true);
  w.end();
  return null;
}

async function answerOpenAI(
  res: Res,
  r: OpenAIAnswer & OpenAIStreamKnobs,
  rec: RecordedRequest,
  n: number,
  stream: boolean,
  destroy: Destroy,
): Promise<void> {
  const id = `chatcmpl-fake${n}`;
  const created = Math.floor(Date.now() / 1000);
  const model = r.model ?? rec.body?.model ?? 'gpt-fake';
  const toolCalls = (r.toolCalls ?? []).map((t, i) => ({
    id: t.id ?? `call_fake${n}_${i}`,
    name: t.name,
    args: typeof t.arguments === 'string' ? t.arguments : JSON.stringify(t.arguments),
  }));
  const autoText = `echo: ${lastUserText(rec.body)}`;
  const content: string | null =
    r.chunks ? r.chunks.join('') : r.content !== undefined ? r.content : toolCalls.length ? null : autoText;
  const finishReason = r.finishReason ?? (toolCalls.length ? 'tool_calls' : 'stop');
  const u = { ...DEFAULT_OPENAI_USAGE, ...r.usage };
  const usage = {
    prompt_tokens: u.prompt_tokens,
    completion_tokens: u.completion_tokens,
    total_tokens: u.prompt_tokens + u.completion_tokens,
    prompt_tokens_details: { cached_tokens: u.cached_tokens, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: u.reasoning_tokens, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
    ...r.usage?.extra,
  };
  const idHeader = { 'x-request-id': `req_fake${n}` };

  if (!stream) {
    await sleep(r.delayMs, res);
    if (res.destroyed) return;
    const message: Record<string, unknown> = { role: 'assistant', content, refusal: null, annotations: [] };
    if (toolCalls.length) {
      message.tool_calls = toolCalls.map((t) => ({ id: t.id, type: 'function', function: { name: t.name, arguments: t.args } }));
    }
    const body = {
      id, object: 'chat.completion', created, model,
      choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason }],
      ...(r.omitUsage ? {} : { usage }), service_tier: 'default', system_fingerprint: 'fp_fake',
    };
    res.writeHead(200, { 'content-type': 'application/json', ...idHeader, ...r.headers });
    res.end(JSON.stringify(body));
    return;
  }

  const w = await startSse(res, r, idHeader, destroy);
  if (!w) return;
  const includeUsage = r.omitUsage ? false : (r.includeUsage ?? rec.body?.stream_options?.include_usage === true);
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
    `data: ${JSON.stringify({
      id, object: 'chat.completion.chunk', created, model, service_tier: 'default', system_fingerprint: 'fp_fake', choices,
      ...(includeUsage === true ? { usage: null } : {}), ...extra,
    })}\n\n`;
  const delta = (d: Record<string, unknown>, finish: string | null = null) => [{ index: 0, delta: d, logprobs: null, finish_reason: finish }];
  w.emptyFrame = chunk(delta({}));
  const inStreamError = async () => {
    const e = r.errorAfterChunks!;
    await w.write(`data: ${JSON.stringify({ error: { message: e.message, type: e.type ?? 'server_error', param: null, code: e.code ?? null } })}\n\n`);
    w.end();
  };

  const textChunks = r.chunks ?? (content ? splitWords(content) : []);
  await w.write(chunk(delta({ role: 'assistant', content: textChunks.length ? '' : null, refusal: null })));
  w.checkLimits();
  const frames: string[] = textChunks.map((c) => chunk(delta({ content: c })));
  toolCalls.forEach((t, index) => {
    frames.push(chunk(delta({ tool_calls: [{ index, id: t.id, type: 'function', function: { name: t.name, arguments: '' } }] })));
    for (const piece of splitInThree(t.args)) frames.push(chunk(delta({ tool_calls: [{ index, function: { arguments: piece } }] })));
  });
  for (const f of frames) {
    if (w.errorDue(r.errorAfterChunks?.after)) return inStreamError();
    await w.write(f, true);
  }
  if (r.errorAfterChunks && !w.stopped) return inStreamError();
  await w.write(chunk(delta({}, finishReason), includeUsage === 'with-finish' ? { usage } : {}));
  if (includeUsage === true) await w.write(chunk([], { usage }));
  if (!r.omitDone) await w.write('data: [DONE]\n\n');
  w.end();
}

async function answerAnthropic(
  res: Res,
  r: AnthropicAnswer & AnthropicStreamKnobs,
  rec: RecordedRequest,
  n: number,
  stream: boolean,
  destroy: Destroy,
): Promise<void> {
  const id = `msg_fake${n}`;
  const model = r.model ?? rec.body?.model ?? 'claude-fake';
  const toolUses = (r.toolUses ?? []).map((t, i) => ({ id: t.id ?? `toolu_fake${n}_${i}`, name: t.name, input: t.input }));
  const text = r.chunks ? r.chunks.join('') : r.content ?? (toolUses.length ? '' : `echo: ${lastUserText(rec.body)}`);
  const stopReason = r.stopReason ?? (toolUses.length ? 'tool_use' : 'end_turn');
  const stopSequence = r.stopSequence ?? (stopReason === 'stop_sequence' ? (rec.body?.stop_sequences?.[0] ?? 'STOP') : null);
  const u = { ...DEFAULT_ANTHROPIC_USAGE, ...r.usage };
  const inputUsage = {
    input_tokens: u.input_tokens,
    cache_creation_input_tokens: u.cache_creation_input_tokens,
    cache_read_input_tokens: u.cache_read_input_tokens,
    ...(u.cache_creation ? { cache_creation: u.cache_creation } : {}),
  };
  const usage = { ...inputUsage, output_tokens: u.output_tokens, service_tier: 'standard', ...r.usage?.extra };
  const idHeader = { 'request-id': `req_fake${n}` };

  if (!stream) {
    await sleep(r.delayMs, res);
    if (res.destroyed) return;
    const content = [
      ...(text ? [{ type: 'text', text }] : []),
      ...toolUses.map((t) => ({ type: 'tool_use', id: t.id, name: t.name, input: t.input })),
    ];
    const body = { id, type: 'message', role: 'assistant', model, content, stop_reason: stopReason, stop_sequence: stopSequence, ...(r.omitUsage ? {} : { usage }) };
    res.writeHead(200, { 'content-type': 'application/json', ...idHeader, ...r.headers });
    res.end(JSON.stringify(body));
    return;
  }

  const w = await startSse(res, r, idHeader, destroy);
  if (!w) return;
  const event = (type: string, data: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  w.emptyFrame = event('ping', {});
  const inStreamError = async () => {
    const e = r.errorAfterChunks!;
    await w.write(event('error', { error: { type: e.type, message: e.message } }));
    w.end();
  };

  const startUsage = { ...inputUsage, output_tokens: Math.min(1, u.output_tokens), service_tier: 'standard' };
  await w.write(event('message_start', {
    message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, ...(r.omitUsage ? {} : { usage: startUsage }) },
  }));
  w.checkLimits();

  // Each block: a start frame, counted delta frames, a stop frame. The API sends a ping after the first start.
  const blocks: { start: object; deltas: object[] }[] = [];
  const textChunks = r.chunks ?? splitWords(text);
  if (textChunks.length) {
    blocks.push({ start: { type: 'text', text: '' }, deltas: textChunks.map((t) => ({ type: 'text_delta', text: t })) });
  }
  for (const t of toolUses) {
    const pieces = ['', ...splitInThree(JSON.stringify(t.input))];
    blocks.push({ start: { type: 'tool_use', id: t.id, name: t.name, input: {} }, deltas: pieces.map((p) => ({ type: 'input_json_delta', partial_json: p })) });
  }
  for (const [index, block] of blocks.entries()) {
    await w.write(event('content_block_start', { index, content_block: block.start }));
    if (index === 0) await w.write(event('ping', {}));
    for (const d of block.deltas) {
      if (w.errorDue(r.errorAfterChunks?.after)) return inStreamError();
      await w.write(event('content_block_delta', { index, delta: d }), true);
    }
    await w.write(event('content_block_stop', { index }));
  }
  if (r.errorAfterChunks && !w.stopped) return inStreamError();
  await w.write(event('message_delta', {
    delta: { stop_reason: stopReason, stop_sequence: stopSequence },
    ...(r.omitUsage ? {} : { usage: r.fullDeltaUsage ? { ...inputUsage, output_tokens: u.output_tokens } : { output_tokens: u.output_tokens } }),
  }));
  if (!r.omitMessageStop) await w.write(event('message_stop', {}));
  w.end();
}
