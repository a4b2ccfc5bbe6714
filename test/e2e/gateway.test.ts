/**
 * The team gateway end to end: the built `serve --http` on 127.0.0.1, driven by raw HTTP and by
 * the SDK client. Authentication (static tokens; JWTs against a loopback JWKS with a key pair made
 * here), Origin, limits, per-principal isolation and budgets, cancellation, SIGTERM drain, and
 * no state carried from one request to the next by the one server that answers them all.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../src/http/auth.js';
import { childEnv, ensureBuilt, readRows } from '../ledger-integration/fixtures/helpers.js';
import { connectHttpClient, spawnGateway, type Gateway } from '../support/gateway.js';
import { useUpstream } from '../support/use-upstream.js';

const ISSUER = 'https://idp.test/';
const AUDIENCE = 'https://llm.test/mcp';

const upstream = useUpstream();
let dir: string;
let jwks: Server;
let jwksUrl: string;
let signingKey: CryptoKey;
let strangerKey: CryptoKey;
let publicJwk: JWK;
const gateways: Gateway[] = [];

const alice = createToken('alice');
const bob = createToken('bob');
const boss = createToken('boss');
const capped = createToken('capped');

/** Output-priced model: max_tokens 1000 at $100/MTok holds $0.10; an answer of 1000 tokens costs $0.10. */
const METERED = { metered: { provider: 'openai', providerModel: 'metered-1', pricing: { inputPerMTok: 0, outputPerMTok: 100 } } };

function gatewayConfig(http: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    retry: { retries: 0, minDelayMs: 10, maxDelayMs: 100, factor: 2 },
    models: METERED,
    http: {
      allowedOrigins: ['https://allowed.example'],
      maxBodyBytes: 64 * 1024,
      maxConcurrentPerPrincipal: 200,
      tokens: [alice.entry, bob.entry, { ...boss.entry, role: 'admin' }, { ...capped.entry, budget: { dailyUsd: 1 } }],
      jwt: { jwksUrl, issuer: ISSUER, audience: AUDIENCE, adminClaim: { name: 'groups', value: 'llm-admins' } },
      authorizationServers: [ISSUER],
      ...http,
    },
  };
}

async function startGateway(name: string, http: Record<string, unknown> = {}): Promise<Gateway> {
  const gateway = await spawnGateway({
    dir,
    env: childEnv(upstream, dir, { LLM_SERVICE_DB: join(dir, `${name}.db`), LLM_SERVICE_LOG_LEVEL: 'info' }),
    config: gatewayConfig(http),
  });
  gateways.push(gateway);
  return gateway;
}

interface RpcReply {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

/** One JSON-RPC POST to /mcp as a client would send it. */
async function rpc(gateway: Gateway, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<RpcReply> {
  const response = await fetch(gateway.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal,
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
let nextId = 1;
const call = (name: string, args: Record<string, unknown>) => ({ jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name, arguments: args } });
/** A chat request under a chosen id (requests of different clients share ids). */
const chat = (id: number, prompt: string) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'chat', arguments: { model: 'gpt-6-luna', prompt } } });

async function jwt(claims: Record<string, unknown>, options: { key?: CryptoKey; kid?: string; expiresIn?: string | number } = {}): Promise<string> {
  let builder = new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', kid: options.kid ?? 'test-key' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt();
  builder = builder.setExpirationTime(options.expiresIn ?? '5m');
  return builder.sign(options.key ?? signingKey);
}

beforeAll(async () => {
  await ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'llm-service-mcp-gateway-'));
  const pair = await generateKeyPair('ES256');
  signingKey = pair.privateKey;
  strangerKey = (await generateKeyPair('ES256')).privateKey;
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'test-key', alg: 'ES256', use: 'sig' };
  jwks = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [publicJwk] }));
  });
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
  jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
}, 180_000);

afterEach(() => {
  upstream.setDefault({ kind: 'auto' });
});

