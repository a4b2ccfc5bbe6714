/**
 * Issue #9 item 3: only a real completion is a success. A 200 that is not a completion (a
 * proxy's HTML page, JSON without choices/content, an empty SSE stream) is a clear error naming
 * the provider and its base URL, retried like a transient fault, never `isError: false` with an
 * empty answer at $0.
 */
import { describe, expect, it } from 'vitest';
import { harnessPerTest } from '../support/harness.js';
import { readRows, structured, textOf } from '../ledger-integration/fixtures/helpers.js';

const startHarness = harnessPerTest();

const CASES = [
  ['html', false, /answered HTTP 200 with a text page \("<!DOCTYPE html>.*Bad Gateway.*"\), not a chat completion/],
  ['json-without-choices', false, /answered HTTP 200 with JSON without (choices|content), not a chat completion/],
  ['empty-sse', true, /answered HTTP 200 with an empty stream \(no events\), not a chat completion/],
  ['html', true, /answered HTTP 200 with an empty stream \(no events\), not a chat completion/],
] as const;

describe('a 200 that is not a completion', () => {
  for (const [model, provider] of [['gpt-4o-mini', 'openai'], ['claude-haiku-4-5', 'anthropic']] as const) {
    it.each(CASES)(`${provider}: %s (streamed: %s) is an error naming the provider and base URL, retried, then the server answers`, async (shape, stream, message) => {
      const h = await startHarness({ config: { retry: { retries: 1 } } });
      h.upstream.setDefault({ kind: 'not-a-completion', shape });
      const result = await h.callTool('chat', { prompt: 'hi', model }, stream ? { onprogress: () => {} } : undefined);
      expect(result.isError).toBe(true);
      const text = textOf(result);
      expect(text).toMatch(message);
      expect(text).toContain(`${provider} at http://127.0.0.1:`);
      expect(text).toContain('after 2 attempts');
      expect(text).toMatch(/check that the base URL \((OPENAI|ANTHROPIC)_BASE_URL\) points at the provider's API/);
      expect(h.upstream.requests).toHaveLength(2);
      expect(readRows(h.dbPath)[0]).toMatchObject({ status: 'error', attempts: 2, cost_micro_usd: 0 });

      h.upstream.setDefault({ kind: 'auto' });
      const ok = await h.callTool('chat', { prompt: 'again', model }, stream ? { onprogress: () => {} } : undefined);
      expect(structured(ok).content).toBe('echo: again');
    });
  }

  it('a transient proxy page, then a real answer: the retry answers', async () => {
    const h = await startHarness();
    h.upstream.enqueue({ kind: 'not-a-completion', shape: 'html' }, { kind: 'openai', content: 'real' });
    const result = await h.callTool('chat', { prompt: 'hi', model: 'gpt-4o-mini' });
    expect(result.isError, textOf(result)).toBeFalsy();
    expect(structured(result)).toMatchObject({ content: 'real', attempts: 2 });
  });

  it('a proxy page from the first model moves on to the fallback', async () => {
    const h = await startHarness({ config: { retry: { retries: 0 } } });
    h.upstream.enqueue({ kind: 'not-a-completion', shape: 'json-without-choices' }, { kind: 'anthropic', content: 'from the fallback' });
    const result = await h.callTool('chat', { prompt: 'hi', model: 'gpt-4o-mini', fallback_models: ['claude-haiku-4-5'] });
    expect(result.isError, textOf(result)).toBeFalsy();
    expect(structured(result)).toMatchObject({ content: 'from the fallback', model: 'claude-haiku-4-5' });
  });
});
