#!/usr/bin/env node
/**
 * `npm run bench`: what the server costs its users, each figure measured side by side with a
 * baseline in the same run (the official `openai` SDK, maxRetries 0, calling the same loopback
 * upstream directly). Prints figures; it is not a test and asserts nothing.
 *
 * Needs a built package (`npm run build`). Only 127.0.0.1 traffic. Every count is an env knob
 * (see CONFIG below); BENCH_ONLY=latency,startup runs some sections; BENCH_JSON=file also
 * writes the raw figures; BENCH_CPU_PROF=dir profiles the stdio server children.
 */
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import Database from 'better-sqlite3';
import OpenAI from 'openai';
import { summarize } from './profile-summary.mjs';
import { BENCH, CLI, cpuMsOfPid, envInt, fmtInt, fmtMs, load, machine, median, now, rssOfPid, runNode, serverEnv, stats, table, tempDir } from './lib.mjs';
import { gatewaySession, startGateway, startHttpFloor } from './gateway.mjs';
import { ensurePortkey, portkeyClient, startPortkey } from './portkey.mjs';
import { startUpstream } from './upstream.mjs';
import { sectionSharedLedger } from './pg-ledger.mjs';

// 1,000 requests written at once to a child's stdin park one 'drain' listener each: expected here.
EventEmitter.defaultMaxListeners = 0;

const CONFIG = {
  warmup: envInt('BENCH_WARMUP', 300),
  calls: envInt('BENCH_CALLS', 2000),
  block: envInt('BENCH_BLOCK', 100),
  inflight: envInt('BENCH_INFLIGHT', 1000),
  inflightDelayMs: envInt('BENCH_INFLIGHT_DELAY_MS', 200),
  inflightReps: envInt('BENCH_INFLIGHT_REPS', 3),
  firstDeltaCalls: envInt('BENCH_FIRST_DELTA_CALLS', 300),
  streamDeltas: envInt('BENCH_STREAM_DELTAS', 50_000),
  streamReps: envInt('BENCH_STREAM_REPS', 2),
  startupRuns: envInt('BENCH_STARTUP_RUNS', 10),
  ledgerRows: envInt('BENCH_LEDGER_ROWS', 5000),
  ledgerReps: envInt('BENCH_LEDGER_REPS', 3),
  costRows: envInt('BENCH_COST_ROWS', 1_000_000),
  costReps: envInt('BENCH_COST_REPS', 5),
  memoryCalls: envInt('BENCH_MEMORY_CALLS', 100_000),
  memoryEvery: envInt('BENCH_MEMORY_EVERY', 10_000),
  memoryConcurrency: envInt('BENCH_MEMORY_CONCURRENCY', 4),
  memorySdkCalls: envInt('BENCH_MEMORY_SDK_CALLS', 30_000),
  /** Extra node flags for the memory processes, e.g. "--max-old-space-size=64 --max-semi-space-size=1". */
  memoryNodeFlags: process.env.BENCH_MEMORY_NODE_FLAGS ?? '',
  httpCalls: envInt('BENCH_HTTP_CALLS', 1000),
  httpClients: envInt('BENCH_HTTP_CLIENTS', 100),
  httpDelayMs: envInt('BENCH_HTTP_DELAY_MS', 200),
  httpCallsPerClient: envInt('BENCH_HTTP_CALLS_PER_CLIENT', 10),
  httpReps: envInt('BENCH_HTTP_REPS', 3),
  sharedWrites: envInt('BENCH_SHARED_WRITES', 5000),
  sharedWriteConcurrency: envInt('BENCH_SHARED_WRITE_CONCURRENCY', 16),
  sharedAdmissions: envInt('BENCH_SHARED_ADMISSIONS', 1000),
  sharedAdmitConcurrency: envInt('BENCH_SHARED_ADMIT_CONCURRENCY', 4),
  sharedCostRows: envInt('BENCH_SHARED_COST_ROWS', 1_000_000),
};
const SECTIONS = ['startup', 'latency', 'inflight', 'streaming', 'ledger', 'cost', 'memory', 'http', 'shared-ledger'];
const only = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(',').map((s) => s.trim()) : SECTIONS;
const profDir = process.env.BENCH_CPU_PROF || undefined;
const results = { machine: machine(), config: CONFIG, startedAt: new Date().toISOString(), sections: {} };
/** Rows of the final summary: [metric, target, measured, baseline, verdict]. */
const summary = [];

const out = (text = '') => process.stdout.write(`${text}\n`);
const heading = (text) => out(`\n## ${text}  (load average ${load()})\n`);
const verdict = (ok) => (ok ? 'met' : 'MISSED');
const signed = (ms, digits = 3) => `${ms >= 0 ? '+' : ''}${fmtMs(ms, digits)}`;

// ---------------------------------------------------------------------------------------------
// Sessions: the server under test and its comparisons, each a real child over stdio.

/** PRAGMA synchronous values by number. */
const SYNC_NAMES = ['OFF', 'NORMAL', 'FULL', 'EXTRA'];
/** The `synchronous` setting the built ledger opens files with: read back in main(), never assumed. */
let SHIPPED_SYNC = '?';

/** Opens a fresh ledger with the built `SqliteLedger.open` and reads back its `synchronous` setting. */
async function shippedSynchronous() {
  const { SqliteLedger } = await import('../dist/ledger/sqlite/sqlite-ledger.js');
  const temp = tempDir();
  try {
    const ledger = SqliteLedger.open(join(temp.dir, 'probe.db'));
    // `db` is TypeScript-private, but a plain property at run time.
    const value = ledger.db.pragma('synchronous', { simple: true });
    await ledger.close();
    return SYNC_NAMES[value] ?? String(value);
  } finally {
    temp.remove();
  }
}

const SERVERS = {
  chat: {
    script: CLI,
    tool: 'chat',
    get label() {
      return `llm-service-mcp chat (dist/cli.js, ledger ${SHIPPED_SYNC} as shipped)`;
    },
  },
  // The same dist/cli.js with the ledger switched to synchronous = FULL: what one fsync per
  // recorded call (surviving an OS crash or power cut, not only a kill) would cost.
  'chat-full': { script: join(BENCH, 'cli-sync-full.mjs'), tool: 'chat', label: 'same, ledger synchronous=FULL (what-if)' },
  proxy: { script: join(BENCH, 'noop-server.mjs'), tool: 'proxy', label: 'bare MCP server: tool = one SDK call (floor)' },
  noop: { script: join(BENCH, 'noop-server.mjs'), tool: 'noop', label: 'bare MCP server: no-op tool, no upstream' },
};

async function openSession(kind, upstream, dir) {
  const spec = SERVERS[kind];
  const args = profDir ? ['--cpu-prof', `--cpu-prof-dir=${join(profDir, kind)}`, spec.script] : [spec.script];
  const transport = new StdioClientTransport({
    command: process.execPath,
    args,
    env: serverEnv(dir, upstream.baseURL, `${kind}.db`),
    stderr: 'pipe',
  });
  let stderrTail = '';
  transport.stderr?.on('data', (d) => (stderrTail = (stderrTail + d).slice(-4000)));
  const client = new Client({ name: 'llm-service-mcp-bench', version: '0.0.0' });
  await client.connect(transport);
  const call = async (args = { prompt: 'ping' }, options) => {
    const result = await client.callTool({ name: spec.tool, arguments: args }, undefined, options);
    if (result.isError) throw new Error(`${kind}: tool error ${JSON.stringify(result.content)}; server stderr: ${stderrTail}`);
    return result;
  };
  return { kind, client, transport, call, pid: transport.pid, close: () => client.close() };
}

