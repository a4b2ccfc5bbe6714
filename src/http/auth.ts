/**
 * Who is calling the gateway: a bearer token turned into a Principal, or a refusal. Two sources:
 * static tokens (only their SHA-256 is configured; compared in constant time) and JWTs from the
 * team's identity provider (signature against its JWKS, issuer, audience, expiry). The refusal's
 * text never contains the token.
 */
import * as crypto from 'node:crypto';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { Principal } from '../principal.js';
import type { HttpSettings, JwtSettings, StaticToken } from './http-settings.js';

export type AuthOutcome = { ok: true; principal: Principal | undefined } | { ok: false; description: string };

/** Checks an `Authorization` header value; `principal` is undefined when no authentication is configured. */
export type Authenticate = (authorization: string | undefined) => Promise<AuthOutcome>;

// Our own tokens' shape: a recognisable prefix (secret scanners, logs) and 32 random bytes.
const TOKEN_PREFIX = 'lsm_';

/** A new static token and the config entry that admits it (only the hash is stored). */
export function createToken(name: string): { token: string; entry: { name: string; sha256: string; role: 'user' } } {
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  return { token, entry: { name, sha256: sha256Hex(token), role: 'user' } };
}

// crypto.hash (Node 20.12+) digests in one call, without building a Hash stream object: the
// gateway hashes the presented token on every request. Older Node 20 takes createHash.
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, outputEncoding: 'buffer') => Buffer }).hash;

/** SHA-256 of `text` (UTF-8) as bytes. */
function sha256(text: string): Buffer {
  return oneShotHash ? oneShotHash('sha256', text, 'buffer') : createHash('sha256').update(text, 'utf8').digest();
}

/** SHA-256 of `text` (UTF-8) as hex, as the config's `tokens[].sha256` holds it. */
export function sha256Hex(text: string): string {
  return sha256(text).toString('hex');
}

/** Whether the gateway asks for a token at all (loopback without tokens or JWT does not). */
export function authConfigured(settings: Pick<HttpSettings, 'tokens' | 'jwt'>): boolean {
  return settings.tokens.length > 0 || settings.jwt !== undefined;
}

/** Builds the authenticator for the configured sources. */
export function createAuthenticator(settings: Pick<HttpSettings, 'tokens' | 'jwt'>): Authenticate {
  if (!authConfigured(settings)) return async () => ({ ok: true, principal: undefined });
  const matchStatic = staticTokenMatcher(settings.tokens);
  const verifyJwt = settings.jwt ? jwtVerifier(settings.jwt) : undefined;
  return async (authorization) => {
    if (authorization === undefined || authorization === '') return { ok: false, description: 'Missing Authorization header: send Authorization: Bearer <token>' };
    const match = /^Bearer +([^\s]+) *$/i.exec(authorization);
    if (!match) return { ok: false, description: "Malformed Authorization header: expected 'Bearer <token>'" };
    const token = match[1]!;
    const fromStatic = matchStatic(token);
    if (fromStatic) return { ok: true, principal: fromStatic };
    if (verifyJwt && looksLikeJwt(token)) return verifyJwt(token);
    return { ok: false, description: 'Unknown or revoked token' };
  };
}

function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}

/**
 * Hashes the presented token once and compares it with every configured hash in constant time,
 * without stopping at the first match, so timing says nothing about which entry (if any) matched.
 */
function staticTokenMatcher(tokens: StaticToken[]): (token: string) => Principal | undefined {
  const entries = tokens.map((token) => ({ token, hash: Buffer.from(token.sha256, 'hex') }));
  return (presented) => {
    if (entries.length === 0) return undefined;
    const hash = sha256(presented);
    let found: StaticToken | undefined;
    for (const entry of entries) {
      if (timingSafeEqual(hash, entry.hash) && !found) found = entry.token;
    }
    return found ? { name: found.name, admin: found.admin, ...(found.budget ? { budget: found.budget } : {}) } : undefined;
  };
}

function jwtVerifier(settings: JwtSettings): (token: string) => Promise<AuthOutcome> {
  const keys = createRemoteJWKSet(new URL(settings.jwksUrl), { timeoutDuration: 5_000 });
  return async (token) => {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: settings.issuer,
        audience: settings.audience,
        requiredClaims: ['exp'],
        clockTolerance: 30,
      }));
    } catch (error) {
      return { ok: false, description: describeJwtFailure(error) };
    }
    const name = payload[settings.principalClaim];
    if (typeof name !== 'string' || name === '') {
      return { ok: false, description: `The token has no '${settings.principalClaim}' claim to name its principal` };
    }
    return { ok: true, principal: { name, admin: hasAdminClaim(payload, settings), ...(settings.budget ? { budget: settings.budget } : {}) } };
  };
}

function hasAdminClaim(payload: JWTPayload, settings: JwtSettings): boolean {
  if (!settings.adminClaim) return false;
  const value = payload[settings.adminClaim.name];
  return Array.isArray(value) ? value.includes(settings.adminClaim.value) : value === settings.adminClaim.value;
}

/** What was wrong with a JWT, in words safe to send back (jose's messages quote no token). */
function describeJwtFailure(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'The token has expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `The token's '${error.claim}' claim is not accepted here (${error.reason})`;
  if (error instanceof joseErrors.JWKSNoMatchingKey) return "No key of the identity provider's JWKS matches the token (unknown kid?)";
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return "The token's signature does not verify";
  if (error instanceof joseErrors.JWKSTimeout) return "The identity provider's JWKS did not answer in time";
  if (error instanceof joseErrors.JOSEError) return `The token was rejected (${error.code})`;
  return 'The token could not be verified';
}
