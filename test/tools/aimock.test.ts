/**
 * The happy paths against an independent implementation of both wire protocols: the server's
 * OpenAI and Anthropic providers pointed at @copilotkit/aimock (LLMock) on 127.0.0.1, answering
 * from fixtures, plain and streamed.
 */
import { LLMock } from '@copilotkit/aimock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatResult } from '../../src/llm/llm-service.js';
import { progressDelta, resultText, startHarness, type Harness } from '../support/harness.js';

const OPENAI_TEXT = 'Hello from aimock over the OpenAI wire, in several chunks.';
const ANTHROPIC_TEXT = 'Hello from aimock over the Anthropic wire, in several chunks.';
const USAGE = { prompt_tokens: 1000, completion_tokens: 200, input_tokens: 1000, output_tokens: 200 };

let mock: LLMock;
let h: Harness;

beforeAll(async () => {
  // Small chunks so a streamed answer arrives as several deltas.
  mock = new LLMock({ port: 0, host: '127.0.0.1', chunkSize: 8 });
  mock.onMessage('plain openai', { content: OPENAI_TEXT, usage: USAGE });
  mock.onMessage('streamed openai', { content: OPENAI_TEXT, usage: USAGE });
  mock.onMessage('plain anthropic', { content: ANTHROPIC_TEXT, usage: USAGE });
  mock.onMessage('streamed anthropic', { content: ANTHROPIC_TEXT, usage: USAGE });
  await mock.start();
  // The harness's own scripted upstream stays up but unused: both wires go to aimock.
  h = await startHarness({ env: { OPENAI_BASE_URL: `${mock.url}/v1`, ANTHROPIC_BASE_URL: mock.url } });
});
afterAll(async () => {
  await h?.close();
  await mock?.stop();
});

/** The journal entry aimock recorded for the one request whose prompt contains `marker`. */
function sent(marker: string) {
  const entries = mock.getRequests().filter((entry) => JSON.stringify(entry.body ?? '').includes(marker));
  expect(entries).toHaveLength(1);
  return entries[0]!;
}

describe('against aimock: OpenAI Chat Completions (gpt-4o-mini)', () => {
  it('a plain chat returns the fixture text, usage and cost', async () => {
    const result = await h.callTool('chat', { model: 'gpt-4o-mini', prompt: 'plain openai please', max_tokens: 300 });
    expect(result.isError, resultText(result)).toBeFalsy();
    expect(resultText(result)).toBe(OPENAI_TEXT);
    const out = result.structuredContent as unknown as ChatResult;
    expect(out).toMatchObject({ content: OPENAI_TEXT, provider: 'openai', model: 'gpt-4o-mini', finish_reason: 'stop', attempts: 1 });
    expect(out.usage).toMatchObject({ prompt_tokens: 1000, completion_tokens: 200, total_tokens: 1200 });
    expect(out.cost_usd).toBeCloseTo((1000 * 0.15 + 200 * 0.6) / 1e6, 12);

    const entry = sent('plain openai please');
    expect(entry.method).toBe('POST');
    expect(entry.path).toBe('/v1/chat/completions');
    // aimock's journal masks credentials ('[REDACTED]'): it shows a key was sent, not which one
    // (chat.test.ts checks the exact key against the scripted upstream).
    expect(entry.headers.authorization).toBeTruthy();
    expect(entry.body).toMatchObject({ model: 'gpt-4o-mini', max_completion_tokens: 300 });
    expect(entry.response.status).toBe(200);
  });

  it('a streamed chat relays the fixture text as progress and returns it whole', async () => {
    const messages: string[] = [];
    const result = await h.callTool(
      'chat',
      { model: 'gpt-4o-mini', prompt: 'streamed openai please' },
      { onprogress: (p) => void messages.push(progressDelta(p) ?? '') },
    );
    expect(result.isError, resultText(result)).toBeFalsy();
    expect(resultText(result)).toBe(OPENAI_TEXT);
    expect(messages.length).toBeGreaterThan(0);
    expect(messages.join('')).toBe(OPENAI_TEXT);
    const out = result.structuredContent as unknown as ChatResult;
    expect(out.finish_reason).toBe('stop');
    // aimock honours stream_options.include_usage, so the streamed call is costed too.
    expect(out.usage).toMatchObject({ prompt_tokens: 1000, completion_tokens: 200 });
    expect(out.cost_usd).toBeCloseTo((1000 * 0.15 + 200 * 0.6) / 1e6, 12);

    const entry = sent('streamed openai please');
    expect(entry.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });
});

describe('against aimock: Anthropic Messages (claude-haiku-4-5)', () => {
  it('a plain chat returns the fixture text, usage and cost', async () => {
    const result = await h.callTool('chat', { model: 'claude-haiku-4-5', prompt: 'plain anthropic please', system: 'Be brief.' });
    expect(result.isError, resultText(result)).toBeFalsy();
    expect(resultText(result)).toBe(ANTHROPIC_TEXT);
    const out = result.structuredContent as unknown as ChatResult;
    expect(out).toMatchObject({ content: ANTHROPIC_TEXT, provider: 'anthropic', model: 'claude-haiku-4-5', finish_reason: 'stop', attempts: 1 });
    expect(out.usage).toMatchObject({ prompt_tokens: 1000, completion_tokens: 200, total_tokens: 1200 });
    expect(out.cost_usd).toBeCloseTo((1000 * 1 + 200 * 5) / 1e6, 12);

    const entry = sent('plain anthropic please');
    expect(entry.path).toBe('/v1/messages');
    expect(entry.headers.authorization).toBeTruthy();
    // aimock journals the request after normalising it to its chat form (the top-level `system`
    // back among the messages), so the raw Messages body is checked in chat.test.ts instead.
    expect(entry.body).toMatchObject({
      model: 'claude-haiku-4-5-20251001',
      max_tokens: 64000,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'plain anthropic please' },
      ],
    });
  });

  it('a streamed chat relays the fixture text as progress and returns it whole', async () => {
    const messages: string[] = [];
    const result = await h.callTool(
      'chat',
      { model: 'claude-haiku-4-5', prompt: 'streamed anthropic please' },
      { onprogress: (p) => void messages.push(progressDelta(p) ?? '') },
    );
    expect(result.isError, resultText(result)).toBeFalsy();
    expect(resultText(result)).toBe(ANTHROPIC_TEXT);
    expect(messages.length).toBeGreaterThan(0);
    expect(messages.join('')).toBe(ANTHROPIC_TEXT);
    const out = result.structuredContent as unknown as ChatResult;
    expect(out.finish_reason).toBe('stop');
    expect(out.usage).toMatchObject({ prompt_tokens: 1000, completion_tokens: 200 });

    const entry = sent('streamed anthropic please');
    expect(entry.path).toBe('/v1/messages');
    expect(entry.body).toMatchObject({ stream: true });
  });

  it('sent nothing to the harness upstream: every call above went to aimock', () => {
    expect(h.upstream.requests).toHaveLength(0);
  });
});
