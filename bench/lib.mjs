/** Small helpers shared by the bench scripts: statistics, formatting, temp folders, spawning. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../', import.meta.url));
export const CLI = join(ROOT, 'dist', 'cli.js');
export const BENCH = join(ROOT, 'bench');
export const now = () => performance.now();

/** An integer from the environment, or the default. */
export function envInt(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number, got '${raw}'`);
  return Math.floor(value);
}

/** Percentiles (nearest rank) and friends of a list of numbers. */
export function stats(values) {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  const at = (q) => (n === 0 ? NaN : sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return { n, mean: sum / n, sum, min: sorted[0], p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[n - 1] };
}

export const median = (values) => stats(values).p50;

export function fmtMs(ms, digits = 3) {
  if (ms === undefined || ms === null || Number.isNaN(ms)) return '-';
  return ms.toFixed(digits);
}

export function fmtInt(n) {
  return Math.round(n).toLocaleString('en-US');
}

/** A plain text table with right-aligned columns after the first. */
export function table(headers, rows) {
  const all = [headers, ...rows].map((r) => r.map((c) => String(c)));
  const widths = headers.map((_, i) => Math.max(...all.map((r) => r[i]?.length ?? 0)));
  const line = (r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(all[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...all.slice(1).map(line)].join('\n');
}

export function tempDir(prefix = 'llm-service-mcp-bench-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export function machine() {
  const cpu = cpus();
  return {
    nproc: cpu.length,
    cpuModel: cpu[0]?.model ?? 'unknown',
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
  };
}

export const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');

/** RSS of another process in MB, from /proc (Linux), or NaN. */
export async function rssOfPid(pid) {
  try {
    const { readFileSync } = await import('node:fs');
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
    return Number(line.split(/\s+/)[1]) / 1024;
  } catch {
    return NaN;
  }
}

/** CPU time (user + system, ms) a process has used so far, from /proc (Linux), or NaN. */
export async function cpuMsOfPid(pid) {
  try {
    const { readFileSync } = await import('node:fs');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the whole line, in clock ticks (100 per second on Linux).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return NaN;
  }
}

/** Runs `node args...`, resolves with stdout when it exits 0. */
export function runNode(args, { env = process.env, timeoutMs = 120_000, input } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`node ${args.join(' ')} exited ${code}: ${err.slice(-2000)}`));
    });
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

/** A fresh, minimal environment for a server child: fake key, loopback upstream, temp ledger. */
export function serverEnv(dir, upstreamBaseURL, dbName = 'ledger.db') {
  return {
    PATH: process.env.PATH ?? '',
    HOME: dir,
    XDG_DATA_HOME: join(dir, 'xdg'),
    OPENAI_API_KEY: 'sk-bench-not-a-real-key',
    OPENAI_BASE_URL: upstreamBaseURL,
    LLM_SERVICE_DB: join(dir, dbName),
  };
}

/**
 * Resolves with the first match of `pattern` in `child`'s stderr (a child that prints its
 * address once it listens); rejects, naming `what` and quoting the stderr so far, when the child
 * exits first or `timeoutMs` passes.
 */
export function stderrMatch(child, pattern, what, timeoutMs) {
  let stderr = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${stderr}`)), timeoutMs);
    child.stderr.on('data', (d) => {
      stderr += d;
      const match = pattern.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve(match);
      }
    });
    child.once('exit', (code) => (clearTimeout(timer), reject(new Error(`${what} exited ${code}: ${stderr}`))));
  });
}
