/**
 * Issue #9 item 5 (bounded answers): a stream that answers a little and then only sends
 * keep-alives (SSE comments, chunks with an empty delta, Anthropic pings) still ends, because
 * timeoutMs bounds the time WITHOUT PROGRESS, and keep-alives are not progress.
 */
import { describe, expect, it } from 'vitest';
import { harnessPerTest, resultText } from '../support/harness.js';
import { readRows } from '../ledger-integration/fixtures/helpers.js';

const startHarness = harnessPerTest();

/**
 * A harness whose provider SDK is already loaded (a first call): the first import of an SDK holds
 * the event loop for seconds on a busy machine (3.7 s once, under load), and an attempt timer set
 * before it then fires before the first delta is read: a timeout with no text, retried onto the
 * upstream's default answer, which is not what these tests measure.
 */
async function warmHarness(timeoutMs: number, model: string, wire: 'openai' | 'anthropic') {
  const h = await startHarness({ config: { timeoutMs } });
  // (This call may itself time out and be retried onto the upstream's default answer: it only loads the SDK.)
  h.upstream.setDefault({ kind: wire, content: 'warm' });
  expect((await h.callTool('chat', { prompt: 'warm up', model })).isError).toBeFalsy();
  h.upstream.setDefault({ kind: 'auto' });
  // The request and ledger row of the call under test come after the warm-up's.
  return { h, first: h.upstream.requests.length };
}

describe('a stream of keep-alives after some text', () => {
  const cases = [
    ['gpt-4o-mini', 'openai', 'comment'],
    ['gpt-4o-mini', 'openai', 'empty'],
    ['claude-haiku-4-5', 'anthropic', 'comment'],
    ['claude-haiku-4-5', 'anthropic', 'empty'],
  ] as const;
  for (const [model, kind, frame] of cases) {
    it(`${kind}, ${frame === 'empty' ? (kind === 'openai' ? 'empty deltas' : 'pings') : 'SSE comments'}: ends after timeoutMs without progress`, async () => {
      // 1 s: a timer of 400 ms could run out before the first delta is read when this process is
      // held up (a loaded machine), and that timeout, with no text yet, is retried.
      const { h, first } = await warmHarness(1_000, model, kind);
      // Keep-alives every 50 ms: under the old rule each one restarted the 1 s timer forever.
      h.upstream.enqueue({ kind, chunks: ['Some ', 'text ', 'never'], keepAlive: { after: 2, everyMs: 50, frame } });
      const started = Date.now();
      const result = await h.callTool('chat', { prompt: 'x', model }, { onprogress: () => {} });
      const elapsed = Date.now() - started;
      expect(result.isError, `${elapsed} ms: ${JSON.stringify(result)}`).toBe(true);
      const text = resultText(result);
      expect(text).toMatch(/timed out: no answer for 1 s \(timeoutMs\)/);
      expect(text).toContain('Some text ');
      expect(elapsed).toBeGreaterThanOrEqual(990);
      expect(elapsed).toBeLessThan(5000);
      await h.upstream.waitForClose(first, 2000);
      expect(h.upstream.requests[first]!.closedBy).toBe('client');
      expect(readRows(h.dbPath).at(-1)).toMatchObject({ status: 'error' });
    });
  }

  it('a slow stream that keeps answering is not cut: progress restarts the timer', async () => {
    // 1 s, not 400 ms: a stall of a quarter second between two deltas (a loaded machine) would cut
    // the stream at 400 ms; without the restarts, 1 s still cuts the 1.5 s stream.
    const { h } = await warmHarness(1_000, 'gpt-4o-mini', 'openai');
    // Ten deltas 150 ms apart: 1.5 s in all, never 1 s without text.
    h.upstream.enqueue({ kind: 'openai', chunks: Array.from({ length: 10 }, (_, i) => `w${i} `), chunkDelayMs: 150 });
    const result = await h.callTool('chat', { prompt: 'x', model: 'gpt-4o-mini' }, { onprogress: () => {} });
    expect(result.isError, resultText(result)).toBeFalsy();
    expect((result.structuredContent as { content: string }).content).toBe('w0 w1 w2 w3 w4 w5 w6 w7 w8 w9 ');
  });
});
