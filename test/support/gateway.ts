/**
 * Test plumbing for the team gateway: spawn the built `serve --http` on 127.0.0.1 (port 0), and
 * connect the official SDK client to it with a bearer token.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CLI } from '../ledger-integration/fixtures/helpers.js';

export interface Gateway {
  child: ChildProcessWithoutNullStreams;
  /** `http://127.0.0.1:PORT` */
  base: string;
  /** `base + '/mcp'` */
  url: string;
  exit: Promise<number | null>;
  stderr(): string;
  /** SIGKILL if still running. */
  kill(): void;
}

/** Spawns `serve --http --port 0` with `config` as its config file; resolves once it listens. */
export async function spawnGateway(options: { dir: string; env: Record<string, string>; config: unknown; args?: string[] }): Promise<Gateway> {
  const configPath = join(options.dir, `gateway-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(configPath, JSON.stringify(options.config));
  const child = spawn(process.execPath, [CLI, 'serve', '--http', '--host', '127.0.0.1', '--port', '0', ...(options.args ?? [])], {
    env: { ...options.env, LLM_SERVICE_CONFIG: configPath },
    cwd: options.dir,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start; stderr:\n${stderr}`)), 20_000);
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
      const match = /serving MCP over HTTP at (http:\/\/\S+\/mcp)/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    void exit.then((code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited ${code}; stderr:\n${stderr}`));
    });
  });
  return {
    child,
    base: url.replace(/\/mcp$/, ''),
    url,
    exit,
    stderr: () => stderr,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** The SDK client over Streamable HTTP, with `Authorization: Bearer token` when given. */
export async function connectHttpClient(url: string, token?: string): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: token === undefined ? {} : { headers: { Authorization: `Bearer ${token}` } },
  });
  const client = new Client({ name: 'gateway-test', version: '1.0.0' });
  await client.connect(transport);
  return client;
}

/** One hand-written POST to /mcp with the headers a Streamable HTTP client sends. */
export function postRaw(url: string, token: string, body: string): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body,
  });
}
