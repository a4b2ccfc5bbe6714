#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError, isProviderConfigured, loadSettings, secretValues, type Settings } from './config.js';
import { formatCostReport } from './ledger/cost-table.js';
import { LedgerError, type GroupBy, type Ledger } from './ledger/ledger.js';
import { importSqliteLedger } from './ledger/import-sqlite.js';
import { isPostgresUrl, ledgerLocation, openLedger, type OpenLedgerOptions } from './ledger/open-ledger.js';
import type { PostgresLedger } from './ledger/postgres/postgres-ledger.js';
import { parseTimeBound } from './ledger/time-span.js';
import { createLogger, logLevelFromEnv, routeConsoleToLogger, type Logger } from './logger.js';
import { ModelRegistry } from './registry/registry.js';
import { BUILT_IN_ALIASES, PRICE_SOURCE } from './registry/catalog.js';
import { defaultModelAt, defaultModelNotices } from './registry/retirement.js';
import { formatTable } from './tools/format-table.js';
import { packageVersion } from './version.js';

const HELP = `llm-service-mcp — an MCP server that calls many LLMs: chat, chat_many, list_models, get_cost

Usage:
  llm-service-mcp                 serve MCP over stdio (what an MCP host runs)
  llm-service-mcp serve --http [--host 127.0.0.1] [--port 8787]
                                  team gateway: MCP Streamable HTTP at /mcp with bearer tokens/JWT,
                                  per-person budgets, /healthz, /readyz (config file: http section)
  llm-service-mcp token create NAME
                                  print a new gateway token once, and the http.tokens entry to paste
  llm-service-mcp ledger import --from FILE.db
                                  copy a SQLite ledger's calls into the PostgreSQL ledger LLM_SERVICE_DB
                                  names; running it again adds nothing
  llm-service-mcp doctor          show providers (key set: yes/no), base URLs, config, ledger, registry,
                                  http gateway settings (token names and roles, never tokens or hashes),
                                  whether better-sqlite3's native module loads; exits 1 when the config
                                  file is broken, serve --http could not start or the native module does
                                  not load (and says why and what to do)
  llm-service-mcp cost [options]  print the cost ledger as a table
      --since <when>              ISO 8601 date/time or a span back from now (24h, 7d, 6mo); default 30d;
                                  span units: s, m or min (minutes), h, d, w, mo (months), y
      --until <when>              same forms; default now
      --group-by <key>            model | provider | day | principal | none (default model; day adds a bar chart)
      --model <id>, --provider <id>  filter (a model alias means the model it names)
      --principal <name>          only this gateway principal's calls (token name or JWT claim)
      --json                      print the report as JSON
  llm-service-mcp --help | --version

Environment (all optional):
  OPENAI_API_KEY, OPENAI_BASE_URL          OpenAI
  ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL    Anthropic
  DEEPSEEK_API_KEY, DEEPSEEK_BASE_URL      DeepSeek (default https://api.deepseek.com)
  DASHSCOPE_API_KEY, DASHSCOPE_BASE_URL    Qwen via DashScope compatible mode
  LLM_SERVICE_CONFIG                       path of the JSON config file
  LLM_SERVICE_DB                           SQLite ledger path (':memory:' allowed), or postgres://user@host/db
                                           for a ledger shared by several instances (sslmode=… in the URL,
                                           PGSSLROOTCERT for the CA file)
  LLM_SERVICE_DEFAULT_MODEL                model used when a call names none (default gpt-4o-mini until
                                           OpenAI retires it on 2027-01-14, then its replacement gpt-6-luna)
  LLM_SERVICE_LOG_LEVEL                    error | warn (default) | info | debug, on stderr
  LLM_SERVICE_HTTP_HOST, LLM_SERVICE_HTTP_PORT  serve --http address (flags win; default 127.0.0.1:8787)

chat extras (see README, "Files, reasoning effort and JSON answers"):
  files              local paths under the allowed roots (client roots, else files.roots, else cwd):
                     text inlined with its path, PNG/JPEG/GIF/WebP as images, PDFs as documents
                     e.g. {"prompt": "Review this", "files": ["src/app.ts", "shot.png"]}
  reasoning_effort   minimal | low | medium | high: OpenAI reasoning_effort, Claude thinking
                     (budget from the effort), Qwen thinking; other models ignore it with a note
                     (gpt-6-luna with tools is always sent at none: OpenAI takes its tools only so)
                     e.g. {"model": "gpt-5.4", "prompt": "Prove it", "reasoning_effort": "high"}
  response_format    "json" or {"type": "json_schema", "schema": {...}, "name"?: "..."}: the answer,
                     parsed and validated (one retry), comes back in structuredContent.json
                     e.g. {"prompt": "List 3 primes", "response_format": {"type": "json_schema",
                           "schema": {"type": "array", "items": {"type": "integer"}}}}
  conversation_id    continue a stored thread (every result returns one; store: false keeps none);
                     the model may change between turns; threads expire after conversations.idleDays (7)
                     e.g. {"prompt": "And in French?", "conversation_id": "5b0e…", "model": "claude-sonnet-5-5"}

chat_many: chat's input on 2-8 models in parallel, one result per model and the total cost
  (failed and cancelled models' billed tokens included; null, with "at least $X", if one is unknown);
  a model past deadline_ms (default 120000) is cancelled; the budget holds all models first;
  with conversation_id every model sees the thread; it continues with the first answer in models
  order (without one, a new thread starts, as chat; store: false keeps none)
  e.g. {"prompt": "Explain CRDTs", "models": ["gpt-4o-mini", "claude-sonnet-5-5"], "deadline_ms": 30000}
       {"prompt": "Shorter?", "models": ["gpt-4o-mini", "deepseek-chat"], "conversation_id": "5b0e…"}

Docs: README.md in the package.`;

