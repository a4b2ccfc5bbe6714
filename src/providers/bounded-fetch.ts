/**
 * The `fetch` the provider SDKs are given: it stops reading a response body past a byte limit.
 * Without it a non-streamed completion (which the SDKs read whole, then parse) of tens of
 * megabytes would be held in memory several times over before our answer cap could cut it.
 * A streamed answer is read event by event and cut at maxAnswerBytes by streamOnce, so the
 * successful body of a request marked streamed (streamedRequestOptions) is not counted whole
 * (its SSE framing, many times the text, would break long answers): only each line of it is,
 * since the SDKs' SSE readers hold a line until it ends, and one line of tens of megabytes
 * would be held whole just the same.
 */

import type { ChatResponse } from '../llm/types.js';
import { salvageCutBody, type CompletionWire } from './salvage-cut-body.js';
import { isPlainRequest, plainRequestUrl, sendOverNodeHttp, type NodeAnswer } from './node-http-send.js';

const STREAMED_REQUEST = Symbol('llm-service-mcp.streamed-request');

/**
 * Responses whose completion was cut at the limit and closed (salvageCutBody), with the limit:
 * the adapter reads it off the Response the SDK hands back (withResponse) to note the cut.
 */
const CUT_BODIES = new WeakMap<Response, number>();

/** `answer`, marked with the byte limit its completion's body was cut at, if it was (see boundedFetch). */
export function withBodyCut(answer: ChatResponse, response: Response): ChatResponse {
  const limit = CUT_BODIES.get(response);
  if (limit !== undefined) answer.bodyCutAtBytes = limit;
  return answer;
}

// JSON framing, ids, usage and the like of one completion: a few KiB in practice; 64 KiB is ample.
const FRAMING_BYTES = 64 * 1024;

/**
 * The most of one response body read: twice maxAnswerBytes plus the framing, because a body
 * carries the answer's text once, measured as we measure it (JSON bytes), and may carry as much
 * again beside it (reasoning text, tool-call arguments) that we do not return. An answer between
 * maxAnswerBytes and this is read and cut (capAnswer); past this reading stops (see boundedFetch).
 */
export function bodyLimitOf(maxAnswerBytes: number): number {
  return 2 * maxAnswerBytes + FRAMING_BYTES;
}

/** A response body ran past its limit: reading stopped there and the connection was closed. */
export class BodyTooLargeError extends Error {
  constructor(
    readonly limitBytes: number,
    readonly maxAnswerBytes: number,
    /** What ran past the limit: the whole body, or one line of a streamed one. */
    readonly part: 'body' | 'line',
  ) {
    super(`${part === 'body' ? 'the response body' : 'one line of the response stream'} ran past ${limitBytes} bytes (2 × maxAnswerBytes + 64 KiB)`);
    this.name = 'BodyTooLargeError';
  }
}

/**
 * Per-request fetch options (the SDKs' `fetchOptions`) marking a streamed request: its 2xx
 * body is not counted. An error body is counted all the same: the SDKs read it whole as text.
 * Both SDKs copy these options, symbol keys included, into the init their fetch receives.
 */
export function streamedRequestOptions(): Omit<RequestInit, 'signal' | 'headers' | 'body' | 'method'> {
  return { [STREAMED_REQUEST]: true } as RequestInit;
}

const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/**
 * A fetch (the global one, looked up per call) whose response bodies stop at
 * `bodyLimitOf(maxAnswerBytes)`. With a `wire`, a successful non-streamed completion past the
 * limit is not an error: what arrived is closed into the completion of what fits, cut (see
 * salvageCutBody), and the response marked (bodyCutAt); a body that cannot be (an HTML page) is.
 */
export function boundedFetch(maxAnswerBytes: number, wire?: CompletionWire): Fetch {
  const limit = bodyLimitOf(maxAnswerBytes);
  const tooLarge = (part: 'body' | 'line') => () => new BodyTooLargeError(limit, maxAnswerBytes, part);
  const bound = (response: Response, streamed: boolean, signal: AbortSignal | null | undefined): Response => {
    // A null-body status (204, 304) cannot be given a body again.
    if (response.body === null || NULL_BODY_STATUSES.has(response.status)) return response;
    const part = streamed && response.ok ? 'line' : 'body';
    if (part === 'body' && declaresFittingBody(response.headers, limit)) return response;
    if (wire !== undefined && part === 'body' && response.ok) return salvagingBody(response, limit, wire, tooLarge(part), signal);
    return limitBody(response, limit, part, tooLarge(part), signal);
  };
  return async (input, init) => {
    const streamed = (init as Record<symbol, unknown> | undefined)?.[STREAMED_REQUEST] === true;
    // A non-streamed plain request (the SDKs' JSON) goes over node:http, read whole (see
    // node-http-send.ts); a streamed one is read as it arrives, by the global fetch.
    const url = streamed ? undefined : plainRequestUrl(input, init);
    if (url !== undefined) {
      const answer = await sendOverNodeHttp(url, init!, limit, (status, headers) => !refusedUnread(status, headers, limit, wire));
      // A redirect (providers do not send them) is sent again the way fetch follows it.
      if (answer.redirect) return bound(await globalThis.fetch(input, init), false, init?.signal);
      return bufferedResponse(answer, limit, wire, tooLarge('body'));
    }
    return bound(await fetchWithoutRedirectCopy(input, init), streamed, init?.signal);
  };
}

