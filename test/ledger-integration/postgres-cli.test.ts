/**
 * The built CLI on the PostgreSQL ledger: `ledger import --from FILE.db` (idempotent), `cost`
 * and `doctor` (server version and row count, never the password), against the test server.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SqliteLedger } from '../../src/ledger/sqlite/sqlite-ledger.js';
import { freshDatabase } from '../support/postgres-server.js';
import { callRecord } from '../ledger/helpers.js';
import { childEnv, ensureBuilt, runCli } from './fixtures/helpers.js';

let dir: string;
let url: string;
let dropDatabase: () => Promise<void>;
let laptop: string;
const NOW = Date.now();

beforeAll(async () => {
  await ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'ledger-pg-cli-'));
  ({ url, drop: dropDatabase } = await freshDatabase(inject('postgresUrl'), 'cli'));
  // A laptop's SQLite ledger: 25 calls of two sessions, one of them a gateway principal's.
  laptop = join(dir, 'laptop.db');
  for (const session of ['s1', 's2']) {
    const ledger = SqliteLedger.open(laptop, { sessionId: session });
    for (let i = 0; i < (session === 's1' ? 15 : 10); i++) {
      await ledger.record(callRecord({ callId: `${session}-${i}`, startedAt: NOW - i * 3_600_000, costMicroUsd: 1_000, principal: i === 0 ? 'alice' : null }));
    }
    await ledger.close();
  }
}, 180_000);

afterAll(async () => {
  await dropDatabase?.();
  rmSync(dir, { recursive: true, force: true });
}, 180_000);

const env = (extra: Record<string, string> = {}): Record<string, string> => childEnv(undefined, dir, { LLM_SERVICE_DB: url, ...extra });
const password = (): string => decodeURIComponent(new URL(url).password);

describe('llm-service-mcp on a PostgreSQL ledger', () => {
  it('ledger import copies the SQLite calls once; running it again adds nothing', async () => {
    const first = await runCli(['ledger', 'import', '--from', laptop], env(), dir, 30_000);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toMatch(/^Imported 25 calls from .*laptop\.db into postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/cli_\w+\n$/);
    const again = await runCli(['ledger', 'import', '--from', laptop], env(), dir, 30_000);
    expect(again).toMatchObject({ code: 0 });
    expect(again.stdout).toContain('Imported 0 calls from');
    expect(again.stdout).toContain('(25 of its 25 were there already)');

    const cost = await runCli(['cost', '--json', '--since', '7d', '--group-by', 'principal'], env(), dir, 30_000);
    expect(cost.code).toBe(0);
    const report = JSON.parse(cost.stdout);
    expect(report.total).toMatchObject({ calls: 25, cost_usd: 0.025 });
    expect(report.groups.map((group: { key: string; calls: number }) => [group.key, group.calls])).toEqual([
      ['(local)', 23],
      ['alice', 2],
    ]);
    for (const run of [first, again, cost]) expect(run.stdout + run.stderr).not.toContain(password());
  }, 60_000);

  it('doctor shows the server version and the row count, never the password', async () => {
    const run = await runCli(['doctor'], env(), dir, 30_000);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/ledger: +postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/cli_\w+ \(PostgreSQL \d+\.\d+[^,]*, \d+ KiB, 25 calls\)/);
    expect(run.stdout + run.stderr).not.toContain(password());
  });

  it('ledger import needs a PostgreSQL ledger and an existing file, and says so', async () => {
    const toSqlite = await runCli(['ledger', 'import', '--from', laptop], env({ LLM_SERVICE_DB: join(dir, 'other.db') }), dir);
    expect(toSqlite.code).toBe(1);
    expect(toSqlite.stderr).toContain('ledger import copies into the PostgreSQL ledger: set LLM_SERVICE_DB to its postgres:// URL');
    const missing = await runCli(['ledger', 'import', '--from', join(dir, 'nope.db')], env(), dir, 30_000);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`No SQLite ledger at ${join(dir, 'nope.db')}`);
    const usage = await runCli(['ledger', 'import'], env(), dir);
    expect(usage).toMatchObject({ code: 1, stderr: expect.stringContaining('usage: llm-service-mcp ledger import --from FILE.db') });
  });
});
