/**
 * Memory over many calls, in one process: the real server (dist/server.js) behind the MCP SDK
 * Client over the SDK's InMemoryTransport, ledger in a temp SQLite file (as shipped: WAL + FULL),
 * upstream in a separate process (so its memory is not counted). Run by run.mjs as
 *
 *   node --expose-gc bench/memory.mjs CALLS SAMPLE_EVERY CONCURRENCY
 *
 * Prints one JSON object: RSS/heap samples (after a forced GC) every SAMPLE_EVERY calls.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { buildSettings } from '../dist/config.js';
import { Ledger } from '../dist/ledger/ledger.js';
import { createLogger } from '../dist/logger.js';
import { createServer } from '../dist/server.js';
import { BENCH, now, serverEnv, tempDir } from './lib.mjs';

const [calls = 100_000, every = 10_000, concurrency = 4] = process.argv.slice(2).map(Number);
const gc = globalThis.gc ?? (() => undefined);

const upstreamChild = spawn(process.execPath, [join(BENCH, 'upstream.mjs'), '0'], { stdio: ['pipe', 'pipe', 'inherit'] });
const { baseURL } = await new Promise((resolve, reject) => {
  let buffer = '';
  upstreamChild.stdout.on('data', (d) => {
    buffer += d;
    if (buffer.includes('\n')) resolve(JSON.parse(buffer.split('\n')[0]));
  });
  upstreamChild.once('exit', (code) => reject(new Error(`upstream exited ${code}`)));
});

const temp = tempDir();
const env = serverEnv(temp.dir, baseURL);
const settings = buildSettings({}, env);
const ledger = Ledger.open(settings.dbPath);
const created = createServer({ settings, ledger, logger: createLogger({ write: () => undefined }) });
const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
await created.server.connect(serverTransport);
const client = new Client({ name: 'bench-memory', version: '0.0.0' });
await client.connect(clientTransport);

const call = async () => {
  const result = await client.callTool({ name: 'chat', arguments: { prompt: 'ping' } });
  if (result.isError) throw new Error(`chat failed: ${JSON.stringify(result.content)}`);
};

const sample = (done) => {
  gc();
  const m = process.memoryUsage();
  return { calls: done, rssMB: m.rss / 2 ** 20, heapUsedMB: m.heapUsed / 2 ** 20, externalMB: m.external / 2 ** 20 };
};

// Warm-up: JIT, SDK lazy load, SQLite page cache.
for (let i = 0; i < 1000; i++) await call();
const samples = [sample(0)];
const started = now();
let issued = 0;
let done = 0;
let nextSample = every;
const worker = async () => {
  while (issued < calls) {
    issued++;
    await call();
    done++;
    if (done >= nextSample) {
      nextSample += every;
      samples.push(sample(done));
    }
  }
};
await Promise.all(Array.from({ length: concurrency }, worker));
const elapsedMs = now() - started;
const rows = ledger.stats().rows;

await client.close();
await created.close();
ledger.close();
upstreamChild.stdin.end();
temp.remove();
process.stdout.write(`${JSON.stringify({ calls, concurrency, elapsedMs, rows, samples })}\n`);
process.exit(0);
