/**
 * The ledger's schema history. `PRAGMA user_version` holds the number of migrations applied;
 * opening a ledger applies the missing ones in order, each in the same transaction as the
 * version bump, so a crash leaves the file at an old version, never half-migrated.
 *
 * Durability: the file is in WAL mode with `synchronous = NORMAL`. A row is committed (written to
 * the `-wal` file) before `record()` returns, so every call the host got an answer for survives
 * the server process being killed at any moment, SIGKILL included. What NORMAL gives up is the
 * fsync per commit: an OS crash or power cut can lose the last commits (the file itself stays
 * consistent). `synchronous = FULL` would close that gap at about 4x fewer writes per second and
 * ~0.3 ms more per call; no user asked for that guarantee.
 *
 * Table `calls`: one row per chat attempt chain on one model (a call that falls back to other
 * models writes one row per model, sharing `call_id`); failed and cancelled calls included.
 *
 * | column                        | type         | meaning |
 * |-------------------------------|--------------|---------|
 * | `id`                          | INTEGER PK   | row number, increasing |
 * | `call_id`                     | TEXT         | id of the `chat` tool call (the `call_id` in its result); shared by its fallback rows |
 * | `session_id`                  | TEXT         | id of the server process that wrote the row |
 * | `started_at`                  | TEXT         | call start, ISO 8601 UTC with ms (`2026-11-26T04:00:00.000Z`); `date(started_at)` works |
 * | `model`                       | TEXT         | registry model id asked for (e.g. `gpt-4o-mini`) |
 * | `provider`                    | TEXT         | provider name (`openai`, `anthropic`, `deepseek`, `qwen`, or a configured one) |
 * | `provider_model`              | TEXT         | model id the provider reported (may be a dated snapshot) |
 * | `prompt_tokens`               | INTEGER      | all input tokens, cached and cache-written ones included |
 * | `completion_tokens`           | INTEGER      | output tokens, reasoning tokens included |
 * | `cached_tokens`               | INTEGER      | input tokens read from the provider's prompt cache (part of `prompt_tokens`) |
 * | `cache_write_tokens`          | INTEGER      | input tokens written to the prompt cache (part of `prompt_tokens`) |
 * | `cache_write_1h_tokens`       | INTEGER      | of `cache_write_tokens`, those written for one hour (Anthropic, 2x input); the rest are five-minute writes (migration 6) |
 * | `reasoning_tokens`            | INTEGER      | hidden reasoning tokens (part of `completion_tokens`) |
 * | `cost_micro_usd`              | INTEGER NULL | cost in millionths of a US dollar; NULL when the price is unknown (never 0 for unknown) |
 * | `input_price_per_mtok`        | REAL NULL    | USD per million uncached input tokens used for the cost (the prices columns hold what this call was billed at: its input-size tier, peak or off-peak) |
 * | `output_price_per_mtok`       | REAL NULL    | USD per million output tokens |
 * | `cached_input_price_per_mtok` | REAL NULL    | USD per million cached input tokens; NULL = billed at the input price |
 * | `cache_write_price_per_mtok`  | REAL NULL    | USD per million five-minute cache-write tokens; NULL = billed at the input price |
 * | `cache_write_1h_price_per_mtok` | REAL NULL  | USD per million one-hour cache-write tokens; NULL = billed at the five-minute write price (migration 6) |
 * | `latency_ms`                  | INTEGER      | wall time of the call, retries and their waits included |
 * | `attempts`                    | INTEGER      | HTTP attempts made on this model |
 * | `status`                      | TEXT         | `ok`, `error` or `cancelled` |
 * | `finish_reason`               | TEXT NULL    | `stop`, `length`, `tool_calls`, `content_filter` or `other`; NULL when the call failed |
 * | `error`                       | TEXT NULL    | what failed (the provider's error, API keys removed); NULL when `ok` |
 * | `raw_usage`                   | TEXT NULL    | the provider's own usage object as JSON, to recompute costs later |
 * | `principal`                   | TEXT NULL    | who made the call over the HTTP gateway (static token name or JWT claim); NULL over stdio (migration 5) |
 * | `conversation_id`             | TEXT NULL    | the conversation thread the call was a turn of (`chat`'s `conversation_id`); NULL when none was kept (migration 7) |
 *
 * Table `reservations`: budget held by calls in flight, so that processes sharing the file cannot
 * all slip under a cap at once. A row lives from just before a call to its `calls` row; rows left
 * by a killed process stop counting at `expires_at`.
 *
 * | column             | type       | meaning |
 * |--------------------|------------|---------|
 * | `id`               | INTEGER PK | reservation id |
 * | `created_at`       | TEXT       | ISO 8601 UTC |
 * | `amount_micro_usd` | INTEGER    | worst-case cost of the call, in micro-dollars |
 * | `expires_at`       | TEXT       | ISO 8601 UTC; ignored after this instant |
 * | `principal`        | TEXT NULL  | whose call holds it (HTTP gateway), for the per-principal caps; NULL over stdio (migration 5) |
 *
 * Tables `conversations` and `conversation_turns` (migration 7): `chat`'s threads, kept so a
 * thread survives restarts and is shared by every process on the file. A thread row holds who
 * owns it (`principal`, NULL for stdio), `created_at`/`updated_at` (ISO 8601 UTC; a thread idle
 * longer than the configured time is expired on read and swept), its `system` message and last
 * `tools` (JSON). Each turn (`conversation_id`, `seq` from 1) holds `messages`: the JSON array of
 * the turn's messages (the caller's, then the answer), in our neutral message shape, so any
 * provider's model can continue the thread.
 *
 * Table `hourly_totals` (WITHOUT ROWID, primary key `(hour, model, provider)`): the sums of
 * `calls` per UTC hour, model and provider, so the cost report and the budget checks read a few
 * thousand rows instead of the whole ledger. Triggers on `calls` keep it exact for every writer
 * (other processes, or `sqlite3` by hand): an insert adds the row to its hour, a delete subtracts
 * it (an hour left with no calls is removed), an update does both. Only derived data: it can be
 * rebuilt from `calls` at any time (`DELETE FROM hourly_totals;` then the `INSERT ... SELECT` of
 * migration 3). Reports are exact as long as `started_at` has the documented form
 * (`2026-11-26T04:00:00.000Z`), which is what lets an hour key stand for its rows.
 *
 * | column              | type    | meaning |
 * |---------------------|---------|---------|
 * | `hour`              | TEXT    | `substr(started_at, 1, 13)`, the UTC hour (`2026-11-26T04`) |
 * | `model`             | TEXT    | as in `calls` |
 * | `provider`          | TEXT    | as in `calls` |
 * | `calls`             | INTEGER | rows of `calls` in this hour, model and provider |
 * | `failed_calls`      | INTEGER | of which `status` is not `ok` |
 * | `prompt_tokens`     | INTEGER | sum of `prompt_tokens` |
 * | `completion_tokens` | INTEGER | sum of `completion_tokens` |
 * | `cost_micro_usd`    | INTEGER | sum of the known costs (NULL costs count as nothing here) |
 * | `unpriced_calls`    | INTEGER | rows whose model has no known price: `cost_micro_usd` and `input_price_per_mtok` NULL (migration 8; before it, every NULL cost) |
 * | `unknown_cost_calls`| INTEGER | rows priced but of unknown bill (a stream cut without usage): `cost_micro_usd` NULL, `input_price_per_mtok` set (migration 8) |
 */

