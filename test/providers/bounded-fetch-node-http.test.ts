/**
 * boundedFetch's own transport for non-streamed requests (node-http-send.ts), over real loopback
 * sockets: what the SDKs see must be what the global fetch gave them — decoded bodies, repeated
 * headers, the URL, fetch's error shapes (and so the bill a failure leaves), aborts, the body
 * limit, redirects left to fetch, https, and one kept-alive socket for sequential calls.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BodyTooLargeError, bodyLimitOf, boundedFetch, withBodyCut } from '../../src/providers/bounded-fetch.js';
import { sendOnce } from '../../src/providers/sdk-call.js';
import type { LlmError } from '../../src/llm/errors.js';

const CAP = 1024;
const LIMIT = bodyLimitOf(CAP);
const POST = { method: 'POST', body: '{"model":"m"}', headers: { 'content-type': 'application/json' } };
const COMPLETION = JSON.stringify({
  id: 'c1',
  object: 'chat.completion',
  created: 1,
  model: 'm',
  choices: [{ index: 0, message: { role: 'assistant', content: 'hello' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
});

// More calls in flight to one provider than any per-origin pool cap we might set (fetch has none).
const GATHER = 300;
const gathered: http.ServerResponse[] = [];
let server: http.Server;
let url = '';
// Each request's remote port and accept-encoding header, in order.
const seen: { port: number; acceptEncoding: string | undefined; path: string }[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.push({ port: req.socket.remotePort!, acceptEncoding: req.headers['accept-encoding'], path: req.url ?? '' });
    const path = req.url ?? '';
    const text = Buffer.from(COMPLETION);
    if (path === '/gzip' || path === '/br' || path === '/deflate') {
      const body = path === '/gzip' ? gzipSync(text) : path === '/br' ? brotliCompressSync(text) : deflateSync(text);
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': path.slice(1), 'content-length': String(body.length) });
      return res.end(body);
    }
    if (path === '/repeated') {
      res.setHeader('set-cookie', ['a=1', 'b=2']);
      res.setHeader('x-many', ['one', 'two']);
      res.writeHead(200, 'Fine Thanks', { 'content-type': 'application/json' });
      return res.end(COMPLETION);
    }
    // Headers, a first piece of the body, then the connection reset.
    if (path === '/reset-mid-body') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100000' });
      res.write('{"id":"c1",');
      setTimeout(() => req.socket.resetAndDestroy(), 20);
      return;
    }
    // The request read, then the connection reset before any answer.
    if (path.startsWith('/reset-before-answer')) {
      req.resume();
      req.on('end', () => req.socket.resetAndDestroy());
      return;
    }
    if (path === '/hang') return void req.resume();
    // Headers and a first piece, then nothing: the client aborts.
    if (path === '/hang-mid-body') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"id":"c1",');
      return;
    }
    // A completion whose content runs far past the limit, sent chunked.
    if (path === '/huge-completion' || path === '/huge-error') {
      res.writeHead(path === '/huge-error' ? 500 : 200, { 'content-type': 'application/json' });
      res.write('{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"');
      res.end(`${'y'.repeat(LIMIT * 3)}"},"finish_reason":"stop"}]}`);
      return;
    }
    if (path === '/gzip-huge') {
      const body = gzipSync(Buffer.from('z'.repeat(LIMIT * 50)));
      res.writeHead(200, { 'content-type': 'text/html', 'content-encoding': 'gzip', 'content-length': String(body.length) });
      return res.end(body);
    }
    // Held until GATHER requests wait at once (or answered 503 after 5 s): no cap on sockets per origin.
    if (path === '/gather') {
      gathered.push(res);
      if (gathered.length === GATHER) for (const held of gathered.splice(0)) held.writeHead(200, { 'content-type': 'application/json' }).end(COMPLETION);
      else if (gathered.length === 1) setTimeout(() => { for (const held of gathered.splice(0)) held.writeHead(503).end(); }, 5_000).unref();
      return;
    }
    if (path === '/307') {
      res.writeHead(307, { location: '/plain' });
      return res.end();
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(COMPLETION);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((done) => server.close(() => done()));
});

const errorOf = (promise: Promise<unknown>) => promise.then(() => undefined, (error: unknown) => error);

describe('boundedFetch over node:http (non-streamed requests)', () => {
  it('decodes gzip, deflate and br bodies as fetch does, offering gzip and deflate over http', async () => {
    for (const coding of ['gzip', 'deflate', 'br']) {
      const response = await boundedFetch(CAP, 'openai')(`${url}/${coding}`, POST);
      expect(response.headers.get('content-encoding')).toBe(coding);
      expect(await response.json()).toEqual(JSON.parse(COMPLETION));
    }
    expect(seen.at(-1)!.acceptEncoding).toBe('gzip, deflate');
  });

  it('counts a compressed body as it inflates: past the limit it is refused', async () => {
    const response = await boundedFetch(CAP, 'openai')(`${url}/gzip-huge`, POST);
    expect(response.status).toBe(200);
    await expect(response.text()).rejects.toBeInstanceOf(BodyTooLargeError);
  });

  it('keeps repeated headers, the status text and the URL (without its fragment)', async () => {
    const response = await boundedFetch(CAP, 'openai')(`${url}/repeated#frag`, POST);
    expect(response).toBeInstanceOf(Response);
    expect(response.statusText).toBe('Fine Thanks');
    expect(response.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(response.headers.get('x-many')).toBe('one, two');
    expect(response.url).toBe(`${url}/repeated`);
  });

  it('salvages a completion past the limit (marked cut), and refuses an error body past it', async () => {
    const response = await boundedFetch(CAP, 'openai')(`${url}/huge-completion`, POST);
    const body = (await response.json()) as { choices: { message: { content: string }; finish_reason: string }[] };
    expect(body.choices[0]!.finish_reason).toBe('length');
    expect(body.choices[0]!.message.content.length).toBeGreaterThan(LIMIT - 200);
    expect(body.choices[0]!.message.content.length).toBeLessThan(LIMIT);
    expect(response.headers.get('content-length')).toBeNull();
    expect(withBodyCut({} as never, response)).toMatchObject({ bodyCutAtBytes: LIMIT });
    const error = await boundedFetch(CAP, 'openai')(`${url}/huge-error`, POST);
    expect(error.status).toBe(500);
    await expect(error.text()).rejects.toMatchObject({ name: 'BodyTooLargeError', limitBytes: LIMIT, part: 'body' });
  });

  it('leaves a 307 to the global fetch, which follows it', async () => {
    seen.length = 0;
    const response = await boundedFetch(CAP, 'openai')(`${url}/307`, POST);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual(JSON.parse(COMPLETION));
    expect(seen.map((request) => request.path)).toEqual(['/307', '/307', '/plain']);
  });

  it('sends sequential calls down one kept-alive socket', async () => {
    seen.length = 0;
    for (let i = 0; i < 3; i++) await (await boundedFetch(CAP, 'openai')(`${url}/plain`, POST)).text();
    expect(seen).toHaveLength(3);
    expect(new Set(seen.map((request) => request.port)).size).toBe(1);
  });

  it('keeps no cap on connections to one provider, as fetch keeps none: 300 calls wait at once', async () => {
    const statuses = await Promise.all(Array.from({ length: GATHER }, async () => (await boundedFetch(CAP, 'openai')(`${url}/gather`, POST)).status));
    expect(statuses.filter((status) => status === 200)).toHaveLength(GATHER);
  }, 15_000);

  it('fails as fetch fails: refused connections and resets say so in the cause', async () => {
    const closed = net.createServer();
    await new Promise<void>((done) => closed.listen(0, '127.0.0.1', done));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((done) => closed.close(() => done()));
    const refused = await errorOf(boundedFetch(CAP, 'openai')(`http://127.0.0.1:${port}/`, POST));
    expect(refused).toBeInstanceOf(TypeError);
    expect(refused).toMatchObject({ message: 'fetch failed', cause: { code: 'ECONNREFUSED' } });
    const reset = await errorOf(boundedFetch(CAP, 'openai')(`${url}/reset-before-answer`, POST));
    expect(reset).toMatchObject({ message: 'fetch failed', cause: { code: 'ECONNRESET' } });
    // After the headers fetch has answered: its body breaks.
    const response = await boundedFetch(CAP, 'openai')(`${url}/reset-mid-body`, POST);
    expect(response.status).toBe(200);
    await expect(response.text()).rejects.toMatchObject({ name: 'TypeError', message: 'terminated', cause: { code: 'ECONNRESET' } });
  });

  it('aborts with the signal\'s reason before the answer, and ends the body in it mid-body', async () => {
    const waiting = new AbortController();
    const reason = new Error('deadline');
    setTimeout(() => waiting.abort(reason), 20);
    expect(await errorOf(boundedFetch(CAP, 'openai')(`${url}/hang`, { ...POST, signal: waiting.signal }))).toBe(reason);
    // The headers came first: fetch had answered, its body ends in the abort.
    const reading = new AbortController();
    const pending = boundedFetch(CAP, 'openai')(`${url}/hang-mid-body`, { ...POST, signal: reading.signal });
    setTimeout(() => reading.abort(), 20);
    const response = await pending;
    expect(response.status).toBe(200);
    const error = await errorOf(response.text());
    expect(error).toBeInstanceOf(DOMException);
    expect(error).toMatchObject({ name: 'AbortError' });
    const early = new AbortController();
    early.abort();
    await expect(boundedFetch(CAP, 'openai')(`${url}/plain`, { ...POST, signal: early.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('the bill of a failed call through the openai SDK', () => {
  const context = { providerId: 'p', errorClasses: { APIError, APIUserAbortError, APIConnectionError, APIConnectionTimeoutError } };
  const call = async (baseURL: string): Promise<LlmError> => {
    const client = new OpenAI({ apiKey: 'k', baseURL, maxRetries: 0, fetch: boundedFetch(CAP, 'openai') });
    return errorOf(sendOnce(context, { timeoutMs: 5_000 }, (signal) => client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }, { signal }))) as Promise<LlmError>;
  };

  it('is known when the connection never opened (refused), unknown once the request went out (reset)', async () => {
    const closed = net.createServer();
    await new Promise<void>((done) => closed.listen(0, '127.0.0.1', done));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((done) => closed.close(() => done()));
    const refused = await call(`http://127.0.0.1:${port}/v1`);
    expect(refused).toMatchObject({ kind: 'connection' });
    expect(refused.message).toContain('ECONNREFUSED');
    expect(refused.usageUnknown).not.toBe(true);
    const reset = await call(`${url}/reset-before-answer`);
    expect(reset).toMatchObject({ kind: 'connection', usageUnknown: true });
  });
});

describe('boundedFetch over node:https', () => {
  let dir = '';
  let tls: https.Server;
  let tlsUrl = '';
  const sockets = new Set<Socket>();
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'nf-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const { readFileSync } = await import('node:fs');
    tls = https.createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (req, res) => {
      const body = brotliCompressSync(Buffer.from(COMPLETION));
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'br', 'x-accept-encoding': String(req.headers['accept-encoding']), 'x-port': String(req.socket.remotePort) });
      res.end(body);
    });
    tls.on('secureConnection', (socket) => sockets.add(socket));
    await new Promise<void>((done) => tls.listen(0, '127.0.0.1', done));
    tlsUrl = `https://127.0.0.1:${(tls.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((done) => tls.close(() => done()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses an untrusted certificate as fetch does: the connection never opened, so the bill is known', async () => {
    const refused = await errorOf(boundedFetch(CAP, 'openai')(`${tlsUrl}/`, POST));
    expect(refused).toMatchObject({ message: 'fetch failed', cause: { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' } });
  });

  it('talks to a server whose certificate the process trusts, offering br, over one socket', async () => {
    // The trust store is read at start-up: a child process trusts the test's certificate.
    const script = join(dir, 'call.mjs');
    const module = resolve('dist/providers/bounded-fetch.js');
    writeFileSync(
      script,
      `import { boundedFetch } from ${JSON.stringify(module)};
       const out = [];
       for (let i = 0; i < 2; i++) {
         const r = await boundedFetch(${CAP}, 'openai')(${JSON.stringify(`${tlsUrl}/`)}, ${JSON.stringify(POST)});
         out.push({ status: r.status, body: await r.json(), ae: r.headers.get('x-accept-encoding'), port: r.headers.get('x-port') });
       }
       console.log(JSON.stringify(out));`,
    );
    // Not spawnSync: the server answering it runs in this process.
    const child = await promisify(execFile)(process.execPath, [script], { env: { ...process.env, NODE_EXTRA_CA_CERTS: join(dir, 'cert.pem') }, encoding: 'utf8', timeout: 10_000 });
    expect(child.stderr).toBe('');
    const out = JSON.parse(child.stdout) as { status: number; body: unknown; ae: string; port: string }[];
    expect(out.map((answer) => answer.status)).toEqual([200, 200]);
    expect(out[0]!.body).toEqual(JSON.parse(COMPLETION));
    expect(out[0]!.ae).toBe('br, gzip, deflate');
    expect(out[1]!.port).toBe(out[0]!.port);
  });
});