/** Prints one line to stderr and exits: the only way settings problems are reported. */
function fail(message: string): never {
  process.stderr.write(`llm-service-mcp: ${message}\n`);
  process.exit(1);
}

function settingsOrExit(): Settings {
  try {
    return loadSettings();
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
}

async function openLedgerOrExit(settings: Settings, extra: Partial<OpenLedgerOptions> = {}): Promise<Ledger> {
  try {
    return await openLedger(settings.dbPath, { ...ledgerOptions(settings), ...extra });
  } catch (error) {
    if (error instanceof LedgerError) fail(error.message);
    throw error;
  }
}

/** What opening the ledger needs besides its setting: the spool folder, TLS settings, a warning sink. */
// A server's SQLite ledger checkpoints its WAL from a worker thread, off the calls' path
// (wal-checkpointer.ts); short commands keep SQLite's own checkpoints.
const SERVER_LEDGER: Partial<OpenLedgerOptions> = { backgroundCheckpointMs: 200 };

function ledgerOptions(settings: Settings): OpenLedgerOptions {
  const logger = createLogger({ secrets: secretValues(settings), level: logLevelFromEnv(settings.env).level });
  return { dataDir: settings.dataDir, env: settings.env, onWarning: (message) => logger.warn(message) };
}

/**
 * The shutdown both transports share: the first signal drains (bounded: past the drain, the
 * cancel, the ledger writes and a grace period, the process exits anyway), a second one cancels
 * the calls still running at once.
 */
function drainingShutdown(options: {
  created: { service: { cancelInFlight(): void } };
  logger: Logger;
  what: string;
  drainMs: number;
  drain: () => Promise<void>;
  ledger: Ledger;
  flush?: () => Promise<void>;
}): (why: string) => void {
  let closing = false;
  return (why) => {
    if (closing) {
      options.created.service.cancelInFlight();
      return;
    }
    closing = true;
    options.logger.info(`${why}: ${options.what} (up to ${options.drainMs} ms), then exiting`);
    setTimeout(() => process.exit(1), options.drainMs + 15_000).unref();
    void (async () => {
      await options.drain().catch((error: unknown) => options.logger.error(`shutdown: ${String(error)}`));
      await options.ledger.close().catch((error: unknown) => options.logger.error(`shutdown: ${String(error)}`));
      await options.flush?.();
      process.exit(0);
    })();
  };
}

async function serve(): Promise<void> {
  const settings = settingsOrExit();
  const ledger = await openLedgerOrExit(settings, SERVER_LEDGER);
  // Loaded here so --help, --version and doctor stay quick and never touch the MCP SDK.
  const [{ createServer }, { StdioServerTransport }] = await Promise.all([import('./server.js'), import('./transports/stdio.js')]);
  const { level, problem } = logLevelFromEnv(settings.env);
  const logger = createLogger({ secrets: secretValues(settings), level });
  if (problem) logger.warn(problem);
  routeConsoleToLogger(logger);
  logRetirementNotices(settings, logger);
  const created = createServer({ settings, ledger, logger });
  // SIGTERM, SIGINT and stdin EOF (the host closed the pipe) all drain: no new calls, the calls
  // in flight finish for up to drainMs, the rest are cancelled; each is answered if stdout is
  // still open, recorded, and its budget hold settled. A second signal cuts the drain short.
  const shutdown = drainingShutdown({
    created,
    logger,
    what: 'finishing calls in flight',
    drainMs: settings.drainMs,
    drain: () => created.close({ drainMs: settings.drainMs }),
    ledger,
    // Results written just before exit must reach the host: wait for stdout to take them.
    flush: () => new Promise<void>((resolve) => (process.stdout.writableLength === 0 ? resolve() : process.stdout.write('', () => resolve()))),
  });
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.stdin.on('end', () => shutdown('stdin closed'));
  // A host that closed our stdout can no longer be answered; the calls are still recorded.
  process.stdout.on('error', () => shutdown('stdout closed'));
  await created.server.connect(new StdioServerTransport({ maxMessageBytes: settings.maxMessageBytes, logger }));
  logger.info(`serving over stdio; ledger ${ledger.location}; default model ${created.service.defaultModel()}`);
}

/** Start-up: each retirement notice in the log, at info for the built-in default, else as a warning. */
function logRetirementNotices(settings: Settings, logger: Logger): void {
  for (const notice of retirementNotices(settings)) (notice.level === 'info' ? logger.info : logger.warn).call(logger, notice.text);
}

/**
 * Said at start-up (warnings) and by doctor: a default model or config alias on a model that
 * retires or has retired today (src/registry/retirement.ts). The real clock: this is the process.
 */
function retirementNotices(settings: Settings, registry = new ModelRegistry(settings.models, settings.providers, settings.aliases)): ReturnType<typeof defaultModelNotices> {
  return defaultModelNotices(settings, BUILT_IN_ALIASES, (name) => registry.resolve(name), Date.now());
}

/** Whether a key variable holds a key; an empty one is named as such (it does not make a provider keyless). */
function keyState(value: string | undefined): string {
  if (value === undefined) return 'no';
  return value.trim() === '' ? 'empty' : 'yes';
}

async function serveHttp(argv: string[]): Promise<void> {
  let values: { host?: string; port?: string };
  try {
    ({ values } = parseArgs({ args: argv, options: { http: { type: 'boolean' }, host: { type: 'string' }, port: { type: 'string' } }, strict: true }));
  } catch (error) {
    fail(`${(error as Error).message}; see llm-service-mcp --help`);
  }
  const settings = settingsOrExit();
  const { resolveHttpSettings, HttpSettingsError } = await import('./http/http-settings.js');
  let http;
  try {
    http = resolveHttpSettings(settings.http, settings.env, values);
  } catch (error) {
    if (error instanceof HttpSettingsError) fail(error.message);
    throw error;
  }
  const ledger = await openLedgerOrExit(settings, SERVER_LEDGER);
  const [{ createServer }, { startHttpGateway }] = await Promise.all([import('./server.js'), import('./transports/http.js')]);
  const { level, problem } = logLevelFromEnv(settings.env);
  const logger = createLogger({ secrets: secretValues(settings), level });
  if (problem) logger.warn(problem);
  routeConsoleToLogger(logger);
  logRetirementNotices(settings, logger);
  const created = createServer({ settings, ledger, logger });
  let gateway: Awaited<ReturnType<typeof startHttpGateway>>;
  try {
    gateway = await startHttpGateway({
      settings: http,
      created,
      logger,
      ready: async () => (await ledger.health().catch(() => ({ ok: false }))).ok,
    });
  } catch (error) {
    fail(`cannot listen on ${http.host}:${http.port}: ${(error as Error).message}`);
  }
  // SIGTERM/SIGINT: stop accepting, let calls in flight finish for http.drainMs, cancel and
  // record the rest, answer them, exit. A second signal cuts the drain short.
  const shutdown = drainingShutdown({
    created,
    logger,
    what: 'no new requests; finishing calls in flight',
    drainMs: http.drainMs,
    drain: () => gateway.close(http.drainMs),
    ledger,
  });
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  const auth = http.tokens.length > 0 || http.jwt ? `${http.tokens.length} static token(s)${http.jwt ? ', JWT' : ''}` : 'no authentication (loopback only)';
  // Always said (stderr), whatever the log level: the address is what the operator needs.
  process.stderr.write(`llm-service-mcp: serving MCP over HTTP at ${gateway.url}/mcp (${auth}); ledger ${ledger.location}\n`);
}

async function token(argv: string[]): Promise<void> {
  const [action, name, ...extra] = argv;
  if (action !== 'create' || name === undefined || extra.length > 0) fail('usage: llm-service-mcp token create NAME');
  if (!/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/.test(name)) fail(`token name '${name}': use letters, digits, '.', '_', '@', '-' (at most 64)`);
  const { createToken } = await import('./http/auth.js');
  const created = createToken(name);
  process.stdout.write(
    `Token for ${name} (shown once; only its SHA-256 is stored):\n\n  ${created.token}\n\n` +
      `Add this entry to "http": { "tokens": [ ... ] } in the config file (role "admin" sees everyone's spend; add "budget": {"dailyUsd": 2} for a cap):\n\n  ${JSON.stringify(created.entry)}\n`,
  );
}

/** Settings for doctor: everything that loads, and each problem found on the way. */
function doctorSettings(): { settings: Settings; problems: string[]; droppedDefaultModel?: string } {
  const problems: string[] = [];
  const attempt = (env: Record<string, string | undefined>): Settings | undefined => {
    try {
      return loadSettings(env);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      for (const problem of error.problems) if (!problems.includes(problem)) problems.push(problem);
      return undefined;
    }
  };
  // A doctor that stops at the first problem hides the rest: without the default model from the
  // environment, then without the config file too, so whatever is fine is still shown.
  const env = process.env;
  const full = attempt(env);
  if (full) return { settings: full, problems };
  const withoutDefault = env.LLM_SERVICE_DEFAULT_MODEL ? attempt({ ...env, LLM_SERVICE_DEFAULT_MODEL: undefined }) : undefined;
  const droppedDefaultModel = problems.some((p) => p.startsWith('LLM_SERVICE_DEFAULT_MODEL:')) ? env.LLM_SERVICE_DEFAULT_MODEL : undefined;
  if (withoutDefault) return { settings: withoutDefault, problems, droppedDefaultModel };
  const bare = loadSettings({ ...env, LLM_SERVICE_CONFIG: undefined, LLM_SERVICE_DEFAULT_MODEL: undefined });
  return { settings: bare, problems, droppedDefaultModel };
}

async function doctor(): Promise<void> {
  const lines: string[] = [`llm-service-mcp ${packageVersion()} on Node.js ${process.versions.node}`, ''];
  const { settings, problems, droppedDefaultModel } = doctorSettings();
  if (problems.length > 0) {
    for (const problem of problems) lines.push(`PROBLEM: ${problem}`);
    lines.push(settings.configPath || !process.env.LLM_SERVICE_CONFIG ? 'The rest is shown without what these problems name.' : 'The rest is shown without the config file.', '');
    process.exitCode = 1;
  }
  const rows = settings.providers.map((p) => [
    p.id,
    p.type,
    p.apiKeyEnv ? `${p.apiKeyEnv}: ${keyState(settings.env[p.apiKeyEnv])}` : '(no key needed)',
    isProviderConfigured(p, settings.env) ? 'yes' : 'no',
    p.baseURL ?? '(SDK default)',
  ]);
  lines.push(formatTable(['provider', 'type', 'key set', 'configured', 'base URL'], rows), '');
  const configFile = settings.configPath ?? (process.env.LLM_SERVICE_CONFIG ? `${process.env.LLM_SERVICE_CONFIG} (not loaded: see PROBLEM above)` : undefined);
  lines.push(`config file:   ${configFile ?? '(none; set LLM_SERVICE_CONFIG)'}`);
  const dropped = droppedDefaultModel === undefined ? '' : ` (LLM_SERVICE_DEFAULT_MODEL '${droppedDefaultModel.slice(0, 64)}' not used: see PROBLEM above)`;
  const registry = new ModelRegistry(settings.models, settings.providers, settings.aliases);
  const defaultNow = defaultModelAt(settings.defaultModel, settings.defaultModelSource, (name) => registry.resolve(name).model, Date.now());
  lines.push(`default model: ${defaultNow}${dropped}`);
  for (const notice of retirementNotices(settings, registry)) {
    lines.push(notice.level === 'info' ? `               ${notice.text}` : `${notice.level === 'problem' ? 'PROBLEM' : 'WARNING'}: ${notice.text}`);
    if (notice.level === 'problem') process.exitCode = 1;
  }
  lines.push(`registry:      ${settings.models.length} models, ${Object.keys(settings.aliases).length} aliases`);
  lines.push(`prices:        ${priceDataLine(settings.models, Date.now())}`);
  lines.push(`retry:         ${settings.retry.retries} retries, ${settings.retry.minDelayMs}-${settings.retry.maxDelayMs} ms; timeout ${settings.timeoutMs} ms`);
  if (settings.budget) lines.push(`budget:        daily ${settings.budget.dailyUsd ?? '-'} USD, monthly ${settings.budget.monthlyUsd ?? '-'} USD`);
  const { describeHttpSettings } = await import('./http/http-doctor.js');
  const gateway = describeHttpSettings(settings.http, settings.env, settings.configPath !== undefined || !process.env.LLM_SERVICE_CONFIG);
  lines.push(...gateway.lines);
  if (gateway.problem) {
    // serve --http would refuse to start: as broken as a bad config file, for the gateway.
    lines.push(`PROBLEM: ${gateway.problem}`);
    process.exitCode = 1;
  }
  const { checkNativeModule } = await import('./native-check.js');
  const native = checkNativeModule();
  lines.push(native.line);
  if (native.problem) {
    // Without it the ledger cannot record a call: the server would start and fail at the first chat.
    lines.push(`PROBLEM: ${native.problem}`);
    process.exitCode = 1;
  }
  try {
    const ledger = await openLedger(settings.dbPath, ledgerOptions(settings));
    const stats = await ledger.stats().finally(() => ledger.close());
    const details = [
      stats.serverVersion,
      `${(stats.sizeBytes / 1024).toFixed(0)} KiB`,
      `${stats.rows} calls`,
      stats.spooledCalls ? `${stats.spooledCalls} calls waiting in the local spool` : undefined,
    ];
    lines.push(`ledger:        ${stats.location} (${details.filter((detail) => detail !== undefined).join(', ')})`);
  } catch (error) {
    lines.push(`ledger:        ${ledgerLocation(settings.dbPath)}: ${(error as Error).message}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** Where the prices come from and when they were checked: newest and oldest date, and how many are stale. */
function priceDataLine(models: Settings['models'], nowMs: number): string {
  const dates = models.map((m) => m.priceCheckedAt).filter((d): d is string => d !== null).sort();
  const handSet = models.filter((m) => m.priceCheckedAt === null && m.pricing.inputPerMTok !== null).length;
  const stale = dates.filter((d) => nowMs - Date.parse(d) > 90 * 86_400_000).length;
  const checked = dates.length === 0 ? 'no checked prices' : `checked ${dates[dates.length - 1]}${dates[0] !== dates[dates.length - 1] ? ` (oldest ${dates[0]})` : ''}`;
  const parts = [`${PRICE_SOURCE}; ${checked}`];
  if (stale > 0) parts.push(`${stale} older than 90 days`);
  if (handSet > 0) parts.push(`${handSet} set in the config file`);
  return parts.join('; ');
}

async function ledgerCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub !== 'import') fail(`usage: llm-service-mcp ledger import --from FILE.db`);
  let from: string | undefined;
  try {
    from = parseArgs({ args: rest, options: { from: { type: 'string' } }, strict: true }).values.from;
  } catch (error) {
    fail(`${(error as Error).message}; usage: llm-service-mcp ledger import --from FILE.db`);
  }
  if (!from) fail('usage: llm-service-mcp ledger import --from FILE.db');
  const settings = settingsOrExit();
  if (!isPostgresUrl(settings.dbPath)) {
    fail(`ledger import copies into the PostgreSQL ledger: set LLM_SERVICE_DB to its postgres:// URL (it is ${settings.dbPath})`);
  }
  const ledger = (await openLedgerOrExit(settings)) as PostgresLedger;
  try {
    const outcome = await importSqliteLedger(from, ledger);
    process.stdout.write(
      `Imported ${outcome.added} calls from ${from} into ${ledger.location}` +
        (outcome.read > outcome.added ? ` (${outcome.read - outcome.added} of its ${outcome.read} were there already)` : '') +
        '\n',
    );
  } catch (error) {
    if (error instanceof LedgerError) fail(error.message);
    throw error;
  } finally {
    await ledger.close();
  }
}

async function cost(argv: string[]): Promise<void> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        since: { type: 'string' },
        until: { type: 'string' },
        'group-by': { type: 'string' },
        model: { type: 'string' },
        provider: { type: 'string' },
        principal: { type: 'string' },
        json: { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (error) {
    fail(`${(error as Error).message}; see llm-service-mcp --help`);
  }
  const groupBy = (values['group-by'] as string | undefined) ?? 'model';
  if (!['model', 'provider', 'day', 'principal', 'none'].includes(groupBy)) {
    fail(`--group-by must be model, provider, day, principal or none, not '${groupBy}'`);
  }
  const settings = settingsOrExit();
  const now = Date.now();
  let since: number | undefined;
  let until: number | undefined;
  for (const name of ['since', 'until'] as const) {
    const value = (values[name] as string | undefined) ?? (name === 'since' ? '30d' : undefined);
    if (value === undefined) continue;
    try {
      const at = parseTimeBound(value, now);
      if (name === 'since') since = at;
      else until = at;
    } catch (error) {
      fail(`--${name}: ${(error as Error).message}`);
    }
  }
  // The ledger keeps model ids: an alias (or provider:model of a listed model) means its id.
  const model = values.model === undefined ? undefined : new ModelRegistry(settings.models, settings.providers, settings.aliases).canonicalId(values.model as string);
  const ledger = await openLedgerOrExit(settings);
  const report = await ledger
    .report(
      {
        since,
        until,
        model,
        provider: values.provider as string | undefined,
        principal: values.principal as string | undefined,
        groupBy: groupBy as GroupBy,
      },
      // A principal's own caps live in the http section; the global ones are for the whole ledger.
      values.principal === undefined ? settings.budget : undefined,
    )
    .finally(() => ledger.close());
  if (values.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return;
  }
  const range = `since ${new Date(since!).toISOString()}${until === undefined ? '' : ` until ${new Date(until).toISOString()}`}`;
  process.stdout.write(`Ledger ${ledger.location}, ${range}\n\n${formatCostReport(report, { groupBy: groupBy as GroupBy, barChart: groupBy === 'day', session: false })}\n`);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined) return serve();
  if (command === 'serve') return rest.includes('--http') ? serveHttp(rest) : rest.length === 0 ? serve() : fail('usage: llm-service-mcp serve [--http [--host H] [--port P]]');
  if (command === 'token') return token(rest);
  if (command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${packageVersion()}\n`);
    return;
  }
  if (command === 'doctor') return doctor();
  if (command === 'cost') return cost(rest);
  if (command === 'ledger') return ledgerCommand(rest);
  fail(`unknown command '${command}'; see llm-service-mcp --help`);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  fail(error instanceof Error ? error.message : String(error));
});
