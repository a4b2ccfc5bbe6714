/**
 * Issue #9 item 5 (bounded answers): a stream that answers a little and then only sends
 * keep-alives (SSE comments, chunks with an empty delta, Anthropic pings) still ends, because
 * timeoutMs bounds the time WITHOUT PROGRESS, and keep-alives are not progress.
 */
import { describe, expect, it } from 'vitest';
import { harnessPerTest, resultText } from '../support/harness.js';
import { readRows } from '../ledger-integration/fixtures/helpers.js';

const startHarness = harnessPerTest();

describe('a stream of keep-alives after some text', () => {
  const cases = [
    ['gpt-4o-mini', 'openai', 'comment'],
    ['gpt-4o-mini', 'openai', 'empty'],
    ['claude-haiku-4-5', 'anthropic', 'comment'],
    ['claude-haiku-4-5', 'anthropic', 'empty'],
  ] as const;
  for (const [model, kind, frame] of cases) {
    it(`${kind}, ${frame === 'empty' ? (kind === 'openai' ? 'empty deltas' : 'pings') : 'SSE comments'}: ends after timeoutMs without progress`, async () => {
      const h = await startHarness({ config: { timeoutMs: 400 } });
      // Keep-alives every 50 ms: under the old rule each one restarted the 400 ms timer forever.
      h.upstream.enqueue({ kind, chunks: ['Some ', 'text ', 'never'], keepAlive: { after: 2, everyMs: 50, frame } });
      const started = Date.now();
      const result = await h.callTool('chat', { prompt: 'x', model }, { onprogress: () => {} });
      const elapsed = Date.now() - started;
      expect(result.isError).toBe(true);
      const text = resultText(result);
      expect(text).toMatch(/timed out: no answer for 0\.4 s \(timeoutMs\)/);
      expect(text).toContain('Some text ');
      expect(elapsed).toBeGreaterThanOrEqual(390);
      expect(elapsed).toBeLessThan(4000);
      await h.upstream.waitForClose(0, 2000);
      expect(h.upstream.requests[0]!.closedBy).toBe('client');
      expect(readRows(h.dbPath)[0]).toMatchObject({ status: 'error' });
    });
  }

  it('a slow stream that keeps answering is not cut: progress restarts the timer', async () => {
    const h = await startHarness({ config: { timeoutMs: 400 } });
    // Ten deltas 150 ms apart: 1.5 s in all, never 400 ms without text.
    h.upstream.enqueue({ kind: 'openai', chunks: Array.from({ length: 10 }, (_, i) => `w${i} `), chunkDelayMs: 150 });
    const result = await h.callTool('chat', { prompt: 'x', model: 'gpt-4o-mini' }, { onprogress: () => {} });
    expect(result.isError, resultText(result)).toBeFalsy();
    expect((result.structuredContent as { content: string }).content).toBe('w0 w1 w2 w3 w4 w5 w6 w7 w8 w9 ');
  });
});