/**
 * Whether a body is refused before a byte of it is read, as limitBody refuses it: it says it is
 * too large, and is no successful completion that salvageCutBody could make something of.
 */
function refusedUnread(status: number, headers: Headers, limit: number, wire: CompletionWire | undefined): boolean {
  if (wire !== undefined && status >= 200 && status < 300) return false;
  return Number(headers.get('content-length') ?? Number.NaN) > limit;
}

/**
 * The Response the global fetch would have handed on, after boundedFetch's cut, built from a
 * body read whole by node-http-send.ts: the body itself; past the limit, the salvaged completion
 * (marked in CUT_BODIES) of a successful answer or else a body ending in `tooLarge()`, as
 * salvagingBody and limitBody end; after a broken read, a body ending in that failure, as
 * fetch's body ends when its connection breaks or its signal aborts.
 */
function bufferedResponse(answer: Extract<NodeAnswer, { redirect: false }>, limit: number, wire: CompletionWire | undefined, tooLarge: () => Error): Response {
  const { status, statusText, headers } = answer;
  const ok = status >= 200 && status < 300;
  let body: ConstructorParameters<typeof Response>[0] = answer.body;
  let cut = false;
  if (body !== null && wire !== undefined && ok && !declaresFittingBody(answer.headers, limit)) {
    // As salvagingBody: the body handed on is not the one the length was declared for.
    headers.delete('content-length');
  }
  if (answer.failure !== undefined) {
    body = failingBody(answer.failure);
  } else if (answer.over) {
    const salvaged = wire !== undefined && ok ? salvageCutBody(answer.body!, wire) : undefined;
    if (salvaged === undefined) body = failingBody(tooLarge());
    else {
      body = salvaged;
      cut = true;
    }
  }
  const response = new Response(body, { status, statusText, headers });
  // The SDKs log and report the response's URL; a constructed Response has none of its own.
  Object.defineProperty(response, 'url', { value: answer.url });
  if (cut) CUT_BODIES.set(response, limit);
  return response;
}

/** A body whose first read fails with `error`. */
function failingBody(error: unknown): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.error(error);
    },
  });
}

/**
 * The global fetch, without the copy of every request it makes to be able to follow a redirect:
 * unless a request is sent with `redirect: 'error'` (and no window), fetch clones it, teeing its
 * body into two new streams, on every call (the WHATWG fetch steps, as undici implements them),
 * which cost the gateway more CPU per call than its own request handling (BENCHMARKS.md, http).
 * Provider APIs do not redirect; should one, fetch refuses the redirect and the request is sent
 * again as before, following it, so the outcome is the same (at one more round trip, and the
 * refused 3xx answer, like a followed one, is no completion and bills nothing). Only a body that
 * can be sent twice (the SDKs' JSON text) takes this path.
 */
function fetchWithoutRedirectCopy(input: string | URL | Request, init: RequestInit | undefined): Promise<Response> {
  if (!isPlainRequest(input, init)) return globalThis.fetch(input, init);
  return globalThis.fetch(input, { ...init, redirect: 'error', window: null }).catch((error: unknown) => {
    if (!isRefusedRedirect(error)) throw error;
    return globalThis.fetch(input, init);
  });
}

/** fetch's failure for a 3xx answer to a request sent with `redirect: 'error'`. */
function isRefusedRedirect(error: unknown): boolean {
  return error instanceof TypeError && error.cause instanceof Error && error.cause.message === 'unexpected redirect';
}

/**
 * Whether the body is bounded by its own headers: an uncompressed body with a Content-Length
 * within the limit. fetch reads exactly that many bytes (HTTP/1.1 framing: more is a protocol
 * error, fewer a premature close), so counting them again would only cost time on every call,
 * the common case. A compressed body is counted all the same: its length says nothing of what
 * it inflates to.
 */
function declaresFittingBody(headers: Headers, limit: number): boolean {
  const encoding = headers.get('content-encoding');
  if (encoding !== null && encoding.trim().toLowerCase() !== 'identity') return false;
  const length = headers.get('content-length');
  if (length === null || !/^\d{1,15}$/.test(length.trim())) return false;
  return Number(length) <= limit;
}

