/**
 * PreparedStatements (src/ledger/postgres/prepared-statements.ts): a text is prepared once per
 * connection, other connections prepare it again, and a connection never keeps more than 16 (the
 * oldest is deallocated in the same message). Against the real test server.
 */

import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { LedgerError } from '../../src/ledger/ledger.js';
import { openLedger } from '../../src/ledger/open-ledger.js';
import { PreparedStatements } from '../../src/ledger/postgres/prepared-statements.js';
import { freshDatabase } from '../support/postgres-server.js';
import { tempDir } from './helpers.js';

const clients: pg.Client[] = [];
const temp = tempDir('ledger-prepared-');
const drops: Array<() => Promise<void>> = [];

afterAll(async () => {
  await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
  await Promise.all(drops.map((drop) => drop().catch(() => undefined)));
  temp.cleanup();
});

async function connect(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: inject('postgresUrl') });
  await client.connect();
  clients.push(client);
  return client;
}

/** Runs `sql` through `statements` as the ledger does: PREPARE (when due) and EXECUTE in one message. */
async function run(statements: PreparedStatements, client: pg.Client, sql: string, args: string): Promise<{ value: unknown; prepared: boolean }> {
  const { prepare, name } = statements.use(client, sql);
  const results = (await client.query(`${prepare}EXECUTE ${name}(${args})`)) as unknown as pg.QueryResult | pg.QueryResult[];
  const last = Array.isArray(results) ? results[results.length - 1]! : results;
  return { value: last.rows[0]?.v, prepared: prepare.includes('PREPARE') };
}

async function preparedCount(client: pg.Client): Promise<number> {
  return Number((await client.query("SELECT COUNT(*) AS n FROM pg_prepared_statements WHERE name LIKE 'test_stmt_%'")).rows[0].n);
}

describe('prepared statements of the simple protocol', () => {
  it('prepares a text once per connection and runs it with its arguments after that', async () => {
    const statements = new PreparedStatements('test_stmt');
    const [a, b] = await Promise.all([connect(), connect()]);
    const sql = 'SELECT $1::int * 2 AS v';
    expect(await run(statements, a, sql, '21')).toEqual({ value: 42, prepared: true });
    expect(await run(statements, a, sql, '5')).toEqual({ value: 10, prepared: false });
    // Another connection has its own.
    expect(await run(statements, b, sql, '1')).toEqual({ value: 2, prepared: true });
    expect(await preparedCount(a)).toBe(1);
  });

  it('keeps at most 16 per connection, deallocating the oldest', async () => {
    const statements = new PreparedStatements('test_stmt');
    const client = await connect();
    for (let i = 0; i < 20; i++) expect(await run(statements, client, `SELECT $1::int + ${i} AS v`, '100')).toEqual({ value: 100 + i, prepared: true });
    expect(await preparedCount(client)).toBe(16);
    // The newest is still prepared; the first was dropped and is prepared again.
    expect(await run(statements, client, 'SELECT $1::int + 19 AS v', '1')).toEqual({ value: 20, prepared: false });
    expect(await run(statements, client, 'SELECT $1::int + 0 AS v', '1')).toEqual({ value: 1, prepared: true });
    expect(await preparedCount(client)).toBe(16);
  });

  it('an admission that fails leaves the next one on the same pool working', async () => {
    const database = await freshDatabase(inject('postgresUrl'));
    drops.push(database.drop);
    // Per-call holds: a lease would hold 64 x 13, which the trigger below does not refuse.
    const ledger = await openLedger(database.url, { spoolDir: join(temp.dir, 'spool'), poolSize: 1, budgetLeases: false });
    try {
      // A hold of 13 micro-dollars is refused by the database: the admission's EXECUTE fails
      // after its PREPARE went through on that connection.
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      await client.query(`CREATE FUNCTION refuse_13() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.amount_micro_usd = 13 THEN RAISE EXCEPTION 'no 13'; END IF; RETURN NEW; END $$;
        CREATE TRIGGER refuse_13 BEFORE INSERT ON reservations FOR EACH ROW EXECUTE FUNCTION refuse_13()`);
      await client.end();
      await expect(ledger.reserve(13, { dailyUsd: 1 })).rejects.toBeInstanceOf(LedgerError);
      expect(await ledger.reserve(14, { dailyUsd: 1 })).toMatchObject({ ok: true });
      await expect(ledger.reserve(13, { dailyUsd: 1 })).rejects.toBeInstanceOf(LedgerError);
      expect(await ledger.reserve(15, { dailyUsd: 1 })).toMatchObject({ ok: true });
    } finally {
      await ledger.close();
    }
  });
});
