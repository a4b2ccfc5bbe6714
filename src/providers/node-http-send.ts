/**
 * One plain request (a string body or none) sent with node:http / node:https and its answer read
 * whole into a buffer: the transport of bounded-fetch.ts for non-streamed SDK calls. The global
 * fetch (undici) builds Request, Headers and ReadableStream objects for every request and body,
 * which cost the gateway more CPU per call than anything else left; a buffer read off the socket
 * costs a fraction of that. What the SDKs observe stays fetch's: bounded-fetch.ts builds a real
 * Response from what this returns, errors are shaped as fetch shapes them (see fetchFailed), the
 * body is decoded as fetch decodes it, and a redirect is left to the global fetch.
 */

import http from 'node:http';
import https from 'node:https';
import zlib from 'node:zlib';
import type { Readable } from 'node:stream';

/**
 * One keep-alive pool per protocol for the process, as fetch has one. Idle sockets close after
 * 4 s, undici's default keep-alive timeout, before servers' usual 5 s, so a request is rarely sent
 * down a socket the server is closing. No cap on sockets per origin, as fetch has none: calls are
 * long (minutes of reasoning) and a gateway runs many at once, and a call queued behind a cap
 * would spend its timeout waiting for a socket. (The 4 s timeout ends idle sockets only: one
 * waiting for a slow answer is left alone.)
 */
const AGENT_OPTIONS = { keepAlive: true, maxFreeSockets: 32, timeout: 4_000, noDelay: true };
const httpAgent = new http.Agent(AGENT_OPTIONS);
const httpsAgent = new https.Agent(AGENT_OPTIONS);

/** The statuses fetch follows (and, sent with redirect 'error', refuses): left to the global fetch. */
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

export type NodeAnswer =
  | { redirect: true }
  | {
      redirect: false;
      status: number;
      statusText: string;
      headers: Headers;
      /** The answer's URL as fetch reports it (no fragment). */
      url: string;
      /** The decoded body, null for a null-body status or a HEAD request. */
      body: Buffer | null;
      /** True when the body ran past the limit: `body` is then its first `limit` bytes (or empty, if not read). */
      over: boolean;
      /** A failure after the headers arrived (the body's read broke, or was aborted): the body ends in it. */
      failure?: unknown;
    };

/**
 * Whether `input`/`init` is the plain request the SDKs make: an init (the SDKs always give one;
 * without one the global fetch is called as it is), a URL rather than a Request object, a string
 * body or none (so it can be sent twice), and no redirect mode or window of its own. Both of
 * boundedFetch's shortcuts take only these: this transport, and fetch without its redirect copy.
 */
export function isPlainRequest(input: string | URL | Request, init: RequestInit | undefined): init is RequestInit {
  if (init === undefined || input instanceof Request) return false;
  if (!(init.body === undefined || init.body === null || typeof init.body === 'string')) return false;
  return init.redirect === undefined && !('window' in init);
}

/**
 * Whether `input`/`init` is a request this transport sends exactly as fetch would: a plain request
 * (isPlainRequest) to a URL over http(s) without credentials, and no undici dispatcher.
 */
export function plainRequestUrl(input: string | URL | Request, init: RequestInit | undefined): URL | undefined {
  if (!isPlainRequest(input, init) || 'dispatcher' in init) return undefined;
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    return undefined;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username !== '' || url.password !== '') return undefined;
  return url;
}

/**
 * Sends the request and reads the answer: decoded, and no more than `limit` bytes of it (then the
 * request is destroyed, so the rest is never downloaded), or none when `readBody` says no.
 * Rejects as fetch does before the answer's headers: with the signal's reason when aborted, with
 * `TypeError('fetch failed')` whose cause is the socket error otherwise.
 */
