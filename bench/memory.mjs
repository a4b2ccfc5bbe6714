/**
 * Memory over many calls, in one process: the real server (dist/server.js) behind the MCP SDK
 * Client over the SDK's InMemoryTransport, ledger in a temp SQLite file opened by the shipped
 * `Ledger.open` (WAL + `synchronous = NORMAL`, `hourly_totals` triggers), upstream in a separate
 * process (so its memory is not counted). Run by run.mjs as
 *
 *   node --expose-gc bench/memory.mjs CALLS SAMPLE_EVERY CONCURRENCY [server|sdk]
 *
 * `sdk` is the baseline: the same calls made directly with the `openai` SDK (maxRetries 0), no
 * MCP, no server. Prints one JSON object: memory samples (after a forced GC) every SAMPLE_EVERY calls.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { BENCH, now, serverEnv, tempDir } from './lib.mjs';

const [calls = 100_000, every = 10_000, concurrency = 4] = process.argv.slice(2, 5).map(Number);
const mode = process.argv[5] ?? 'server';
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
let call;
let finish = async () => undefined;
let rowsOf = async () => undefined;
if (mode === 'sdk') {
  const { default: OpenAI } = await import('openai');
  const sdk = new OpenAI({ apiKey: 'sk-bench-not-a-real-key', baseURL, maxRetries: 0 });
  call = () => sdk.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'ping' }] });
} else {
  // Loaded only here, so the `sdk` baseline carries none of the server's modules.
  const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
  const { InMemoryTransport } = await import('@modelcontextprotocol/sdk/inMemory.js');
  const { buildSettings } = await import('../dist/config.js');
  const { SqliteLedger } = await import('../dist/ledger/sqlite/sqlite-ledger.js');
  const { createLogger } = await import('../dist/logger.js');
  const { createServer } = await import('../dist/server.js');
  const env = serverEnv(temp.dir, baseURL);
  const settings = buildSettings({}, env);
  const ledger = SqliteLedger.open(settings.dbPath);
  const created = createServer({ settings, ledger, logger: createLogger({ write: () => undefined }) });
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
  await created.server.connect(serverTransport);
  const client = new Client({ name: 'bench-memory', version: '0.0.0' });
  await client.connect(clientTransport);
  call = async () => {
    const result = await client.callTool({ name: 'chat', arguments: { prompt: 'ping' } });
    if (result.isError) throw new Error(`chat failed: ${JSON.stringify(result.content)}`);
  };
  rowsOf = async () => (await ledger.stats()).rows;
  finish = async () => {
    await client.close();
    await created.close();
    await ledger.close();
  };
}

const sample = (done) => {
  gc();
  const m = process.memoryUsage();
  return { calls: done, rssMB: m.rss / 2 ** 20, heapTotalMB: m.heapTotal / 2 ** 20, heapUsedMB: m.heapUsed / 2 ** 20, externalMB: m.external / 2 ** 20 };
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
const rows = await rowsOf();
await finish();
upstreamChild.stdin.end();
temp.remove();
process.stdout.write(`${JSON.stringify({ mode, calls, concurrency, elapsedMs, rows, samples })}\n`);
process.exit(0);