function sdkClient(upstream) {
  const sdk = new OpenAI({ apiKey: 'sk-bench-not-a-real-key', baseURL: upstream.baseURL, maxRetries: 0 });
  const body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'ping' }] };
  return {
    kind: 'sdk',
    call: () => sdk.chat.completions.create(body),
    /** Streams; returns { first: time of the first content delta, text }. */
    stream: async () => {
      const stream = await sdk.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } });
      let first;
      const parts = [];
      for await (const chunk of stream) {
        const text = chunk.choices[0]?.delta?.content;
        if (text) {
          if (first === undefined) first = now();
          parts.push(text);
        }
      }
      return { first, text: parts.join('') };
    },
  };
}

/** Runs `fn` sequentially `count` times per variant, interleaving variants in blocks; returns samples (ms). */
async function interleaved(variants, count, block, fn) {
  const samples = Object.fromEntries(variants.map((v) => [v.kind, []]));
  const rounds = Math.ceil(count / block);
  for (let r = 0; r < rounds; r++) {
    const n = Math.min(block, count - r * block);
    // Rotate the order each round so no variant always runs right after another.
    const order = variants.map((_, i) => variants[(i + r) % variants.length]);
    for (const v of order) {
      for (let i = 0; i < n; i++) samples[v.kind].push(await fn(v));
    }
  }
  return samples;
}

function latencyRows(samples, baseKind, labels) {
  const base = stats(samples[baseKind]);
  return Object.entries(samples).map(([kind, values]) => {
    const s = stats(values);
    const added = kind === baseKind ? '' : `${signed(s.p50 - base.p50)} / ${signed(s.p99 - base.p99)}`;
    return [labels[kind] ?? kind, fmtMs(s.p50), fmtMs(s.p90), fmtMs(s.p99), fmtMs(s.max), fmtInt(1000 / s.mean), added];
  });
}

// ---------------------------------------------------------------------------------------------

async function rawStartup(args, env) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const child = spawn(process.execPath, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let buffer = '';
    let initMs;
    let toolsLine;
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.on('data', (d) => {
      buffer += d;
      let i;
      while ((i = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 1);
        const message = JSON.parse(line);
        if (message.id === 1) {
          initMs = now() - t0;
          child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })}\n`);
          child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} })}\n`);
        } else if (message.id === 2) {
          toolsLine = line;
          child.stdin.end();
        }
      }
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (initMs === undefined) reject(new Error(`${args.join(' ')} never answered initialize (exit ${code}): ${stderr.slice(-2000)}`));
      else resolve({ initMs, toolsLine });
    });
    child.stdin.write(
      `${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'bench', version: '0' } } })}\n`,
    );
  });
}

const BARE_NODE = `require('node:readline').createInterface({ input: process.stdin }).on('line', (l) => { const m = JSON.parse(l); if (m.id !== undefined) process.stdout.write(JSON.stringify({ jsonrpc: '2.0', id: m.id, result: { tools: [] } }) + '\\n'); });`;

async function sectionStartup() {
  heading('Start-up: spawn -> `initialize` answered, and the tools/list answer');
  const temp = tempDir();
  const env = serverEnv(temp.dir, 'http://127.0.0.1:9/v1');
  const variants = [
    { key: 'node', label: 'bare node answering JSON-RPC lines (floor)', args: ['-e', BARE_NODE] },
    { key: 'noop', label: 'bare MCP SDK server (noop-server.mjs)', args: [SERVERS.noop.script] },
    { key: 'ours', label: 'llm-service-mcp (node dist/cli.js)', args: [CLI] },
  ];
  const times = Object.fromEntries(variants.map((v) => [v.key, []]));
  let toolsLine;
  for (let r = 0; r < CONFIG.startupRuns + 1; r++) {
    for (const v of variants) {
      // One ledger file for all runs: run 0 creates it (and warms the OS file cache), later runs
      // open an existing ledger, as a host restarting the server does.
      const { initMs, toolsLine: line } = await rawStartup(v.args, { ...env, LLM_SERVICE_DB: join(temp.dir, 'startup.db') });
      if (r > 0) times[v.key].push(initMs);
      if (v.key === 'ours') toolsLine = line;
    }
  }
  out(table(
    ['process', 'p50 ms', 'p90 ms', 'min ms', 'max ms'],
    variants.map((v) => {
      const s = stats(times[v.key]);
      return [v.label, fmtMs(s.p50, 1), fmtMs(s.p90, 1), fmtMs(s.min, 1), fmtMs(s.max, 1)];
    }),
  ));

  // Where the time goes: the same steps as cli.ts, timed in fresh processes.
  const stepRuns = [];
  for (let r = 0; r < Math.max(3, Math.ceil(CONFIG.startupRuns / 2)); r++) {
    stepRuns.push(JSON.parse(await runNode([join(BENCH, 'startup-steps.mjs')], { env: { ...env, LLM_SERVICE_DB: join(temp.dir, 'startup.db') } })));
  }
  const stepRows = stepRuns[0].map(([name], i) => [name, fmtMs(median(stepRuns.map((run) => run[i][1])), 1)]);
  const stepTotal = stepRuns[0].reduce((sum, _, i) => sum + median(stepRuns.map((run) => run[i][1])), 0);
  out('\nWhere it goes (bench/startup-steps.mjs replays cli.ts serve(), median of fresh processes):\n');
  out(table(['step', 'ms'], [...stepRows, ['total to a ready server (before the stdio handshake)', fmtMs(stepTotal, 1)]]));

  // A CPU profile of one real start, summarised by package.
  const profileDir = join(temp.dir, 'startup-prof');
  await rawStartup(['--cpu-prof', `--cpu-prof-dir=${profileDir}`, CLI], { ...env, LLM_SERVICE_DB: join(temp.dir, 'startup.db') });
  const profileFile = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
  let profileText = '';
  if (profileFile) {
    const s = summarize(join(profileDir, profileFile), 12);
    profileText = s.byPackage;
    out(`\nnode --cpu-prof dist/cli.js (one start to tools/list and exit; ${s.totalMs.toFixed(0)} ms sampled), self time by package:\n`);
    out(profileText);
  }

  // Context cost of the tool listing.
  const tools = JSON.parse(toolsLine).result.tools;
  const bytes = Buffer.byteLength(toolsLine);
  heading('Context cost: the tools/list answer');
  out(table(
    ['tool', 'bytes (compact JSON)'],
    [...tools.map((t) => [t.name, fmtInt(Buffer.byteLength(JSON.stringify(t)))]), ['whole JSON-RPC answer line', fmtInt(bytes)]],
  ));
  const ours = stats(times.ours);
  summary.push(['start-up: spawn -> initialize answered (p50)', '<= 200 ms', `${fmtMs(ours.p50, 0)} ms`, `bare MCP SDK ${fmtMs(stats(times.noop).p50, 0)} ms, bare node ${fmtMs(stats(times.node).p50, 0)} ms`, verdict(ours.p50 <= 200)]);
  summary.push(['tools/list answer size', '<= 4 KB', `${fmtInt(bytes)} B`, '', verdict(bytes <= 4096)]);
  results.sections.startup = { times, steps: stepRuns, toolsListBytes: bytes, profileByPackage: profileText };
  temp.remove();
}

// ---------------------------------------------------------------------------------------------

