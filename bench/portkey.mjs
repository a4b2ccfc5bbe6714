/**
 * Portkey's open-source gateway (`@portkey-ai/gateway`) as the peer the team gateway is compared
 * against in section `http`. It is not a dependency of llm-service-mcp: bench/portkey/ is its own
 * small package (version pinned, `@hono/node-server` overridden to 1.14.1, lock file committed),
 * installed into bench/portkey/node_modules on first use with `npm ci`.
 *
 * Portkey is started on 127.0.0.1 (bench/portkey/loopback.mjs) and called with the `openai` SDK
 * the way its README shows, with `x-portkey-provider: openai` and `x-portkey-custom-host` set to
 * our loopback upstream (127.0.0.1 is on its default list of trusted custom hosts).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { BENCH, stderrMatch } from './lib.mjs';

const DIR = join(BENCH, 'portkey');
const START = join(DIR, 'node_modules', '@portkey-ai', 'gateway', 'build', 'start-server.js');

/** Installs Portkey into bench/portkey/node_modules when missing; returns a reason string when it cannot. */
export function ensurePortkey(log) {
  if (existsSync(START)) return undefined;
  log('installing @portkey-ai/gateway into bench/portkey/node_modules (npm ci, once) ...');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = spawnSync(npm, ['ci', '--prefix', DIR, '--no-audit', '--no-fund'], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0 || !existsSync(START)) return `npm ci --prefix bench/portkey failed (${r.error?.message ?? `exit ${r.status}`}): ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' ')}`;
  return undefined;
}

/** Starts Portkey's gateway on 127.0.0.1; resolves with its base URL, pid and a close(). */
export async function startPortkey() {
  const child = spawn(process.execPath, ['--import', join(DIR, 'loopback.mjs'), START, '--port=0', '--headless'], {
    cwd: DIR,
    env: { ...process.env, NODE_ENV: 'production' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const [, port] = await stderrMatch(child, /portkey listening on 127\.0\.0\.1:(\d+)/, 'Portkey', 30_000).catch((error) => {
    child.kill('SIGKILL');
    throw error;
  });
  // The script prints its banner after a 1 s spinner; requests are served as soon as it listens.
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    pid: child.pid,
    close: () => new Promise((resolve) => (child.exitCode !== null ? resolve() : (child.once('exit', resolve), child.kill('SIGTERM')))),
  };
}

/** An `openai` SDK client calling `upstream` through Portkey; `call` is the same request as the direct SDK call. */
export function portkeyClient(portkey, upstream, kind = 'portkey') {
  const sdk = new OpenAI({
    apiKey: 'sk-bench-not-a-real-key',
    baseURL: portkey.baseURL,
    maxRetries: 0,
    defaultHeaders: { 'x-portkey-provider': 'openai', 'x-portkey-custom-host': upstream.baseURL },
  });
  const body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'ping' }] };
  return { kind, call: () => sdk.chat.completions.create(body) };
}
