/**
 * Issue #9 item 5 (the answer cap): an answer larger than maxAnswerBytes is cut there with
 * finish_reason "length" and a note, a streamed one stops being read at the cap, and the call
 * is recorded; the server answers afterwards.
 */
import { describe, expect, it } from 'vitest';
import { jsonBytes } from '../../src/llm/answer-size.js';
import { harnessPerTest } from '../support/harness.js';
import { readRows, structured, textOf } from '../ledger-integration/fixtures/helpers.js';

const startHarness = harnessPerTest();
const CAP = 2048;
// 4,000 deltas of 50 characters: 200 KB of text, a hundred times the cap.
const CHUNKS = Array.from({ length: 4000 }, (_, i) => `${String(i).padStart(6, '0')} ${'x'.repeat(43)}`);

describe('an answer larger than maxAnswerBytes', () => {
  for (const [model, kind] of [['gpt-4o-mini', 'openai'], ['claude-haiku-4-5', 'anthropic']] as const) {
    it(`${kind}, streamed: cut at the cap, the stream closed there, the call recorded`, async () => {
      const h = await startHarness({ config: { maxAnswerBytes: CAP } });
      h.upstream.enqueue({ kind, chunks: CHUNKS, chunkDelayMs: 1 });
      const result = await h.callTool('chat', { prompt: 'long', model }, { onprogress: () => {} });
      expect(result.isError, textOf(result)).toBeFalsy();
      const out = structured(result);
      expect(jsonBytes(out.content)).toBeLessThanOrEqual(CAP);
      expect(jsonBytes(out.content)).toBeGreaterThan(CAP - 60);
      expect(CHUNKS.join('').startsWith(out.content)).toBe(true);
      expect(out.finish_reason).toBe('length');
      expect(out.notes.join(' ')).toContain(`the answer was cut at ${CAP} bytes (maxAnswerBytes); the provider's stream was closed there`);
      // Usage comes at the end of the stream, which was never read: the cost is unknown.
      expect(out.cost_usd).toBeNull();
      await h.upstream.waitForClose(0);
      expect(h.upstream.requests[0]!.closedBy).toBe('client');
      expect(readRows(h.dbPath)[0]).toMatchObject({ status: 'ok', finish_reason: 'length', cost_micro_usd: null });
      h.upstream.enqueue({ kind, content: 'short' });
      expect(structured(await h.callTool('chat', { prompt: 'again', model })).content).toBe('short');
    });
  }

  it('non-streamed: cut at the cap, with a note; the cost stays known', async () => {
    const h = await startHarness({ config: { maxAnswerBytes: CAP } });
    // 50 KB: under the body limit (2 × the cap + 64 KiB, see body-cap.test.ts), so read and cut.
    h.upstream.enqueue({ kind: 'openai', content: CHUNKS.slice(0, 1000).join('') });
    const result = await h.callTool('chat', { prompt: 'long', model: 'gpt-4o-mini' });
    const out = structured(result);
    expect(jsonBytes(out.content)).toBeLessThanOrEqual(CAP);
    expect(out.finish_reason).toBe('length');
    expect(out.notes.join(' ')).toContain(`the answer was cut at ${CAP} bytes (maxAnswerBytes)`);
    expect(out.cost_usd).toBeGreaterThan(0);
    expect(readRows(h.dbPath)[0]).toMatchObject({ finish_reason: 'length' });
  });

  it('the default cap keeps a 2 MB answer far below the 10 MiB an MCP client accepts', async () => {
    const h = await startHarness();
    // Under the default body limit (2,162,688 bytes); larger bodies are refused (body-cap.test.ts).
    h.upstream.enqueue({ kind: 'openai', content: 'y'.repeat(2_000_000) });
    const result = await h.callTool('chat', { prompt: 'huge', model: 'gpt-4o-mini' });
    expect(JSON.stringify(result).length).toBeLessThan(3 * 1_048_576);
    expect(structured(result).finish_reason).toBe('length');
  });
});
