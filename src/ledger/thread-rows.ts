/**
 * A stored thread read back from its rows, the same in both stores (SQLite and PostgreSQL keep
 * `conversations` and `conversation_turns` in the same shape): tools and each turn's messages are
 * kept as JSON text.
 */
import type { StoredThread } from './ledger.js';

/** A `conversations` row as both stores select it. */
export interface ThreadRow {
  id: string;
  principal: string | null;
  updated_at: string;
  system: string | null;
  tools: string | null;
}

/** The thread of `row`, with the `messages` of its turns in order. */
export function storedThreadOf(row: ThreadRow, turns: ReadonlyArray<{ messages: string }>): StoredThread {
  return {
    id: row.id,
    principal: row.principal,
    updatedAt: Date.parse(row.updated_at),
    system: row.system,
    tools: row.tools === null ? null : JSON.parse(row.tools),
    turns: turns.map((turn) => JSON.parse(turn.messages)),
  };
}
