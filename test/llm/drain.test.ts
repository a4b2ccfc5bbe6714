/**
 * The transport-free drain API that every transport's shutdown uses (stdio signals, the HTTP
 * gateway's SIGTERM): `LlmService.drain(ms)` refuses new calls, lets calls in flight finish for up
 * to `ms`, then cancels the rest; every call is answered through the MCP client, recorded, and its
 * budget hold released.
 */
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { harnessPerTest, resultText } from '../support/harness.js';

const startHarness = harnessPerTest();
const CONFIG = {
  budget: { dailyUsd: 1 },
  models: { metered: { provider: 'openai', providerModel: 'metered-1', pricing: { inputPerMTok: 0, outputPerMTok: 100 } } },
};

function table(dbPath: string, sql: string): unknown[] {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all();
  } finally {
    db.close();
  }
}

describe('LlmService.drain', () => {
  it('finishes the quick call, cancels the hung one at the deadline, refuses new ones; all recorded, no hold left', async () => {
    const h = await startHarness({ config: CONFIG });
    h.upstream.enqueue(
      (req) => (req.body.messages[0].content === 'quick' ? { kind: 'openai', delayMs: 100, content: 'quick answer' } : { kind: 'hang' }),
      (req) => (req.body.messages[0].content === 'quick' ? { kind: 'openai', delayMs: 100, content: 'quick answer' } : { kind: 'hang' }),
    );
    const quick = h.callTool('chat', { model: 'metered', prompt: 'quick', max_tokens: 100 });
    const hung = h.callTool('chat', { model: 'metered', prompt: 'hung', max_tokens: 100 });
    await h.upstream.waitForRequests(2);
    const started = Date.now();
    const drained = h.created.service.drain(600);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const late = await h.callTool('chat', { model: 'metered', prompt: 'late', max_tokens: 100 });
    expect(late.isError).toBe(true);
    expect(resultText(late)).toBe('The server is shutting down and takes no new calls: send the call again once it has restarted');

    expect(await drained).toEqual({ inFlight: 2, cancelled: 1 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(550);
    expect(resultText(await quick)).toBe('quick answer');
    const cut = await hung;
    expect(cut.isError).toBe(true);
    expect(resultText(cut)).toMatch(/^The server shut down before the answer came/);
    expect(h.upstream.requests).toHaveLength(2);
    expect(table(h.dbPath, 'SELECT status FROM calls ORDER BY status')).toEqual([{ status: 'cancelled' }, { status: 'ok' }]);
    // No hold is left in flight; the cut call's cost is unknown (the provider had the request), so
    // its worst-case hold is kept as spent until the end of the month (README "Known and unknown cost").
    expect(table(h.dbPath, "SELECT cost_micro_usd FROM calls WHERE status = 'cancelled'")).toEqual([{ cost_micro_usd: null }]);
    expect(table(h.dbPath, 'SELECT expires_at FROM reservations')).toEqual([{ expires_at: expect.stringMatching(/-01T00:00:00\.000Z$/) }]);
  });
});
