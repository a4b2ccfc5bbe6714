/**
 * SQL-level prepared statements (`PREPARE` / `EXECUTE`) for statements sent with the simple query
 * protocol, which has no parameters and no plan cache of its own: the PostgreSQL ledger's
 * admission goes as one message of several statements (postgres-ledger.ts) and must not be planned
 * again on every call while it holds the admission lock.
 *
 * A prepared statement lives in one connection: this remembers, per pool client, which texts it
 * has prepared there, under a name made from the text (a hash), so a text is prepared once per
 * connection. Texts differ only where the caller embeds a value in them (a test's fixed clock),
 * so a connection keeps at most `MAX_PER_CONNECTION`; the oldest is dropped past that.
 */

import { createHash } from 'node:crypto';
import type pg from 'pg';

const MAX_PER_CONNECTION = 16;

export class PreparedStatements {
  private readonly prepared = new WeakMap<pg.ClientBase, string[]>();

  /** `prefix` names the statements (`prefix_<hash>`); a SQL identifier. */
  constructor(private readonly prefix: string) {}

  /**
   * The statement's name on `client`, and what to send before it in the same message: nothing,
   * or its `PREPARE` (and the `DEALLOCATE` of the oldest) the first time on this connection.
   * Counts it as prepared from now on: a message that fails must release the client as broken
   * (pg.PoolClient.release(error)), so the connection and what it remembers go together.
   */
  use(client: pg.ClientBase, sql: string): { prepare: string; name: string } {
    const name = `${this.prefix}_${createHash('sha256').update(sql).digest('hex').slice(0, 24)}`;
    let names = this.prepared.get(client);
    if (!names) this.prepared.set(client, (names = []));
    if (names.includes(name)) return { prepare: '', name };
    const dropped = names.length >= MAX_PER_CONNECTION ? names.shift() : undefined;
    names.push(name);
    return { prepare: `${dropped ? `DEALLOCATE ${dropped}; ` : ''}PREPARE ${name} AS ${sql}; `, name };
  }
}
