/**
 * Requests the Messages API would reject never reach it, and what the conversion changes is said:
 * an empty prompt or user message is refused before any request, a final assistant prefill loses
 * its trailing whitespace, an empty assistant turn is left out with a note (and the user turns
 * around it sent as one). A provider whose key variable is set to an empty string is not
 * configured (not shown as configured, no dummy key sent). All through the MCP client against the
 * loopback upstream, checking the wire body.
 */
import { describe, expect, it } from 'vitest';
import { harnessPerTest, resultText } from '../support/harness.js';
import { startUpstream } from '../support/upstream.js';

const startHarness = harnessPerTest();
const CLAUDE = 'claude-haiku-4-5';

describe('Anthropic request validity', () => {
  it('an empty prompt is refused before calling, saying what to do', async () => {
    const h = await startHarness();
    for (const prompt of ['', '   \n']) {
      const result = await h.callTool('chat', { model: CLAUDE, prompt });
      expect(result.isError).toBe(true);
      expect(resultText(result)).toBe('`prompt` is empty: Anthropic models reject an empty message; give it some text.');
    }
    expect(h.upstream.requests).toHaveLength(0);
  });

  it('an empty user message is refused, named by its index in the host\'s messages', async () => {
    const h = await startHarness();
    const result = await h.callTool('chat', {
      model: CLAUDE,
      system: 'be brief',
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'hello' },
        { role: 'user', content: ' ' },
      ],
    });
    expect(result.isError).toBe(true);
    expect(resultText(result)).toBe('messages[2] (user) has no text: Anthropic models reject an empty message; give it some text.');
    expect(h.upstream.requests).toHaveLength(0);
  });

  it('an empty prompt stays fine for OpenAI-wire models', async () => {
    const h = await startHarness();
    const result = await h.callTool('chat', { model: 'gpt-4o-mini', prompt: '' });
    expect(result.isError, resultText(result)).toBeFalsy();
    expect(h.upstream.requests[0]?.body.messages).toEqual([{ role: 'user', content: '' }]);
  });

  it('a final assistant prefill is sent without its trailing whitespace', async () => {
    const h = await startHarness();
    const result = await h.callTool('chat', {
      model: CLAUDE,
      messages: [
        { role: 'user', content: 'Name a colour.' },
        { role: 'assistant', content: 'The colour is \n' },
      ],
    });
    expect(result.isError, resultText(result)).toBeFalsy();
    expect(h.upstream.requests[0]?.body.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Name a colour.' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'The colour is' }] },
    ]);
  });

  it('an empty assistant turn is left out with a note saying the user turns were joined', async () => {
    const h = await startHarness();
    const result = await h.callTool('chat', {
      model: CLAUDE,
      messages: [
        { role: 'user', content: 'first' },
        { role: 'assistant', content: '' },
        { role: 'user', content: 'second' },
      ],
    });
    expect(result.isError, resultText(result)).toBeFalsy();
    expect((result.structuredContent as { notes?: string[] }).notes).toContain(
      'messages[1] (assistant) is empty and was left out (Anthropic rejects empty turns), so the user messages around it were sent as one turn',
    );
    expect(h.upstream.requests[0]?.body.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'first' }, { type: 'text', text: 'second' }] },
    ]);
  });

  it('an Anthropic fallback that cannot take an empty prompt is skipped, not sent', async () => {
    const h = await startHarness({ config: { retry: { retries: 0 } } });
    h.upstream.enqueue({ kind: 'error', status: 500 });
    const result = await h.callTool('chat', { model: 'gpt-4o-mini', prompt: '', fallback_models: [CLAUDE] });
    expect(result.isError).toBe(true);
    expect(resultText(result)).toContain(`fallback ${CLAUDE} skipped: \`prompt\` is empty`);
    expect(h.upstream.requests).toHaveLength(1);
  });

  it('a provider whose key variable is set but empty is not configured and sends nothing', async () => {
    const upstream = await startUpstream();
    try {
      const h = await startHarness({
        upstream,
        env: { LOCAL_KEY: '' },
        config: {
          providers: { local: { type: 'openai-compatible', baseURL: upstream.openaiBaseURL, apiKeyEnv: 'LOCAL_KEY' } },
          models: { 'local-model': { provider: 'local', pricing: { inputPerMTok: 0, outputPerMTok: 0 } } },
        },
      });
      const listed = await h.callTool('list_models', { provider: 'local' });
      // The compact listing: one entry per provider, with whether it is configured.
      const providers = (listed.structuredContent as { providers: Record<string, { configured: boolean; models: unknown[][] }> }).providers;
      expect(providers.local?.models.some((row) => row[0] === 'local-model')).toBe(true);
      expect(providers.local?.configured).toBe(false);
      const result = await h.callTool('chat', { model: 'local-model', prompt: 'hi' });
      expect(result.isError).toBe(true);
      expect(resultText(result)).toContain('local is not configured: LOCAL_KEY is set but empty: set it to the key, or unset it if the endpoint needs none');
      expect(upstream.requests).toHaveLength(0);
    } finally {
      await upstream.close();
    }
  });
});
