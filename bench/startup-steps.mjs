/**
 * Where start-up goes: replays what `dist/cli.js` does before it can answer `initialize`, one
 * step at a time, in a fresh process, and prints each step's duration as JSON. Run by run.mjs.
 *
 *   LLM_SERVICE_DB=/tmp/x.db node bench/startup-steps.mjs
 *
 * No static imports: `performance.now()` at the top is the time Node took to boot to user code.
 */
const { performance } = globalThis;
const steps = [];
let last = performance.now();
steps.push(['node boot to first user code', last]);
const lap = (name) => {
  const t = performance.now();
  steps.push([name, t - last]);
  last = t;
};

await import('zod');
lap("zod (classic, all locales; the MCP SDK imports it too)");
const { loadSettings } = await import('../dist/config.js');
lap('dist/config.js + registry catalog');
const settings = loadSettings();
lap('loadSettings()');
await import('better-sqlite3');
lap('better-sqlite3 (native addon)');
const { SqliteLedger } = await import('../dist/ledger/sqlite/sqlite-ledger.js');
lap('dist/ledger/sqlite/sqlite-ledger.js');
const ledger = SqliteLedger.open(settings.dbPath);
lap('SqliteLedger.open (WAL, migrations, first write)');
await import('@modelcontextprotocol/sdk/server/mcp.js');
lap('@modelcontextprotocol/sdk server (+ ajv, zod/v3, zod-to-json-schema)');
const { createServer } = await import('../dist/server.js');
lap('dist/server.js (our tools, llm service, retry)');
await import('@modelcontextprotocol/sdk/server/stdio.js');
lap('@modelcontextprotocol/sdk stdio transport');
const created = createServer({ settings, ledger });
lap('createServer() (register 3 tools)');
await created.close();
await ledger.close();
process.stdout.write(`${JSON.stringify(steps)}\n`);
