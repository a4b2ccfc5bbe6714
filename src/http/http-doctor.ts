/**
 * What `doctor` says about the team gateway: the config file's `http` section as `serve --http`
 * would use it (environment over file over defaults), and whether it could serve. Token names and
 * roles only: never a token, a hash, or the user part of a URL.
 */
import { HTTP_DEFAULTS, HttpSettingsError, isLoopback, resolveHttpSettings, type HttpSection } from './http-settings.js';

const MAX_NAMES_SHOWN = 20;

/** The doctor's lines for the gateway, and the problem that would stop `serve --http`, if any. */
export function describeHttpSettings(
  section: HttpSection | undefined,
  env: Record<string, string | undefined>,
  configLoaded = true,
): { lines: string[]; problem?: string } {
  const host = env.LLM_SERVICE_HTTP_HOST || section?.host || HTTP_DEFAULTS.host;
  const port = env.LLM_SERVICE_HTTP_PORT || String(section?.port ?? HTTP_DEFAULTS.port);
  const hostPort = `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
  let problem: string | undefined;
  try {
    resolveHttpSettings(section, env);
  } catch (error) {
    if (!(error instanceof HttpSettingsError)) throw error;
    problem = `http: ${error.message}`;
  }
  const overridden = [env.LLM_SERVICE_HTTP_HOST ? 'LLM_SERVICE_HTTP_HOST' : '', env.LLM_SERVICE_HTTP_PORT ? 'LLM_SERVICE_HTTP_PORT' : ''].filter(Boolean);
  const source = overridden.length > 0 ? ` (${overridden.join(', ')} from the environment)` : section ? '' : configLoaded ? ' (defaults: no http section in the config file)' : ' (defaults: the config file did not load, see PROBLEM above)';
  const lines = [`http gateway:  serve --http listens on ${hostPort}${source}; --host/--port override`];

  const tokens = section?.tokens ?? [];
  const jwt = section?.jwt;
  const auth = tokens.length > 0 || jwt;
  if (!auth) {
    lines.push(`  auth:        none${isLoopback(host) ? ': every request is admitted as the local user (loopback only)' : ''}`);
  }
  if (tokens.length > 0) {
    const shown = tokens.slice(0, MAX_NAMES_SHOWN).map((token) => `${token.name} (${token.role ?? 'user'}${token.budget ? ', own budget' : ''})`);
    if (tokens.length > MAX_NAMES_SHOWN) shown.push(`and ${tokens.length - MAX_NAMES_SHOWN} more`);
    lines.push(`  tokens:      ${tokens.length} static: ${shown.join(', ')}`);
  } else if (jwt) {
    lines.push('  tokens:      0 static');
  }
  if (jwt) {
    const audience = Array.isArray(jwt.audience) ? jwt.audience.join(', ') : jwt.audience;
    lines.push(`  jwt:         JWKS ${safeUrl(jwt.jwksUrl)}, issuer ${jwt.issuer}, audience ${audience}, principal claim ${jwt.principalClaim ?? 'sub'}`);
  } else if (auth) {
    lines.push('  jwt:         not configured');
  }
  const origins = section?.allowedOrigins ?? [];
  lines.push(`  origins:     ${origins.length > 0 ? origins.join(', ') : 'none allowed (a request with an Origin header gets 403; clients that are not browsers send none)'}`);
  const body = section?.maxBodyBytes ?? HTTP_DEFAULTS.maxBodyBytes;
  const concurrency = section?.maxConcurrentPerPrincipal ?? HTTP_DEFAULTS.maxConcurrentPerPrincipal;
  const drain = section?.drainMs ?? HTTP_DEFAULTS.drainMs;
  lines.push(`  limits:      body ${body} bytes (${(body / 2 ** 20).toFixed(1)} MiB), ${concurrency} concurrent requests per principal, drain ${drain} ms`);
  if (section?.publicUrl) lines.push(`  public URL:  ${safeUrl(section.publicUrl)}`);
  return problem ? { lines, problem } : { lines };
}

/** A URL without its user, password or query: those may hold a secret. */
function safeUrl(text: string): string {
  try {
    const url = new URL(text);
    return `${url.protocol}//${url.host}${url.pathname}${url.search ? '?…' : ''}`;
  } catch {
    return '(not a URL)';
  }
}