afterAll(async () => {
  for (const gateway of gateways) gateway.kill();
  await new Promise((resolve) => jwks?.close(resolve));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('authentication', () => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startGateway('auth');
  }, 60_000);

  it('a request without a token gets 401 with WWW-Authenticate naming the RFC 9728 document, which names the authorization server', async () => {
    const reply = await rpc(gateway, call('list_models', {}));
    expect(reply.status).toBe(401);
    const challenge = reply.headers.get('www-authenticate') ?? '';
    expect(challenge).toMatch(/^Bearer /);
    expect(challenge).toContain(`resource_metadata="${gateway.base}/.well-known/oauth-protected-resource"`);
    const metadata = await (await fetch(`${gateway.base}/.well-known/oauth-protected-resource`)).json();
    expect(metadata).toMatchObject({ resource: `${gateway.base}/mcp`, authorization_servers: [ISSUER], bearer_methods_supported: ['header'] });
  });

  it.each([
    ['a wrong static token', 'lsm_this-is-not-a-configured-token-SECRET1'],
    ['a malformed header', 'Basic dXNlcjpwYXNzd29yZC1TRUNSRVQy'],
  ])('%s gets 401 and the token is echoed nowhere', async (_name, value) => {
    const reply = await rpc(gateway, call('list_models', {}), { authorization: value.startsWith('Basic') ? value : `Bearer ${value}` });
    expect(reply.status).toBe(401);
    const secret = value.split(' ').at(-1)!;
    expect(reply.text).not.toContain(secret);
    expect(reply.headers.get('www-authenticate')).not.toContain(secret);
    expect(gateway.stderr()).not.toContain(secret);
  });

  it('a configured static token is admitted, and its name is recorded on the ledger row', async () => {
    const reply = await rpc(gateway, call('chat', { model: 'gpt-6-luna', prompt: 'hello from alice' }), bearer(alice.token));
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toMatch(/application\/json/);
    expect(reply.json.result.structuredContent.content).toBe('echo: hello from alice');
    const rows = readRows(join(dir, 'auth.db'), 'call_id = ?', reply.json.result.structuredContent.call_id);
    expect(rows.map((row) => (row as unknown as { principal: string }).principal)).toEqual(['alice']);
  });

  it("a valid JWT is admitted as its 'sub'", async () => {
    const token = await jwt({ sub: 'carol@example.com' });
    const reply = await rpc(gateway, call('chat', { model: 'gpt-6-luna', prompt: 'hello from carol' }), bearer(token));
    expect(reply.status).toBe(200);
    const rows = readRows(join(dir, 'auth.db'), 'call_id = ?', reply.json.result.structuredContent.call_id);
    expect(rows.map((row) => (row as unknown as { principal: string }).principal)).toEqual(['carol@example.com']);
  });

  it.each([
    ['expired', () => jwt({ sub: 'mallory' }, { expiresIn: Math.floor(Date.now() / 1000) - 3600 }), /expired/],
    ['for another audience', () => new SignJWT({ sub: 'mallory' }).setProtectedHeader({ alg: 'ES256', kid: 'test-key' }).setIssuer(ISSUER).setAudience('https://other.test/').setExpirationTime('5m').sign(signingKey), /'aud' claim/],
    ['from another issuer', () => new SignJWT({ sub: 'mallory' }).setProtectedHeader({ alg: 'ES256', kid: 'test-key' }).setIssuer('https://evil.test/').setAudience(AUDIENCE).setExpirationTime('5m').sign(signingKey), /'iss' claim/],
    ['signed with an unknown kid', () => jwt({ sub: 'mallory' }, { key: strangerKey, kid: 'unknown-kid' }), /No key/],
    ['signed by another key under the known kid', () => jwt({ sub: 'mallory' }, { key: strangerKey }), /signature/],
  ])('a JWT %s gets 401 saying why, without echoing it', async (_name, make, why) => {
    const token = await make();
    const reply = await rpc(gateway, call('list_models', {}), bearer(token));
    expect(reply.status).toBe(401);
    expect(reply.json.error_description).toMatch(why);
    const signature = token.split('.')[2]!;
    expect(reply.text).not.toContain(signature);
    expect(reply.headers.get('www-authenticate')).not.toContain(signature);
    expect(gateway.stderr()).not.toContain(signature);
  });

  it('an Origin outside the allow-list gets 403 even with a valid token; an allowed one and none pass', async () => {
    const refused = await rpc(gateway, call('list_models', {}), { ...bearer(alice.token), origin: 'https://evil.example' });
    expect(refused.status).toBe(403);
    expect(refused.json.error.message).toMatch(/Origin/);
    expect((await rpc(gateway, call('list_models', {}), { ...bearer(alice.token), origin: 'https://allowed.example' })).status).toBe(200);
    expect((await rpc(gateway, call('list_models', {}), bearer(alice.token))).status).toBe(200);
  });

  it('a body over http.maxBodyBytes gets 413; a body that is not JSON gets 400; GET /mcp gets 405', async () => {
    const big = call('chat', { prompt: 'x'.repeat(100 * 1024) });
    expect((await rpc(gateway, big, bearer(alice.token))).status).toBe(413);
    expect((await rpc(gateway, '{not json', bearer(alice.token))).status).toBe(400);
    const get = await fetch(gateway.url, { headers: bearer(alice.token) });
    expect(get.status).toBe(405);
  });

  it('a body sent in pieces without a Content-Length is read whole under the cap, and cut off past it', async () => {
    const inPieces = (text: string) =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < text.length; i += 16 * 1024) controller.enqueue(new TextEncoder().encode(text.slice(i, i + 16 * 1024)));
          controller.close();
        },
      });
    const send = (text: string) =>
      fetch(gateway.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...bearer(alice.token) },
        body: inPieces(text),
        duplex: 'half',
      } as RequestInit);
    const under = await send(JSON.stringify({ jsonrpc: '2.0', id: 'in-pieces', method: 'ping', params: { _meta: { pad: 'x'.repeat(40 * 1024) } } }));
    expect(under.status).toBe(200);
    expect(await under.json()).toMatchObject({ id: 'in-pieces', result: {} });
    // Past the cap the server stops reading and drops the connection: no answer comes back.
    const over = await send(JSON.stringify(call('chat', { prompt: 'x'.repeat(100 * 1024) }))).then(
      (response) => response.status,
      (error: Error) => error.name,
    );
    expect(over).not.toBe(200);
    expect((await rpc(gateway, call('list_models', {}), bearer(alice.token))).status).toBe(200);
  });

  it('a batch is checked member by member: a sound one runs; one bad member answers every request in it, readably', async () => {
    const sound = await rpc(gateway, [call('list_models', {}), { jsonrpc: '2.0', id: 'p', method: 'ping' }], bearer(alice.token));
    expect(sound.status).toBe(200);
    expect(sound.json.map((answer: any) => answer.id).sort()).toEqual([expect.any(Number), 'p']);
    expect(sound.json.every((answer: any) => answer.result !== undefined)).toBe(true);

    const good = call('list_models', {});
    const spoiled = await rpc(gateway, [good, { jsonrpc: '2.0', id: 'bad', method: 'tools/call' }, { jsonrpc: '2.0', method: 'notifications/initialized' }], bearer(alice.token));
    expect(spoiled.status).toBe(200);
    const byId = Object.fromEntries(spoiled.json.map((answer: any) => [answer.id, answer]));
    expect(spoiled.json).toHaveLength(2);
    expect(byId.bad.error.code).toBe(-32602);
    expect(byId.bad.error.message).toMatch(/^batch member 2: Invalid params: tools\/call needs params \(an object\)/);
    expect(byId[good.id].error.code).toBe(-32600);
    expect(byId[good.id].error.message).toMatch(/not run, because batch member 2 is malformed .*send this request alone/);
    expect(spoiled.text).not.toMatch(/"expected":|"code":"invalid/);

    // Nothing in the body can be answered under an id: 400 with id-less errors, as the spec asks.
    const idless = await rpc(gateway, [{ jsonrpc: '2.0', method: 'notifications/x', params: 7 }, 5], bearer(alice.token));
    expect(idless.status).toBe(400);
    expect(idless.json.map((answer: any) => [answer.id, answer.error.code])).toEqual([[null, -32600], [null, -32600]]);
    expect(idless.json[0].error.message).toMatch(/"params" must be an object/);
    const empty = await rpc(gateway, [], bearer(alice.token));
    expect(empty.status).toBe(400);
    expect(empty.json.error.message).toMatch(/the batch is empty/);
    const single = await rpc(gateway, { jsonrpc: '2.0', method: 'notifications/x', params: 7 }, bearer(alice.token));
    expect(single.status).toBe(400);
    expect(single.json).toMatchObject({ id: null, error: { code: -32600 } });
  });

  it('/healthz and /readyz answer without a token and say nothing but up/ready', async () => {
    const health = await fetch(`${gateway.base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${gateway.base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
  });

  it('logs one line per call with principal, model, status, latency and cost, and never a token', () => {
    const log = gateway.stderr();
    expect(log).toMatch(/info: call \S+ principal=alice model=gpt-6-luna provider=openai status=ok latency=\d+ms attempts=1 cost=\$[\d.]+/);
    expect(log).toMatch(/info: http POST \/mcp principal=alice status=200 latency=\d+ms/);
    for (const token of [alice.token, bob.token, boss.token, capped.token]) expect(log).not.toContain(token);
  });
});

describe('slow clients', () => {
  it('a client that never finishes its headers, or its body, is cut off at the configured limit', async () => {
    const gateway = await startGateway('slow', { headersTimeoutMs: 1_000, requestTimeoutMs: 1_500 });
    const { port } = new URL(gateway.base);
    const cutAfter = (request: string): Promise<number> =>
      new Promise((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1', () => socket.write(request));
        const started = Date.now();
        socket.on('data', () => undefined);
        socket.on('close', () => resolve(Date.now() - started));
        socket.on('error', () => undefined);
        setTimeout(() => (socket.destroy(), reject(new Error('the gateway kept a stalled socket open for 8 s'))), 8_000);
      });
    // Headers never end.
    expect(await cutAfter('POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n')).toBeLessThan(4_000);
    // Headers end, the body never comes.
    expect(await cutAfter(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice.token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`)).toBeLessThan(4_500);
  });
});

