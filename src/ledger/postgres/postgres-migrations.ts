/**
 * The PostgreSQL ledger's schema history: the same tables and columns as the SQLite ledger
 * (migrations.ts documents them), in PostgreSQL types, plus what sharing one database between
 * instances needs. `ledger_schema.version` holds the number of steps applied.
 *
 * Applied at start by `migratePostgres()` in one transaction under an advisory lock: instances
 * starting together wait for the first, then find the schema current and do nothing. DDL is
 * transactional in PostgreSQL, so a failed step leaves the old version, never half a migration.
 *
 * Differences from the SQLite schema, and why:
 * - `calls.row_key` (TEXT, unique): who wrote the row and which call it is, so a row written twice
 *   (a spooled call replayed after the database came back, a SQLite ledger imported twice) is
 *   kept once. `app:<uuid>` for rows this program writes, `sqlite:<hash>` for imported ones.
 * - `hourly_totals` has a `shard` column (0-7) in its key: each insert adds to one of eight rows of
 *   its hour, model and provider, chosen at random, so instances writing at once do not all
 *   queue on the lock of one hot row until each commit is flushed. Readers sum the shards.
 *   Since migration 5 a statement trigger adds a whole statement's rows at once (one upsert per
 *   hour, model and provider of the statement, all into the statement's one shard).
 * - `daily_costs (day, shard, cost_micro_usd)` (migration 5): the spend per UTC day (`day` is
 *   `substr(started_at, 1, 10)`), sharded the same way, kept by the same trigger: the budget
 *   checks read a day as 8 rows and a month as ~31 x 8, under the admission lock. SQLite has no
 *   such table (its month check reads `hourly_totals` under its own write lock).
 * - `started_at` stays ISO 8601 UTC text, as in SQLite, so the two ledgers' rows, reports and
 *   hour keys are the same; `started_at::timestamptz` turns it into a time in queries. It, the
 *   hour keys, `model` and `provider` use the "C" collation: compared and ordered byte by byte,
 *   as SQLite does, whatever the database's locale.
 */

import type pg from 'pg';
import { SchemaTooNewError } from '../migrations.js';

/** One schema step; `version` is what `ledger_schema.version` reads once `sql` has run. */
export interface PostgresMigration {
  version: number;
  description: string;
  sql: string;
}

// Adds the excluded row's sums to an existing shard row; shared by the two upserts of migration 1's
// trigger (the SQL it yields must never change: test/ledger/migration-sql.test.ts).
const ADD_TO_SHARD = `ON CONFLICT (hour, model, provider, shard) DO UPDATE SET
            calls = t.calls + excluded.calls, failed_calls = t.failed_calls + excluded.failed_calls,
            prompt_tokens = t.prompt_tokens + excluded.prompt_tokens,
            completion_tokens = t.completion_tokens + excluded.completion_tokens,
            cost_micro_usd = t.cost_micro_usd + excluded.cost_micro_usd,
            unpriced_calls = t.unpriced_calls + excluded.unpriced_calls;`;

// Migration 4's: the same, and the new column unknown_cost_calls.
const ADD_TO_SHARD_4 = ADD_TO_SHARD.replace(/;$/, ',\n            unknown_cost_calls = t.unknown_cost_calls + excluded.unknown_cost_calls;');

/**
 * Migration 5's trigger body for one statement's rows: `changes` is a query of them with a `sign`
 * column (1 for a row added, -1 for a row taken out) and every column of `calls`. They are summed
 * per hour, model and provider into ONE shard of hourly_totals, and per UTC day into one shard
 * of daily_costs (the variable `chosen_shard`), the rows locked in key order: two statements
 * sharing a shard lock their rows in the same order, so they queue, never deadlock.
 */
function addChanges(changes: string): string {
  return `INSERT INTO hourly_totals AS t (hour, model, provider, shard, calls, failed_calls, prompt_tokens,
            completion_tokens, cost_micro_usd, unpriced_calls, unknown_cost_calls)
          SELECT substr(started_at, 1, 13), model, provider, chosen_shard, SUM(sign), SUM(sign * (status <> 'ok')::int),
            SUM(sign * prompt_tokens), SUM(sign * completion_tokens), SUM(sign * COALESCE(cost_micro_usd, 0)),
            SUM(sign * (cost_micro_usd IS NULL AND input_price_per_mtok IS NULL)::int),
            SUM(sign * (cost_micro_usd IS NULL AND input_price_per_mtok IS NOT NULL)::int)
          FROM (${changes}) AS c GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
          ${ADD_TO_SHARD_4}
          INSERT INTO daily_costs AS t (day, shard, cost_micro_usd)
          SELECT substr(started_at, 1, 10), chosen_shard, SUM(sign * COALESCE(cost_micro_usd, 0))
          FROM (${changes}) AS c GROUP BY 1 ORDER BY 1
          ON CONFLICT (day, shard) DO UPDATE SET cost_micro_usd = t.cost_micro_usd + excluded.cost_micro_usd;`;
}

