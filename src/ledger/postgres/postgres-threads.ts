/**
 * Conversation threads in the PostgreSQL ledger (tables `conversations` and `conversation_turns`,
 * postgres-migrations.ts; the same shape as SQLite's, see migrations.ts), shared by every gateway
 * instance on the database. Turns are appended inside a transaction (writeThreadTurns: alone by
 * appendThreadTurn, or with their calls' rows by the ledger's record()): the thread row is upserted
 * and the turn numbered after the last one under the thread row's lock, so two instances appending
 * to one thread at once get consecutive numbers.
 */
import type pg from 'pg';
import { isoTime } from '../call-row.js';
import type { StoredThread, ThreadTurn } from '../ledger.js';
import { storedThreadOf, type ThreadRow } from '../thread-rows.js';

export async function loadThread(pool: pg.Pool, id: string): Promise<StoredThread | undefined> {
  const thread = await pool.query<ThreadRow>(
    'SELECT id, principal, updated_at, system, tools FROM conversations WHERE id = $1',
    [id],
  );
  const row = thread.rows[0];
  if (!row) return undefined;
  const turns = await pool.query<{ messages: string }>('SELECT messages FROM conversation_turns WHERE conversation_id = $1 ORDER BY seq', [id]);
  return storedThreadOf(row, turns.rows);
}

export async function appendThreadTurn(pool: pg.Pool, turn: ThreadTurn): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await writeThreadTurns(client, [turn]);
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

// Turns of a batch of calls (postgres-ledger.ts writeRows), written in the batch's transaction
// after its rows. Two statements, not one: the upsert locks each thread row (in id order, so two
// batches never deadlock), and the insert that numbers the turns runs after, with a snapshot
// taken once those locks are held, so it sees every turn committed before; within the batch,
// turns of one thread are numbered in their order.
const UPSERT_THREADS_SQL = `
  INSERT INTO conversations (id, principal, created_at, updated_at, system, tools)
  SELECT t.id, t.principal, t.at, t.at, t.system, t.tools
  FROM json_to_recordset($1::json) AS t(id text, principal text, at text, system text, tools text) ORDER BY t.id
  ON CONFLICT (id) DO UPDATE SET updated_at = GREATEST(conversations.updated_at, EXCLUDED.updated_at),
    system = COALESCE(EXCLUDED.system, conversations.system), tools = COALESCE(EXCLUDED.tools, conversations.tools)`;
const INSERT_TURNS_SQL = `
  INSERT INTO conversation_turns (conversation_id, seq, created_at, messages)
  SELECT t.id, COALESCE((SELECT MAX(c.seq) FROM conversation_turns c WHERE c.conversation_id = t.id), 0)
      + row_number() OVER (PARTITION BY t.id ORDER BY t.n), t.at, t.messages
  FROM json_to_recordset($1::json) AS t(id text, at text, messages text, n int)`;

/** Appends `turns` (in order) inside the caller's transaction on `client`. */
export async function writeThreadTurns(client: pg.ClientBase, turns: ThreadTurn[]): Promise<void> {
  if (turns.length === 0) return;
  // One upsert row per thread (ON CONFLICT may touch a row once per statement): the latest time,
  // and the last system message and tools given, as appending the turns one by one would leave.
  const threads = new Map<string, { id: string; principal: string | null; at: string; system: string | null; tools: string | null }>();
  for (const turn of turns) {
    const at = isoTime(turn.at);
    const seen = threads.get(turn.id);
    const tools = turn.tools ? JSON.stringify(turn.tools) : null;
    if (!seen) threads.set(turn.id, { id: turn.id, principal: turn.principal, at, system: turn.system ?? null, tools });
    else threads.set(turn.id, { ...seen, at: at > seen.at ? at : seen.at, system: turn.system ?? seen.system, tools: tools ?? seen.tools });
  }
  await client.query({ name: 'ledger-upsert-threads', text: UPSERT_THREADS_SQL, values: [JSON.stringify([...threads.values()])] });
  await client.query({
    name: 'ledger-insert-turns',
    text: INSERT_TURNS_SQL,
    values: [JSON.stringify(turns.map((turn, n) => ({ id: turn.id, at: isoTime(turn.at), messages: JSON.stringify(turn.messages), n })))],
  });
}
