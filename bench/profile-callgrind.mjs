/**
 * Instructions per call of the gateway process, a figure the machine's load does not move: runs
 * the built `serve --http` under valgrind's callgrind with V8's `--predictable` (compilation and
 * GC on the main thread, so the count does not depend on thread timing), warms it with W calls,
 * zeroes the counters, makes N more sequential `chat` calls through it and reads the count of
 * exactly those calls. Slow (valgrind runs the process ~50x slower): 300 + 300 calls take a few
 * minutes. Needs valgrind (`callgrind_control` on the PATH).
 *
 *   node bench/profile-callgrind.mjs [--warmup W] [--calls N] [--out DIR] [CLI.js ...]
 *
 * Several CLI paths (copies of dist/ at different commits) run one after another; each prints
 * `Ir/call`. The callgrind files stay in DIR (default a temp folder) for callgrind_annotate.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gatewaySession, startGateway } from './gateway.mjs';
import { CLI, load, tempDir } from './lib.mjs';
import { startUpstream } from './upstream.mjs';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { warmup: { type: 'string', default: '300' }, calls: { type: 'string', default: '300' }, out: { type: 'string' } },
});
const warmup = Number(values.warmup);
const calls = Number(values.calls);
const outDir = values.out ?? mkdtempSync(join(tmpdir(), 'llm-service-mcp-callgrind-'));

const upstream = await startUpstream();
const temp = tempDir();
for (const [i, cli] of (positionals.length > 0 ? positionals : [CLI]).entries()) {
  const out = join(outDir, `callgrind.${i}`);
  const gateway = await startGateway(temp.dir, upstream.baseURL, {
    cli,
    launcher: ['valgrind', '--tool=callgrind', `--callgrind-out-file=${out}`, '--dump-line=no'],
    nodeArgs: ['--predictable'],
    startTimeoutMs: 600_000,
  });
  const session = await gatewaySession(gateway);
  for (let n = 0; n < warmup; n++) await session.call();
  execFileSync('callgrind_control', ['--zero', String(gateway.pid)], { stdio: 'ignore' });
  for (let n = 0; n < calls; n++) await session.call();
  execFileSync('callgrind_control', ['--dump', String(gateway.pid)], { stdio: 'ignore' });
  await session.close();
  await gateway.close();
  // The dump asked for above is `<out>.1`; the one written at exit (`<out>`) covers the whole run.
  const dump = readdirSync(outDir).find((name) => name.startsWith(`callgrind.${i}.`));
  const total = Number(/^(?:summary|totals): (\d+)/m.exec(readFileSync(join(outDir, dump), 'utf8'))?.[1]);
  console.log(`${cli}: ${(total / calls / 1e6).toFixed(3)} M instructions per call (calls ${warmup + 1}-${warmup + calls}; load ${load()}; ${join(outDir, dump)})`);
}
await upstream.close();
temp.remove();
