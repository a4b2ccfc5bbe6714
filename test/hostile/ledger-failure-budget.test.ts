/**
 * Issue #9 item 11: a ledger that fails under a budget behaves as documented without one: the
 * provider's answer is returned with a note, holds are released, the failure is logged once.
 */
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { harnessPerTest } from '../support/harness.js';
import { structured, textOf } from '../ledger-integration/fixtures/helpers.js';

const startHarness = harnessPerTest();
const budget = { dailyUsd: 5, monthlyUsd: 50 };

function breakTable(dbPath: string, sql: string): void {
  const other = new Database(dbPath);
  other.exec(sql);
  other.close();
}

describe('a ledger that fails under a budget', () => {
  it('record fails: the answer comes back with a note, the hold is released, one log line', async () => {
    const h = await startHarness({ config: { budget } });
    // Another process breaks the file under the running server: recording fails, holding still works.
    breakTable(h.dbPath, 'DROP TABLE calls');
    h.upstream.enqueue({ kind: 'openai', content: 'still here' });
    const result = await h.callTool('chat', { prompt: 'hi', model: 'gpt-4o-mini' });
    expect(result.isError ?? false, textOf(result)).toBe(false);
    expect(structured(result).content).toBe('still here');
    expect(structured(result).notes.join(' ')).toMatch(/cost ledger could not record this call \(.*no such table: calls.*\)/);
    const db = new Database(h.dbPath, { readonly: true });
    const holds = (db.prepare('SELECT COUNT(*) AS n FROM reservations').get() as { n: number }).n;
    db.close();
    expect(holds).toBe(0);
    expect(h.logLines.filter((line) => line.includes('ledger:'))).toHaveLength(1);

    h.upstream.enqueue({ kind: 'openai', content: 'again' });
    expect(structured(await h.callTool('chat', { prompt: 'hi', model: 'gpt-4o-mini' })).content).toBe('again');
  });

  it('the hold cannot be written either: the call goes ahead with one note and one log line', async () => {
    const h = await startHarness({ config: { budget } });
    breakTable(h.dbPath, 'DROP TABLE reservations; DROP TABLE calls');
    h.upstream.enqueue({ kind: 'openai', content: 'answered' });
    const result = await h.callTool('chat', { prompt: 'hi', model: 'gpt-4o-mini' });
    expect(result.isError ?? false, textOf(result)).toBe(false);
    expect(structured(result).content).toBe('answered');
    const notes: string[] = structured(result).notes;
    expect(notes.filter((note) => note.includes('cost ledger'))).toHaveLength(1);
    expect(notes[0]).toMatch(/could not check the budget for this call \(.*no such table: reservations.*\)/);
    expect(h.logLines.filter((line) => line.includes('ledger:'))).toHaveLength(1);
    expect(h.upstream.requests).toHaveLength(1);
    // get_cost says what is wrong instead of crashing the server.
    const cost = await h.callTool('get_cost', {});
    expect(cost.isError).toBe(true);
    h.upstream.enqueue({ kind: 'openai', content: 'still' });
    expect(structured(await h.callTool('chat', { prompt: 'hi', model: 'gpt-4o-mini' })).content).toBe('still');
  });
});
