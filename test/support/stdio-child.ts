/**
 * The built `dist/cli.js` as a child process, for end-to-end tests: a from-scratch environment
 * (fake keys, loopback base URLs, temp ledger), and either the SDK's stdio client or raw lines.
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { Upstream } from './upstream.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = join(ROOT, 'dist', 'cli.js');

export const CHILD_KEYS = {
  OPENAI_API_KEY: 'sk-child-openai-PLANTED-KEY-77aa88bb99cc',
  ANTHROPIC_API_KEY: 'sk-ant-child-PLANTED-KEY-11dd22ee33ff',
  DEEPSEEK_API_KEY: 'sk-child-deepseek-PLANTED-KEY-44gg55hh',
  DASHSCOPE_API_KEY: 'sk-child-dashscope-PLANTED-KEY-66ii77jj',
} as const;

/** Builds dist/ once if a test run starts without it. */
export function ensureBuilt(): void {
  if (!existsSync(CLI)) execFileSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
}

export interface ChildSetup {
  dir: string;
  env: Record<string, string>;
  dbPath: string;
  cleanup(): void;
}

/** A temp folder, a ledger path, an optional config file, and an environment pointing at the upstream. */
export function childSetup(upstream: Upstream, config?: unknown, extraEnv: Record<string, string> = {}): ChildSetup {
  const dir = mkdtempSync(join(tmpdir(), 'llm-service-mcp-child-'));
  const dbPath = join(dir, 'ledger.db');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: dir,
    XDG_DATA_HOME: join(dir, 'xdg'),
    ...CHILD_KEYS,
    OPENAI_BASE_URL: upstream.openaiBaseURL,
    ANTHROPIC_BASE_URL: upstream.anthropicBaseURL,
    DEEPSEEK_BASE_URL: upstream.openaiBaseURL,
    DASHSCOPE_BASE_URL: upstream.openaiBaseURL,
    LLM_SERVICE_DB: dbPath,
    ...extraEnv,
  };
  if (config !== undefined) {
    const configPath = join(dir, 'config.json');
    writeFileSync(configPath, JSON.stringify(config));
    env.LLM_SERVICE_CONFIG = configPath;
  }
  return { dir, env, dbPath, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The SDK's stdio client connected to the built server; stderr collected. */
export async function sdkClient(setup: ChildSetup): Promise<{ client: Client; transport: StdioClientTransport; stderr: () => string }> {
  const transport = new StdioClientTransport({ command: process.execPath, args: [CLI], env: setup.env, cwd: setup.dir, stderr: 'pipe' });
  const chunks: string[] = [];
  transport.stderr?.on('data', (d: Buffer) => chunks.push(d.toString('utf8')));
  const client = new Client({ name: 'child-test', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport, stderr: () => chunks.join('') };
}

/** The server driven by raw lines: what a broken or hostile host could send. */
export class RawChild {
  readonly child: ChildProcessWithoutNullStreams;
  readonly lines: string[] = [];
  stderr = '';
  /**
   * Settles on 'close', not 'exit': at 'exit' the child's last stdout and stderr writes may still be
   * unread in the pipes (Node documents this), and a test reading stderr then would miss them.
   */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private closed = false;
  private partial = '';

  constructor(setup: ChildSetup) {
    this.child = spawn(process.execPath, [CLI], { env: setup.env, cwd: setup.dir, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (d: Buffer) => {
      this.partial += d.toString('utf8');
      let newline: number;
      while ((newline = this.partial.indexOf('\n')) >= 0) {
        this.lines.push(this.partial.slice(0, newline));
        this.partial = this.partial.slice(newline + 1);
      }
    });
    this.child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString('utf8')));
    this.exited = new Promise((resolve) =>
      this.child.on('close', (code, signal) => {
        this.closed = true;
        resolve({ code, signal });
      }),
    );
    // A write after the child died must fail the test through its assertions, not crash vitest.
    this.child.stdin.on('error', () => undefined);
  }

  /** Writes text as is (add the newline yourself); resolves once it was flushed. */
  write(text: string | Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.stdin.write(text)) resolve();
      else this.child.stdin.once('drain', () => resolve());
    });
  }

  request(id: number | string, method: string, params?: unknown): Promise<void> {
    return this.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) })}\n`);
  }

  async initialize(): Promise<void> {
    await this.request('init', 'initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '0' } });
    await this.response('init');
    await this.write(`${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })}\n`);
  }

  /** The first stdout message with this id. */
  async response(id: number | string, timeoutMs = 15_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const line of this.lines) {
        let message: any;
        try {
          message = JSON.parse(line);
        } catch {
          continue;
        }
        if (message.id === id) return message;
      }
      // Only once its pipes are closed: an answer written just before the exit may still be unread.
      if (this.closed) throw new Error(`server exited before answering ${id}; stderr:\n${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`no answer to ${id}; stderr:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Sends tools/list and checks the three tools come back: the server is alive and answering. */
  async toolsListed(id: number | string): Promise<string[]> {
    await this.request(id, 'tools/list');
    const answer = await this.response(id);
    return (answer.result?.tools ?? []).map((t: { name: string }) => t.name).sort();
  }

  alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async close(): Promise<void> {
    if (!this.alive()) return;
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await this.exited;
    clearTimeout(timer);
  }
}
