import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { resultText, startHarness, type Harness } from '../support/harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('a ledger that fails after start', () => {
  it('does not cost the host its answer: the result comes back with a note, and the failure is logged', async () => {
    h = await startHarness();
    h.upstream.enqueue({ kind: 'openai', content: 'still here' });
    // Another process breaks the file under the running server.
    const other = new Database(h.dbPath);
    other.exec('DROP TABLE calls');
    other.close();

    const result = await h.callTool('chat', { prompt: 'hi', model: 'gpt-4o-mini' });
    expect(result.isError ?? false).toBe(false);
    expect(resultText(result)).toBe('still here');
    const structured = result.structuredContent as { content: string; notes?: string[]; cost_usd: number | null };
    expect(structured.content).toBe('still here');
    expect(structured.cost_usd).toBeGreaterThan(0);
    expect(structured.notes?.join(' ')).toMatch(/cost ledger could not record this call \(.*no such table: calls.*\)/);
    expect(h.logLines.some((line) => /error: ledger: could not record call .* \(gpt-4o-mini, ok\): .*no such table/.test(line))).toBe(true);

    // The server keeps serving.
    h.upstream.enqueue({ kind: 'openai', content: 'again' });
    const again = await h.callTool('chat', { prompt: 'hi', model: 'gpt-4o-mini' });
    expect(resultText(again)).toBe('again');
  });
});
