/**
 * The fetch the provider SDKs are given, over a real loopback socket: a body is read up to
 * 2 × maxAnswerBytes + 64 KiB and refused one byte past it; of a streamed request's 2xx body
 * only each line is counted, its error body whole; an abort still ends a wrapped body after a
 * garbage collection.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { gzipSync } from 'node:zlib';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BodyTooLargeError, bodyLimitOf, boundedFetch, streamedRequestOptions } from '../../src/providers/bounded-fetch.js';
import { startUpstream } from '../support/upstream.js';

const CAP = 1024;
const LIMIT = bodyLimitOf(CAP);
let server: http.Server;
let url = '';
// Each request the server got, as `METHOD path`.
const seen: string[] = [];

beforeAll(async () => {
  // GET /<status>/<bytes>[/<line>]: that many bytes of "x" under that status, chunked, with a
  // line break ending every <line> bytes when given.
  server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    // /redirect/<status>[/nowhere]: that redirect status, to /length/200/10 (or without a Location).
    const redirect = /^\/redirect\/(\d+)(\/nowhere)?$/.exec(req.url ?? '');
    if (redirect) {
      res.writeHead(Number(redirect[1]), redirect[2] ? {} : { location: '/length/200/10' });
      res.end();
      return;
    }
    // /length/<status>/<bytes>: the same with a Content-Length; /gzip/<status>/<bytes>: gzipped,
    // with the Content-Length of the compressed body.
    const framed = /^\/(length|gzip)\/(\d+)\/(\d+)$/.exec(req.url ?? '');
    if (framed) {
      const [, how, status, bytes] = framed;
      const text = Buffer.from('x'.repeat(Number(bytes)));
      const body = how === 'gzip' ? gzipSync(text) : text;
      res.writeHead(Number(status), { 'content-type': 'application/json', 'content-length': String(body.length), ...(how === 'gzip' ? { 'content-encoding': 'gzip' } : {}) });
      res.end(body);
      return;
    }
    const [, status, bytes, line] = (req.url ?? '').split('/');
    res.writeHead(Number(status), { 'content-type': 'application/json' });
    const text = 'x'.repeat(Number(bytes));
    res.end(line ? text.replace(new RegExp(`x{${Number(line) - 1}}x`, 'g'), (run) => `${run.slice(1)}\n`) : text);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const fetchText = async (path: string, init?: RequestInit) => (await boundedFetch(CAP)(`${url}${path}`, init)).text();

describe('boundedFetch', () => {
  it(`reads a body of exactly ${LIMIT} bytes, and refuses one of ${LIMIT + 1}`, async () => {
    expect(LIMIT).toBe(2 * CAP + 65_536);
    expect(await fetchText(`/200/${LIMIT}`)).toHaveLength(LIMIT);
    const refused = await fetchText(`/200/${LIMIT + 1}`).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(BodyTooLargeError);
    expect(refused).toMatchObject({ limitBytes: LIMIT, maxAnswerBytes: CAP });
  });

  it('counts only the lines of a streamed request\'s 2xx body, but all of its error body', async () => {
    expect(await fetchText(`/200/${LIMIT * 3}/1000`, streamedRequestOptions())).toHaveLength(LIMIT * 3);
    await expect(fetchText(`/200/${LIMIT * 3}`, streamedRequestOptions())).rejects.toMatchObject({ part: 'line', limitBytes: LIMIT });
    await expect(fetchText(`/500/${LIMIT * 3}/1000`, streamedRequestOptions())).rejects.toMatchObject({ part: 'body' });
    await expect(fetchText(`/200/${LIMIT * 3}/1000`)).rejects.toBeInstanceOf(BodyTooLargeError);
  });

  it('hands on a body whose Content-Length fits as it came (nothing to count), and refuses one that does not', async () => {
    const response = await boundedFetch(CAP)(`${url}/length/200/${LIMIT}`);
    // Not wrapped: the SDK reads fetch's own body stream.
    expect(response.constructor).toBe(Response);
    expect(Object.getOwnPropertyDescriptor(response, 'url')).toBeUndefined();
    expect(await response.text()).toHaveLength(LIMIT);
    await expect(fetchText(`/length/200/${LIMIT + 1}`)).rejects.toBeInstanceOf(BodyTooLargeError);
  });

  it('counts a compressed body as it inflates, whatever its Content-Length says', async () => {
    // 50 × the limit of "x" gzips to a few KiB: its declared length fits, what it inflates to does not.
    await expect(fetchText(`/gzip/200/${LIMIT * 50}`)).rejects.toBeInstanceOf(BodyTooLargeError);
    expect(await fetchText(`/gzip/200/${LIMIT}`)).toHaveLength(LIMIT);
  });

  it('sends a request once, and still follows a redirect (sending the request again first) as fetch does', async () => {
    seen.length = 0;
    const post = { method: 'POST', body: '{"model":"m"}', headers: { 'content-type': 'application/json' } };
    expect(await fetchText('/length/200/10', post)).toBe('x'.repeat(10));
    expect(seen).toEqual(['POST /length/200/10']);
    // No provider redirects its API, but should one: the answer is the one fetch gives when it
    // follows (307 keeps the POST and its body), after the request went out once more.
    seen.length = 0;
    const followed = await boundedFetch(CAP)(`${url}/redirect/307`, post);
    expect(followed.status).toBe(200);
    expect(await followed.text()).toBe('x'.repeat(10));
    expect(seen).toEqual(['POST /redirect/307', 'POST /redirect/307', 'POST /length/200/10']);
    // A 3xx without a Location is handed back as it came, as fetch does.
    const unfollowable = await boundedFetch(CAP)(`${url}/redirect/302/nowhere`, post);
    expect(unfollowable.status).toBe(302);
  });

  it('keeps the status, headers and URL of the response', async () => {
    const response = await boundedFetch(CAP)(`${url}/404/10`);
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.url).toBe(`${url}/404/10`);
  });
});

describe('boundedFetch and an abort after a garbage collection', () => {
  // The collection is what lost the abort: gc() made callable here as `node --expose-gc` would.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;

  for (const sdk of ['openai', 'anthropic'] as const) {
    it(`${sdk}: a streamed answer that only sends keep-alives still ends when its signal aborts, its connection closed`, async () => {
      const up = await startUpstream();
      try {
        const fetch = boundedFetch(CAP) as unknown as typeof globalThis.fetch;
        const signal = new AbortController();
        up.enqueue({ kind: sdk, chunks: ['Some ', 'text ', 'never'], keepAlive: { after: 2, everyMs: 50, frame: 'comment' } });
        const options = { signal: signal.signal, fetchOptions: streamedRequestOptions() };
        const stream: AsyncIterable<unknown> =
          sdk === 'openai'
            ? await new OpenAI({ apiKey: 'k', baseURL: up.openaiBaseURL, maxRetries: 0, fetch }).chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], stream: true }, options)
            : await new Anthropic({ apiKey: 'k', baseURL: up.anthropicBaseURL, maxRetries: 0, fetch }).messages.create({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'x' }], stream: true }, options);
        const reading = (async () => {
          try {
            for await (const _event of stream) {
              // Keep-alives are no events: the loop waits on the body.
            }
            return 'ended';
          } catch (error) {
            return `threw ${(error as Error).name}`;
          }
        })();
        await up.waitForRequests(1);
        await new Promise((resolve) => setTimeout(resolve, 100));
        gc();
        gc();
        signal.abort();
        // Without the abort passed on (bounded-fetch.ts, endOnAbort) this read on for as long as
        // the keep-alives came: bounded here at 5 s.
        const outcome = await Promise.race([reading, new Promise<string>((resolve) => setTimeout(() => resolve('still reading after 5 s'), 5_000))]);
        expect(['ended', 'threw AbortError', 'threw APIUserAbortError']).toContain(outcome);
        await up.waitForClose(0, 2_000);
        expect(up.requests[0]!.closedBy).toBe('client');
      } finally {
        await up.close();
      }
    });
  }
});