import type Database from 'better-sqlite3';

/** One schema step; `version` is the `user_version` the file has once `sql` has run. */
export interface Migration {
  version: number;
  description: string;
  sql: string;
}

// Adds the excluded row's sums to the existing row of its hour; the ON CONFLICT of ADD_NEW_ROW.
const ADD_SUMS = `        ON CONFLICT (hour, model, provider) DO UPDATE SET
          calls = calls + excluded.calls,
          failed_calls = failed_calls + excluded.failed_calls,
          prompt_tokens = prompt_tokens + excluded.prompt_tokens,
          completion_tokens = completion_tokens + excluded.completion_tokens,
          cost_micro_usd = cost_micro_usd + excluded.cost_micro_usd,
          unpriced_calls = unpriced_calls + excluded.unpriced_calls;`;

// Adds a new or changed row (NEW) into its hour; shared by the insert and update triggers of
// migration 3 (the SQL it yields must never change: test/ledger/migration-sql.test.ts).
const ADD_NEW_ROW = `        INSERT INTO hourly_totals (hour, model, provider, calls, failed_calls, prompt_tokens, completion_tokens, cost_micro_usd, unpriced_calls)
        VALUES (substr(NEW.started_at, 1, 13), NEW.model, NEW.provider, 1, NEW.status <> 'ok', NEW.prompt_tokens,
          NEW.completion_tokens, COALESCE(NEW.cost_micro_usd, 0), NEW.cost_micro_usd IS NULL)
${ADD_SUMS}`;

