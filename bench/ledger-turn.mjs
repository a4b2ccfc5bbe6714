/**
 * Ledger CPU per answered `chat` call on SQLite: the call's row and its thread turn written as two
 * transactions (record() then appendTurn(), before) or as one (record() with the turn, after).
 * In-process, on a temp file with the server's background WAL checkpoints, the two ways
 * interleaved in blocks so load drifts hit both alike. CPU is user+sys of this process
 * (process.cpuUsage), which load does not inflate the way wall time is.
 * Usage: node bench/ledger-turn.mjs [calls per way, default 3000]   (needs a build: dist/)
 */
import { execSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { SqliteLedger } from '../dist/ledger/sqlite/sqlite-ledger.js';

const CALLS = Number(process.argv[2] ?? 3000);
const BLOCK = 100;
const dir = mkdtempSync(join(tmpdir(), 'ledger-turn-'));
const ledger = SqliteLedger.open(join(dir, 'ledger.db'), { backgroundCheckpointMs: 200 });

function call() {
  const conversationId = randomUUID();
  const now = Date.now();
  const record = {
    callId: randomUUID(), startedAt: now, model: 'gpt-4o-mini', provider: 'openai', providerModel: 'gpt-4o-mini-2024-07-18',
    usage: { promptTokens: 120, completionTokens: 40, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, totalTokens: 160 },
    pricing: { inputPerMTok: 0.15, outputPerMTok: 0.6 }, costMicroUsd: 42, latencyMs: 210, attempts: 1, status: 'ok',
    finishReason: 'stop', error: null, principal: 'bench', conversationId,
  };
  const turn = { id: conversationId, principal: 'bench', at: now, messages: [{ role: 'user', content: 'Say hello in five words.' }, { role: 'assistant', content: 'Hello there, how are you?' }] };
  return { record, turn };
}

const ways = {
  'two transactions: record() then appendTurn()': async ({ record, turn }) => {
    await ledger.record(record);
    await ledger.appendTurn(turn);
  },
  'one transaction: record(rec, undefined, turn)': async ({ record, turn }) => {
    await ledger.record(record, undefined, turn);
  },
};
const cpu = Object.fromEntries(Object.keys(ways).map((name) => [name, 0]));
// Warm-up: statements prepared, pages cached.
for (const way of Object.values(ways)) for (let i = 0; i < 200; i++) await way(call());
for (let done = 0; done < CALLS; done += BLOCK) {
  // Which way goes first alternates, so neither always meets the checkpoint the other left.
  const order = Object.entries(ways);
  if ((done / BLOCK) % 2 === 1) order.reverse();
  for (const [name, way] of order) {
    const calls = Array.from({ length: BLOCK }, call);
    const start = process.cpuUsage();
    for (const c of calls) await way(c);
    const used = process.cpuUsage(start);
    cpu[name] += used.user + used.system;
  }
}
await ledger.close();
rmSync(dir, { recursive: true, force: true });
const load = execSync('uptime').toString().trim().replace(/.*load average:\s*/, '');
console.log(`SQLite ledger CPU per answered call, ${CALLS} calls per way in blocks of ${BLOCK}  (load average ${load})`);
for (const [name, micros] of Object.entries(cpu)) console.log(`  ${name.padEnd(48)} ${(micros / CALLS / 1000).toFixed(3)} ms`);
