/**
 * The team gateway's settings: the config file's `http` section (checked with zod like the rest
 * of the file), overridden by the environment and then by `serve --http` flags.
 */
import { z } from 'zod';
import type { Budget } from '../ledger/ledger.js';

const budgetSchema = () =>
  z.strictObject({
    dailyUsd: z.number().nonnegative().optional(),
    monthlyUsd: z.number().nonnegative().optional(),
  });

/** The zod schema of the config file's `http` section. */
export function buildHttpSectionSchema() {
  return z.strictObject({
    host: z.string().min(1).optional(),
    port: z.number().int().min(0).max(65_535).optional(),
    /** The URL clients use (behind a reverse proxy); names the resource in 401s and RFC 9728. */
    publicUrl: z.url().optional(),
    allowedOrigins: z.array(z.string().min(1)).optional(),
    maxBodyBytes: z.number().int().positive().optional(),
    maxConcurrentPerPrincipal: z.number().int().positive().optional(),
    drainMs: z.number().int().nonnegative().optional(),
    headersTimeoutMs: z.number().int().positive().optional(),
    requestTimeoutMs: z.number().int().positive().optional(),
    tokens: z
      .array(
        z.strictObject({
          name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, 'expected a name of letters, digits, ".", "_", "@", "-"'),
          sha256: z.string().regex(/^[0-9a-f]{64}$/, 'expected the 64 hex digits that `llm-service-mcp token create` prints'),
          role: z.enum(['user', 'admin']).optional(),
          budget: budgetSchema().optional(),
        }),
      )
      .optional(),
    jwt: z
      .strictObject({
        jwksUrl: z.url(),
        issuer: z.string().min(1),
        audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
        principalClaim: z.string().min(1).optional(),
        adminClaim: z.strictObject({ name: z.string().min(1), value: z.string().min(1) }).optional(),
        budget: budgetSchema().optional(),
      })
      .optional(),
    authorizationServers: z.array(z.url()).optional(),
  });
}

export type HttpSection = z.infer<ReturnType<typeof buildHttpSectionSchema>>;

export interface StaticToken {
  name: string;
  sha256: string;
  admin: boolean;
  budget?: Budget;
}

export interface JwtSettings {
  jwksUrl: string;
  issuer: string;
  audience: string | string[];
  principalClaim: string;
  adminClaim?: { name: string; value: string };
  budget?: Budget;
}

/** Everything `serve --http` needs, with defaults filled in. */
export interface HttpSettings {
  host: string;
  port: number;
  publicUrl?: string;
  /** Origins a browser may call from; a request with any other Origin gets 403. */
  allowedOrigins: string[];
  maxBodyBytes: number;
  maxConcurrentPerPrincipal: number;
  drainMs: number;
  tokens: StaticToken[];
  jwt?: JwtSettings;
  authorizationServers: string[];
  /** Sockets: time to receive the headers, and the whole request. */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
}

export const HTTP_DEFAULTS = {
  host: '127.0.0.1',
  port: 8787,
  maxBodyBytes: 4 * 2 ** 20,
  maxConcurrentPerPrincipal: 16,
  drainMs: 30_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
} as const;

/** A settings problem of the gateway; the message names the key and the remedy. */
export class HttpSettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HttpSettingsError';
  }
}

/** Whether `host` (a listen address or a URL's host name) is this machine only. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare) || bare === '::ffff:127.0.0.1';
}

/**
 * The gateway's settings: flags over environment (`LLM_SERVICE_HTTP_HOST`, `LLM_SERVICE_HTTP_PORT`)
 * over the config file over defaults. Throws HttpSettingsError for a setup that must not start:
 * a non-loopback address with no authentication, a JWKS URL that is not https:// off loopback.
 */
export function resolveHttpSettings(
  section: HttpSection | undefined,
  env: Record<string, string | undefined>,
  flags: { host?: string; port?: string } = {},
): HttpSettings {
  const host = flags.host ?? (env.LLM_SERVICE_HTTP_HOST || undefined) ?? section?.host ?? HTTP_DEFAULTS.host;
  const portText = flags.port ?? (env.LLM_SERVICE_HTTP_PORT || undefined);
  let port = section?.port ?? HTTP_DEFAULTS.port;
  if (portText !== undefined) {
    const source = flags.port !== undefined ? '--port' : 'LLM_SERVICE_HTTP_PORT';
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65_535) {
      throw new HttpSettingsError(`${source}: expected a port number from 0 to 65535, not '${portText}'`);
    }
    port = Number(portText);
  }
  const tokens = (section?.tokens ?? []).map((token) => ({
    name: token.name,
    sha256: token.sha256,
    admin: token.role === 'admin',
    ...(token.budget ? { budget: token.budget } : {}),
  }));
  const names = new Set<string>();
  for (const token of tokens) {
    if (names.has(token.name)) throw new HttpSettingsError(`http.tokens: the name '${token.name}' is listed twice`);
    names.add(token.name);
  }
  let jwt: JwtSettings | undefined;
  if (section?.jwt) {
    const url = new URL(section.jwt.jwksUrl);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url.hostname))) {
      throw new HttpSettingsError(`http.jwt.jwksUrl: must be https:// (plain http:// only on a loopback address), not '${section.jwt.jwksUrl}'`);
    }
    jwt = {
      jwksUrl: section.jwt.jwksUrl,
      issuer: section.jwt.issuer,
      audience: section.jwt.audience,
      principalClaim: section.jwt.principalClaim ?? 'sub',
      ...(section.jwt.adminClaim ? { adminClaim: section.jwt.adminClaim } : {}),
      ...(section.jwt.budget ? { budget: section.jwt.budget } : {}),
    };
  }
  if (tokens.length === 0 && !jwt && !isLoopback(host)) {
    throw new HttpSettingsError(
      `refusing to listen on ${host} with no authentication: add http.tokens (llm-service-mcp token create NAME) or http.jwt to the config file, or listen on 127.0.0.1`,
    );
  }
  return {
    host,
    port,
    ...(section?.publicUrl ? { publicUrl: section.publicUrl.replace(/\/+$/, '') } : {}),
    allowedOrigins: section?.allowedOrigins ?? [],
    maxBodyBytes: section?.maxBodyBytes ?? HTTP_DEFAULTS.maxBodyBytes,
    maxConcurrentPerPrincipal: section?.maxConcurrentPerPrincipal ?? HTTP_DEFAULTS.maxConcurrentPerPrincipal,
    drainMs: section?.drainMs ?? HTTP_DEFAULTS.drainMs,
    tokens,
    ...(jwt ? { jwt } : {}),
    authorizationServers: section?.authorizationServers ?? (jwt ? [jwt.issuer] : []),
    headersTimeoutMs: section?.headersTimeoutMs ?? HTTP_DEFAULTS.headersTimeoutMs,
    // Node requires requestTimeout >= headersTimeout (or 0).
    requestTimeoutMs: Math.max(section?.requestTimeoutMs ?? HTTP_DEFAULTS.requestTimeoutMs, section?.headersTimeoutMs ?? HTTP_DEFAULTS.headersTimeoutMs),
    keepAliveTimeoutMs: HTTP_DEFAULTS.keepAliveTimeoutMs,
  };
}
