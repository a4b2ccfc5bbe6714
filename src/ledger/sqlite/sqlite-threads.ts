/**
 * Conversation threads in the SQLite ledger file (tables `conversations` and `conversation_turns`,
 * see migrations.ts): one row per thread, one per turn, so a turn is one small insert whatever
 * the thread's length, and every process on the file sees the same threads.
 */

import type Database from 'better-sqlite3';
import { isoTime } from '../call-row.js';
import type { StoredThread, ThreadTurn } from '../ledger.js';
import { storedThreadOf, type ThreadRow } from '../thread-rows.js';

export class SqliteThreads {
  private readonly selectThread: Database.Statement<[string], ThreadRow>;
  private readonly selectTurns: Database.Statement<[string], { messages: string }>;
  private readonly upsertThread: Database.Statement<[{ id: string; principal: string | null; at: string; system: string | null; tools: string | null }]>;
  private readonly insertTurn: Database.Statement<[{ id: string; at: string; messages: string }]>;
  private readonly appendTransaction: Database.Transaction<(turn: ThreadTurn) => void>;
  private readonly deleteTransaction: Database.Transaction<(before: string) => number>;

  constructor(db: Database.Database) {
    this.selectThread = db.prepare('SELECT id, principal, updated_at, system, tools FROM conversations WHERE id = ?');
    this.selectTurns = db.prepare('SELECT messages FROM conversation_turns WHERE conversation_id = ? ORDER BY seq');
    // COALESCE keeps the stored system message and tools when a turn gives none.
    this.upsertThread = db.prepare(
      `INSERT INTO conversations (id, principal, created_at, updated_at, system, tools) VALUES (@id, @principal, @at, @at, @system, @tools)
       ON CONFLICT (id) DO UPDATE SET updated_at = MAX(updated_at, excluded.updated_at),
         system = COALESCE(excluded.system, system), tools = COALESCE(excluded.tools, tools)`,
    );
    this.insertTurn = db.prepare(
      `INSERT INTO conversation_turns (conversation_id, seq, created_at, messages)
       VALUES (@id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM conversation_turns WHERE conversation_id = @id), @at, @messages)`,
    );
    const deleteTurns = db.prepare('DELETE FROM conversation_turns WHERE conversation_id IN (SELECT id FROM conversations WHERE updated_at < ?)');
    const deleteThreads = db.prepare('DELETE FROM conversations WHERE updated_at < ?');
    this.appendTransaction = db.transaction((turn: ThreadTurn) => this.write(turn));
    this.deleteTransaction = db.transaction((before: string) => {
      deleteTurns.run(before);
      return deleteThreads.run(before).changes;
    });
  }

  load(id: string): StoredThread | undefined {
    const row = this.selectThread.get(id);
    if (!row) return undefined;
    return storedThreadOf(row, this.selectTurns.all(id));
  }

  /** Upserts the thread and inserts the turn; the caller runs it inside its own transaction. */
  write(turn: ThreadTurn): void {
    const at = isoTime(turn.at);
    this.upsertThread.run({ id: turn.id, principal: turn.principal, at, system: turn.system ?? null, tools: turn.tools ? JSON.stringify(turn.tools) : null });
    this.insertTurn.run({ id: turn.id, at, messages: JSON.stringify(turn.messages) });
  }

  append(turn: ThreadTurn): void {
    this.appendTransaction.immediate(turn);
  }

  deleteIdleSince(before: number): number {
    return this.deleteTransaction.immediate(isoTime(before));
  }
}