/**
 * The same response, its body ending in `tooLarge()` once more than `limit` bytes were read:
 * in all (`body`), or since the last line break (`line`; a chunk's inner lines are shorter than
 * the chunk, so the bound is the limit plus one chunk).
 */
function limitBody(response: Response, limit: number, part: 'body' | 'line', tooLarge: () => Error, signal: AbortSignal | null | undefined): Response {
  const reader = response.body!.getReader();
  let unlink = (): void => undefined;
  // A body that says up front it is too large is refused before a byte of it is read.
  const declared = part === 'body' ? Number(response.headers.get('content-length') ?? Number.NaN) : Number.NaN;
  let read = 0;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      unlink = endOnAbort(signal, reader, controller);
    },
    async pull(controller) {
      if (!(declared > limit)) {
        const { done, value } = await reader.read();
        if (done) return (unlink(), controller.close());
        read = part === 'body' ? read + value.byteLength : bytesSinceLineBreak(read, value);
        if (read <= limit) return controller.enqueue(value);
      }
      // Cancelling the source closes the connection: the rest is never downloaded.
      const error = tooLarge();
      unlink();
      await reader.cancel(error).catch(() => undefined);
      controller.error(error);
    },
    cancel(reason) {
      unlink();
      return reader.cancel(reason);
    },
  });
  const limited = new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  // The SDKs log and report the response's URL; a constructed Response has none of its own.
  Object.defineProperty(limited, 'url', { value: response.url });
  return limited;
}

/**
 * The same response, its body read up to `limit` bytes before it is handed on (the SDK reads it
 * whole anyway): past the limit, reading stops, the connection is closed and the body becomes
 * the salvaged completion of what arrived, or ends in `tooLarge()` when none can be made.
 */
function salvagingBody(response: Response, limit: number, wire: CompletionWire, tooLarge: () => Error, signal: AbortSignal | null | undefined): Response {
  const reader = response.body!.getReader();
  let unlink = (): void => undefined;
  const headers = new Headers(response.headers);
  // The body handed on is not the one the length was declared for.
  headers.delete('content-length');
  const limited = new Response(
    new ReadableStream<Uint8Array>({
      start(controller) {
        unlink = endOnAbort(signal, reader, controller);
      },
      async pull(controller) {
        const chunks: Uint8Array[] = [];
        let read = 0;
        for (;;) {
          const { done, value } = await reader.read();
          if (done) {
            unlink();
            for (const chunk of chunks) controller.enqueue(chunk);
            return controller.close();
          }
          if (read + value.byteLength <= limit) {
            chunks.push(value);
            read += value.byteLength;
            continue;
          }
          chunks.push(value.subarray(0, limit - read));
          // Cancelling the source closes the connection: the rest is never downloaded.
          const error = tooLarge();
          unlink();
          await reader.cancel(error).catch(() => undefined);
          const prefix = Buffer.concat(chunks);
          chunks.length = 0; // one copy of the prefix at a time
          const salvaged = salvageCutBody(prefix, wire);
          if (salvaged === undefined) return controller.error(error);
          CUT_BODIES.set(limited, limit);
          controller.enqueue(new TextEncoder().encode(salvaged));
          return controller.close();
        }
      },
      cancel(reason) {
        unlink();
        return reader.cancel(reason);
      },
    }),
    { status: response.status, statusText: response.statusText, headers },
  );
  Object.defineProperty(limited, 'url', { value: response.url });
  return limited;
}

/**
 * Ends the body we hand on when the request's signal aborts, by cancelling the fetched body under
 * it (which closes the connection); returns the function that stops listening. fetch is meant to
 * do this itself, but with its body wrapped in ours it did not once the process had collected
 * garbage: the abort no longer reached the connection, and a stream that only sent keep-alives
 * ran on past timeoutMs, the call's deadline and a cancellation alike, with either SDK
 * (test/providers/bounded-fetch.test.ts).
 */
function endOnAbort(signal: AbortSignal | null | undefined, reader: ReadableStreamDefaultReader<Uint8Array>, controller: ReadableStreamDefaultController<Uint8Array>): () => void {
  if (!signal) return () => undefined;
  const abort = (): void => {
    try {
      controller.error(signal.reason);
    } catch {
      // Already closed or errored: nothing left to end.
    }
    reader.cancel(signal.reason).catch(() => undefined);
  };
  if (signal.aborted) {
    abort();
    return () => undefined;
  }
  signal.addEventListener('abort', abort, { once: true });
  return () => signal.removeEventListener('abort', abort);
}

/** Bytes since the last line break (LF or CR, as SSE allows both) after `chunk`, `before` of them before it. */
function bytesSinceLineBreak(before: number, chunk: Uint8Array): number {
  const last = Math.max(chunk.lastIndexOf(0x0a), chunk.lastIndexOf(0x0d));
  return last === -1 ? before + chunk.byteLength : chunk.byteLength - 1 - last;
}