/** Every step, oldest first. Never edit a shipped step: append a new one. */
export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [
  {
    version: 1,
    description: 'calls, reservations and hourly_totals (sharded, kept by triggers): SQLite schema version 5',
    sql: `
      CREATE TABLE calls (
        id BIGSERIAL PRIMARY KEY,
        row_key TEXT NOT NULL UNIQUE,
        call_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        started_at TEXT COLLATE "C" NOT NULL,
        model TEXT COLLATE "C" NOT NULL,
        provider TEXT COLLATE "C" NOT NULL,
        provider_model TEXT NOT NULL,
        prompt_tokens BIGINT NOT NULL DEFAULT 0,
        completion_tokens BIGINT NOT NULL DEFAULT 0,
        cached_tokens BIGINT NOT NULL DEFAULT 0,
        cache_write_tokens BIGINT NOT NULL DEFAULT 0,
        reasoning_tokens BIGINT NOT NULL DEFAULT 0,
        cost_micro_usd BIGINT,
        input_price_per_mtok DOUBLE PRECISION,
        output_price_per_mtok DOUBLE PRECISION,
        cached_input_price_per_mtok DOUBLE PRECISION,
        cache_write_price_per_mtok DOUBLE PRECISION,
        latency_ms BIGINT NOT NULL,
        attempts INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('ok', 'error', 'cancelled')),
        finish_reason TEXT,
        error TEXT,
        raw_usage TEXT,
        principal TEXT COLLATE "C"
      );
      CREATE INDEX calls_started_at ON calls (started_at) INCLUDE (cost_micro_usd);
      CREATE INDEX calls_session_id ON calls (session_id);
      CREATE INDEX calls_principal_started_at ON calls (principal, started_at) INCLUDE (cost_micro_usd) WHERE principal IS NOT NULL;

      CREATE TABLE reservations (
        id BIGSERIAL PRIMARY KEY,
        created_at TEXT NOT NULL,
        amount_micro_usd BIGINT NOT NULL CHECK (amount_micro_usd >= 0),
        expires_at TEXT COLLATE "C" NOT NULL,
        principal TEXT COLLATE "C"
      );
      CREATE INDEX reservations_expires_at ON reservations (expires_at);

      CREATE TABLE hourly_totals (
        hour TEXT COLLATE "C" NOT NULL,
        model TEXT COLLATE "C" NOT NULL,
        provider TEXT COLLATE "C" NOT NULL,
        shard SMALLINT NOT NULL,
        calls BIGINT NOT NULL,
        failed_calls BIGINT NOT NULL,
        prompt_tokens BIGINT NOT NULL,
        completion_tokens BIGINT NOT NULL,
        cost_micro_usd BIGINT NOT NULL,
        unpriced_calls BIGINT NOT NULL,
        PRIMARY KEY (hour, model, provider, shard)
      );

      CREATE FUNCTION calls_hourly_totals() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP IN ('DELETE', 'UPDATE') THEN
          -- Taken out of shard 0; a shard may go below zero, the sums over shards stay exact.
          INSERT INTO hourly_totals AS t VALUES (substr(OLD.started_at, 1, 13), OLD.model, OLD.provider, 0,
            -1, -(OLD.status <> 'ok')::int, -OLD.prompt_tokens, -OLD.completion_tokens,
            -COALESCE(OLD.cost_micro_usd, 0), -(OLD.cost_micro_usd IS NULL)::int)
          ${ADD_TO_SHARD}
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
          INSERT INTO hourly_totals AS t VALUES (substr(NEW.started_at, 1, 13), NEW.model, NEW.provider,
            floor(random() * 8)::smallint,
            1, (NEW.status <> 'ok')::int, NEW.prompt_tokens, NEW.completion_tokens,
            COALESCE(NEW.cost_micro_usd, 0), (NEW.cost_micro_usd IS NULL)::int)
          ${ADD_TO_SHARD}
        END IF;
        RETURN NULL;
      END $$;

      CREATE TRIGGER calls_hourly_totals AFTER INSERT OR DELETE OR UPDATE OF
        started_at, model, provider, status, prompt_tokens, completion_tokens, cost_micro_usd
        ON calls FOR EACH ROW EXECUTE FUNCTION calls_hourly_totals();
    `,
  },
  {
    version: 2,
    description: 'calls: one-hour cache writes and their price, apart from the five-minute ones (SQLite schema version 6)',
    sql: `
      ALTER TABLE calls ADD COLUMN cache_write_1h_tokens BIGINT NOT NULL DEFAULT 0;
      ALTER TABLE calls ADD COLUMN cache_write_1h_price_per_mtok DOUBLE PRECISION;
    `,
  },
  {
    version: 3,
    description: 'conversation threads, and the conversation id on calls (SQLite schema version 7)',
    sql: `
      ALTER TABLE calls ADD COLUMN conversation_id TEXT COLLATE "C";
      CREATE INDEX calls_conversation_id ON calls (conversation_id, started_at) WHERE conversation_id IS NOT NULL;
      CREATE TABLE conversations (
        id TEXT COLLATE "C" PRIMARY KEY,
        principal TEXT,
        created_at TEXT COLLATE "C" NOT NULL,
        updated_at TEXT COLLATE "C" NOT NULL,
        system TEXT,
        tools TEXT
      );
      CREATE INDEX conversations_updated_at ON conversations (updated_at);
      CREATE TABLE conversation_turns (
        conversation_id TEXT COLLATE "C" NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        messages TEXT NOT NULL,
        PRIMARY KEY (conversation_id, seq)
      );
    `,
  },
  {
    version: 4,
    description: 'hourly_totals tells unpriced calls (no input price) from calls of unknown cost (priced): SQLite schema version 8',
    sql: `
      DROP TRIGGER calls_hourly_totals ON calls;
      ALTER TABLE hourly_totals ADD COLUMN unknown_cost_calls BIGINT NOT NULL DEFAULT 0;
      DELETE FROM hourly_totals;
      INSERT INTO hourly_totals (hour, model, provider, shard, calls, failed_calls, prompt_tokens, completion_tokens,
        cost_micro_usd, unpriced_calls, unknown_cost_calls)
      SELECT substr(started_at, 1, 13), model, provider, 0, COUNT(*), COUNT(*) FILTER (WHERE status <> 'ok'),
        COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0), COALESCE(SUM(cost_micro_usd), 0),
        COUNT(*) FILTER (WHERE cost_micro_usd IS NULL AND input_price_per_mtok IS NULL),
        COUNT(*) FILTER (WHERE cost_micro_usd IS NULL AND input_price_per_mtok IS NOT NULL)
      FROM calls GROUP BY 1, 2, 3;

      CREATE OR REPLACE FUNCTION calls_hourly_totals() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP IN ('DELETE', 'UPDATE') THEN
          INSERT INTO hourly_totals AS t VALUES (substr(OLD.started_at, 1, 13), OLD.model, OLD.provider, 0,
            -1, -(OLD.status <> 'ok')::int, -OLD.prompt_tokens, -OLD.completion_tokens,
            -COALESCE(OLD.cost_micro_usd, 0),
            -(OLD.cost_micro_usd IS NULL AND OLD.input_price_per_mtok IS NULL)::int,
            -(OLD.cost_micro_usd IS NULL AND OLD.input_price_per_mtok IS NOT NULL)::int)
          ${ADD_TO_SHARD_4}
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
          INSERT INTO hourly_totals AS t VALUES (substr(NEW.started_at, 1, 13), NEW.model, NEW.provider,
            floor(random() * 8)::smallint,
            1, (NEW.status <> 'ok')::int, NEW.prompt_tokens, NEW.completion_tokens,
            COALESCE(NEW.cost_micro_usd, 0),
            (NEW.cost_micro_usd IS NULL AND NEW.input_price_per_mtok IS NULL)::int,
            (NEW.cost_micro_usd IS NULL AND NEW.input_price_per_mtok IS NOT NULL)::int)
          ${ADD_TO_SHARD_4}
        END IF;
        RETURN NULL;
      END $$;

      CREATE TRIGGER calls_hourly_totals AFTER INSERT OR DELETE OR UPDATE OF
        started_at, model, provider, status, prompt_tokens, completion_tokens, cost_micro_usd, input_price_per_mtok
        ON calls FOR EACH ROW EXECUTE FUNCTION calls_hourly_totals();
    `,
  },
  {
    version: 5,
    description: 'hourly_totals kept per statement (one upsert per hour, model and provider of a multi-row insert); daily_costs, the spend per UTC day, for the budget checks',
    // The row trigger upserted one random shard per row: a statement of many rows (a batch of
    // calls, a spool replay, an import) updated a shard row once per row, leaving as many dead
    // versions, and locked several shards in random order, so two such statements could deadlock.
    // Statement triggers see the statement's rows at once (transition tables) and add each
    // group's sums once, in key order. daily_costs lets a month's budget check read ~31 x 8 rows
    // instead of 720 hours x models x 8 shards.
    sql: `
      DROP TRIGGER calls_hourly_totals ON calls;
      DROP FUNCTION calls_hourly_totals();

      CREATE TABLE daily_costs (
        day TEXT COLLATE "C" NOT NULL,
        shard SMALLINT NOT NULL,
        cost_micro_usd BIGINT NOT NULL,
        PRIMARY KEY (day, shard)
      );
      INSERT INTO daily_costs (day, shard, cost_micro_usd)
      SELECT substr(hour, 1, 10), 0, SUM(cost_micro_usd) FROM hourly_totals GROUP BY 1;

      CREATE FUNCTION calls_totals() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        chosen_shard smallint := floor(random() * 8);
      BEGIN
        IF TG_OP = 'INSERT' THEN
          ${addChanges('SELECT 1 AS sign, * FROM new_calls')}
        ELSIF TG_OP = 'DELETE' THEN
          ${addChanges('SELECT -1 AS sign, * FROM old_calls')}
        ELSE
          ${addChanges('SELECT 1 AS sign, * FROM new_calls UNION ALL SELECT -1 AS sign, * FROM old_calls')}
        END IF;
        RETURN NULL;
      END $$;

      -- A statement trigger with transition tables takes no column list: any UPDATE of calls
      -- re-adds its rows (a net change of zero where no summed column changed). The app never
      -- updates calls.
      CREATE TRIGGER calls_totals_insert AFTER INSERT ON calls
        REFERENCING NEW TABLE AS new_calls FOR EACH STATEMENT EXECUTE FUNCTION calls_totals();
      CREATE TRIGGER calls_totals_delete AFTER DELETE ON calls
        REFERENCING OLD TABLE AS old_calls FOR EACH STATEMENT EXECUTE FUNCTION calls_totals();
      CREATE TRIGGER calls_totals_update AFTER UPDATE ON calls
        REFERENCING OLD TABLE AS old_calls NEW TABLE AS new_calls FOR EACH STATEMENT EXECUTE FUNCTION calls_totals();
    `,
  },
];