async function sectionLatency(upstream) {
  heading(`Added latency per call over stdio: ${fmtInt(CONFIG.calls)} sequential calls per variant after ${CONFIG.warmup} warm-up, interleaved in blocks of ${CONFIG.block}`);
  const temp = tempDir();
  upstream.mode.delayMs = 0;
  const sdk = sdkClient(upstream);
  const sessions = [];
  for (const kind of ['noop', 'proxy', 'chat', 'chat-full']) sessions.push(await openSession(kind, upstream, temp.dir));
  const variants = [sdk, ...sessions];
  const first = await sessions.find((s) => s.kind === 'chat').call();
  if (first.structuredContent?.content !== 'pong') throw new Error(`unexpected chat result ${JSON.stringify(first)}`);
  await interleaved(variants, CONFIG.warmup, CONFIG.block, (v) => v.call());
  const cpuBefore = {};
  for (const session of sessions) cpuBefore[session.kind] = await cpuMsOfPid(session.pid);
  const samples = await interleaved(variants, CONFIG.calls, CONFIG.block, async (v) => {
    const t0 = now();
    await v.call();
    return now() - t0;
  });
  const cpuPerCall = {};
  for (const session of sessions) cpuPerCall[session.kind] = ((await cpuMsOfPid(session.pid)) - cpuBefore[session.kind]) / CONFIG.calls;
  const labels = { sdk: 'baseline: openai SDK direct (maxRetries 0)', ...Object.fromEntries(Object.entries(SERVERS).map(([k, v]) => [k, v.label])) };
  out(table(['variant', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'calls/s', 'added p50 / p99 vs SDK'], latencyRows(samples, 'sdk', labels)));
  const s = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, stats(v)]));
  out('\nDecomposition of the added p50 (differences of medians):');
  out(table(
    ['part', 'p50 ms'],
    [
      ['stdio JSON-RPC + MCP SDK, both ends (proxy - sdk)', fmtMs(s.proxy.p50 - s.sdk.p50)],
      [`our server: registry, adapter, retry, ledger ${SHIPPED_SYNC} (chat - proxy)`, fmtMs(s.chat.p50 - s.proxy.p50)],
      ['total added, as shipped (chat - sdk)', fmtMs(s.chat.p50 - s.sdk.p50)],
      ['what-if: one fsync per call, synchronous=FULL (chat-full - chat)', signed(s['chat-full'].p50 - s.chat.p50)],
    ],
  ));
  const rss = {};
  for (const session of sessions) rss[session.kind] = await rssOfPid(session.pid);
  out(`\nServer CPU (user+sys) per call: ${Object.entries(cpuPerCall).map(([k, v]) => `${k} ${fmtMs(v)} ms`).join(', ')}`);
  out(`Server RSS after the run: ${Object.entries(rss).map(([k, v]) => `${k} ${v.toFixed(1)} MB`).join(', ')}`);
  for (const session of sessions) await session.close();
  const addedP50 = s.chat.p50 - s.sdk.p50;
  const addedP99 = s.chat.p99 - s.sdk.p99;
  summary.push([`added latency per chat, p50 (ledger ${SHIPPED_SYNC})`, '<= 0.5 ms', `${signed(addedP50)} ms`, `SDK p50 ${fmtMs(s.sdk.p50)} ms; MCP floor ${signed(s.proxy.p50 - s.sdk.p50)}; FULL what-if ${signed(s['chat-full'].p50 - s.sdk.p50)}`, verdict(addedP50 <= 0.5)]);
  summary.push([`added latency per chat, p99 (ledger ${SHIPPED_SYNC})`, '<= 2 ms', `${signed(addedP99)} ms`, `SDK p99 ${fmtMs(s.sdk.p99)} ms; MCP floor ${signed(s.proxy.p99 - s.sdk.p99)}; FULL what-if ${signed(s['chat-full'].p99 - s.sdk.p99)}`, verdict(addedP99 <= 2)]);
  const perSec = (k) => 1000 / s[k].mean;
  summary.push(['sequential chat calls/s, zero-latency upstream', '>= 3,000/s', `${fmtInt(perSec('chat'))}/s`, `SDK ${fmtInt(perSec('sdk'))}/s; MCP floor ${fmtInt(perSec('proxy'))}/s; FULL what-if ${fmtInt(perSec('chat-full'))}/s`, verdict(perSec('chat') >= 3000)]);
  results.sections.latency = { stats: s, serverRssMB: rss, serverCpuMsPerCall: cpuPerCall };
  temp.remove();
}

// ---------------------------------------------------------------------------------------------

