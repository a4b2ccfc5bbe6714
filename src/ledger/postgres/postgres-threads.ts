/**
 * Conversation threads in the PostgreSQL ledger (tables `conversations` and `conversation_turns`,
 * postgres-migrations.ts; the same shape as SQLite's, see migrations.ts), shared by every gateway
 * instance on the database. A turn is appended in one statement: the thread row is upserted and
 * the turn numbered after the last one under the thread row's lock, so two instances appending to
 * one thread at once get consecutive numbers.
 */
import type pg from 'pg';
import { isoTime } from '../call-row.js';
import type { StoredThread, ThreadTurn } from '../ledger.js';

export async function loadThread(pool: pg.Pool, id: string): Promise<StoredThread | undefined> {
  const thread = await pool.query<{ id: string; principal: string | null; updated_at: string; system: string | null; tools: string | null }>(
    'SELECT id, principal, updated_at, system, tools FROM conversations WHERE id = $1',
    [id],
  );
  const row = thread.rows[0];
  if (!row) return undefined;
  const turns = await pool.query<{ messages: string }>('SELECT messages FROM conversation_turns WHERE conversation_id = $1 ORDER BY seq', [id]);
  return {
    id: row.id,
    principal: row.principal,
    updatedAt: Date.parse(row.updated_at),
    system: row.system,
    tools: row.tools === null ? null : JSON.parse(row.tools),
    turns: turns.rows.map((turn) => JSON.parse(turn.messages)),
  };
}

export async function appendThreadTurn(pool: pg.Pool, turn: ThreadTurn): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const at = isoTime(turn.at);
    // The upsert locks the thread row until commit: concurrent appends to one thread queue here.
    await client.query(
      `INSERT INTO conversations (id, principal, created_at, updated_at, system, tools) VALUES ($1, $2, $3, $3, $4, $5)
       ON CONFLICT (id) DO UPDATE SET updated_at = GREATEST(conversations.updated_at, EXCLUDED.updated_at),
         system = COALESCE(EXCLUDED.system, conversations.system), tools = COALESCE(EXCLUDED.tools, conversations.tools)`,
      [turn.id, turn.principal, at, turn.system ?? null, turn.tools ? JSON.stringify(turn.tools) : null],
    );
    await client.query(
      `INSERT INTO conversation_turns (conversation_id, seq, created_at, messages)
       SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3 FROM conversation_turns WHERE conversation_id = $1`,
      [turn.id, at, JSON.stringify(turn.messages)],
    );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** Deletes the threads idle since before `before` (their turns go with them, ON DELETE CASCADE). */
export async function deleteIdleThreads(pool: pg.Pool, before: number): Promise<number> {
  const result = await pool.query('DELETE FROM conversations WHERE updated_at < $1', [isoTime(before)]);
  return result.rowCount ?? 0;
}
