/**
 * Ids the ledger keys b-trees on, made on every call: a UUID version 7 (RFC 9562), the creation
 * time in its first 48 bits, then 74 random bits. A new conversation thread's id keys three
 * (`conversations`, `conversation_turns`, the `calls.conversation_id` index), a PostgreSQL row's
 * `row_key` (`app:` + one) a unique index. Random (v4) ids put each insert on a random page of
 * each, which once the ledger outgrows its page cache is read back from the file and often split:
 * on SQLite a call's row and turn took ~160 µs of CPU on a file of 8,000 threads, ~100 µs with
 * these (~170 against ~105 at 200,000). Time-ordered ids append at the right edge, on pages
 * already in memory. They are no easier to guess: 74 random bits (and a thread belongs to its
 * principal anyway, conversation-store.ts).
 */
import { randomUUID } from 'node:crypto';

// Milliseconds in the 48-bit field; times outside it (a test clock's odd values) fall back to now.
const MAX_MS = 2 ** 48;

/** A UUID v7 for `nowMs` (epoch ms), e.g. `019ad2f1-8c4e-7a3b-9f10-2c5d…`. */
export function timeOrderedUuid(nowMs: number): string {
  const ms = Number.isFinite(nowMs) && nowMs >= 0 && nowMs < MAX_MS ? Math.floor(nowMs) : Date.now();
  const time = ms.toString(16).padStart(12, '0');
  // randomUUID is a v4 (its random bits from a pooled source, cheap): keep its variant and
  // random bits, put the time and version 7 in front.
  return `${time.slice(0, 8)}-${time.slice(8)}-7${randomUUID().slice(15)}`;
}