describe('start-up refusals', () => {
  it('refuses a non-loopback address with no authentication, and a plain-http JWKS off loopback', async () => {
    const env = childEnv(upstream, dir, { LLM_SERVICE_DB: join(dir, 'refuse.db') });
    await expect(spawnGateway({ dir, env, config: {}, args: ['--host', '0.0.0.0'] })).rejects.toThrow(/refusing to listen on 0\.0\.0\.0 with no authentication/);
    await expect(
      spawnGateway({ dir, env, config: { http: { jwt: { jwksUrl: 'http://idp.example.com/jwks.json', issuer: ISSUER, audience: AUDIENCE } } } }),
    ).rejects.toThrow(/jwksUrl: must be https:\/\//);
  });
});

describe('principals', () => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startGateway('principals');
  }, 60_000);

  it("get_cost shows a principal only their own calls; an admin sees all and may group by principal", async () => {
    for (const [who, n] of [[alice, 2], [bob, 1]] as const) {
      for (let i = 0; i < n; i++) expect((await rpc(gateway, call('chat', { model: 'gpt-6-luna', prompt: `${who.entry.name} ${i}` }), bearer(who.token))).status).toBe(200);
    }
    const adminJwt = await jwt({ sub: 'dana', groups: ['staff', 'llm-admins'] });
    const aliceClient = await connectHttpClient(gateway.url, alice.token);
    const mine = (await aliceClient.callTool({ name: 'get_cost', arguments: { group_by: 'none' } })) as any;
    expect(mine.structuredContent.total.calls).toBe(2);
    expect(mine.structuredContent.session.calls).toBe(2);
    const refused = (await aliceClient.callTool({ name: 'get_cost', arguments: { group_by: 'principal' } })) as any;
    expect(refused.isError).toBe(true);
    expect(refused.content[0].text).toMatch(/needs the admin role/);
    await aliceClient.close();

    const bobView = await rpc(gateway, call('get_cost', {}), bearer(bob.token));
    expect(bobView.json.result.structuredContent.total.calls).toBe(1);

    for (const token of [boss.token, adminJwt]) {
      const all = await rpc(gateway, call('get_cost', { group_by: 'principal' }), bearer(token));
      const groups = Object.fromEntries(all.json.result.structuredContent.groups.map((g: { key: string; calls: number }) => [g.key, g.calls]));
      expect(groups).toEqual({ alice: 2, bob: 1 });
    }
  });

  it("100 concurrent calls of one principal overspend its own daily cap by at most one call; others are not held back", async () => {
    upstream.setDefault({ kind: 'openai', usage: { prompt_tokens: 0, completion_tokens: 1000 }, delayMs: 20 });
    const replies = await Promise.all(
      Array.from({ length: 100 }, (_, i) => rpc(gateway, call('chat', { model: 'metered', prompt: `c${i}`, max_tokens: 1000 }), bearer(capped.token))),
    );
    expect(replies.every((reply) => reply.status === 200)).toBe(true);
    const answered = replies.filter((reply) => !reply.json.result.isError);
    const refused = replies.filter((reply) => reply.json.result.isError);
    expect(refused.length).toBeGreaterThan(0);
    for (const reply of refused) expect(reply.json.result.content[0].text).toMatch(/^Daily budget for capped of \$1\.00 reached/);
    const rows = readRows(join(dir, 'principals.db'), 'principal = ?', 'capped');
    const spent = rows.reduce((sum, row) => sum + Number(row.cost_micro_usd ?? 0), 0);
    // The guarantee: at most one call's worst case ($0.10) over the $1.00 cap; and holds do not
    // refuse early: at least the 10 calls that fit got through.
    expect(spent).toBeLessThanOrEqual(1_100_000);
    expect(answered.length).toBeGreaterThanOrEqual(10);
    expect(rows.length).toBe(answered.length);
    // bob has no cap of his own: capped's spend does not touch him.
    const bobReply = await rpc(gateway, call('chat', { model: 'metered', prompt: 'bob', max_tokens: 1000 }), bearer(bob.token));
    expect(bobReply.json.result.isError).toBeFalsy();
  });
});

