/**
 * Cancellation: the client's AbortSignal makes the SDK client send notifications/cancelled, the
 * server's extra.signal aborts, and the provider request is aborted at once — mid-stream, before
 * the first byte, or during a retry wait. Nothing more is relayed; the ledger says 'cancelled'
 * with whatever usage was known.
 */
import Database from 'better-sqlite3';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { ConfigFile } from '../../src/config.js';
import { harnessPerTest, type Harness } from '../support/harness.js';
import { startStallMeter } from '../support/load-slack.js';
import type { ReplySpec } from '../support/upstream.js';

interface Notice {
  progress: number;
  message: string;
}

const startHarness = harnessPerTest();

async function harness(config?: ConfigFile) {
  const h = await startHarness({ config });
  return { h, clientErrors: h.clientErrors };
}

type Row = Record<string, any>;

/** The ledger rows once `count` of them exist (the server records a cancelled call after the abort). */
async function waitForRows(h: Harness, count: number, timeoutMs = 3000): Promise<Row[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const db = new Database(h.dbPath, { readonly: true, fileMustExist: true });
    let rows: Row[];
    try {
      rows = db.prepare('SELECT * FROM calls ORDER BY id').all() as Row[];
    } finally {
      db.close();
    }
    if (rows.length >= count || Date.now() > deadline) return rows;
    await sleep(10);
  }
}

/**
 * Starts a streamed chat call that aborts as soon as `shouldAbort` says so (checked on every
 * notice), or when `abortNow()` is called.
 */
function cancellableCall(h: Harness, args: Record<string, unknown>, shouldAbort: (notices: Notice[]) => boolean = () => false) {
  const controller = new AbortController();
  const meter = startStallMeter();
  const notices: Notice[] = [];
  let abortedAt: number | undefined;
  let noticesAtAbort = 0;
  let stalledAtAbort = 0;
  const abortNow = () => {
    if (abortedAt !== undefined) return;
    abortedAt = Date.now();
    stalledAtAbort = meter.stalledMs;
    noticesAtAbort = notices.length;
    controller.abort();
  };
  const outcome = h
    .callTool('chat', args, {
      signal: controller.signal,
      onprogress: (p) => {
        notices.push({ progress: p.progress, message: p.message ?? '' });
        if (shouldAbort(notices)) abortNow();
      },
    })
    .then(
      (result) => ({ ok: true as const, result }),
      (error: unknown) => ({ ok: false as const, error }),
    );
  return {
    outcome,
    notices,
    abortNow,
    get abortedAt() {
      return abortedAt;
    },
    get noticesAtAbort() {
      return noticesAtAbort;
    },
    /**
     * How long after the abort the upstream may see its request closed and it still be "at
     * once": `fixedMs` plus the time this process was held up since the abort (load-slack.ts).
     * Read it once the close has been seen; it stops the meter.
     */
    atOnceBoundMs(fixedMs: number): number {
      const bound = fixedMs + meter.stalledMs - stalledAtAbort;
      meter.stop();
      return bound;
    },
  };
}

const words = Array.from({ length: 80 }, (_, i) => `word${i} `);

