/**
 * A streamed call whose provider is silent still shows life: a heartbeat progress notice at least
 * every heartbeatMs (10 s in production, 100 ms here) while waiting for the first byte, during a
 * stall mid-stream and during a retry wait; none after the result; timeoutMs still ends a silent
 * provider however many heartbeats went out.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import type { ConfigFile } from '../../src/config.js';
import { harnessPerTest, progressDelta, resultText, type Harness } from '../support/harness.js';
import { startStallMeter } from '../support/load-slack.js';

interface Notice {
  progress: number;
  message: string;
  delta?: string;
  at: number;
  /** The stall meter's reading at `at`: how long this process had been held up by then. */
  stalled: number;
}

const HEARTBEAT_MS = 100;
const startHarness = harnessPerTest();

async function callStreamed(h: Harness, args: Record<string, unknown>) {
  const notices: Notice[] = [];
  const meter = startStallMeter();
  const started = Date.now();
  const result: CallToolResult = await h.callTool('chat', args, {
    onprogress: (p) => void notices.push({ progress: p.progress, message: p.message ?? '', delta: progressDelta(p), at: Date.now(), stalled: meter.stalledMs }),
  });
  const resultAt = Date.now();
  const stalledAtResult = meter.stalledMs;
  meter.stop();
  // Nothing after the result: the client would report a notice for a finished request.
  const count = notices.length;
  await sleep(HEARTBEAT_MS * 3);
  expect(notices.length).toBe(count);
  expect(h.clientErrors).toEqual([]);
  let previous = 0;
  for (const n of notices) {
    expect(n.progress).toBeGreaterThan(previous);
    previous = n.progress;
  }
  return { result, notices, started, resultAt, stalledAtResult, beats: notices.filter((n) => n.delta === undefined) };
}

/**
 * No gap much longer than the heartbeat from the start to the result. The slack is wide because
 * timers run late on a loaded machine, and each gap gets on top the time this process was held up
 * within it (load-slack.ts: client, server and upstream all run here); without heartbeats the gaps
 * would be the whole 450+ ms wait, which is waiting, not stalling, so it still shows.
 */
function expectNoLongSilence(run: { notices: Notice[]; started: number; resultAt: number; stalledAtResult: number }, slackMs = 2 * HEARTBEAT_MS): void {
  const times = [run.started, ...run.notices.map((n) => n.at), run.resultAt];
  const stalls = [0, ...run.notices.map((n) => n.stalled), run.stalledAtResult];
  for (let i = 1; i < times.length; i++) {
    const stalled = stalls[i]! - stalls[i - 1]!;
    expect(times[i]! - times[i - 1]!, `gap ${i} (${Math.round(stalled)} ms stalled): ${JSON.stringify(run.notices.map((n) => [n.at - run.started, n.message]))}`).toBeLessThanOrEqual(HEARTBEAT_MS + slackMs + stalled);
  }
}

/**
 * A harness whose provider SDK is already loaded: the first import of an SDK blocks the event loop
 * (timers included) for a moment on a busy machine, which is not what these tests measure.
 */
async function harness(wire: 'openai' | 'anthropic', config?: ConfigFile) {
  const h = await startHarness({ heartbeatMs: HEARTBEAT_MS, config });
  h.upstream.enqueue({ kind: wire, content: 'warm' });
  expect((await h.callTool('chat', { prompt: 'warm up', model: wire === 'openai' ? 'gpt-4o-mini' : 'claude-haiku-4-5' })).isError).toBeFalsy();
  return h;
}

describe.each(['openai', 'anthropic'] as const)('%s wire: heartbeat', (wire) => {
  const model = wire === 'openai' ? 'gpt-4o-mini' : 'claude-haiku-4-5';
  const who = `${model} (${wire})`;

  it('while the provider has not answered yet, says what it waits for and how long', async () => {
    const h = await harness(wire);
    h.upstream.enqueue({ kind: wire, chunks: ['late ', 'answer'], delayMs: 550 });
    const run = await callStreamed(h, { prompt: 'x', model });
    expect(run.result.isError, resultText(run.result)).toBeFalsy();
    expect(run.beats.length).toBeGreaterThanOrEqual(3);
    for (const beat of run.beats) expect(beat.message).toMatch(new RegExp(`^waiting for ${model.replace(/[.]/g, '\\.')} \\(${wire}\\), \\d+ s$`));
    expect(run.notices.map((n) => n.delta ?? '').join('')).toBe('late answer');
    expect(run.notices.at(-1)!.message).toBe('late answer');
    expectNoLongSilence(run);
  });

  it('during a stall mid-stream, and timeoutMs still ends the silent attempt', async () => {
    const h = await harness(wire, { timeoutMs: 450, retry: { retries: 0 } });
    h.upstream.enqueue({ kind: wire, chunks: ['started ', 'then silence'], stallAfterChunks: 1 });
    const run = await callStreamed(h, { prompt: 'x', model });
    expect(run.result.isError).toBe(true);
    expect(resultText(run.result)).toMatch(/timed out/);
    expect(run.notices[0]!.delta).toBe('started ');
    const beatsAfterText = run.beats.filter((b) => b.at > run.notices[0]!.at);
    expect(beatsAfterText.length).toBeGreaterThanOrEqual(2);
    expect(beatsAfterText[0]!.message).toMatch(new RegExp(`^waiting for .*\\(${wire}\\)`));
    // The heartbeats did not keep the attempt alive: it ended after about timeoutMs of silence (and
    // the time this process was held up meanwhile).
    expect(run.resultAt - run.notices[0]!.at).toBeLessThan(450 + 400 + run.stalledAtResult - run.notices[0]!.stalled);
    expectNoLongSilence(run);
  });

  it('during a retry wait: says when the retry comes', async () => {
    const h = await harness(wire, { retry: { retries: 1, minDelayMs: 450, maxDelayMs: 450 } });
    h.upstream.enqueue({ kind: 'error', status: 503, message: 'busy' }, { kind: wire, chunks: ['ok'] });
    const run = await callStreamed(h, { prompt: 'x', model });
    expect(run.result.isError, resultText(run.result)).toBeFalsy();
    const announcement = run.beats.findIndex((b) => /retrying .* in 0\.45 s \(attempt 2 of 2\)/.test(b.message));
    expect(announcement).toBeGreaterThanOrEqual(0);
    const retryBeats = run.beats.slice(announcement + 1).filter((b) => /^waiting to retry /.test(b.message));
    expect(retryBeats.length).toBeGreaterThanOrEqual(2);
    expect(retryBeats[0]!.message).toBe(`waiting to retry ${who}, 1 s left`);
    expectNoLongSilence(run);
  });
});

describe('no heartbeat without a progress token', () => {
  it('a plain call sends no notification at all', async () => {
    const h = await harness('openai');
    h.upstream.enqueue({ kind: 'openai', content: 'plain', delayMs: 350 });
    const notifications: unknown[] = [];
    h.client.fallbackNotificationHandler = async (n) => void notifications.push(n);
    const result = await h.callTool('chat', { prompt: 'x' });
    expect(result.isError).toBeFalsy();
    await sleep(HEARTBEAT_MS * 2);
    expect(notifications).toEqual([]);
  });
});
