/**
 * CPU cost per call of the gateway process alone, a figure that load hardly moves (unlike
 * latency): starts the loopback upstream in this process, one or more builds of `serve --http`
 * as children, and runs the same sequential `chat` calls through each, alternating builds in
 * rounds, reading each child's user+system CPU from /proc before and after its calls.
 *
 *   node bench/profile-gateway.mjs [--calls N] [--rounds R] [--warmup W] [--cpu-prof DIR] [CLI.js[:NODE-FLAG,...] ...]
 *
 * With several CLI paths (copies of dist/ at different commits) it compares them under the
 * same load (`dist/cli.js:--max-semi-space-size=32` runs one with a node flag); with --cpu-prof the (single) gateway writes a V8 profile into DIR on exit, for
 * bench/profile-summary.mjs.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startGateway, gatewaySession } from './gateway.mjs';
import { CLI, cpuMsOfPid, load, stats, tempDir } from './lib.mjs';
import { startUpstream } from './upstream.mjs';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { calls: { type: 'string', default: '2000' }, rounds: { type: 'string', default: '3' }, warmup: { type: 'string', default: '300' }, 'cpu-prof': { type: 'string' } },
});
const calls = Number(values.calls);
const rounds = Number(values.rounds);
const clis = positionals.length > 0 ? positionals : [CLI];
const nodeArgs = values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] : [];

const upstream = await startUpstream();
const temp = tempDir();
const runs = [];
for (const variant of clis) {
  const [cli, flags] = variant.split(':');
  const gateway = await startGateway(temp.dir, upstream.baseURL, { cli, nodeArgs: [...nodeArgs, ...(flags ? flags.split(',') : [])] });
  const session = await gatewaySession(gateway);
  for (let n = 0; n < Number(values.warmup); n++) await session.call();
  await session.close();
  runs.push({ cli: variant, gateway, perCall: [], main: [] });
}
console.log(`load average at start ${load()}`);
for (let r = 0; r < rounds; r++) {
  for (const run of runs) {
    // A session per round: the SDK client adds an abort listener per call to one signal.
    const session = await gatewaySession(run.gateway);
    const before = await cpuMsOfPid(run.gateway.pid);
    const threadsBefore = threadCpu(run.gateway.pid);
    for (let n = 0; n < calls; n++) await session.call();
    run.perCall.push(((await cpuMsOfPid(run.gateway.pid)) - before) / calls);
    const main = (threadCpu(run.gateway.pid).get('main') - threadsBefore.get('main')) / calls;
    run.main.push(main);
    await session.close();
  }
}
for (const run of runs) {
  const s = stats(run.perCall);
  console.log(`${run.cli}: CPU ms per call ${run.perCall.map((x) => x.toFixed(3)).join(' ')}  (median ${s.p50.toFixed(3)}, min ${s.min.toFixed(3)})`);
  console.log(`  of which the main thread (JavaScript): ${run.main.map((x) => x.toFixed(3)).join(' ')}; the other threads (V8 compilers and GC helpers, libuv pool) the rest`);
  await run.gateway.close();
}
console.log(`load average at end ${load()}`);
await upstream.close();
temp.remove();

/** CPU ms so far of `pid`'s main thread and of its other threads together. */
function threadCpu(pid) {
  const byName = new Map();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      // Node names none of its threads: the main thread (JavaScript) is the one whose id is the pid.
      const name = tid === String(pid) ? 'main' : 'others';
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      byName.set(name, (byName.get(name) ?? 0) + ((Number(fields[11]) + Number(fields[12])) * 1000) / 100);
    } catch {
      // The thread ended meanwhile.
    }
  }
  return byName;
}
