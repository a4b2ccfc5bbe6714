/**
 * The gateway's settings and static-token authentication, as pure units: precedence of flags,
 * environment and config file; the start-up refusals; tokens matched by hash only.
 */
import { describe, expect, it } from 'vitest';
import { parseConfigFile } from '../../src/config.js';
import { authConfigured, createAuthenticator, createToken, sha256Hex } from '../../src/http/auth.js';
import { isLoopback, resolveHttpSettings } from '../../src/http/http-settings.js';
import { ConcurrencyLimiter } from '../../src/http/concurrency-limiter.js';

const alice = createToken('alice');

describe('resolveHttpSettings', () => {
  it('defaults to 127.0.0.1:8787 with the documented limits; flags win over the environment, which wins over the file', () => {
    const none = resolveHttpSettings(undefined, {});
    expect(none).toMatchObject({ host: '127.0.0.1', port: 8787, maxBodyBytes: 4 * 2 ** 20, maxConcurrentPerPrincipal: 16, drainMs: 30_000, allowedOrigins: [], tokens: [] });
    const file = { host: '127.0.0.2', port: 9000, tokens: [alice.entry] };
    expect(resolveHttpSettings(file, {})).toMatchObject({ host: '127.0.0.2', port: 9000 });
    expect(resolveHttpSettings(file, { LLM_SERVICE_HTTP_HOST: '127.0.0.3', LLM_SERVICE_HTTP_PORT: '9001' })).toMatchObject({ host: '127.0.0.3', port: 9001 });
    expect(resolveHttpSettings(file, { LLM_SERVICE_HTTP_PORT: '9001' }, { host: '::1', port: '9002' })).toMatchObject({ host: '::1', port: 9002 });
  });

  it.each([
    [{}, {}, { host: '0.0.0.0' }, /refusing to listen on 0\.0\.0\.0 with no authentication/],
    [{}, { LLM_SERVICE_HTTP_HOST: '192.168.1.5' }, {}, /refusing to listen on 192\.168\.1\.5/],
    [{}, {}, { port: 'eighty' }, /--port: expected a port number/],
    [{}, { LLM_SERVICE_HTTP_PORT: '70000' }, {}, /LLM_SERVICE_HTTP_PORT: expected a port number/],
    [{ jwt: { jwksUrl: 'http://idp.example.com/jwks', issuer: 'i', audience: 'a' } }, {}, {}, /jwksUrl: must be https:\/\//],
    [{ tokens: [alice.entry, alice.entry] }, {}, {}, /the name 'alice' is listed twice/],
  ])('refuses %j / %j / %j', (section, env, flags, message) => {
    expect(() => resolveHttpSettings(section, env, flags)).toThrow(message);
  });

  it('admits a non-loopback address with tokens or a JWT, and an http:// JWKS on loopback', () => {
    expect(resolveHttpSettings({ host: '0.0.0.0', tokens: [alice.entry] }, {}).host).toBe('0.0.0.0');
    const jwt = resolveHttpSettings({ host: '0.0.0.0', jwt: { jwksUrl: 'http://127.0.0.1:9999/jwks', issuer: 'https://idp/', audience: 'aud' } }, {});
    expect(jwt.jwt).toMatchObject({ principalClaim: 'sub' });
    // The authorization server defaults to the JWT issuer.
    expect(jwt.authorizationServers).toEqual(['https://idp/']);
  });

  it.each([['127.0.0.1', true], ['127.8.9.10', true], ['localhost', true], ['::1', true], ['[::1]', true], ['0.0.0.0', false], ['10.0.0.1', false], ['example.com', false]])(
    'isLoopback(%s) = %s',
    (host, expected) => expect(isLoopback(host)).toBe(expected),
  );

  it('the config file checks the http section like the rest: unknown keys and bad hashes name the key path', () => {
    expect(() => parseConfigFile(JSON.stringify({ http: { prot: 1 } }), 'c.json')).toThrow(/http\.prot: unknown key/);
    expect(() => parseConfigFile(JSON.stringify({ http: { tokens: [{ name: 'a', sha256: 'abc' }] } }), 'c.json')).toThrow(/http\.tokens\.0\.sha256/);
  });
});

describe('static tokens', () => {
  const tokens = [
    { name: 'alice', sha256: alice.entry.sha256, admin: false, budget: { dailyUsd: 2 } },
    { name: 'ops', sha256: sha256Hex('lsm_ops-token'), admin: true },
  ];
  const authenticate = createAuthenticator({ tokens });

  it('createToken prints a fresh lsm_ token whose entry holds only its SHA-256', () => {
    const other = createToken('alice');
    expect(alice.token).toMatch(/^lsm_[A-Za-z0-9_-]{43}$/);
    expect(other.token).not.toBe(alice.token);
    expect(alice.entry).toEqual({ name: 'alice', sha256: sha256Hex(alice.token), role: 'user' });
    expect(JSON.stringify(alice.entry)).not.toContain(alice.token);
  });

  it('a listed token becomes its principal with role and budget; anything else is refused without the token in the reason', async () => {
    expect(await authenticate(`Bearer ${alice.token}`)).toEqual({ ok: true, principal: { name: 'alice', admin: false, budget: { dailyUsd: 2 } } });
    expect(await authenticate('bearer lsm_ops-token')).toEqual({ ok: true, principal: { name: 'ops', admin: true } });
    for (const header of [undefined, '', 'Bearer', 'Basic abc', `Bearer ${alice.token}x`, `Token ${alice.token}`]) {
      const outcome = await authenticate(header);
      expect(outcome.ok, String(header)).toBe(false);
      if (!outcome.ok) expect(outcome.description).not.toContain(alice.token);
    }
  });

  it('with no tokens and no JWT nothing is asked and there is no principal', async () => {
    expect(authConfigured({ tokens: [] })).toBe(false);
    expect(await createAuthenticator({ tokens: [] })(undefined)).toEqual({ ok: true, principal: undefined });
  });
});

describe('ConcurrencyLimiter', () => {
  it('gives each key its own slots, and a released slot back exactly once', () => {
    const limiter = new ConcurrencyLimiter(2);
    const a1 = limiter.acquire('a')!;
    const a2 = limiter.acquire('a')!;
    expect(limiter.acquire('a')).toBeUndefined();
    expect(limiter.acquire('b')).toBeDefined();
    a1.release();
    a1.release();
    expect(limiter.acquire('a')).toBeDefined();
    expect(limiter.acquire('a')).toBeUndefined();
    a2.release();
    expect(limiter.acquire('a')).toBeDefined();
  });
});