describe('limits, cancellation and shutdown', () => {
  it('over http.maxConcurrentPerPrincipal a request gets 429 with Retry-After; another principal still passes', async () => {
    const gateway = await startGateway('limits', { maxConcurrentPerPrincipal: 2 });
    upstream.setDefault({ kind: 'openai', delayMs: 1500 });
    const slow = [0, 1].map((i) => rpc(gateway, call('chat', { model: 'gpt-6-luna', prompt: `slow ${i}` }), bearer(alice.token)));
    await upstream.waitForRequests(upstream.requests.length + 2, 10_000).catch(() => undefined);
    const third = await rpc(gateway, call('list_models', {}), bearer(alice.token));
    expect(third.status).toBe(429);
    expect(third.headers.get('retry-after')).toBe('1');
    expect(third.json.error.message).toMatch(/Too many concurrent requests for alice/);
    expect((await rpc(gateway, call('list_models', {}), bearer(bob.token))).status).toBe(200);
    for (const reply of await Promise.all(slow)) expect(reply.status).toBe(200);
    // The slots are given back once the answers are sent.
    expect((await rpc(gateway, call('list_models', {}), bearer(alice.token))).status).toBe(200);
  });

  it('a client that goes away while its token is being verified does not keep its concurrency slot', async () => {
    // A JWKS that answers only after a pause: the client gives up while the gateway waits for it.
    const slowJwks = createServer((req, res) => {
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ keys: [publicJwk] }));
      }, 1_000);
    });
    await new Promise<void>((resolve) => slowJwks.listen(0, '127.0.0.1', resolve));
    try {
      const slowJwksUrl = `http://127.0.0.1:${(slowJwks.address() as AddressInfo).port}/jwks.json`;
      const gateway = await startGateway('slot-on-leave', { maxConcurrentPerPrincipal: 1, jwt: { jwksUrl: slowJwksUrl, issuer: ISSUER, audience: AUDIENCE } });
      const token = await jwt({ sub: 'carol' });
      const controller = new AbortController();
      const gone = rpc(gateway, call('list_models', {}), bearer(token), controller.signal).catch((error: Error) => error);
      await new Promise((resolve) => setTimeout(resolve, 200));
      controller.abort();
      expect(await gone).toBeInstanceOf(Error);
      // The verification ends after the client left; carol's one slot must be free again.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      for (let i = 0; i < 2; i++) expect((await rpc(gateway, call('list_models', {}), bearer(token))).status).toBe(200);
    } finally {
      await new Promise((resolve) => slowJwks.close(resolve));
    }
  });

  it('a client that disconnects cancels the provider request, and the call is recorded as cancelled', async () => {
    const gateway = await startGateway('cancel');
    upstream.setDefault({ kind: 'hang' });
    const index = upstream.requests.length;
    const controller = new AbortController();
    const pending = rpc(gateway, call('chat', { model: 'gpt-6-luna', prompt: 'never answered' }), bearer(alice.token), controller.signal).catch((error: Error) => error);
    await upstream.waitForRequests(index + 1, 10_000);
    const abortedAt = Date.now();
    controller.abort();
    expect(await pending).toBeInstanceOf(Error);
    const closedAt = await upstream.waitForClose(index, 5_000);
    expect(closedAt - abortedAt).toBeLessThan(1_000);
    await expect.poll(() => readRows(join(dir, 'cancel.db')).map((row) => [row.status, (row as unknown as { principal: string }).principal]), { timeout: 5_000 }).toEqual([['cancelled', 'alice']]);
  });

  it("notifications/cancelled on another POST (stateless) cancels that principal's call", async () => {
    const gateway = await startGateway('cancel-notice');
    upstream.setDefault({ kind: 'hang' });
    const index = upstream.requests.length;
    const request = call('chat', { model: 'gpt-6-luna', prompt: 'cancel me' });
    const pending = rpc(gateway, request, bearer(alice.token)).catch((error: Error) => error);
    await upstream.waitForRequests(index + 1, 10_000);
    // Another principal cannot cancel alice's call with the same request id.
    const notice = { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: request.id, reason: 'user' } };
    expect((await rpc(gateway, notice, bearer(bob.token))).status).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(upstream.closedAt(index)).toBeUndefined();
    const sentAt = Date.now();
    expect((await rpc(gateway, notice, bearer(alice.token))).status).toBe(202);
    expect((await upstream.waitForClose(index, 5_000)) - sentAt).toBeLessThan(1_000);
    await pending;
    await expect.poll(() => readRows(join(dir, 'cancel-notice.db')).map((row) => row.status), { timeout: 5_000 }).toEqual(['cancelled']);
  });

  it('SIGTERM: no new requests, the call in flight that finishes within drainMs is answered, the one that does not is cancelled, answered and recorded; exit 0', async () => {
    const gateway = await startGateway('drain', { drainMs: 1_500 });
    const index = upstream.requests.length;
    upstream.enqueue({ kind: 'openai', content: 'finished in time', delayMs: 600 }, { kind: 'hang' });
    const quick = rpc(gateway, call('chat', { model: 'gpt-6-luna', prompt: 'quick' }), bearer(alice.token));
    await upstream.waitForRequests(index + 1, 10_000);
    const stuck = rpc(gateway, call('chat', { model: 'gpt-6-luna', prompt: 'stuck' }), bearer(bob.token));
    await upstream.waitForRequests(index + 2, 10_000);
    gateway.child.kill('SIGTERM');
    await expect.poll(() => gateway.stderr(), { timeout: 5_000 }).toMatch(/SIGTERM: no new requests/);
    // New work is refused while draining (503, or the listener is already closed).
    const late = await rpc(gateway, call('list_models', {}), bearer(alice.token)).catch((error: Error) => error);
    if (!(late instanceof Error)) expect(late.status).toBe(503);

    const quickReply = await quick;
    expect(quickReply.status).toBe(200);
    expect(quickReply.json.result.structuredContent.content).toBe('finished in time');
    const stuckReply = await stuck;
    expect(stuckReply.status).toBe(200);
    expect(stuckReply.json.result.isError).toBe(true);
    expect(stuckReply.json.result.content[0].text).toMatch(/shut down|cancel/i);
    expect(await gateway.exit).toBe(0);
    const rows = readRows(join(dir, 'drain.db'));
    expect(rows.map((row) => [row.status, (row as unknown as { principal: string }).principal]).sort()).toEqual([
      ['cancelled', 'bob'],
      ['ok', 'alice'],
    ]);
  });
});