/** The upstream as a child process (so, like a real provider, it does not share the client's event loop). */
async function upstreamProcess(delayMs) {
  const child = spawn(process.execPath, [join(BENCH, 'upstream.mjs'), String(delayMs)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const info = await new Promise((resolve, reject) => {
    let buffer = '';
    child.stdout.on('data', (d) => {
      buffer += d;
      if (buffer.includes('\n')) resolve(JSON.parse(buffer.split('\n')[0]));
    });
    child.once('exit', (code) => reject(new Error(`upstream child exited ${code}`)));
  });
  return { ...info, close: () => new Promise((resolve) => (child.once('exit', resolve), child.stdin.end())) };
}

async function sectionInflight() {
  heading(`Concurrency: ${fmtInt(CONFIG.inflight)} calls in flight in one session, upstream (own process) answers after ${CONFIG.inflightDelayMs} ms`);
  const temp = tempDir();
  const upstream = await upstreamProcess(CONFIG.inflightDelayMs);
  const sdk = sdkClient(upstream);
  const sessions = [];
  for (const kind of ['proxy', 'chat', 'chat-full']) sessions.push(await openSession(kind, upstream, temp.dir));
  const variants = [sdk, ...sessions];
  // Warm-up: JIT, and a pool of keep-alive connections like a long-running session has.
  for (const v of variants) await Promise.all(Array.from({ length: Math.min(CONFIG.inflight, 200) }, () => v.call()));
  const walls = Object.fromEntries(variants.map((v) => [v.kind, []]));
  for (let r = 0; r < CONFIG.inflightReps; r++) {
    for (const v of variants.map((_, i) => variants[(i + r) % variants.length])) {
      const t0 = now();
      await Promise.all(Array.from({ length: CONFIG.inflight }, () => v.call()));
      walls[v.kind].push(now() - t0);
    }
  }
  for (const session of sessions) await session.close();
  await upstream.close();
  const labels = { sdk: 'baseline: openai SDK direct', proxy: SERVERS.proxy.label, chat: SERVERS.chat.label, 'chat-full': SERVERS['chat-full'].label };
  out(table(
    ['variant', 'median wall ms', 'min ms', 'max ms', 'over the 200 ms floor'],
    Object.entries(walls).map(([k, v]) => {
      const s = stats(v);
      return [labels[k], fmtMs(s.p50, 0), fmtMs(s.min, 0), fmtMs(s.max, 0), signed(s.p50 - CONFIG.inflightDelayMs, 0)];
    }),
  ));
  const chat = median(walls.chat);
  summary.push([`${fmtInt(CONFIG.inflight)} in-flight calls, ${CONFIG.inflightDelayMs} ms upstream: wall`, '<= 400 ms', `${fmtMs(chat, 0)} ms`, `SDK ${fmtMs(median(walls.sdk), 0)} ms; MCP floor ${fmtMs(median(walls.proxy), 0)} ms; FULL what-if ${fmtMs(median(walls['chat-full']), 0)} ms`, verdict(chat <= 400)]);
  results.sections.inflight = { walls };
  temp.remove();
}

// ---------------------------------------------------------------------------------------------

async function sectionStreaming(upstream) {
  heading('Streaming: first delta -> first progress notification; relay of a long stream');
  const temp = tempDir();
  const sdk = sdkClient(upstream);
  const chat = await openSession('chat', upstream, temp.dir);
  const firstDelta = { sdk: [], chat: [] };
  upstream.mode.delayMs = 0;
  upstream.mode.streamDeltas = 3;
  upstream.mode.streamGapMs = 3; // the first delta travels alone
  const marks = upstream.state.firstDeltaAt;
  const runs = {
    sdk: async () => {
      const index = marks.length;
      const { first } = await sdk.stream();
      return first - marks[index];
    },
    chat: async () => {
      const index = marks.length;
      let first;
      await chat.call({ prompt: 'ping' }, { onprogress: () => (first ??= now()) });
      return first - marks[index];
    },
  };
  const variants = [{ kind: 'sdk' }, { kind: 'chat' }];
  await interleaved(variants, 50, 25, (v) => runs[v.kind]());
  Object.assign(firstDelta, await interleaved(variants, CONFIG.firstDeltaCalls, 50, (v) => runs[v.kind]()));
  // A call whose result came back with no progress notification before it has no delay to report.
  const missing = { sdk: firstDelta.sdk.filter((x) => !(x >= 0)).length, chat: firstDelta.chat.filter((x) => !(x >= 0)).length };
  const fd = { sdk: stats(firstDelta.sdk.filter((x) => x >= 0)), chat: stats(firstDelta.chat.filter((x) => x >= 0)) };
  out(`Upstream writes its first content delta, then pauses ${upstream.mode.streamGapMs} ms; clock read in the same process as the client. ${CONFIG.firstDeltaCalls} streams each.\n`);
  out(table(
    ['upstream first delta ->', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'],
    [
      ['first chunk out of the openai SDK stream (baseline)', fmtMs(fd.sdk.p50), fmtMs(fd.sdk.p90), fmtMs(fd.sdk.p99), fmtMs(fd.sdk.max)],
      ['first notifications/progress at the MCP client', fmtMs(fd.chat.p50), fmtMs(fd.chat.p90), fmtMs(fd.chat.p99), fmtMs(fd.chat.max)],
    ],
  ));
  if (missing.sdk + missing.chat > 0) out(`\n(no content delta / no progress before the result: SDK ${missing.sdk}, chat ${missing.chat} of ${CONFIG.firstDeltaCalls})`);

  // Relay throughput.
  upstream.mode.streamDeltas = CONFIG.streamDeltas;
  upstream.mode.streamGapMs = 0;
  const expected = upstream.mode.deltaText.repeat(CONFIG.streamDeltas);
  const relay = { sdk: [], chat: [] };
  let notices = [];
  for (let r = 0; r < CONFIG.streamReps; r++) {
    let t0 = now();
    const { text } = await sdk.stream();
    relay.sdk.push({ ms: now() - t0 });
    if (text !== expected) throw new Error('SDK stream text mismatch');
    let count = 0;
    let relayed = '';
    let lastNotice;
    let maxGap = 0;
    const doneMarks = upstream.state.streamDoneAt;
    const doneIndex = doneMarks.length;
    t0 = now();
    const result = await chat.call({ prompt: 'ping' }, {
      onprogress: (p) => {
        const t = now();
        if (lastNotice !== undefined) maxGap = Math.max(maxGap, t - lastNotice);
        lastNotice = t;
        count++;
        relayed += p.message ?? '';
      },
      resetTimeoutOnProgress: true,
    });
    const end = now();
    relay.chat.push({ ms: end - t0, notices: count, maxGapMs: maxGap, lagAfterUpstreamMs: end - doneMarks[doneIndex], resultOk: result.structuredContent?.content === expected, relayOk: relayed === expected });
    notices.push(count);
  }
  const sdkMs = median(relay.sdk.map((x) => x.ms));
  const chatMs = median(relay.chat.map((x) => x.ms));
  const lag = median(relay.chat.map((x) => x.lagAfterUpstreamMs));
  out(`\n${fmtInt(CONFIG.streamDeltas)} deltas of ${upstream.mode.deltaText.length} chars, upstream writes as fast as the reader takes them (median of ${CONFIG.streamReps}):\n`);
  out(table(
    ['variant', 'wall ms', 'deltas/s', 'notifications', 'text intact'],
    [
      ['openai SDK consuming the stream (baseline)', fmtMs(sdkMs, 0), fmtInt(CONFIG.streamDeltas / (sdkMs / 1000)), '-', 'yes'],
      ['chat over stdio, relayed as progress', fmtMs(chatMs, 0), fmtInt(CONFIG.streamDeltas / (chatMs / 1000)), fmtInt(median(notices)), relay.chat.every((x) => x.resultOk && x.relayOk) ? 'yes' : 'NO'],
    ],
  ));
  out(`\nLongest gap between two progress notifications ${fmtMs(median(relay.chat.map((x) => x.maxGapMs)), 1)} ms (relay interval: progressIntervalMs, default 50 ms); result at the client ${fmtMs(lag, 1)} ms after the upstream handed its last byte to the socket.`);
  upstream.mode.streamDeltas = 3;
  await chat.close();
  summary.push(['streaming: upstream first delta -> first progress (p50)', '<= 2 ms', `${fmtMs(fd.chat.p50)} ms (${signed(fd.chat.p50 - fd.sdk.p50)} vs SDK)`, `SDK first chunk ${fmtMs(fd.sdk.p50)} ms; p99 ${fmtMs(fd.chat.p99)} vs ${fmtMs(fd.sdk.p99)}`, verdict(fd.chat.p50 <= 2)]);
  summary.push([`streaming: relay of ${fmtInt(CONFIG.streamDeltas)} deltas`, 'keeps up, coalesces', `${fmtInt(CONFIG.streamDeltas / (chatMs / 1000))} deltas/s, ${fmtInt(median(notices))} notifications`, `SDK alone ${fmtInt(CONFIG.streamDeltas / (sdkMs / 1000))} deltas/s`, relay.chat.every((x) => x.resultOk && x.relayOk) ? 'met' : 'MISSED']);
  results.sections.streaming = { firstDelta: fd, firstDeltaMissing: missing, relay };
  temp.remove();
}

// ---------------------------------------------------------------------------------------------

const SAMPLE_RECORD = {
  callId: '00000000-0000-4000-8000-000000000000',
  model: 'gpt-4o-mini',
  provider: 'openai',
  providerModel: 'gpt-4o-mini-2024-07-18',
  usage: { promptTokens: 11, completionTokens: 7, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, totalTokens: 18, raw: { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 } },
  pricing: { inputPerMTok: 0.15, outputPerMTok: 0.6 },
  costMicroUsd: 6,
  latencyMs: 412,
  attempts: 1,
  status: 'ok',
  finishReason: 'stop',
  error: null,
};

async function sectionLedger() {
  heading(`Ledger: SqliteLedger.record() rate on a temp file, ${fmtInt(CONFIG.ledgerRows)} rows per run, ${CONFIG.ledgerReps} runs`);
  const { SqliteLedger } = await import('../dist/ledger/sqlite/sqlite-ledger.js');
  const temp = tempDir();
  // 'shipped': the ledger exactly as SqliteLedger.open leaves it. The what-if is the other durability
  // level: FULL (one fsync of the WAL per commit) while the product ships NORMAL.
  const whatIf = SHIPPED_SYNC === 'FULL' ? 'NORMAL' : 'FULL';
  const modes = ['shipped', whatIf];
  const rates = Object.fromEntries(modes.map((m) => [m, []]));
  const seen = {};
  for (let r = 0; r < CONFIG.ledgerReps; r++) {
    for (const mode of r % 2 === 0 ? modes : [...modes].reverse()) {
      const ledger = SqliteLedger.open(join(temp.dir, `rate-${mode}-${r}.db`));
      if (mode !== 'shipped') ledger.db.pragma(`synchronous = ${mode}`);
      seen[mode] = SYNC_NAMES[ledger.db.pragma('synchronous', { simple: true })];
      const t0 = now();
      for (let i = 0; i < CONFIG.ledgerRows; i++) await ledger.record({ ...SAMPLE_RECORD, startedAt: Date.now() });
      rates[mode].push(CONFIG.ledgerRows / ((now() - t0) / 1000));
      await ledger.close();
    }
  }
  const label = (m) => (m === 'shipped' ? `${seen[m]} (as shipped)` : `${seen[m]} (what-if)`);
  out(table(
    ['journal_mode=WAL, synchronous=', 'median rows/s', 'min', 'max', 'us per record'],
    modes.map((m) => {
      const s = stats(rates[m]);
      return [label(m), fmtInt(s.p50), fmtInt(s.min), fmtInt(s.max), fmtMs(1e6 / s.p50, 1)];
    }),
  ));
  out('\nNORMAL: a committed row survives a kill of the server (SIGKILL included), not an OS crash or power cut.');
  out('FULL: also survives those, at one fsync of the WAL per commit. Each record() also runs the hourly_totals trigger.');
  const shipped = median(rates.shipped);
  const other = median(rates[whatIf]);
  summary.push([`ledger: recorded calls/s (${seen.shipped}, as shipped)`, '>= 20,000/s', `${fmtInt(shipped)}/s (${fmtMs(1e6 / shipped, 1)} us per record)`, `${seen[whatIf]} what-if ${fmtInt(other)}/s (${fmtMs(1e6 / other, 1)} us)`, verdict(shipped >= 20000)]);
  results.sections.ledger = { shippedSynchronous: seen.shipped, whatIf: seen[whatIf], rates };
  temp.remove();
}

const SCAN_SUMS = `COUNT(*) AS calls, SUM(status <> 'ok') AS failed_calls, SUM(prompt_tokens) AS prompt_tokens,
  SUM(completion_tokens) AS completion_tokens, COALESCE(SUM(cost_micro_usd), 0) AS cost_micro_usd, SUM(cost_micro_usd IS NULL) AS unpriced_calls`;

/** Fills `calls` with `rows` synthetic rows spread over the last 30 days, in one statement. */
function bulkFill(file, rows) {
  const db = new Database(file);
  db.pragma('synchronous = OFF');
  const insert = db.prepare(`
    WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c LIMIT ?)
    INSERT INTO calls (call_id, session_id, started_at, model, provider, provider_model, prompt_tokens, completion_tokens,
      cached_tokens, cache_write_tokens, reasoning_tokens, cost_micro_usd, input_price_per_mtok, output_price_per_mtok,
      latency_ms, attempts, status, finish_reason, error, raw_usage)
    SELECT printf('%08x-0000-4000-8000-%012d', x, x), printf('%08x-0000-4000-8000-000000000000', x / 1000),
      strftime('%Y-%m-%dT%H:%M:%fZ', (? - x * ?) / 1000.0, 'unixepoch'),
      CASE x % 8 WHEN 0 THEN 'gpt-4o-mini' WHEN 1 THEN 'gpt-4.1' WHEN 2 THEN 'claude-sonnet-4' WHEN 3 THEN 'claude-3-5-haiku'
        WHEN 4 THEN 'deepseek-chat' WHEN 5 THEN 'qwen-plus' WHEN 6 THEN 'gpt-4.1-nano' ELSE 'o4-mini' END,
      CASE x % 8 WHEN 2 THEN 'anthropic' WHEN 3 THEN 'anthropic' WHEN 4 THEN 'deepseek' WHEN 5 THEN 'qwen' ELSE 'openai' END,
      'provider-model-2025-01-01', 100 + x % 2000, 10 + x % 700, x % 50, 0, 0,
      CASE WHEN x % 97 = 0 THEN NULL ELSE 50 + x % 5000 END, 0.15, 0.6, 300 + x % 4000, 1,
      CASE WHEN x % 33 = 0 THEN 'error' ELSE 'ok' END, CASE WHEN x % 33 = 0 THEN NULL ELSE 'stop' END,
      CASE WHEN x % 33 = 0 THEN 'openai: 503 Service Unavailable (the upstream is overloaded); 3 attempts' ELSE NULL END,
      '{"prompt_tokens":' || (100 + x % 2000) || ',"completion_tokens":' || (10 + x % 700) || ',"total_tokens":' || (110 + x % 2000 + x % 700) || '}'
    FROM c`);
  insert.run(rows, Date.now(), Math.floor((30 * 86_400_000) / rows));
  db.close();
}

async function sectionCost() {
  heading(`get_cost over a ${fmtInt(CONFIG.costRows)}-row ledger (in-process server, SDK Client over InMemoryTransport)`);
  const { SqliteLedger } = await import('../dist/ledger/sqlite/sqlite-ledger.js');
  const { buildSettings } = await import('../dist/config.js');
  const { createServer } = await import('../dist/server.js');
  const { createLogger } = await import('../dist/logger.js');
  const temp = tempDir();
  const file = join(temp.dir, 'big.db');
  await SqliteLedger.open(file).close();
  let t0 = now();
  bulkFill(file, CONFIG.costRows);
  const buildMs = now() - t0;
  out(`Built ${fmtInt(CONFIG.costRows)} rows in ${fmtMs(buildMs / 1000, 1)} s (one INSERT ... SELECT, synchronous=OFF); file ${fmtInt(statSync(file).size / 2 ** 20)} MB.\n`);
  const ledger = SqliteLedger.open(file);
  const settings = buildSettings({}, serverEnv(temp.dir, 'http://127.0.0.1:9/v1', 'big.db'));
  const created = createServer({ settings, ledger, logger: createLogger({ write: () => undefined }) });
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
  await created.server.connect(serverTransport);
  const client = new Client({ name: 'bench-cost', version: '0.0.0' });
  await client.connect(clientTransport);
  const queries = [
    { group_by: 'model' },
    { group_by: 'provider' },
    { group_by: 'day' },
    { group_by: 'none' },
    { group_by: 'model', since: '7d' },
    { group_by: 'day', since: '24h' },
    { group_by: 'day', model: 'gpt-4o-mini', since: '7d' },
  ];
  const rows = [];
  const timings = {};
  let byModelGroups;
  for (const q of queries) {
    const times = [];
    let calls;
    for (let r = 0; r < CONFIG.costReps + 1; r++) {
      t0 = now();
      const result = await client.callTool({ name: 'get_cost', arguments: q });
      const ms = now() - t0;
      if (result.isError) throw new Error(`get_cost failed: ${JSON.stringify(result.content)}`);
      calls = result.structuredContent.total.calls;
      if (q.group_by === 'model' && q.since === undefined) byModelGroups = result.structuredContent.groups;
      if (r > 0) times.push(ms); // the first run warms the page cache
    }
    const s = stats(times);
    timings[JSON.stringify(q)] = s;
    rows.push([JSON.stringify(q), fmtInt(calls), fmtMs(s.p50, 1), fmtMs(s.min, 1), fmtMs(s.max, 1)]);
  }
  out(table(['get_cost arguments', 'calls matched', 'median ms', 'min ms', 'max ms'], rows));
  await client.close();
  await created.close();

  // The budget check every chat call makes when a cap is set: sums this day's / month's spend
  // under the write lock (from hourly_totals since migration 3, so it no longer grows with the
  // rows of the period).
  const reserveRows = [];
  for (const [label, budget] of [['no budget (default)', undefined], ['dailyUsd set', { dailyUsd: 1e9 }], ['monthlyUsd set', { monthlyUsd: 1e9 }]]) {
    const times = [];
    for (let r = 0; r < CONFIG.costReps + 1; r++) {
      t0 = now();
      const held = await ledger.reserve(1000, budget);
      if (r > 0) times.push(now() - t0);
      if (held.ok && held.reservationId !== undefined) await ledger.release(held.reservationId);
    }
    reserveRows.push([label, fmtMs(median(times), 2)]);
  }
  out('\nPer-call budget check on the same ledger (SqliteLedger.reserve(), run before every chat call):\n');
  out(table(['budget', 'median ms per call'], reserveRows));
  await ledger.close();

  // Reference: the same by-model report as one scan of `calls` (what get_cost did before the
  // hourly_totals rollup of migration 3: the `+model` table scan and sort), checked against it.
  const db = new Database(file, { readonly: true });
  const scanQuery = db.prepare(`SELECT +model AS key, ${SCAN_SUMS} FROM calls GROUP BY key ORDER BY cost_micro_usd DESC, calls DESC, key`);
  const scanTimes = [];
  let scanRows;
  for (let r = 0; r < CONFIG.costReps + 1; r++) {
    t0 = now();
    scanRows = scanQuery.all();
    if (r > 0) scanTimes.push(now() - t0);
  }
  db.close();
  const scanMs = median(scanTimes);
  const groups = byModelGroups ?? [];
  const same = scanRows.length === groups.length && scanRows.every((row, i) => row.key === groups[i].key && row.calls === groups[i].calls && row.failed_calls === groups[i].failed_calls && row.unpriced_calls === groups[i].unpriced_calls && row.prompt_tokens === groups[i].prompt_tokens);
  out(`\nReference (bench only): the by-model report as one scan of \`calls\` (no hourly_totals, as get_cost did before migration 3) takes ${fmtMs(scanMs, 1)} ms; same groups and counts as get_cost: ${same ? 'yes' : 'NO'}.`);
  const byModel = timings[JSON.stringify({ group_by: 'model' })].p50;
  const worst = Math.max(...Object.values(timings).map((s) => s.p50));
  summary.push([`get_cost grouped, ${fmtInt(CONFIG.costRows)}-row ledger`, '<= 50 ms', `${fmtMs(byModel, 1)} ms by model; worst ${fmtMs(worst, 1)} ms`, `scan of calls (no rollup) ${fmtMs(scanMs, 0)} ms by model`, verdict(worst <= 50)]);
  const monthly = reserveRows.find(([label]) => label === 'monthlyUsd set')?.[1];
  summary.push(['per-call budget check, monthly cap (SqliteLedger.reserve())', '(none)', `${monthly} ms`, `daily cap ${reserveRows.find(([label]) => label === 'dailyUsd set')?.[1]} ms; no budget ${reserveRows[0][1]} ms`, '-']);
  results.sections.cost = { buildMs, timings, reserve: reserveRows, scanByModel: { ms: scanMs, sameAsGetCost: same } };
  temp.remove();
}

// ---------------------------------------------------------------------------------------------

async function sectionMemory() {
  heading(`Memory: RSS over ${fmtInt(CONFIG.memoryCalls)} chat calls through the in-process server (${CONFIG.memoryConcurrency} in flight), forced GC before each sample${CONFIG.memoryNodeFlags ? `; node ${CONFIG.memoryNodeFlags}` : ''}`);
  const run = async (mode) => {
    const calls = mode === 'sdk' ? Math.min(CONFIG.memoryCalls, CONFIG.memorySdkCalls) : CONFIG.memoryCalls;
    const args = ['--expose-gc', ...CONFIG.memoryNodeFlags.split(' ').filter(Boolean), join(BENCH, 'memory.mjs'), String(calls), String(CONFIG.memoryEvery), String(CONFIG.memoryConcurrency), mode];
    const stdout = await runNode(args, { timeoutMs: 600_000 });
    return JSON.parse(stdout.trim().split('\n').pop());
  };
  const server = await run('server');
  const sdk = await run('sdk');
  out('Each in its own process; upstream in a third. "server" = MCP SDK Client + InMemoryTransport + dist/server.js + ledger file;');
  out(`"SDK" = the same calls made directly with the openai SDK in a process that loads nothing else (first ${fmtInt(sdk.calls)} calls, BENCH_MEMORY_SDK_CALLS).\n`);
  out(table(
    ['calls', 'server RSS MB', 'heap total', 'heap used', 'SDK-only RSS MB', 'heap total', 'heap used'],
    server.samples.map((s, i) => {
      const b = sdk.samples[i];
      return [fmtInt(s.calls), s.rssMB.toFixed(1), s.heapTotalMB.toFixed(1), s.heapUsedMB.toFixed(1), b ? b.rssMB.toFixed(1) : '-', b ? b.heapTotalMB.toFixed(1) : '-', b ? b.heapUsedMB.toFixed(1) : '-'];
    }),
  ));
  // Slope of RSS over the second half of the samples, MB per 10k calls (NaN with too few samples).
  const drift = (m) => {
    const half = m.samples.slice(Math.floor(m.samples.length / 2));
    if (half.length < 3) return NaN;
    return (half[half.length - 1].rssMB - half[0].rssMB) / ((half[half.length - 1].calls - half[0].calls) / 10_000);
  };
  const fmtDrift = (x) => (Number.isNaN(x) ? 'n/a' : `${x >= 0 ? '+' : ''}${x.toFixed(2)}`);
  const heapDrift = (m) => m.samples[m.samples.length - 1].heapUsedMB - m.samples[0].heapUsedMB;
  out(`\nserver: ${fmtInt(server.calls)} calls in ${fmtMs(server.elapsedMs / 1000, 1)} s (${fmtInt(server.calls / (server.elapsedMs / 1000))}/s), ledger rows ${fmtInt(server.rows)}; RSS drift over the second half ${fmtDrift(drift(server))} MB per 10k calls; heap used ${heapDrift(server) >= 0 ? '+' : ''}${heapDrift(server).toFixed(1)} MB first to last sample.`);
  out(`SDK:    ${fmtInt(sdk.calls)} calls in ${fmtMs(sdk.elapsedMs / 1000, 1)} s (${fmtInt(sdk.calls / (sdk.elapsedMs / 1000))}/s); RSS max ${Math.max(...sdk.samples.map((x) => x.rssMB)).toFixed(1)} MB; heap used ${heapDrift(sdk) >= 0 ? '+' : ''}${heapDrift(sdk).toFixed(1)} MB.`);
  const rss = server.samples.map((s) => s.rssMB);
  const sdkRss = sdk.samples.map((s) => s.rssMB);
  const last = rss[rss.length - 1];
  summary.push([
    `RSS after ${fmtInt(server.calls)} calls (server + client, one process)`,
    '<= 80 MB, flat',
    `${last.toFixed(1)} MB (max ${Math.max(...rss).toFixed(1)}); heap used ${server.samples[server.samples.length - 1].heapUsedMB.toFixed(1)} MB`,
    `SDK-only process ${sdkRss[sdkRss.length - 1].toFixed(1)} MB (max ${Math.max(...sdkRss).toFixed(1)}); server drift ${fmtDrift(drift(server))} MB/10k`,
    verdict(Math.max(...rss) <= 80 && !(Math.abs(drift(server)) >= 1)),
  ]);
  results.sections.memory = { server, sdk };
}

// ---------------------------------------------------------------------------------------------

/**
 * The team gateway over Streamable HTTP (stateless: every call is its own POST, authenticated
 * with a static bearer token): added latency per call against the direct SDK call and against
 * the same server over stdio; then throughput with many concurrent clients and a slow upstream.
 * Side by side in the same run, Portkey's open-source gateway (bench/portkey.mjs) relays the same
 * chat completion to the same upstream, called with the `openai` SDK as its README shows. Target
 * (issue #12): less added latency than Portkey at p50 and p99, and no lower throughput.
 */
async function sectionHttp(upstream) {
  const notInstalled = process.env.BENCH_PORTKEY === '0' ? 'BENCH_PORTKEY=0' : ensurePortkey((line) => out(line));
  if (notInstalled) out(`Portkey's gateway is left out of this run: ${notInstalled}`);
  const withPortkey = !notInstalled;
  heading(`Team gateway over HTTP: ${fmtInt(CONFIG.httpCalls)} sequential calls per variant after ${Math.min(CONFIG.warmup, 200)} warm-up, interleaved in blocks of ${CONFIG.block}`);
  const temp = tempDir();
  upstream.mode.delayMs = 0;
  const gateway = await startGateway(temp.dir, upstream.baseURL);
  const portkey = withPortkey ? await startPortkey() : undefined;
  const sdk = sdkClient(upstream);
  const http = await gatewaySession(gateway);
  const stdio = await openSession('chat', upstream, temp.dir);
  const viaPortkey = withPortkey ? portkeyClient(portkey, upstream) : undefined;
  // The floors (bench/http-floor.mjs): what any MCP relay over Streamable HTTP adds with this client.
  const floors = await Promise.all(['sdk', 'raw'].map((mode) => startHttpFloor(mode, temp.dir, upstream.baseURL)));
  const floorSessions = await Promise.all(floors.map((floor, i) => gatewaySession(floor, i === 0 ? 'floor-sdk' : 'floor-raw')));
  const variants = [sdk, stdio, http, ...(withPortkey ? [viaPortkey] : []), ...floorSessions];
  const first = await http.call();
  if (first.structuredContent?.content !== 'pong') throw new Error(`unexpected chat result ${JSON.stringify(first)}`);
  if (withPortkey) {
    const answer = await viaPortkey.call();
    if (answer.choices?.[0]?.message?.content !== 'pong') throw new Error(`unexpected answer through Portkey ${JSON.stringify(answer)}`);
  }
  await interleaved(variants, Math.min(CONFIG.warmup, 200), CONFIG.block, (v) => v.call());
  const cpuBefore = await cpuMsOfPid(gateway.pid);
  const portkeyCpuBefore = withPortkey ? await cpuMsOfPid(portkey.pid) : NaN;
  const upstreamBefore = upstream.state.requests;
  const samples = await interleaved(variants, CONFIG.httpCalls, CONFIG.block, async (v) => {
    const t0 = now();
    await v.call();
    return now() - t0;
  });
  const cpuPerCall = ((await cpuMsOfPid(gateway.pid)) - cpuBefore) / CONFIG.httpCalls;
  const portkeyCpuPerCall = withPortkey ? ((await cpuMsOfPid(portkey.pid)) - portkeyCpuBefore) / CONFIG.httpCalls : NaN;
  const labels = {
    sdk: 'baseline: openai SDK direct (maxRetries 0)',
    chat: 'llm-service-mcp chat over stdio',
    http: 'llm-service-mcp chat over HTTP (gateway, bearer token)',
    portkey: 'Portkey gateway (openai SDK through it, custom host = same upstream)',
    'floor-sdk': 'floor: MCP SDK stateless server + openai SDK call, nothing else',
    'floor-raw': 'floor: node:http + fetch, JSON-RPC by hand, nothing else',
  };
  out(table(['variant', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'calls/s', 'added p50 / p99 vs SDK'], latencyRows(samples, 'sdk', labels)));
  const s = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, stats(v)]));
  const upstreamCalls = upstream.state.requests - upstreamBefore;
  out(`\nUpstream requests during the measured calls: ${fmtInt(upstreamCalls)} (expected ${fmtInt(CONFIG.httpCalls * variants.length)}: every variant reached the upstream once per call)`);
  out(`Gateway CPU (user+sys) per call: ${fmtMs(cpuPerCall)} ms; RSS after the run ${(await rssOfPid(gateway.pid)).toFixed(1)} MB`);
  if (withPortkey) out(`Portkey CPU (user+sys) per call: ${fmtMs(portkeyCpuPerCall)} ms; RSS after the run ${(await rssOfPid(portkey.pid)).toFixed(1)} MB`);
  await http.close();
  await stdio.close();
  await gateway.close();
  await portkey?.close();
  for (const session of floorSessions) await session.close();
  for (const floor of floors) await floor.close();
  const added = (kind, q) => s[kind][q] - s.sdk[q];
  const vsPortkey = (q) => (withPortkey ? `; Portkey ${signed(added('portkey', q))}` : '');
  summary.push(['gateway: added latency per chat over HTTP, p50', 'less than Portkey', `${signed(added('http', 'p50'))} ms`, `SDK p50 ${fmtMs(s.sdk.p50)} ms; stdio ${signed(added('chat', 'p50'))}${vsPortkey('p50')}`, withPortkey ? verdict(added('http', 'p50') < added('portkey', 'p50')) : '-']);
  summary.push(['gateway: added latency per chat over HTTP, p99', 'less than Portkey', `${signed(added('http', 'p99'))} ms`, `SDK p99 ${fmtMs(s.sdk.p99)} ms; stdio ${signed(added('chat', 'p99'))}${vsPortkey('p99')}`, withPortkey ? verdict(added('http', 'p99') < added('portkey', 'p99')) : '-']);

  heading(`Team gateway throughput: ${CONFIG.httpClients} concurrent clients, ${CONFIG.httpCallsPerClient} sequential calls each, upstream (own process) answers after ${CONFIG.httpDelayMs} ms; ${CONFIG.httpReps} rep(s), variant order rotated each rep`);
  const slow = await upstreamProcess(CONFIG.httpDelayMs);
  const slowGateway = await startGateway(temp.dir, slow.baseURL);
  const slowPortkey = withPortkey ? await startPortkey() : undefined;
  const sdkSlow = sdkClient(slow);
  const clients = await Promise.all(Array.from({ length: CONFIG.httpClients }, () => gatewaySession(slowGateway)));
  // One `openai` client per simulated client, as 100 separate callers of Portkey would have.
  const portkeyClients = withPortkey ? Array.from({ length: CONFIG.httpClients }, () => portkeyClient(slowPortkey, slow)) : [];
  // A failed call (e.g. a keep-alive connection the server closed as the client reused it) is
  // counted and shown, not fatal: calls/s counts only the calls that got an answer.
  const run = async (call) => {
    const t0 = now();
    const latencies = [];
    const errors = [];
    await Promise.all(
      Array.from({ length: CONFIG.httpClients }, async (_, i) => {
        for (let n = 0; n < CONFIG.httpCallsPerClient; n++) {
          const c0 = now();
          try {
            await call(i);
            latencies.push(now() - c0);
          } catch (error) {
            errors.push(`${error.message}${error.cause ? ` (${error.cause.cause?.code ?? error.cause.message})` : ''}`);
          }
        }
      }),
    );
    const wall = now() - t0;
    return { wall, perSec: (latencies.length * 1000) / wall, latencies, errors };
  };
  // Warm-up: one call per client (connections, JIT).
  await Promise.all(clients.map((c) => c.call()));
  await Promise.all(portkeyClients.map((c) => c.call()));
  const throughputVariants = [
    { kind: 'sdk', label: 'baseline: openai SDK direct, same concurrency', call: () => sdkSlow.call() },
    { kind: 'http', label: 'llm-service-mcp gateway over HTTP', call: (i) => clients[i].call() },
    ...(withPortkey ? [{ kind: 'portkey', label: 'Portkey gateway', call: (i) => portkeyClients[i].call() }] : []),
  ];
  const reps = Object.fromEntries(throughputVariants.map((v) => [v.kind, []]));
  for (let r = 0; r < CONFIG.httpReps; r++) {
    for (const v of throughputVariants.map((_, i) => throughputVariants[(i + r) % throughputVariants.length])) reps[v.kind].push(await run(v.call));
  }
  const ideal = fmtInt((CONFIG.httpClients * 1000) / CONFIG.httpDelayMs);
  const through = Object.fromEntries(
    throughputVariants.map((v) => {
      const runs = reps[v.kind];
      return [v.kind, { walls: runs.map((x) => x.wall), perSecByRep: runs.map((x) => x.perSec), perSec: median(runs.map((x) => x.perSec)), latency: stats(runs.flatMap((x) => x.latencies)), errors: runs.flatMap((x) => x.errors) }];
    }),
  );
  out(table(
    ['variant', 'wall ms per rep', 'calls/s per rep', 'calls/s (median)', 'p50 ms', 'p99 ms', 'failed calls', 'ideal calls/s'],
    throughputVariants.map((v) => {
      const t = through[v.kind];
      return [v.label, t.walls.map((w) => fmtMs(w, 0)).join(' / '), t.perSecByRep.map((x) => fmtInt(x)).join(' / '), fmtInt(t.perSec), fmtMs(t.latency.p50, 1), fmtMs(t.latency.p99, 1), fmtInt(t.errors.length), ideal];
    }),
  ));
  for (const v of throughputVariants) {
    const counts = new Map();
    for (const e of through[v.kind].errors) counts.set(e, (counts.get(e) ?? 0) + 1);
    for (const [message, count] of counts) out(`${v.label}: ${count} failed call(s): ${message}`);
  }
  for (const c of clients) await c.close();
  await slowGateway.close();
  await slowPortkey?.close();
  await slow.close();
  const { sdk: direct, http: viaGateway } = through;
  summary.push([
    `gateway: ${CONFIG.httpClients} concurrent clients, ${CONFIG.httpDelayMs} ms upstream`,
    'no lower than Portkey',
    `${fmtInt(viaGateway.perSec)} calls/s (p50 ${fmtMs(viaGateway.latency.p50, 0)} ms)`,
    `SDK direct ${fmtInt(direct.perSec)} calls/s (p50 ${fmtMs(direct.latency.p50, 0)} ms)${withPortkey ? `; Portkey ${fmtInt(through.portkey.perSec)} calls/s (p50 ${fmtMs(through.portkey.latency.p50, 0)} ms)` : ''}`,
    withPortkey ? verdict(viaGateway.perSec >= through.portkey.perSec) : '-',
  ]);
  if (withPortkey) {
    const misses = [
      added('http', 'p50') < added('portkey', 'p50') ? '' : 'p50',
      added('http', 'p99') < added('portkey', 'p99') ? '' : 'p99',
      viaGateway.perSec >= through.portkey.perSec ? '' : 'throughput',
    ].filter(Boolean);
    out(`\nVerdict vs Portkey (target: less added latency at p50 and p99, no lower throughput): ${misses.length === 0 ? 'met' : `MISSED (${misses.join(', ')})`}; ` +
      `added p50 ${signed(added('http', 'p50'))} vs ${signed(added('portkey', 'p50'))} ms, p99 ${signed(added('http', 'p99'))} vs ${signed(added('portkey', 'p99'))} ms, ` +
      `${fmtInt(viaGateway.perSec)} vs ${fmtInt(through.portkey.perSec)} calls/s  (load average ${load()})`);
  }
  results.sections.http = { latency: s, gatewayCpuMsPerCall: cpuPerCall, portkeyCpuMsPerCall: portkeyCpuPerCall, portkey: withPortkey ? 'measured' : notInstalled, throughput: through };
  temp.remove();
}

