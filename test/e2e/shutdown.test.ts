/**
 * Graceful shutdown of the built server over real stdio: SIGTERM, SIGINT and stdin EOF stop new
 * calls, let calls in flight finish for `drainMs`, cancel the rest, and record every call with its
 * budget hold settled, so a restarted server is not refused by holds of calls that no longer run.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigFile } from '../../src/config.js';
import { CLI, childEnv, ensureBuilt, readRows } from '../ledger-integration/fixtures/helpers.js';
import { useUpstream } from '../support/use-upstream.js';

const upstream = useUpstream();
let dir: string;
const children: ChildProcessWithoutNullStreams[] = [];

beforeAll(async () => {
  await ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'llm-service-mcp-shutdown-'));
}, 180_000);

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  upstream.setDefault({ kind: 'auto' });
});

afterAll(async () => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * A model priced on output only: with max_tokens 1000 at $100/MTok a call holds the whole $0.10
 * daily cap, so one hold left behind refuses every later call.
 */
const CONFIG: ConfigFile = {
  drainMs: 400,
  budget: { dailyUsd: 0.1 },
  retry: { retries: 0, minDelayMs: 10, maxDelayMs: 100, factor: 2 },
  models: { metered: { provider: 'openai', providerModel: 'metered-1', pricing: { inputPerMTok: 0, outputPerMTok: 100 } } },
};

interface RawServer {
  child: ChildProcessWithoutNullStreams;
  exit: Promise<number | null>;
  send(message: Record<string, unknown>): void;
  response(id: number, timeoutMs?: number): Promise<any>;
  stderr(): string;
}