// Single requests are all answered by one long-lived McpServer (shared-http-transport.ts): nothing
// of one request may reach another through it.
describe('one server for every request, no state between them', () => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startGateway('shared');
  }, 60_000);

  it('two principals in flight with the same JSON-RPC id each get their own answer under their own id, and their own ledger row', async () => {
    const index = upstream.requests.length;
    upstream.enqueue({ kind: 'openai', delayMs: 500 });
    const first = rpc(gateway, chat(7, 'from alice'), bearer(alice.token));
    await upstream.waitForRequests(index + 1, 10_000);
    // Same id, other principal, while alice's call is still waiting on the upstream.
    const second = await rpc(gateway, chat(7, 'from bob'), bearer(bob.token));
    const firstReply = await first;
    expect(second.json.id).toBe(7);
    expect(second.json.result.structuredContent.content).toBe('echo: from bob');
    expect(firstReply.json.id).toBe(7);
    expect(firstReply.json.result.structuredContent.content).toBe('echo: from alice');
    const rows = readRows(join(dir, 'shared.db'));
    const byCallId = Object.fromEntries(rows.map((row) => [row.call_id, (row as unknown as { principal: string }).principal]));
    expect(byCallId[firstReply.json.result.structuredContent.call_id]).toBe('alice');
    expect(byCallId[second.json.result.structuredContent.call_id]).toBe('bob');
  });

  it("right after alice's call on the same server, bob's get_cost sees only bob's calls, and alice's sees hers", async () => {
    const before = readRows(join(dir, 'shared.db'), 'principal = ?', 'alice').length;
    expect((await rpc(gateway, chat(1, 'alice again'), bearer(alice.token))).status).toBe(200);
    const bobView = await rpc(gateway, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_cost', arguments: { group_by: 'none' } } }, bearer(bob.token));
    const aliceView = await rpc(gateway, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_cost', arguments: { group_by: 'none' } } }, bearer(alice.token));
    const bobCalls = readRows(join(dir, 'shared.db'), 'principal = ?', 'bob').length;
    expect(bobView.json.result.structuredContent.total.calls).toBe(bobCalls);
    expect(bobView.json.result.structuredContent.session.calls).toBe(bobCalls);
    expect(aliceView.json.result.structuredContent.total.calls).toBe(before + 1);
  });

  it("bob cancelling his request id does not touch alice's request with the same id; alice's own cancel does", async () => {
    upstream.setDefault({ kind: 'hang' });
    const index = upstream.requests.length;
    const pendingAlice = rpc(gateway, chat(42, 'alice waits'), bearer(alice.token));
    await upstream.waitForRequests(index + 1, 10_000);
    const notice = { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 42, reason: 'user' } };
    expect((await rpc(gateway, notice, bearer(bob.token))).status).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(upstream.closedAt(index)).toBeUndefined();
    expect((await rpc(gateway, notice, bearer(alice.token))).status).toBe(202);
    await upstream.waitForClose(index, 5_000);
    // MCP sends no answer to a cancelled request: the POST ends empty.
    expect((await pendingAlice).status).toBe(204);
    // The server is still whole: the next request of either principal is answered.
    upstream.setDefault({ kind: 'auto' });
    expect((await rpc(gateway, chat(42, 'after the cancel'), bearer(bob.token))).json.result.structuredContent.content).toBe('echo: after the cancel');
  });
});