/** The schema version this code writes. */
export const POSTGRES_SCHEMA_VERSION = POSTGRES_MIGRATIONS.length;

// Any fixed 64-bit number: the advisory lock every instance takes to migrate.
const MIGRATION_LOCK = 7_401_935_217;

/**
 * Brings the database up to `POSTGRES_SCHEMA_VERSION`; returns the version it found. Throws
 * `SchemaTooNewError` when a newer program has migrated it further.
 */
export async function migratePostgres(
  client: pg.ClientBase,
  migrations: readonly PostgresMigration[] = POSTGRES_MIGRATIONS,
): Promise<number> {
  const known = migrations.length;
  await client.query('BEGIN');
  try {
    // Held to the end of the transaction: a second instance starting now waits here, then reads
    // the version this one committed.
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query('CREATE TABLE IF NOT EXISTS ledger_schema (version INTEGER NOT NULL)');
    const rows = (await client.query<{ version: number }>('SELECT version FROM ledger_schema')).rows;
    const found = rows[0]?.version ?? 0;
    if (found > known) throw new SchemaTooNewError(found, known);
    for (const migration of migrations.slice(found)) await client.query(migration.sql);
    if (rows.length === 0) await client.query('INSERT INTO ledger_schema (version) VALUES ($1)', [known]);
    else if (found !== known) await client.query('UPDATE ledger_schema SET version = $1', [known]);
    await client.query('COMMIT');
    return found;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
