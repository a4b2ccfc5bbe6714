import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterEach } from 'vitest';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { ListRootsRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { pathToFileURL } from 'node:url';
import { buildSettings, type ConfigFile, type Settings } from '../../src/config.js';
import { type Ledger } from '../../src/ledger/ledger.js';
import { SqliteLedger } from '../../src/ledger/sqlite/sqlite-ledger.js';
import { createLogger } from '../../src/logger.js';
import { createServer, type CreatedServer } from '../../src/server.js';
import { testClock } from './clock.js';
import { startUpstream, type Upstream } from './upstream.js';

/** Recognisable fake keys: a test can prove none of them ever leaves the server. */
export const FAKE_KEYS = {
  OPENAI_API_KEY: 'sk-test-openai-LEAKCHECK-0123456789abcdef',
  ANTHROPIC_API_KEY: 'sk-ant-test-LEAKCHECK-0123456789abcdef',
  DEEPSEEK_API_KEY: 'sk-test-deepseek-LEAKCHECK-0123456789',
  DASHSCOPE_API_KEY: 'sk-test-dashscope-LEAKCHECK-012345678',
} as const;

export interface Harness {
  upstream: Upstream;
  client: Client;
  settings: Settings;
  created: CreatedServer;
  ledger: Ledger;
  dbPath: string;
  /** Every line the server logged (stderr in production). */
  logLines: string[];
  /** Errors the client reported (e.g. a progress notification for a request that had ended). */
  clientErrors: Error[];
  callTool(name: string, args: Record<string, unknown>, options?: Parameters<Client['callTool']>[2]): Promise<CallToolResult>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** Merged over a config whose retries are fast (small delays) for tests. */
  config?: ConfigFile;
  /** Extra or overriding environment variables. */
  env?: Record<string, string | undefined>;
  /** Reuse a running upstream instead of starting one. */
  upstream?: Upstream;
  /** The server's and the ledger's clock; default testClock (a fixed date, running: test/support/clock.ts). */
  now?: () => number;
  /** Give the client the roots capability, offering these directories from roots/list. */
  clientRoots?: string[];
  /** How long a budget hold lasts without renewal (the ledger's default otherwise). */
  reservationTtlMs?: number;
  /** Heartbeat of streamed calls, ms (production: 10 s). */
  heartbeatMs?: number;
  /** Use this ledger file (kept on close) instead of a fresh one: a restart on the same file. */
  dbPath?: string;
}

/**
 * A real server behind a real MCP SDK Client over the in-memory transport, with every built-in
 * provider pointed at a loopback upstream and a ledger in a temp SQLite file.
 */
export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const upstream = options.upstream ?? (await startUpstream());
  const dir = mkdtempSync(join(tmpdir(), 'llm-service-mcp-test-'));
  const dbPath = options.dbPath ?? join(dir, 'ledger.db');
  const env: Record<string, string | undefined> = {
    ...FAKE_KEYS,
    OPENAI_BASE_URL: upstream.openaiBaseURL,
    ANTHROPIC_BASE_URL: upstream.anthropicBaseURL,
    DEEPSEEK_BASE_URL: upstream.openaiBaseURL,
    DASHSCOPE_BASE_URL: upstream.openaiBaseURL,
    LLM_SERVICE_DB: dbPath,
    ...options.env,
  };
  const config: ConfigFile = {
    ...options.config,
    retry: { retries: 2, minDelayMs: 10, maxDelayMs: 200, factor: 2, ...options.config?.retry },
  };
  const settings = buildSettings(config, env);
  // Never today's date: a test that needs a day pins it, the others run on the test clock.
  const now = options.now ?? testClock;
  const ledger = SqliteLedger.open(dbPath, {
    now,
    ...(options.reservationTtlMs !== undefined ? { reservationTtlMs: options.reservationTtlMs } : {}),
  });
  const logLines: string[] = [];
  const logger = createLogger({ secrets: Object.values(FAKE_KEYS), level: 'debug', write: (line) => logLines.push(line) });
  const created = createServer({ settings, ledger, logger, now, heartbeatMs: options.heartbeatMs });
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
  await created.server.connect(serverTransport);
  const client = new Client({ name: 'test-client', version: '1.0.0' }, options.clientRoots ? { capabilities: { roots: {} } } : undefined);
  if (options.clientRoots) {
    const roots = options.clientRoots.map((dir) => ({ uri: pathToFileURL(dir).href }));
    client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots }));
  }
  const clientErrors: Error[] = [];
  client.onerror = (error) => void clientErrors.push(error);
  await client.connect(clientTransport);
  return {
    upstream,
    client,
    settings,
    created,
    ledger,
    dbPath,
    logLines,
    clientErrors,
    callTool: async (name, args, callOptions) => (await client.callTool({ name, arguments: args }, undefined, callOptions)) as CallToolResult,
    close: async () => {
      await client.close();
      await created.close();
      await ledger.close();
      if (!options.upstream) await upstream.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** For a test file: a starter of harnesses that are all closed after each test. */
export function harnessPerTest(): (options?: HarnessOptions) => Promise<Harness> {
  const open: Harness[] = [];
  afterEach(async () => {
    for (const h of open.splice(0)) await h.close();
  });
  return async (options) => {
    const h = await startHarness(options);
    open.push(h);
    return h;
  };
}

/** The text of a tool result's first content item. */
export function resultText(result: CallToolResult): string {
  const first = result.content[0];
  return first && first.type === 'text' ? first.text : '';
}

/** The exact answer text a progress notification added (`_meta.delta`); undefined for announcements. */
export function progressDelta(progress: object): string | undefined {
  const delta = (progress as { _meta?: { delta?: unknown } })._meta?.delta;
  return typeof delta === 'string' ? delta : undefined;
}