describe("a client's capabilities stay with that client", () => {
  it('a client that declared roots is never asked for them, neither on its own call nor on the next client\'s', async () => {
    // Loopback without tokens: the caller has no principal, the one case where a stdio-like
    // server would read files from the client's roots.
    const served = join(dir, 'served');
    mkdirSync(served, { recursive: true });
    writeFileSync(join(served, 'note.txt'), 'from files.roots');
    const gateway = await spawnGateway({ dir, env: childEnv(upstream, dir, { LLM_SERVICE_DB: join(dir, 'roots.db') }), config: { files: { roots: [served] } } });
    gateways.push(gateway);
    let rootsAsked = 0;
    const withRoots = new Client({ name: 'rooted', version: '1.0.0' }, { capabilities: { roots: { listChanged: false } } });
    withRoots.setRequestHandler(ListRootsRequestSchema, async () => {
      rootsAsked++;
      return { roots: [{ uri: `file://${dir}`, name: 'client disk' }] };
    });
    await withRoots.connect(new StreamableHTTPClientTransport(new URL(gateway.url)));
    const started = Date.now();
    const own = (await withRoots.callTool({ name: 'chat', arguments: { model: 'gpt-6-luna', prompt: 'read it', files: ['note.txt'] } })) as any;
    expect(own.isError).toBeFalsy();
    const plain = new Client({ name: 'plain', version: '1.0.0' });
    await plain.connect(new StreamableHTTPClientTransport(new URL(gateway.url)));
    const next = (await plain.callTool({ name: 'chat', arguments: { model: 'gpt-6-luna', prompt: 'read it too', files: ['note.txt'] } })) as any;
    expect(next.isError).toBeFalsy();
    // Both read from files.roots; nobody waited on a roots/list that a stateless POST cannot answer.
    expect(rootsAsked).toBe(0);
    expect(Date.now() - started).toBeLessThan(4_000);
    const sent = upstream.requests.slice(-2).map((request) => JSON.stringify(request.body));
    for (const body of sent) expect(body).toContain('from files.roots');
    await withRoots.close();
    await plain.close();
  });
});