// Takes a removed or changed row (OLD) back out of its hour, and drops an hour left empty; shared
// by the delete and update triggers of migration 3 (the SQL it yields must never change).
const SUBTRACT_OLD_ROW = `        UPDATE hourly_totals SET
          calls = calls - 1,
          failed_calls = failed_calls - (OLD.status <> 'ok'),
          prompt_tokens = prompt_tokens - OLD.prompt_tokens,
          completion_tokens = completion_tokens - OLD.completion_tokens,
          cost_micro_usd = cost_micro_usd - COALESCE(OLD.cost_micro_usd, 0),
          unpriced_calls = unpriced_calls - (OLD.cost_micro_usd IS NULL)
        WHERE hour = substr(OLD.started_at, 1, 13) AND model = OLD.model AND provider = OLD.provider;
        DELETE FROM hourly_totals
        WHERE hour = substr(OLD.started_at, 1, 13) AND model = OLD.model AND provider = OLD.provider AND calls <= 0;`;

// Migration 8's versions of the two blocks above: a NULL cost is "unpriced" when the row has no
// input price (the model has none) and "unknown cost" when it has one (the bill is what nobody
// knows), counted in the new column unknown_cost_calls. The SQL they yield must never change.
const ADD_NEW_ROW_8 = `        INSERT INTO hourly_totals (hour, model, provider, calls, failed_calls, prompt_tokens, completion_tokens, cost_micro_usd, unpriced_calls, unknown_cost_calls)
        VALUES (substr(NEW.started_at, 1, 13), NEW.model, NEW.provider, 1, NEW.status <> 'ok', NEW.prompt_tokens,
          NEW.completion_tokens, COALESCE(NEW.cost_micro_usd, 0),
          NEW.cost_micro_usd IS NULL AND NEW.input_price_per_mtok IS NULL,
          NEW.cost_micro_usd IS NULL AND NEW.input_price_per_mtok IS NOT NULL)
${ADD_SUMS.replace(/;$/, ',\n          unknown_cost_calls = unknown_cost_calls + excluded.unknown_cost_calls;')}`;

const SUBTRACT_OLD_ROW_8 = SUBTRACT_OLD_ROW.replace(
  'unpriced_calls = unpriced_calls - (OLD.cost_micro_usd IS NULL)',
  `unpriced_calls = unpriced_calls - (OLD.cost_micro_usd IS NULL AND OLD.input_price_per_mtok IS NULL),
          unknown_cost_calls = unknown_cost_calls - (OLD.cost_micro_usd IS NULL AND OLD.input_price_per_mtok IS NOT NULL)`,
);