async function main() {
  if (!existsSync(CLI)) {
    process.stderr.write('dist/cli.js is missing: run `npm run build` first.\n');
    process.exit(1);
  }
  SHIPPED_SYNC = await shippedSynchronous();
  results.shippedSynchronous = SHIPPED_SYNC;
  const m = results.machine;
  out('# llm-service-mcp benchmarks');
  out(`\nmachine: ${m.nproc} cores, ${m.cpuModel}, ${m.platform}; node ${m.node}; load average at start ${load()}`);
  out(`ledger as shipped: journal_mode=WAL, synchronous=${SHIPPED_SYNC} (read back from dist/ledger); what-ifs are labelled as such`);
  if (SHIPPED_SYNC === 'FULL') out('note: the ledger ships FULL, so the "synchronous=FULL (what-if)" rows measure the product itself');
  out(`command: npm run bench   (sections: ${only.join(', ')}; counts: ${Object.entries(CONFIG).map(([k, v]) => `${k}=${v}`).join(' ')})`);
  const started = now();
  const upstream = await startUpstream();
  try {
    for (const section of only) {
      if (section === 'startup') await sectionStartup();
      else if (section === 'latency') await sectionLatency(upstream);
      else if (section === 'inflight') await sectionInflight();
      else if (section === 'streaming') await sectionStreaming(upstream);
      else if (section === 'ledger') await sectionLedger();
      else if (section === 'cost') await sectionCost();
      else if (section === 'memory') await sectionMemory();
      else if (section === 'http') await sectionHttp(upstream);
      else if (section === 'shared-ledger') {
        await sectionSharedLedger({
          out, heading, table, fmtInt, fmtMs, summary, results, verdict,
          counts: { writes: CONFIG.sharedWrites, writeConcurrency: CONFIG.sharedWriteConcurrency, admissions: CONFIG.sharedAdmissions, admitConcurrency: CONFIG.sharedAdmitConcurrency, costRows: CONFIG.sharedCostRows },
        });
      }
      else throw new Error(`unknown section '${section}' (known: ${SECTIONS.join(', ')})`);
    }
  } finally {
    await upstream.close();
  }
  heading('Summary');
  out(table(['metric', 'target', 'measured', 'baseline / comparison (same run)', 'verdict'], summary));
  out(`\nwhole bench: ${fmtMs((now() - started) / 1000, 1)} s`);
  if (profDir) {
    for (const kind of readdirSync(profDir)) {
      const dir = join(profDir, kind);
      for (const f of readdirSync(dir).filter((x) => x.endsWith('.cpuprofile'))) {
        out(`\nCPU profile of the ${kind} server (${f}), self time by package:\n${summarize(join(dir, f), 12).byPackage}`);
      }
    }
  }
  if (process.env.BENCH_JSON) {
    mkdirSync(join(process.env.BENCH_JSON, '..'), { recursive: true });
    results.summary = summary;
    writeFileSync(process.env.BENCH_JSON, JSON.stringify(results, null, 2));
  }
}

await main();
process.exit(0);
