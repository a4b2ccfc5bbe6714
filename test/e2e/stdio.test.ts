/**
 * End to end over real stdio: the built `dist/cli.js` spawned as a child process, driven by the
 * official MCP SDK client and by hand-written JSON-RPC lines. Every provider points at a loopback
 * fake upstream; the environment is built from scratch so no real key or URL leaks in.
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawChild } from '../support/stdio-child.js';
import { describeToolTable } from './tool-table.js';
import { useUpstream } from '../support/use-upstream.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'dist', 'cli.js');
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

const FAKE_OPENAI_KEY = 'sk-e2e-openai-PLANTED-KEY-9f8e7d6c5b4a';
const FAKE_ANTHROPIC_KEY = 'sk-ant-e2e-PLANTED-KEY-1a2b3c4d5e6f';

const SPEC_ENV_VARS = [
  'OPENAI_API_KEY', 'OPENAI_BASE_URL',
  'ANTHROPIC_API_KEY', 'ANTHROPIC_BASE_URL',
  'DEEPSEEK_API_KEY', 'DEEPSEEK_BASE_URL',
  'DASHSCOPE_API_KEY', 'DASHSCOPE_BASE_URL',
  'LLM_SERVICE_CONFIG', 'LLM_SERVICE_DB', 'LLM_SERVICE_DEFAULT_MODEL', 'LLM_SERVICE_LOG_LEVEL',
];

const upstream = useUpstream();
let tempDir: string;

/** A from-scratch environment: fake keys, loopback base URLs, a temp ledger, and PATH/HOME only. */
function serverEnv(dbName: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: tempDir,
    XDG_DATA_HOME: join(tempDir, 'xdg'),
    OPENAI_API_KEY: FAKE_OPENAI_KEY,
    ANTHROPIC_API_KEY: FAKE_ANTHROPIC_KEY,
    OPENAI_BASE_URL: upstream.openaiBaseURL,
    ANTHROPIC_BASE_URL: upstream.anthropicBaseURL,
    DEEPSEEK_BASE_URL: upstream.openaiBaseURL,
    DASHSCOPE_BASE_URL: upstream.openaiBaseURL,
    LLM_SERVICE_DB: join(tempDir, dbName),
    ...extra,
  };
}

/** Runs the CLI with arguments, returning stdout, stderr and the exit code. */
function runCli(args: string[], env: Record<string, string>): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, cwd: tempDir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => (child.kill('SIGKILL'), reject(new Error(`llm-service-mcp ${args.join(' ')} timed out; stderr: ${stderr}`))), 15_000);
    child.on('error', reject);
    child.on('close', (code) => (clearTimeout(timer), resolve({ stdout, stderr, code })));
  });
}

beforeAll(async () => {
  if (!existsSync(CLI)) {
    execFileSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  }
  tempDir = mkdtempSync(join(tmpdir(), 'llm-service-mcp-e2e-'));
}, 120_000);

afterAll(async () => {
  if (tempDir) rmSync(tempDir, { recursive: true, force: true });
});

describeToolTable({
  name: 'stdio',
  start: async () => {
    const stderrChunks: string[] = [];
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI],
      env: serverEnv('sdk-ledger.db'),
      cwd: tempDir,
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (d: Buffer) => stderrChunks.push(d.toString('utf8')));
    const client = new Client({ name: 'e2e-client', version: '1.0.0' });
    await client.connect(transport);
    // Hand-written lines go to a second server of the same setup: the SDK client sends only well-formed ones.
    const rawChild = new RawChild({ dir: tempDir, env: serverEnv('raw-table.db'), dbPath: join(tempDir, 'raw-table.db'), cleanup: () => undefined });
    await rawChild.initialize();
    return {
      client,
      raw: async (line, id) => {
        await rawChild.write(`${line}\n`);
        return { answer: await rawChild.response(id) };
      },
      stderr: () => stderrChunks.join(''),
      close: async () => {
        await rawChild.close();
        await client.close();
      },
    };
  },
  // At the default log level (warn), a healthy server writes nothing to stderr: not at start, not per call.
  quietStderr: /^$/,
  upstream: () => upstream,
  keys: { openai: FAKE_OPENAI_KEY, anthropic: FAKE_ANTHROPIC_KEY },
});