/** Every schema step, oldest first. Never edit a shipped step: append a new one. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'calls table and the indexes of the cost report',
    sql: `
      CREATE TABLE calls (
        id INTEGER PRIMARY KEY,
        call_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        started_at TEXT NOT NULL,
        model TEXT NOT NULL,
        provider TEXT NOT NULL,
        provider_model TEXT NOT NULL,
        prompt_tokens INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        cached_tokens INTEGER NOT NULL DEFAULT 0,
        cache_write_tokens INTEGER NOT NULL DEFAULT 0,
        reasoning_tokens INTEGER NOT NULL DEFAULT 0,
        cost_micro_usd INTEGER,
        input_price_per_mtok REAL,
        output_price_per_mtok REAL,
        cached_input_price_per_mtok REAL,
        cache_write_price_per_mtok REAL,
        latency_ms INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('ok', 'error', 'cancelled')),
        finish_reason TEXT,
        error TEXT,
        raw_usage TEXT
      );
      -- cost_micro_usd rides along so the budget sums that run under the write lock read the index only.
      CREATE INDEX calls_started_at ON calls (started_at, cost_micro_usd);
      CREATE INDEX calls_model_started_at ON calls (model, started_at);
      CREATE INDEX calls_provider_started_at ON calls (provider, started_at);
      CREATE INDEX calls_session_id ON calls (session_id);
    `,
  },
  {
    version: 2,
    description: 'reservations table: budget held by calls in flight',
    sql: `
      CREATE TABLE reservations (
        id INTEGER PRIMARY KEY,
        created_at TEXT NOT NULL,
        amount_micro_usd INTEGER NOT NULL CHECK (amount_micro_usd >= 0),
        expires_at TEXT NOT NULL
      );
      CREATE INDEX reservations_expires_at ON reservations (expires_at);
    `,
  },
  {
    version: 3,
    description: 'hourly_totals: per-hour sums of calls kept by triggers, read by the cost report and the budgets',
    sql: `
      CREATE TABLE hourly_totals (
        hour TEXT NOT NULL,
        model TEXT NOT NULL,
        provider TEXT NOT NULL,
        calls INTEGER NOT NULL,
        failed_calls INTEGER NOT NULL,
        prompt_tokens INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        cost_micro_usd INTEGER NOT NULL,
        unpriced_calls INTEGER NOT NULL,
        PRIMARY KEY (hour, model, provider)
      ) WITHOUT ROWID;

      INSERT INTO hourly_totals (hour, model, provider, calls, failed_calls, prompt_tokens, completion_tokens, cost_micro_usd, unpriced_calls)
      SELECT substr(started_at, 1, 13), model, provider, COUNT(*), SUM(status <> 'ok'), SUM(prompt_tokens),
        SUM(completion_tokens), COALESCE(SUM(cost_micro_usd), 0), SUM(cost_micro_usd IS NULL)
      FROM calls
      GROUP BY 1, 2, 3;

      CREATE TRIGGER calls_hourly_totals_insert AFTER INSERT ON calls
      BEGIN
${ADD_NEW_ROW}
      END;

      -- The app only appends; these keep the totals exact when rows are pruned or fixed by hand.
      CREATE TRIGGER calls_hourly_totals_delete AFTER DELETE ON calls
      BEGIN
${SUBTRACT_OLD_ROW}
      END;

      CREATE TRIGGER calls_hourly_totals_update
      AFTER UPDATE OF started_at, model, provider, status, prompt_tokens, completion_tokens, cost_micro_usd ON calls
      BEGIN
${SUBTRACT_OLD_ROW}
${ADD_NEW_ROW}
      END;
    `,
  },
  {
    version: 4,
    description: 'drop the per-model and per-provider indexes of calls: reports read hourly_totals now',
    // Each index cost every insert a b-tree update (writes went from ~17k to ~23k rows/s
    // without them) and no query of ours uses them any more.
    sql: `
      DROP INDEX IF EXISTS calls_model_started_at;
      DROP INDEX IF EXISTS calls_provider_started_at;
    `,
  },
  {
    version: 5,
    description: 'principal on calls and reservations: who made the call over the HTTP gateway',
    // hourly_totals stays keyed by (hour, model, provider): per-principal sums (a principal's
    // budget, a principal's get_cost) read calls through this index, which covers the budget
    // sums; stdio rows (principal NULL) stay out of it.
    sql: `
      ALTER TABLE calls ADD COLUMN principal TEXT;
      CREATE INDEX calls_principal_started_at ON calls (principal, started_at, cost_micro_usd) WHERE principal IS NOT NULL;
      ALTER TABLE reservations ADD COLUMN principal TEXT;
    `,
  },
  {
    version: 6,
    description: 'calls: one-hour cache writes and their price, apart from the five-minute ones',
    // Anthropic bills a one-hour cache write at 2x input and a five-minute one at 1.25x: the row
    // keeps the split so its cost can be checked and recomputed. Old rows had no split (0 = none).
    sql: `
      ALTER TABLE calls ADD COLUMN cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE calls ADD COLUMN cache_write_1h_price_per_mtok REAL;
    `,
  },
  {
    version: 7,
    description: 'conversation threads, and the conversation id on calls',
    // get_cost by conversation reads calls through this index (hourly_totals has no conversation).
    sql: `
      ALTER TABLE calls ADD COLUMN conversation_id TEXT;
      CREATE INDEX calls_conversation_id ON calls (conversation_id, started_at) WHERE conversation_id IS NOT NULL;
      CREATE TABLE conversations (
        id TEXT PRIMARY KEY,
        principal TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        system TEXT,
        tools TEXT
      );
      CREATE INDEX conversations_updated_at ON conversations (updated_at);
      CREATE TABLE conversation_turns (
        conversation_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        messages TEXT NOT NULL,
        PRIMARY KEY (conversation_id, seq)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 8,
    description: 'hourly_totals tells unpriced calls (no price) from calls of unknown cost (priced, bill unknown)',
    // Both have cost NULL; the row's input price tells them apart. The sums are rebuilt from
    // calls, since unpriced_calls counted both until now.
    sql: `
      DROP TRIGGER calls_hourly_totals_insert;
      DROP TRIGGER calls_hourly_totals_delete;
      DROP TRIGGER calls_hourly_totals_update;
      ALTER TABLE hourly_totals ADD COLUMN unknown_cost_calls INTEGER NOT NULL DEFAULT 0;
      DELETE FROM hourly_totals;
      INSERT INTO hourly_totals (hour, model, provider, calls, failed_calls, prompt_tokens, completion_tokens, cost_micro_usd, unpriced_calls, unknown_cost_calls)
      SELECT substr(started_at, 1, 13), model, provider, COUNT(*), SUM(status <> 'ok'), SUM(prompt_tokens),
        SUM(completion_tokens), COALESCE(SUM(cost_micro_usd), 0),
        SUM(cost_micro_usd IS NULL AND input_price_per_mtok IS NULL), SUM(cost_micro_usd IS NULL AND input_price_per_mtok IS NOT NULL)
      FROM calls
      GROUP BY 1, 2, 3;

      CREATE TRIGGER calls_hourly_totals_insert AFTER INSERT ON calls
      BEGIN
${ADD_NEW_ROW_8}
      END;

      CREATE TRIGGER calls_hourly_totals_delete AFTER DELETE ON calls
      BEGIN
${SUBTRACT_OLD_ROW_8}
      END;

      CREATE TRIGGER calls_hourly_totals_update
      AFTER UPDATE OF started_at, model, provider, status, prompt_tokens, completion_tokens, cost_micro_usd, input_price_per_mtok ON calls
      BEGIN
${SUBTRACT_OLD_ROW_8}
${ADD_NEW_ROW_8}
      END;
    `,
  },
];

/** The schema version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** Thrown when the file was written by a newer version of this program. */
export class SchemaTooNewError extends Error {
  constructor(readonly found: number, readonly known: number) {
    super(`schema version ${found} is newer than the ${known} this version knows`);
    this.name = 'SchemaTooNewError';
  }
}

/**
 * Brings the database up to `SCHEMA_VERSION`; returns the version it found.
 * Runs under BEGIN IMMEDIATE and re-reads the version inside it, so two processes opening a new
 * file at once migrate it once.
 */
export function migrate(db: Database.Database, migrations: readonly Migration[] = MIGRATIONS): number {
  const readVersion = (): number => db.pragma('user_version', { simple: true }) as number;
  const known = migrations.length;
  const before = readVersion();
  if (before > known) throw new SchemaTooNewError(before, known);
  if (before === known) return before;
  return db
    .transaction(() => {
      const found = readVersion();
      if (found > known) throw new SchemaTooNewError(found, known);
      for (const migration of migrations.slice(found)) {
        db.exec(migration.sql);
        // user_version lives in the file header, so the bump commits or rolls back with the step.
        db.pragma(`user_version = ${migration.version}`);
      }
      return found;
    })
    .immediate();
}
