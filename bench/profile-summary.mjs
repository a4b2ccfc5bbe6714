/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time by function and by package.
 *   node bench/profile-summary.mjs FILE.cpuprofile [topN]
 */
import { readFileSync } from 'node:fs';

export function summarize(file, top = 25) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const dt = profile.timeDeltas;
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    self.set(id, (self.get(id) ?? 0) + (dt[i] ?? 0));
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const byFn = new Map();
  const byPkg = new Map();
  for (const [id, us] of self) {
    const node = byId.get(id);
    const cf = node.callFrame;
    const url = cf.url || '';
    const short = url.replace(/^file:\/\//, '').replace(/.*node_modules\//, 'nm:').replace(/.*\/dist\//, 'dist/');
    const fnKey = `${cf.functionName || '(anonymous)'}  ${short}:${cf.lineNumber + 1}`;
    byFn.set(fnKey, (byFn.get(fnKey) ?? 0) + us);
    let pkg;
    if (!url) pkg = cf.functionName.startsWith('(') ? cf.functionName : '(native/builtin)';
    else if (url.startsWith('node:')) pkg = 'node:internal';
    else if (url.includes('node_modules/')) {
      const rest = url.split('node_modules/').pop().split('/');
      pkg = rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
    } else if (url.includes('/dist/')) pkg = 'ours (dist/)';
    else pkg = short;
    byPkg.set(pkg, (byPkg.get(pkg) ?? 0) + us);
  }
  const fmt = (m) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => `${(us / 1000).toFixed(1).padStart(9)} ms ${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`)
      .join('\n');
  return { totalMs: total / 1000, byPackage: fmt(byPkg), byFunction: fmt(byFn) };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop())) {
  if (!process.argv[2]) {
    process.stderr.write('usage: node bench/profile-summary.mjs FILE.cpuprofile [topN]\n');
    process.exit(2);
  }
  const s = summarize(process.argv[2], Number(process.argv[3] ?? 25));
  console.log(`total sampled ${s.totalMs.toFixed(0)} ms\n\nby package:\n${s.byPackage}\n\nby function:\n${s.byFunction}`);
}
