/**
 * Replaying the PostgreSQL ledger's spool (call-spool.ts) at start: lines written by an older
 * version (without the columns added since) and holds of calls of unknown cost. The spool files
 * are written here as the store writes them; the database is the real test server.
 */

import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { toCallRow } from '../../src/ledger/call-row.js';
import { openLedger } from '../../src/ledger/open-ledger.js';
import { freshDatabase, queryRows as query } from '../support/postgres-server.js';
import { callRecord, tempDir } from './helpers.js';

const NOW = Date.parse('2026-11-26T12:00:00.000Z');
const temp = tempDir('ledger-spool-');
const drops: Array<() => Promise<void>> = [];

afterAll(async () => {
  await Promise.all(drops.map((drop) => drop().catch(() => undefined)));
  temp.cleanup();
});

describe('spool replay', () => {
  it('writes a line spooled by an older version (no one-hour cache columns, no conversation id) with their defaults, and settles holds as record() would', async () => {
    const database = await freshDatabase(inject('postgresUrl'));
    drops.push(database.drop);
    const spoolDir = join(temp.dir, 'spool');
    // Per-call holds, whose ids the spooled lines name (a lease draw's line: postgres-leases.test.ts).
    const first = await openLedger(database.url, { spoolDir, now: () => NOW, budgetClock: 'now', budgetLeases: false });
    const holds = await Promise.all([first.reserve(1_000, { dailyUsd: 5 }), first.reserve(2_000, { dailyUsd: 5 })]);
    await first.close();
    const [dropped, kept] = holds.map((hold) => (hold.ok ? hold.reservationId! : -1));

    // Migration 1's row: what a version before migration 2 spooled.
    const { cache_write_1h_tokens, cache_write_1h_price_per_mtok, conversation_id, ...oldRow } = toCallRow(callRecord({ callId: 'old' }), 'old-session', NOW);
    expect([cache_write_1h_tokens, cache_write_1h_price_per_mtok, conversation_id]).toEqual([0, null, null]);
    const unknownRow = toCallRow(callRecord({ callId: 'unknown', usage: null, costMicroUsd: null, status: 'cancelled', keepHold: true }), 'old-session', NOW);
    mkdirSync(spoolDir, { recursive: true });
    writeFileSync(
      join(spoolDir, 'old-session.jsonl'),
      [
        JSON.stringify({ rowKey: 'app:old-1', row: oldRow, reservationId: dropped }),
        JSON.stringify({ rowKey: 'app:unknown-1', row: unknownRow, reservationId: kept, keepHoldUntil: '2026-12-01T00:00:00.000Z' }),
        '{"rowKey": "app:cut-by-a-cr',
      ].join('\n'),
    );

    const next = await openLedger(database.url, { spoolDir, now: () => NOW, budgetClock: 'now', budgetLeases: false });
    try {
      expect((await next.stats()).spooledCalls).toBe(0);
      expect((await next.report({ groupBy: 'none' })).total).toMatchObject({ calls: 2, prompt_tokens: 100, cost_usd: 0.000027, unpriced_calls: 0, unknown_cost_calls: 1 });
      // The kept hold still counts against the cap after its TTL; the other one is gone.
      expect(await next.reserve(1, { dailyUsd: 0.002 })).toMatchObject({ ok: false });
      expect(await next.reserve(1, { dailyUsd: 0.0021 })).toMatchObject({ ok: true });
    } finally {
      await next.close();
    }
    expect(readdirSync(spoolDir)).toEqual([]);
    const rows = await query<Record<string, unknown>>(
      database.url,
      'SELECT call_id, cache_write_1h_tokens, cache_write_1h_price_per_mtok, conversation_id FROM calls ORDER BY call_id',
    );
    expect(rows).toEqual([
      { call_id: 'old', cache_write_1h_tokens: '0', cache_write_1h_price_per_mtok: null, conversation_id: null },
      { call_id: 'unknown', cache_write_1h_tokens: '0', cache_write_1h_price_per_mtok: null, conversation_id: null },
    ]);
    expect(await query(database.url, 'SELECT id::float8 AS id, amount_micro_usd::float8 AS amount, expires_at FROM reservations ORDER BY id')).toEqual([
      { id: kept, amount: 2_000, expires_at: '2026-12-01T00:00:00.000Z' },
      expect.objectContaining({ amount: 1 }),
    ]);
  });

  it("writes a spooled call's turn with its row, once: not again when the row already reached the database", async () => {
    const database = await freshDatabase(inject('postgresUrl'));
    drops.push(database.drop);
    const spoolDir = join(temp.dir, 'spool-turns');
    mkdirSync(spoolDir, { recursive: true });
    const line = (callId: string, content: string) =>
      JSON.stringify({
        rowKey: `app:${callId}`,
        row: toCallRow(callRecord({ callId, conversationId: 'spooled' }), 'gone', NOW),
        turn: { id: 'spooled', principal: 'carol', at: NOW, messages: [{ role: 'user', content }] },
      });
    // The same call twice in one file (one batch), as a spool a crash cut short may hold.
    writeFileSync(join(spoolDir, 'gone.jsonl'), `${line('s1', 'one')}\n${line('s1', 'one')}\n`);
    await (await openLedger(database.url, { spoolDir, now: () => NOW })).close();
    // Replayed again after it reached the database (its write committed, the answer was lost).
    writeFileSync(join(spoolDir, 'gone.jsonl'), `${line('s1', 'one')}\n${line('s2', 'two')}\n`);
    const next = await openLedger(database.url, { spoolDir, now: () => NOW });
    try {
      expect((await next.report({ groupBy: 'none' })).total.calls).toBe(2);
      expect(await next.loadThread('spooled')).toMatchObject({ principal: 'carol', turns: [[{ role: 'user', content: 'one' }], [{ role: 'user', content: 'two' }]] });
    } finally {
      await next.close();
    }
  });
});