export function sendOverNodeHttp(
  url: URL,
  init: RequestInit,
  limit: number,
  readBody: (status: number, headers: Headers) => boolean,
): Promise<NodeAnswer> {
  const signal = init.signal ?? undefined;
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  return new Promise<NodeAnswer>((resolve, reject) => {
    const https_ = url.protocol === 'https:';
    const body = typeof init.body === 'string' ? Buffer.from(init.body) : undefined;
    // fetch upper-cases the standard methods (not PATCH), whatever case they come in.
    const method = normalizedMethod(init.method ?? 'GET');
    const headers = requestHeaders(init.headers, https_, body, method);
    let settled = false;
    let onAbort: (() => void) | undefined;
    const done = (): void => {
      settled = true;
      if (onAbort) signal!.removeEventListener('abort', onAbort);
    };
    const request = (https_ ? https : http).request(url, { method, headers, agent: https_ ? httpsAgent : httpAgent });
    // Before the headers: fetch rejects. After them it has resolved, and its body breaks: the
    // answer carries the failure, and bounded-fetch.ts makes it the body's error.
    let answered: ((failure: unknown) => void) | undefined;
    const fail = (error: unknown, aborted: boolean): void => {
      if (settled) return;
      if (answered) return answered(aborted ? error : new TypeError('terminated', { cause: error }));
      done();
      request.destroy();
      reject(aborted ? error : new TypeError('fetch failed', { cause: error }));
    };
    if (signal) {
      onAbort = () => {
        const reason = abortReason(signal);
        // Destroying first would report the abort as a socket error.
        fail(reason, true);
        request.destroy();
      };
      signal.addEventListener('abort', onAbort, { once: true });
    }
    request.on('error', (error) => fail(error, false));
    request.on('response', (response) => {
      const status = response.statusCode ?? 0;
      const answerHeaders = new Headers();
      const raw = response.rawHeaders;
      for (let i = 0; i + 1 < raw.length; i += 2) answerHeaders.append(raw[i]!, raw[i + 1]!);
      if (REDIRECT_STATUSES.has(status)) {
        done();
        request.destroy();
        return resolve({ redirect: true });
      }
      const base = { redirect: false as const, status, statusText: response.statusMessage ?? '', headers: answerHeaders, url: responseUrl(url) };
      if (NULL_BODY_STATUSES.has(status) || method === 'HEAD') {
        response.resume();
        response.on('end', done);
        done();
        return resolve({ ...base, body: null, over: false });
      }
      if (!readBody(status, answerHeaders)) {
        done();
        request.destroy();
        return resolve({ ...base, body: Buffer.alloc(0), over: true });
      }
      const chunks: Buffer[] = [];
      let read = 0;
      answered = (failure) => {
        done();
        request.destroy();
        resolve({ ...base, body: Buffer.concat(chunks), over: false, failure });
      };
      const decoded = decode(response, answerHeaders.get('content-encoding'), (error) => fail(error, false));
      decoded.on('data', (chunk: Buffer) => {
        if (settled) return;
        if (read + chunk.byteLength <= limit) {
          chunks.push(chunk);
          read += chunk.byteLength;
          return;
        }
        chunks.push(chunk.subarray(0, limit - read));
        done();
        // The rest is never downloaded: the socket is closed, not returned to the pool.
        request.destroy();
        decoded.destroy();
        resolve({ ...base, body: Buffer.concat(chunks), over: true });
      });
      decoded.on('end', () => {
        if (settled) return;
        done();
        resolve({ ...base, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), over: false });
      });
      // A connection closed before the body's end (Node reports it as 'aborted' on the response).
      response.on('error', (error) => fail(error, false));
      response.on('aborted', () => fail(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }), false));
    });
    request.end(body);
  });
}

const STANDARD_METHODS = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT']);

function normalizedMethod(method: string): string {
  const upper = method.toUpperCase();
  return STANDARD_METHODS.has(upper) ? upper : method;
}

/** fetch's rejection for an aborted signal: its reason, or an AbortError when it gave none. */
function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted.', 'AbortError');
}

/**
 * The request headers fetch would send: the caller's, plus what fetch adds when they are absent
 * (accept, accept-language, sec-fetch-mode, user-agent, accept-encoding as undici offers it:
 * br only over https, a string body's content-type) and the body's content-length.
 */
function requestHeaders(given: RequestInit['headers'], https_: boolean, body: Buffer | undefined, method: string): Record<string, string> {
  const headers: Record<string, string> = {};
  if (given instanceof Headers) {
    given.forEach((value, name) => {
      headers[name] = value;
    });
  } else if (Array.isArray(given)) {
    for (const [name, value] of given) {
      const key = name!.toLowerCase();
      headers[key] = key in headers ? `${headers[key]}, ${value}` : value!;
    }
  } else if (given !== undefined) {
    for (const [name, value] of Object.entries(given as Record<string, string>)) headers[name.toLowerCase()] = value;
  }
  if (body !== undefined) {
    headers['content-length'] = String(body.byteLength);
    headers['content-type'] ??= 'text/plain;charset=UTF-8';
  } else if (method === 'POST' || method === 'PUT') {
    headers['content-length'] = '0';
  }
  headers['accept'] ??= '*/*';
  headers['accept-language'] ??= '*';
  headers['sec-fetch-mode'] ??= 'cors';
  headers['user-agent'] ??= 'node';
  headers['accept-encoding'] ??= https_ ? 'br, gzip, deflate' : 'gzip, deflate';
  return headers;
}

/** The URL fetch reports for an answer: the request's, without its fragment. */
function responseUrl(url: URL): string {
  const href = url.href;
  const hash = href.indexOf('#');
  return hash === -1 ? href : href.slice(0, hash);
}

/**
 * The body decoded as fetch decodes it: each content coding undone, last applied first; with a
 * coding it does not know, the body is left as it came. Flushing leniently, as fetch does, so a
 * body cut short yields what it decoded.
 */
function decode(body: Readable, encoding: string | null, onError: (error: unknown) => void): Readable {
  if (encoding === null) return body;
  const codings = encoding.toLowerCase().split(',').map((coding) => coding.trim()).filter((coding) => coding !== '' && coding !== 'identity');
  const decoders: Readable[] = [];
  for (const coding of codings.reverse()) {
    if (coding === 'gzip' || coding === 'x-gzip') decoders.push(zlib.createGunzip({ flush: zlib.constants.Z_SYNC_FLUSH, finishFlush: zlib.constants.Z_SYNC_FLUSH }));
    else if (coding === 'deflate') decoders.push(zlib.createInflate({ flush: zlib.constants.Z_SYNC_FLUSH, finishFlush: zlib.constants.Z_SYNC_FLUSH }));
    else if (coding === 'br') decoders.push(zlib.createBrotliDecompress({ flush: zlib.constants.BROTLI_OPERATION_FLUSH, finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH }));
    else return body;
  }
  let stream: Readable = body;
  for (const decoder of decoders) {
    decoder.on('error', onError);
    stream = stream.pipe(decoder as unknown as NodeJS.WritableStream) as unknown as Readable;
  }
  return stream;
}
