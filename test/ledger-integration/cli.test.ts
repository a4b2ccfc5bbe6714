/**
 * The built CLI against a ledger written through the MCP tools: `cost` (table, bars, JSON, bad
 * input), `doctor`, and a server that refuses to start on a ledger it cannot use.
 */
import { mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteLedger } from '../../src/ledger/sqlite/sqlite-ledger.js';
import { startHarness, type Harness } from '../support/harness.js';
import type { Reply } from '../support/upstream.js';
import { childEnv, ensureBuilt, readRows, runCli, structured, type CliRun } from './fixtures/helpers.js';

const DAY = 86_400_000;
let dir: string;
let h: Harness;
let offset = 0;

// Calls 10, 2 and 1 days ago and today (UTC days differ for each), on the real clock: the CLI
// has no clock of its own. So the calls go to models that retire on no date: `mini` is a model of
// the config file at gpt-4o-mini's prices (gpt-4o-mini itself is refused from 2027-01-14).
const MINI = { provider: 'openai', providerModel: 'gpt-4o-mini', pricing: { inputPerMTok: 0.15, outputPerMTok: 0.6, cachedInputPerMTok: 0.075 } };
const PLAN: Array<{ daysAgo: number; model: string; reply: Reply }> = [
  { daysAgo: 10, model: 'mini', reply: { kind: 'openai', usage: { prompt_tokens: 100_000, completion_tokens: 0 } } },
  { daysAgo: 2, model: 'mini', reply: { kind: 'openai', usage: { prompt_tokens: 1000, completion_tokens: 1000 } } },
  { daysAgo: 1, model: 'claude-haiku-4-5', reply: { kind: 'anthropic', usage: { input_tokens: 1000, output_tokens: 1000 } } },
  { daysAgo: 0, model: 'mini', reply: { kind: 'openai', usage: { prompt_tokens: 2000, completion_tokens: 0 } } },
  { daysAgo: 0, model: 'mini', reply: { kind: 'error', status: 401 } },
  { daysAgo: 0, model: 'deepseek-chat', reply: { kind: 'openai', usage: { prompt_tokens: 1000, completion_tokens: 1000 } } },
  { daysAgo: 0, model: 'openai:gpt-4.1-nano', reply: { kind: 'openai', usage: { prompt_tokens: 10, completion_tokens: 10 } } },
];

beforeAll(async () => {
  await ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'ledger-cli-'));
  // deepseek-chat (an alias of deepseek-flash since DeepSeek retired the name) gets a flat price:
  // the CLI runs on the real clock, and DeepSeek's peak hours would make the totals depend on it.
  h = await startHarness({ now: () => Date.now() + offset, config: { models: { mini: MINI, 'deepseek-chat': { pricing: { inputPerMTok: 0.28, outputPerMTok: 0.42 } } } } });
  for (const call of PLAN) {
    offset = -call.daysAgo * DAY;
    h.upstream.enqueue(call.reply);
    await h.callTool('chat', { prompt: 'cli', model: call.model });
  }
  offset = 0;
}, 120_000);

