/**
 * A budget hold lives as long as its call: a call that runs longer than the holds' expiry (a slow
 * provider, long retries, a long stream) keeps its hold, so a second call is not admitted against
 * a cap the first is still spending. Only a hold that nobody renews (its process died) expires.
 */
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { ConfigFile } from '../../src/config.js';
import { harnessPerTest } from '../support/harness.js';
import { readRows, structured, textOf } from './fixtures/helpers.js';
import { testClock } from '../support/clock.js';

const startHarness = harnessPerTest();

/** Output-only price: max_tokens 1000 at $100/MTok holds $0.10: the whole $0.10 cap. */
const CONFIG: ConfigFile = {
  budget: { dailyUsd: 0.1 },
  models: { metered: { provider: 'openai', providerModel: 'metered-1', pricing: { inputPerMTok: 0, outputPerMTok: 100 } } },
};
const ARGS = { model: 'metered', prompt: 'spend', max_tokens: 1000 };

describe('budget hold lifetime', () => {
  it('a call running past the hold TTL keeps its hold: a second call is refused meanwhile', async () => {
    const h = await startHarness({ config: CONFIG, reservationTtlMs: 300 });
    h.upstream.enqueue({ kind: 'openai', delayMs: 1_500, content: 'slow answer', usage: { prompt_tokens: 5, completion_tokens: 100 } });
    const first = h.callTool('chat', ARGS);
    await h.upstream.waitForRequests(1);
    // Well past the 300 ms TTL, with the first call still waiting on its provider.
    await new Promise((resolve) => setTimeout(resolve, 800));
    const second = await h.callTool('chat', ARGS);
    expect(second.isError, textOf(second)).toBe(true);
    expect(textOf(second)).toBe('Daily budget of $0.10 reached ($0.00 spent, $0.10 held by calls in flight)');
    expect(h.upstream.requests).toHaveLength(1);

    const done = await first;
    expect(done.isError, textOf(done)).toBeFalsy();
    expect(structured(done).cost_usd).toBe(0.01);
    // Recorded: the hold is gone and the real cost counts instead, so a call fits again.
    h.upstream.enqueue({ kind: 'openai', content: 'fits', usage: { prompt_tokens: 5, completion_tokens: 100 } });
    expect((await h.callTool('chat', ARGS)).isError).toBeFalsy();
    expect(readRows(h.dbPath).map((r) => r.status)).toEqual(['ok', 'ok']);
  });

  it('a hold nobody renews (its process died) still expires after the TTL', async () => {
    const h = await startHarness({ config: CONFIG, reservationTtlMs: 300 });
    // A hold as a killed process leaves it: written, never renewed, never recorded. It expires 1 s
    // on (not the TTL's 300 ms), so the refusal below surely comes before that on a loaded machine.
    const db = new Database(h.dbPath);
    const now = testClock(); // the ledger's clock (test/support/clock.ts)
    const expiresAt = now + 1_000;
    db.prepare('INSERT INTO reservations (created_at, amount_micro_usd, expires_at) VALUES (?, ?, ?)').run(
      new Date(now).toISOString(),
      100_000,
      new Date(expiresAt).toISOString(),
    );
    db.close();
    const refused = await h.callTool('chat', ARGS);
    expect(textOf(refused)).toMatch(/\$0\.10 held by calls in flight/);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt + 100 - testClock())));
    const admitted = await h.callTool('chat', ARGS);
    expect(admitted.isError, textOf(admitted)).toBeFalsy();
  });
});
