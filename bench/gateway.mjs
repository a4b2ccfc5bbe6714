/**
 * The team gateway for the benchmarks: spawns the built `serve --http` on 127.0.0.1 with one
 * static token, and connects SDK clients to it over Streamable HTTP.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { BENCH, CLI, serverEnv, stderrMatch } from './lib.mjs';

/**
 * Starts the gateway; resolves with its /mcp URL, token, pid and a close(). `cli`, `nodeArgs` and
 * `launcher` (a command to run node under, e.g. valgrind) are for bench/profile-gateway.mjs.
 */
export async function startGateway(dir, upstreamBaseURL, { maxConcurrentPerPrincipal = 1000, cli = CLI, nodeArgs = [], launcher = [], startTimeoutMs = 20_000 } = {}) {
  const token = `lsm_${randomBytes(32).toString('base64url')}`;
  const sha256 = createHash('sha256').update(token).digest('hex');
  const configPath = join(dir, 'gateway.json');
  writeFileSync(configPath, JSON.stringify({ http: { maxConcurrentPerPrincipal, tokens: [{ name: 'bench', sha256 }] } }));
  const command = [...launcher, process.execPath, ...nodeArgs, cli, 'serve', '--http', '--host', '127.0.0.1', '--port', '0'];
  const child = spawn(command[0], command.slice(1), {
    env: { ...serverEnv(dir, upstreamBaseURL, 'gateway.db'), LLM_SERVICE_CONFIG: configPath },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const [, url] = await stderrMatch(child, /serving MCP over HTTP at (\S+\/mcp)/, 'gateway', startTimeoutMs);
  return {
    url,
    token,
    pid: child.pid,
    close: () => new Promise((resolve) => (child.once('exit', resolve), child.kill('SIGTERM'))),
  };
}

/** One SDK client session to the gateway; `call` runs `chat` and throws on a tool error. */
export async function gatewaySession(gateway, kind = 'http') {
  const transport = new StreamableHTTPClientTransport(new URL(gateway.url), { requestInit: { headers: { Authorization: `Bearer ${gateway.token}` } } });
  const client = new Client({ name: 'llm-service-mcp-bench', version: '0.0.0' });
  await client.connect(transport);
  const call = async (args = { prompt: 'ping' }) => {
    const result = await client.callTool({ name: 'chat', arguments: args });
    if (result.isError) throw new Error(`gateway: tool error ${JSON.stringify(result.content)}`);
    return result;
  };
  return { kind, client, call, close: () => client.close() };
}

/** Starts bench/http-floor.mjs (`sdk` or `raw`) against the upstream; resolves with its /mcp URL, pid and a close(). */
export async function startHttpFloor(mode, dir, upstreamBaseURL) {
  const child = spawn(process.execPath, [join(BENCH, 'http-floor.mjs'), mode], {
    env: serverEnv(dir, upstreamBaseURL),
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  const [, port] = await stderrMatch(child, /listening on (\d+)/, `http-floor ${mode}`, 20_000);
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    token: 'not-checked',
    pid: child.pid,
    close: () => new Promise((resolve) => (child.exitCode !== null ? resolve() : (child.once('exit', resolve), child.stdin.end()))),
  };
}