/** Spawns dist/cli.js and speaks hand-written JSON-RPC lines to it (stdin stays ours to close). */
async function spawnRaw(dbPath: string, config: ConfigFile = CONFIG): Promise<RawServer> {
  const configPath = join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(configPath, JSON.stringify(config));
  const child = spawn(process.execPath, [CLI], {
    env: childEnv(upstream, dir, { LLM_SERVICE_DB: dbPath, LLM_SERVICE_CONFIG: configPath }),
    cwd: dir,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.push(child);
  const lines: string[] = [];
  let buffer = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    buffer += d.toString('utf8');
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      lines.push(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
    }
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const server: RawServer = {
    child,
    exit,
    send: (message) => void child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', ...message })}\n`),
    async response(id, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        for (const line of lines) {
          const message = JSON.parse(line);
          if (message.id === id) return message;
        }
        if (Date.now() > deadline) throw new Error(`no response ${id}; stdout:\n${lines.join('\n')}\nstderr:\n${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    stderr: () => stderr,
  };
  server.send({ id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '0' } } });
  await server.response(0);
  server.send({ method: 'notifications/initialized' });
  return server;
}

function chat(server: RawServer, id: number, prompt: string): void {
  server.send({ id, method: 'tools/call', params: { name: 'chat', arguments: { model: 'metered', prompt, max_tokens: 1000 } } });
}

function heldHolds(dbPath: string): number {
  const db = new Database(dbPath, { fileMustExist: true });
  try {
    return (db.prepare('SELECT COUNT(*) AS n FROM reservations').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

async function exitCode(server: RawServer, timeoutMs = 8_000): Promise<number | null | 'still running'> {
  return Promise.race([server.exit, new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), timeoutMs))]);
}

describe('shutdown over stdio', () => {
  it('stdin EOF: a call read before EOF is still answered, recorded, and its hold released', async () => {
    const dbPath = join(dir, 'eof.db');
    const server = await spawnRaw(dbPath, { ...CONFIG, drainMs: 5_000 });
    upstream.enqueue({ kind: 'openai', delayMs: 250, content: 'late but whole', usage: { prompt_tokens: 5, completion_tokens: 100 } });
    const before = upstream.requests.length;
    chat(server, 1, 'answer me');
    // The host closes the pipe right after the request, before the provider has answered.
    server.child.stdin.end();
    const answer = await server.response(1);
    expect(answer.result.isError, JSON.stringify(answer)).toBeFalsy();
    expect(answer.result.structuredContent.content).toBe('late but whole');
    expect(await exitCode(server)).toBe(0);
    expect(upstream.requests.length - before).toBe(1);
    const rows = readRows(dbPath);
    expect(rows.map((r) => r.status)).toEqual(['ok']);
    expect(rows[0]!.cost_micro_usd).toBe(10_000);
    expect(heldHolds(dbPath)).toBe(0);
  });

  it('SIGTERM: the call past drainMs is cancelled, answered, recorded as cancelled; a restart is not refused', async () => {
    const dbPath = join(dir, 'sigterm.db');
    // Long enough that the call sent 100 ms after the signal reaches the server before the drain
    // ends, even on a loaded machine (at 400 ms, a few hundred ms of scheduling delay in either
    // process would let the server exit first, and the refusal would never come).
    const drainMs = 1_500;
    const server = await spawnRaw(dbPath, { ...CONFIG, drainMs });
    upstream.enqueue({ kind: 'hang' });
    const before = upstream.requests.length;
    chat(server, 1, 'never answered');
    await upstream.waitForRequests(before + 1);
    const signalled = Date.now();
    server.child.kill('SIGTERM');
    // Meanwhile a new call is refused, not started.
    await new Promise((resolve) => setTimeout(resolve, 100));
    chat(server, 2, 'too late');
    const refused = await server.response(2);
    expect(refused.result.isError).toBe(true);
    expect(refused.result.content[0].text).toMatch(/shutting down/);

    const cut = await server.response(1);
    expect(cut.result.isError).toBe(true);
    expect(cut.result.content[0].text).toMatch(/shut down .*drain time/);
    expect(await exitCode(server)).toBe(0);
    // Waited for the drain time.
    expect(Date.now() - signalled).toBeGreaterThanOrEqual(drainMs - 50);
    expect(upstream.requests.length - before).toBe(1);
    await upstream.waitForClose(before);
    const rows = readRows(dbPath);
    expect(rows.map((r) => r.status)).toEqual(['cancelled']);
    expect(rows[0]!.error).toMatch(/drain time/);
    // The provider had the request when it was cut, so its cost is unknown and its worst-case
    // hold stays counted as spent (README "Known and unknown cost"): the one hold left.
    expect(rows[0]!.cost_micro_usd).toBeNull();
    expect(heldHolds(dbPath)).toBe(1);

    // A restart on the same ledger can spend the rest of the budget: no in-flight hold is left.
    // (The cut call's kept hold is the whole $0.10 cap, so the restart gets room for one more.)
    const again = await spawnRaw(dbPath, { ...CONFIG, budget: { dailyUsd: 0.2 } });
    upstream.enqueue({ kind: 'openai', content: 'after restart', usage: { prompt_tokens: 5, completion_tokens: 100 } });
    chat(again, 3, 'after restart');
    const ok = await again.response(3);
    expect(ok.result.isError, JSON.stringify(ok)).toBeFalsy();
    expect(ok.result.structuredContent.content).toBe('after restart');
    again.child.stdin.end();
    expect(await exitCode(again)).toBe(0);
  });

  it('SIGINT: a call that finishes within drainMs gets its answer', async () => {
    const dbPath = join(dir, 'sigint.db');
    const server = await spawnRaw(dbPath, { ...CONFIG, drainMs: 5_000 });
    upstream.enqueue({ kind: 'openai', delayMs: 300, content: 'finished in the drain', usage: { prompt_tokens: 5, completion_tokens: 100 } });
    const before = upstream.requests.length;
    chat(server, 1, 'finish me');
    await upstream.waitForRequests(before + 1);
    server.child.kill('SIGINT');
    const answer = await server.response(1);
    expect(answer.result.isError, JSON.stringify(answer)).toBeFalsy();
    expect(answer.result.structuredContent.content).toBe('finished in the drain');
    expect(await exitCode(server)).toBe(0);
    expect(readRows(dbPath).map((r) => r.status)).toEqual(['ok']);
    expect(heldHolds(dbPath)).toBe(0);
  });

  it('a second SIGTERM cancels the calls in flight at once, still answering and recording them', async () => {
    const dbPath = join(dir, 'twice.db');
    const server = await spawnRaw(dbPath, { ...CONFIG, drainMs: 20_000 });
    upstream.enqueue({ kind: 'hang' });
    const before = upstream.requests.length;
    chat(server, 1, 'never answered');
    await upstream.waitForRequests(before + 1);
    server.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const second = Date.now();
    server.child.kill('SIGTERM');
    const cut = await server.response(1);
    expect(cut.result.isError).toBe(true);
    expect(await exitCode(server)).toBe(0);
    // Far sooner than the 20 s drain time.
    expect(Date.now() - second).toBeLessThan(5_000);
    expect(readRows(dbPath).map((r) => r.status)).toEqual(['cancelled']);
    // The provider had the request when it was cut: cost unknown, its worst-case hold kept as spent.
    expect(readRows(dbPath)[0]!.cost_micro_usd).toBeNull();
    expect(heldHolds(dbPath)).toBe(1);
  });
});