describe('over stdio with hand-written JSON-RPC lines', () => {
  let child: ChildProcessWithoutNullStreams;
  const stdoutLines: string[] = [];
  let stdoutBuffer = '';
  let stderr = '';
  let exit: Promise<number | null>;

  /** Resolves with the first stdout message whose id matches. */
  async function response(id: number, timeoutMs = 10_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const line of stdoutLines) {
        try {
          const msg = JSON.parse(line);
          if (msg.id === id) return msg;
        } catch {
          // checked separately
        }
      }
      if (Date.now() > deadline) throw new Error(`no response with id ${id}; stdout so far:\n${stdoutLines.join('\n')}\nstderr:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  function send(line: string): void {
    child.stdin.write(`${line}\n`);
  }
  function request(id: number, method: string, params?: unknown): void {
    send(JSON.stringify({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) }));
  }

  beforeAll(() => {
    child = spawn(process.execPath, [CLI], {
      env: serverEnv('raw-ledger.db', { LLM_SERVICE_LOG_LEVEL: 'debug' }),
      cwd: tempDir,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d: Buffer) => {
      stdoutBuffer += d.toString('utf8');
      let nl: number;
      while ((nl = stdoutBuffer.indexOf('\n')) >= 0) {
        stdoutLines.push(stdoutBuffer.slice(0, nl).replace(/\r$/, ''));
        stdoutBuffer = stdoutBuffer.slice(nl + 1);
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    exit = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  });

  afterAll(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  it('answers, survives bad input, keeps stdout pure JSON-RPC, and exits 0 when stdin closes', async () => {
    request(1, 'initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '0' } });
    const init = await response(1);
    expect(init.result.serverInfo).toEqual({ name: 'llm-service-mcp', version: PKG.version });
    send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));

    request(2, 'tools/list');
    expect((await response(2)).result.tools.map((t: { name: string }) => t.name).sort()).toEqual(['chat', 'chat_many', 'get_cost', 'list_models']);

    request(3, 'tools/call', { name: 'chat', arguments: { model: 'gpt-6-luna', prompt: 'raw hello' } });
    const chat = await response(3);
    expect(chat.result.isError).toBeFalsy();
    expect(chat.result.content[0].text).toBe('echo: raw hello');

    // Malformed arguments: a number where a string belongs, and both prompt and messages missing.
    request(4, 'tools/call', { name: 'chat', arguments: { prompt: 42 } });
    const bad = await response(4);
    const badText = bad.error ? String(bad.error.message) : String(bad.result.content[0].text);
    if (!bad.error) expect(bad.result.isError).toBe(true);
    expect(badText).toMatch(/prompt/);

    request(5, 'tools/call', { name: 'chat', arguments: {} });
    const empty = await response(5);
    if (!empty.error) expect(empty.result.isError).toBe(true);

    request(6, 'tools/call', { name: 'no_such_tool', arguments: {} });
    const unknown = await response(6);
    const unknownText = unknown.error ? String(unknown.error.message) : String(unknown.result.content[0].text);
    if (!unknown.error) expect(unknown.result.isError).toBe(true);
    expect(unknownText).toContain('no_such_tool');

    // Not JSON at all, then valid JSON that is not JSON-RPC.
    send('this is {not json');
    send('[1, 2');
    send('{"hello":"world"}');

    // Still alive and answering.
    request(7, 'tools/call', { name: 'get_cost', arguments: {} });
    const cost = await response(7);
    expect(cost.result.isError).toBeFalsy();
    expect(cost.result.structuredContent.session.calls).toBe(1);
    request(8, 'ping');
    expect((await response(8)).result).toEqual({});
    expect(child.exitCode).toBeNull();

    // Closing stdin ends the server promptly and cleanly.
    const closedAt = Date.now();
    child.stdin.end();
    const code = await Promise.race([exit, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 5_000))]);
    expect(code).toBe(0);
    expect(Date.now() - closedAt).toBeLessThan(5_000);

    // Every stdout line is one JSON-RPC 2.0 message; nothing else was ever written there.
    if (stdoutBuffer.trim() !== '') stdoutLines.push(stdoutBuffer);
    expect(stdoutLines.length).toBeGreaterThanOrEqual(8);
    for (const line of stdoutLines) {
      let msg: any;
      expect(() => (msg = JSON.parse(line)), `stdout line is not JSON: ${line}`).not.toThrow();
      expect(msg.jsonrpc, line).toBe('2.0');
      expect('id' in msg || 'method' in msg, line).toBe(true);
      expect('result' in msg || 'error' in msg || 'method' in msg, line).toBe(true);
    }

    // Logs went to stderr (LLM_SERVICE_LOG_LEVEL=debug: start-up and one line per call), without keys.
    expect(stderr).toContain('serving over stdio');
    expect(stderr).toMatch(/info: call [0-9a-f-]+ principal=- model=gpt-6-luna provider=openai status=ok latency=\d+ms attempts=1/);
    expect(stderr).not.toContain(FAKE_OPENAI_KEY);
    expect(stderr).not.toContain(FAKE_ANTHROPIC_KEY);
  });
});

/** A config file with one Anthropic model whose provider name the Anthropic SDK warns about, under an id that never retires. */
function sdkWarnedConfig(): string {
  const path = join(tempDir, 'sdk-warned.json');
  const model = { provider: 'anthropic', providerModel: 'claude-sonnet-4-5-20250929', contextWindow: 200_000, maxOutputTokens: 64_000, pricing: { inputPerMTok: 3, outputPerMTok: 15 } };
  writeFileSync(path, JSON.stringify({ models: { 'sdk-warned': model } }));
  return path;
}

describe('stderr at the default log level', () => {
  it("a provider SDK's per-call console warning reaches stderr once, not per call; a bad LLM_SERVICE_LOG_LEVEL says so", async () => {
    const stderrChunks: string[] = [];
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI],
      env: serverEnv('quiet.db', { LLM_SERVICE_LOG_LEVEL: 'verbose', LLM_SERVICE_CONFIG: sdkWarnedConfig() }),
      cwd: tempDir,
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (d: Buffer) => stderrChunks.push(d.toString('utf8')));
    const client = new Client({ name: 'quiet-client', version: '1.0.0' });
    await client.connect(transport);
    try {
      // The Anthropic SDK console.warns on every call to a model in its end-of-life table. The
      // catalog refuses such models once their date has passed (this runs on the real clock), so
      // the call goes to a configured id, not retiring, whose provider model is in the SDK's table.
      for (let i = 0; i < 3; i++) {
        upstream.enqueue({ kind: 'anthropic', content: `answer ${i}` });
        const result = (await client.callTool({ name: 'chat', arguments: { model: 'sdk-warned', prompt: 'hi' } })) as CallToolResult;
        expect(result.isError).toBeFalsy();
      }
    } finally {
      await client.close();
    }
    const lines = stderrChunks.join('').split('\n').filter((line) => line !== '');
    expect(lines).toEqual([
      "[llm-service-mcp] warn: LLM_SERVICE_LOG_LEVEL='verbose' is not one of error, warn, info, debug; logging at warn",
      expect.stringMatching(/^\[llm-service-mcp\] warn: The model 'claude-sonnet-4-5-20250929' is deprecated and will reach end-of-life on .* Please migrate/),
    ]);
  });
});

describe('command line', () => {
  it('--version prints the package version', async () => {
    const { stdout, code } = await runCli(['--version'], serverEnv('cli.db'));
    expect(code).toBe(0);
    expect(stdout.trim()).toBe(PKG.version);
  });

  it('--help mentions doctor, cost and every environment variable of the spec', async () => {
    const { stdout, code } = await runCli(['--help'], serverEnv('cli.db'));
    expect(code).toBe(0);
    expect(stdout).toContain('doctor');
    expect(stdout).toContain('cost');
    for (const name of SPEC_ENV_VARS) expect(stdout, name).toContain(name);
  });

  it('doctor lists providers with key yes/no and never prints a key', async () => {
    const { stdout, stderr, code } = await runCli(['doctor'], serverEnv('doctor.db'));
    expect(code).toBe(0);
    for (const provider of ['openai', 'anthropic', 'deepseek', 'qwen']) expect(stdout).toContain(provider);
    expect(stdout).toMatch(/OPENAI_API_KEY\S*\s+yes/);
    expect(stdout).toMatch(/ANTHROPIC_API_KEY\S*\s+yes/);
    expect(stdout).toMatch(/DEEPSEEK_API_KEY\S*\s+no/);
    expect(stdout).toMatch(/DASHSCOPE_API_KEY\S*\s+no/);
    expect(stdout).toContain(upstream.openaiBaseURL);
    expect(stdout).toContain(join(tempDir, 'doctor.db'));
    for (const out of [stdout, stderr]) {
      expect(out).not.toContain(FAKE_OPENAI_KEY);
      expect(out).not.toContain(FAKE_ANTHROPIC_KEY);
      expect(out).not.toContain('PLANTED-KEY');
    }
  });
});