afterAll(async () => {
  await h?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function cli(args: string[], extra: Record<string, string> = {}): Promise<CliRun> {
  return runCli(args, childEnv(undefined, dir, { LLM_SERVICE_DB: h.dbPath, ...extra }), dir);
}

/** Lines of the table proper: header, group rows, separator and total (the CLI has no session line). */
function tableLines(stdout: string): string[] {
  const lines = stdout.split('\n');
  const start = lines.findIndex((line) => /^(model|provider|day|principal|group)\s+calls\s/.test(line));
  const end = lines.findIndex((line, i) => i > start && line.startsWith('total'));
  expect(start, stdout).toBeGreaterThanOrEqual(0);
  expect(end, stdout).toBeGreaterThan(start);
  return lines.slice(start, end + 1);
}

describe('llm-service-mcp cost', () => {
  it('--since 7d --group-by model prints an aligned table of the calls of the last 7 days', async () => {
    const run = await cli(['cost', '--since', '7d', '--group-by', 'model']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout.split('\n')[0]).toMatch(new RegExp(`^Ledger ${h.dbPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, since \\d{4}-\\d\\d-\\d\\dT`));
    const lines = tableLines(run.stdout);
    expect(lines[0]).toMatch(/^model\s+calls\s+failed\s+prompt tok\s+completion tok\s+unpriced\s+cost \$$/);
    expect(lines.map((line) => line.split(/\s+/)[0])).toEqual([
      'model',
      'claude-haiku-4-5',
      'mini',
      'deepseek-chat',
      'openai:gpt-4.1-nano',
      expect.stringMatching(/^-+$/),
      'total',
    ]);
    for (const line of lines) expect(line.length, line).toBe(lines[0]!.length);
    // The 10-day-old call is outside the window: 6 calls, 7,750 micro-dollars priced, 1 unpriced.
    expect(lines.find((line) => line.startsWith('total'))).toMatch(/^total\s+6\s+1\s+5,010\s+3,010\s+1\s+0\.00775$/);
    expect(lines.find((line) => line.startsWith('mini'))).toMatch(/^mini\s+3\s+1\s+3,000\s+1,000\s+0\s+0\.00105$/);
    // The CLI is a process of its own that made no calls: a session line would always say 0.
    expect(run.stdout).not.toMatch(/^session/m);
    expect(run.stdout).toMatch(/unpriced: calls whose model has no known price/);
  });

  it('--group-by day shows one bar per day, proportional to its cost', async () => {
    const run = await cli(['cost', '--since', '7d', '--group-by', 'day']);
    expect(run.code, run.stderr).toBe(0);
    const lines = tableLines(run.stdout);
    const days = lines.filter((line) => /^\d{4}-\d\d-\d\d\s/.test(line));
    const expectedDays = [2, 1, 0].map((daysAgo) => new Date(Date.now() - daysAgo * DAY).toISOString().slice(0, 10));
    expect(days.map((line) => line.slice(0, 10))).toEqual(expectedDays);
    const bars = days.map((line) => (line.match(/█+$/)?.[0] ?? '').length);
    // 750, 6,000 and 1,000 micro-dollars: the dearest day gets the full 20 blocks.
    expect(bars).toEqual([Math.round((750 / 6000) * 20), 20, Math.round((1000 / 6000) * 20)]);
  });

  it('--json prints the report as JSON, equal to get_cost over the same span', async () => {
    const run = await cli(['cost', '--since', '7d', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.total).toEqual({ calls: 6, failed_calls: 1, prompt_tokens: 5010, completion_tokens: 3010, total_tokens: 8020, cost_usd: 0.00775, unpriced_calls: 1, unknown_cost_calls: 0 });
    const viaTool = structured(await h.callTool('get_cost', { since: '7d' }));
    expect(report.total).toEqual(viaTool.total);
    expect(report.groups).toEqual(viaTool.groups);
    expect(report.budget).toBeNull();

    const all = JSON.parse((await cli(['cost', '--since', '30d', '--group-by', 'provider', '--json'])).stdout);
    expect(all.total.calls).toBe(7);
    expect(all.total.calls).toBe(readRows(h.dbPath).length);
    expect(all.groups.map((g: { key: string }) => g.key)).toEqual(['openai', 'anthropic', 'deepseek']);
    const filtered = JSON.parse((await cli(['cost', '--since', '2000-01-01', '--model', 'mini', '--json'])).stdout);
    expect(filtered.total).toMatchObject({ calls: 4, failed_calls: 1 });
  });

  it('a budget from the config file shows in the report', async () => {
    const configPath = join(dir, 'budget.json');
    writeFileSync(configPath, JSON.stringify({ budget: { dailyUsd: 5, monthlyUsd: 50 } }));
    const run = await cli(['cost', '--since', '7d'], { LLM_SERVICE_CONFIG: configPath });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^budget: today \$0\.00 of \$5\.00, this month \$0\.\d\d of \$50\.00$/m);
  });

  it('--principal shows one gateway principal; --group-by principal shows each', async () => {
    const dbPath = join(dir, 'principals.db');
    const ledger = SqliteLedger.open(dbPath);
    const row = async (callId: string, principal: string | null, costMicroUsd: number) =>
      await ledger.record({
        callId, startedAt: Date.now() - 1000, model: 'gpt-4o-mini', provider: 'openai', providerModel: 'gpt-4o-mini',
        usage: null, pricing: null, costMicroUsd, latencyMs: 1, attempts: 1, status: 'ok', finishReason: 'stop', error: null, principal,
      });
    row('a1', 'alice', 1_000_000);
    row('a2', 'alice', 500_000);
    row('b1', 'bob', 250_000);
    row('l1', null, 2_000_000);
    await ledger.close();
    const env = { LLM_SERVICE_DB: dbPath };
    const alice = JSON.parse((await cli(['cost', '--principal', 'alice', '--json'], env)).stdout);
    expect(alice.total).toMatchObject({ calls: 2, cost_usd: 1.5 });
    const byPrincipal = await cli(['cost', '--group-by', 'principal'], env);
    expect(byPrincipal.code, byPrincipal.stderr).toBe(0);
    const lines = tableLines(byPrincipal.stdout);
    expect(lines[0]).toMatch(/^principal\s+calls\s/);
    expect(lines.slice(1, 4).map((line) => line.split(/\s+/)[0])).toEqual(['(local)', 'alice', 'bob']);
  });

  it.each([
    [['cost', '--since', '7x'], /^llm-service-mcp: --since: Invalid time '7x': use an ISO 8601 date or time, or a span such as 24h or 7d \(units: s, m or min \(minutes\), h, d, w, mo \(months\), y\)$/],
    [['cost', '--since', '2026-02-30'], /^llm-service-mcp: --since: Invalid time '2026-02-30'/],
    [['cost', '--until', 'tomorrow'], /^llm-service-mcp: --until: Invalid time 'tomorrow'/],
    [['cost', '--group-by', 'week'], /^llm-service-mcp: --group-by must be model, provider, day, principal or none, not 'week'$/],
    [['cost', '--sinse', '7d'], /^llm-service-mcp: .*sinse.*--help$/],
  ])('%j exits 1 with one clear stderr line', async (args, message) => {
    const run = await cli(args);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
  });
});

describe('llm-service-mcp doctor', () => {
  it('shows the ledger path, its size and its row count', async () => {
    const run = await cli(['doctor']);
    expect(run.code, run.stderr).toBe(0);
    const line = run.stdout.split('\n').find((l) => l.startsWith('ledger:'));
    expect(line).toBeDefined();
    const match = /^ledger:\s+(.+) \((\d+) KiB, (\d+) calls\)$/.exec(line!);
    expect(match, line).not.toBeNull();
    expect(match![1]).toBe(h.dbPath);
    expect(Number(match![2])).toBeGreaterThan(0);
    expect(Number(match![3])).toBe(PLAN.length);
  });
});

describe('a ledger that cannot be used stops the server at start', () => {
  /** Starts the server (no arguments) and expects exit 1 with one stderr line naming the ledger. */
  async function expectRefusedStart(dbPath: string, reason: RegExp): Promise<string> {
    const started = Date.now();
    const run = await runCli([], childEnv(undefined, dir, { LLM_SERVICE_DB: dbPath }), dir);
    expect(run.code).toBe(1);
    expect(Date.now() - started).toBeLessThan(10_000);
    // Nothing on the protocol channel: the host sees the process end, not a half-started server.
    expect(run.stdout).toBe('');
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines, run.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^llm-service-mcp: /);
    expect(lines[0]).toContain(dbPath);
    expect(lines[0]).toMatch(reason);
    expect(lines[0]).toMatch(/LLM_SERVICE_DB/);
    expect(lines[0]).not.toMatch(/\n\s+at /);
    return lines[0]!;
  }

  it('a directory as LLM_SERVICE_DB', async () => {
    const folder = join(dir, 'a-folder.db');
    mkdirSync(folder, { recursive: true });
    await expectRefusedStart(folder, /Cannot open the ledger/);
  });

  it('a file that is not SQLite', async () => {
    const path = join(dir, 'garbage.db');
    writeFileSync(path, 'this is not a database\n'.repeat(500));
    await expectRefusedStart(path, /is not a SQLite database or is damaged/);
  });

  it('a SQLite ledger whose pages are damaged', async () => {
    const path = join(dir, 'damaged.db');
    const ledger = SqliteLedger.open(path);
    for (let i = 0; i < 300; i++) {
      await ledger.record({
        callId: `call-${i}`,
        startedAt: Date.now(),
        model: 'gpt-4o-mini',
        provider: 'openai',
        providerModel: 'gpt-4o-mini',
        usage: null,
        pricing: null,
        costMicroUsd: 1,
        latencyMs: 1,
        attempts: 1,
        status: 'ok',
        finishReason: 'stop',
        error: 'x'.repeat(200),
      });
    }
    await ledger.close();
    // Overwrite three pages past the schema page with junk: the header still says SQLite.
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(3 * 4096, 0xab), 0, 3 * 4096, 2 * 4096);
    closeSync(fd);
    const line = await expectRefusedStart(path, /is not a SQLite database or is damaged/);
    console.info(`[cli] damaged ledger: ${line}`);
  });
});