describe.each(['openai', 'anthropic'] as const)('%s wire: cancellation', (wire) => {
  const model = wire === 'openai' ? 'gpt-4o-mini' : 'claude-haiku-4-5';

  it('mid-stream: the upstream request closes at once (100 ms + load slack), nothing more is relayed, the ledger says cancelled', async () => {
    const { h, clientErrors } = await harness();
    h.upstream.enqueue({
      kind: wire,
      chunks: words,
      chunkDelayMs: 15,
      ...(wire === 'anthropic'
        ? { usage: { input_tokens: 500, output_tokens: 90, cache_read_input_tokens: 100 } }
        : { usage: { prompt_tokens: 600, completion_tokens: 90 } }),
    } as ReplySpec);
    const call = cancellableCall(h, { prompt: 'Count words', model }, (notices) => notices.length >= 3);
    const outcome = await call.outcome;

    // The client sees its own cancellation, not a result.
    expect(outcome.ok).toBe(false);
    expect(call.abortedAt).toBeDefined();
    const closedAt = await h.upstream.waitForClose(0, 2000);
    // The upstream saw our side hang up while it still had words to send: the stream (80 words
    // 15 ms apart) was cut, not read to the end.
    expect(h.upstream.requests[0]!.closedBy).toBe('client');
    // "At once": 100 ms, plus the time this process was held up meanwhile, so that a loaded
    // machine's scheduling is not taken for a slow abort (an abort left to the end of the
    // stream, 1.2 s, or to a timeout is still far past it).
    expect(closedAt - call.abortedAt!).toBeLessThan(call.atOnceBoundMs(100));

    await sleep(200);
    expect(call.notices.length).toBe(call.noticesAtAbort);
    expect(h.upstream.requests).toHaveLength(1);
    // No progress notice for the dead request reached the client (it would be an 'unknown token' error).
    expect(clientErrors).toEqual([]);

    const rows = await waitForRows(h, 1);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'cancelled', model, attempts: 1 });
    expect(String(rows[0]!.error)).toMatch(/cancel/i);
    if (wire === 'anthropic') {
      // message_start carried the input usage: it is recorded, and costed.
      expect(rows[0]).toMatchObject({ prompt_tokens: 600, cached_tokens: 100 });
      expect(rows[0]!.cost_micro_usd).toBeGreaterThan(0);
      expect(JSON.parse(rows[0]!.raw_usage)).toMatchObject({ input_tokens: 500, cache_read_input_tokens: 100 });
    } else {
      // OpenAI reports usage only at the end: the provider was generating, so the bill is
      // unknown (NULL), never $0.
      expect(rows[0]!.cost_micro_usd).toBeNull();
    }
  });

  it('before the first byte: the pending request is aborted at once (100 ms + load slack)', async () => {
    const { h, clientErrors } = await harness();
    h.upstream.enqueue({ kind: wire, chunks: ['never'], delayMs: 5000 } as ReplySpec);
    const call = cancellableCall(h, { prompt: 'x', model });
    await h.upstream.waitForRequests(1);
    call.abortNow();
    const outcome = await call.outcome;
    expect(outcome.ok).toBe(false);
    const closedAt = await h.upstream.waitForClose(0, 2000);
    expect(h.upstream.requests[0]!.closedBy).toBe('client');
    // 100 ms plus the time this process was held up (see the mid-stream case); the answer was 5 s away.
    expect(closedAt - call.abortedAt!).toBeLessThan(call.atOnceBoundMs(100));
    expect(call.notices).toEqual([]);
    const rows = await waitForRows(h, 1);
    expect(rows[0]).toMatchObject({ status: 'cancelled', attempts: 1 });
    await sleep(100);
    expect(h.upstream.requests).toHaveLength(1);
    expect(clientErrors).toEqual([]);
  });

  it('during the retry wait: the wait ends at once and no further attempt is made', async () => {
    const { h, clientErrors } = await harness({ retry: { retries: 2, minDelayMs: 5000, maxDelayMs: 10_000 } });
    // A stream cut before any text is retried after a (long) backoff.
    h.upstream.enqueue({ kind: wire, chunks: ['lost'], cutAfterChunks: 0 } as ReplySpec);
    const started = Date.now();
    const call = cancellableCall(h, { prompt: 'x', model }, (notices) => notices.some((n) => /retrying/.test(n.message)));
    const outcome = await call.outcome;
    expect(outcome.ok).toBe(false);
    expect(call.notices).toHaveLength(1);
    expect(call.notices[0]!.message).toMatch(/retrying .* in \d+(\.\d)? s \(attempt 2 of 3\)/);
    const rows = await waitForRows(h, 1);
    // Recorded promptly, not after the 5 s wait.
    expect(Date.now() - started).toBeLessThan(call.atOnceBoundMs(2000));
    expect(rows[0]).toMatchObject({ status: 'cancelled', attempts: 1 });
    await sleep(200);
    expect(h.upstream.requests).toHaveLength(1);
    expect(clientErrors).toEqual([]);
  });
});
