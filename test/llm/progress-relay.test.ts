import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { countCodePoints, ProgressRelay, type ProgressNotice } from '../../src/llm/progress-relay.js';

interface Recorded extends ProgressNotice {
  at: number;
}

/** A relay on fake timers whose clock is Date.now (faked too). */
function fakeRelay(intervalMs = 50, send?: (n: ProgressNotice) => void | Promise<void>) {
  const notices: Recorded[] = [];
  const relay = new ProgressRelay({
    intervalMs,
    now: () => Date.now(),
    send: (n) => {
      notices.push({ ...n, at: Date.now() });
      return send?.(n);
    },
  });
  return { relay, notices };
}

/** What a notice relayed: a text notice's exact delta, or an announcement's line. */
function relayed(n: ProgressNotice): string {
  return n.delta ?? n.message;
}

function isHigh(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
function isLow(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/** Splits `s` at arbitrary UTF-16 offsets (so surrogate pairs may be cut in two). */
function splitAt(s: string, cuts: number[]): string[] {
  const points = [...new Set(cuts.map((c) => (s.length === 0 ? 0 : c % (s.length + 1))))].sort((a, b) => a - b);
  const parts: string[] = [];
  let prev = 0;
  for (const p of points) {
    parts.push(s.slice(prev, p));
    prev = p;
  }
  parts.push(s.slice(prev));
  return parts;
}

function checkInvariants(notices: ProgressNotice[], announcements: string[], input: string): void {
  // No empty messages, strictly increasing progress.
  let prev = 0;
  for (const n of notices) {
    expect(relayed(n).length).toBeGreaterThan(0);
    expect(n.progress).toBeGreaterThan(prev);
    prev = n.progress;
  }
  const announcementSet = new Set(announcements);
  const text = notices.filter((n) => !announcementSet.has(relayed(n))).map((n) => relayed(n));
  expect(text.join('')).toBe(input);
  // Never split a surrogate pair of the input across two notices.
  for (let i = 0; i + 1 < text.length; i++) {
    const a = text[i]!;
    const b = text[i + 1]!;
    expect(isHigh(a.charCodeAt(a.length - 1)) && isLow(b.charCodeAt(0))).toBe(false);
  }
  if (notices.length > 0) {
    expect(notices[notices.length - 1]!.progress).toBe(countCodePoints(input) + notices.length - text.length);
  }
}

afterEach(() => {
  vi.useRealTimers();
});

describe('countCodePoints', () => {
  it('counts surrogate pairs once and lone surrogates once, like for...of', () => {
    expect(countCodePoints('')).toBe(0);
    expect(countCodePoints('héllo')).toBe(5);
    expect(countCodePoints('a😀b')).toBe(3);
    expect(countCodePoints('\uD83D')).toBe(1);
    expect(countCodePoints('\uDE00\uD83D')).toBe(2);
    fc.assert(
      fc.property(fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) }), (s) => {
        expect(countCodePoints(s)).toBe([...s].length);
      }),
    );
  });
});

describe('ProgressRelay', () => {
  it('sends the first delta synchronously', () => {
    const notices: ProgressNotice[] = [];
    const relay = new ProgressRelay({ send: (n) => void notices.push(n) });
    relay.push('Hello');
    expect(notices).toEqual([{ progress: 5, message: 'Hello', delta: 'Hello' }]);
    expect(relay.relayedText).toBe('Hello');
    expect(relay.relayedChars).toBe(5);
    void relay.close();
  });

  it('coalesces later deltas and sends them at the interval boundary', async () => {
    vi.useFakeTimers();
    const { relay, notices } = fakeRelay(50);
    relay.push('a');
    relay.push('b');
    relay.push('c');
    expect(notices.map((n) => relayed(n))).toEqual(['a']);
    await vi.advanceTimersByTimeAsync(49);
    expect(notices).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(notices.map((n) => [relayed(n), n.progress])).toEqual([
      ['a', 1],
      ['bc', 3],
    ]);
    expect(notices[1]!.at - notices[0]!.at).toBe(50);
    // Quiet for longer than the interval: the next delta goes out at once.
    await vi.advanceTimersByTimeAsync(200);
    relay.push('d');
    expect(notices.map((n) => relayed(n))).toEqual(['a', 'bc', 'd']);
    await relay.close();
  });

  it('never sends an empty message', async () => {
    vi.useFakeTimers();
    const { relay, notices } = fakeRelay(50);
    relay.push('');
    relay.announce('');
    await vi.advanceTimersByTimeAsync(500);
    await relay.flush();
    await relay.close();
    expect(notices).toEqual([]);
  });

  it('holds back a trailing lone high surrogate until the next push', async () => {
    vi.useFakeTimers();
    const { relay, notices } = fakeRelay(50);
    relay.push('a\uD83D');
    expect(notices.map((n) => relayed(n))).toEqual(['a']);
    relay.push('\uDE00b');
    await vi.advanceTimersByTimeAsync(50);
    expect(notices.map((n) => [relayed(n), n.progress])).toEqual([
      ['a', 1],
      ['😀b', 3],
    ]);
    // Only a high surrogate: nothing to send yet, even on flush.
    relay.push('\uD83D');
    await vi.advanceTimersByTimeAsync(100);
    await relay.flush();
    expect(notices).toHaveLength(2);
    // close sends it as it is.
    await relay.close();
    expect(notices.map((n) => relayed(n))).toEqual(['a', '😀b', '\uD83D']);
    expect(notices[2]!.progress).toBe(4);
    expect(relay.relayedText).toBe('a😀b\uD83D');
    expect(relay.relayedChars).toBe(4);
  });

  it('relays arbitrary unicode split into random deltas exactly (fast-check)', async () => {
    vi.useFakeTimers();
    const unicode = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 60 }),
      fc.string({ unit: 'grapheme', maxLength: 40 }),
      fc.string({ unit: fc.constantFrom('😀', '👩‍👩‍👧', 'é', 'ñ', '中', '𝄞', 'a', ' ', '\n'), maxLength: 40 }),
    );
    await fc.assert(
      fc.asyncProperty(
        unicode,
        fc.array(fc.nat(), { maxLength: 30 }),
        fc.array(fc.integer({ min: 0, max: 80 }), { maxLength: 30 }),
        fc.integer({ min: 0, max: 60 }),
        async (input, cuts, gaps, intervalMs) => {
          vi.setSystemTime(0);
          const { relay, notices } = fakeRelay(intervalMs);
          const deltas = splitAt(input, cuts);
          let first = true;
          let held = '';
          for (const [i, delta] of deltas.entries()) {
            relay.push(delta);
            if (first) {
              // The first text goes out synchronously, minus a trailing high surrogate.
              const whole = held + delta;
              const high = whole.length > 0 && isHigh(whole.charCodeAt(whole.length - 1));
              const expected = high ? whole.slice(0, -1) : whole;
              held = high ? whole.slice(-1) : '';
              if (expected.length > 0) {
                expect(notices.map((n) => relayed(n))).toEqual([expected]);
                first = false;
              }
            }
            await vi.advanceTimersByTimeAsync(gaps[i % Math.max(1, gaps.length)] ?? 0);
          }
          const beforeClose = notices.length;
          await relay.close();
          checkInvariants(notices, [], input);
          // Paced notices (all but the one close() may add) are at least intervalMs apart.
          for (let i = 1; i < beforeClose; i++) {
            expect(notices[i]!.at - notices[i - 1]!.at).toBeGreaterThanOrEqual(intervalMs);
          }
          expect(relay.relayedText).toBe(input);
          expect(relay.relayedChars).toBe([...input].length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('relays arbitrary UTF-16 (including lone surrogates) exactly (fast-check)', async () => {
    vi.useFakeTimers();
    const utf16 = fc.string({
      unit: fc.oneof(
        fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
        fc.constantFrom('a', '😀', 'é'),
      ),
      maxLength: 30,
    });
    await fc.assert(
      fc.asyncProperty(utf16, fc.array(fc.nat(), { maxLength: 20 }), async (input, cuts) => {
        const { relay, notices } = fakeRelay(20);
        for (const delta of splitAt(input, cuts)) {
          relay.push(delta);
          await vi.advanceTimersByTimeAsync(7);
        }
        await relay.close();
        let prev = 0;
        for (const n of notices) {
          expect(relayed(n).length).toBeGreaterThan(0);
          expect(n.progress).toBeGreaterThan(prev);
          prev = n.progress;
        }
        expect(notices.map((n) => relayed(n)).join('')).toBe(input);
        expect(relay.relayedText).toBe(input);
        expect(relay.relayedChars).toBe([...input].length);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps progress strictly increasing with announcements interleaved (fast-check)', async () => {
    vi.useFakeTimers();
    type Op = { kind: 'push'; text: string } | { kind: 'announce' } | { kind: 'wait'; ms: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 8 }).map((text) => ({ kind: 'push' as const, text })),
      fc.constant({ kind: 'announce' as const }),
      fc.integer({ min: 0, max: 120 }).map((ms) => ({ kind: 'wait' as const, ms })),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
        const { relay, notices } = fakeRelay(50);
        const announcements: string[] = [];
        let input = '';
        for (const o of ops) {
          if (o.kind === 'push') {
            relay.push(o.text);
            input += o.text;
          } else if (o.kind === 'announce') {
            const line = `\u0000announce#${announcements.length}`;
            announcements.push(line);
            relay.announce(line);
          } else {
            await vi.advanceTimersByTimeAsync(o.ms);
          }
        }
        await relay.close();
        checkInvariants(notices, announcements, input);
        // Announcements arrive in order, each exactly once.
        expect(notices.filter((n) => announcements.includes(relayed(n))).map((n) => relayed(n))).toEqual(announcements);
      }),
      { numRuns: 300 },
    );
  });

  it('interleaves an announcement between the text before and after it', async () => {
    vi.useFakeTimers();
    const { relay, notices } = fakeRelay(50);
    relay.push('ab');
    relay.push('c');
    relay.announce('retrying (attempt 2/3)');
    relay.push('de');
    relay.push('f😀');
    expect(notices.map((n) => relayed(n))).toEqual(['ab']);
    await vi.advanceTimersByTimeAsync(50);
    expect(notices.map((n) => relayed(n))).toEqual(['ab', 'c']);
    await vi.advanceTimersByTimeAsync(50);
    expect(notices.map((n) => relayed(n))).toEqual(['ab', 'c', 'retrying (attempt 2/3)']);
    await relay.close();
    expect(notices.map((n) => [relayed(n), n.progress])).toEqual([
      ['ab', 2],
      ['c', 3],
      ['retrying (attempt 2/3)', 4],
      ['def😀', 8],
    ]);
    expect(relay.relayedText).toBe('abcdef😀');
    expect(relay.relayedChars).toBe(7);
  });

  it('sends an announcement at once when nothing was sent recently', () => {
    const notices: ProgressNotice[] = [];
    const relay = new ProgressRelay({ send: (n) => void notices.push(n) });
    relay.announce('retrying in 2s');
    expect(notices).toEqual([{ progress: 1, message: 'retrying in 2s' }]);
    expect(relay.relayedText).toBe('');
    expect(relay.relayedChars).toBe(0);
    void relay.close();
  });

  it('flush sends what is pending now and stops the timer', async () => {
    vi.useFakeTimers();
    const { relay, notices } = fakeRelay(50);
    relay.push('a');
    relay.push('b');
    relay.announce('note');
    await relay.flush();
    expect(notices.map((n) => relayed(n))).toEqual(['a', 'b', 'note']);
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(200);
    expect(notices).toHaveLength(3);
    // Still usable after flush.
    relay.push('c');
    expect(notices.map((n) => relayed(n))).toEqual(['a', 'b', 'note', 'c']);
    await relay.close();
  });

  it('sends nothing after close, even from a pending timer', async () => {
    vi.useFakeTimers();
    const { relay, notices } = fakeRelay(50);
    relay.push('a');
    relay.push('b');
    expect(vi.getTimerCount()).toBe(1);
    await relay.close();
    expect(notices.map((n) => relayed(n))).toEqual(['a', 'b']);
    expect(vi.getTimerCount()).toBe(0);
    relay.push('c');
    relay.announce('late');
    await relay.flush();
    await relay.close();
    await vi.advanceTimersByTimeAsync(1000);
    expect(notices.map((n) => relayed(n))).toEqual(['a', 'b']);
    expect(relay.relayedText).toBe('ab');
  });

  it('close waits for in-flight sends and nothing is sent after it resolves', async () => {
    const started: string[] = [];
    const finished: string[] = [];
    const relay = new ProgressRelay({
      intervalMs: 10,
      send: async (n) => {
        started.push(relayed(n));
        await sleep(30);
        finished.push(relayed(n));
      },
    });
    relay.push('x');
    relay.push('y');
    relay.announce('z');
    await relay.close();
    expect(started).toEqual(['x', 'y', 'z']);
    expect(finished).toEqual(['x', 'y', 'z']);
    relay.push('after');
    await sleep(50);
    expect(started).toEqual(['x', 'y', 'z']);
  });

  it('serializes async sends in order and coalesces text while a send is in flight', async () => {
    vi.useFakeTimers();
    let inFlight = 0;
    let maxInFlight = 0;
    const { relay, notices } = fakeRelay(10, async () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, 100));
      inFlight--;
    });
    relay.push('a');
    for (let i = 0; i < 20; i++) {
      await vi.advanceTimersByTimeAsync(10);
      relay.push(String(i % 10));
    }
    await vi.advanceTimersByTimeAsync(1000);
    await relay.close();
    expect(maxInFlight).toBe(1);
    expect(notices.map((n) => relayed(n)).join('')).toBe('a' + '01234567890123456789');
    // A slow host gets fewer, bigger notices rather than a growing backlog.
    expect(notices.length).toBeLessThanOrEqual(4);
    for (let i = 1; i < notices.length; i++) {
      expect(notices[i]!.at - notices[i - 1]!.at).toBeGreaterThanOrEqual(100);
    }
  });

  it('swallows send rejections and synchronous throws and keeps relaying', async () => {
    vi.useFakeTimers();
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      let calls = 0;
      const { relay, notices } = fakeRelay(50, (n) => {
        calls++;
        if (calls % 3 === 1) return Promise.reject(new Error(`host gone (${n.message})`));
        if (calls % 3 === 2) throw new Error('transport closed');
        return Promise.resolve();
      });
      const deltas = ['one ', 'two ', 'three ', 'four ', 'five ', 'six'];
      for (const d of deltas) {
        relay.push(d);
        await vi.advanceTimersByTimeAsync(60);
      }
      relay.announce('retrying');
      relay.push('!');
      await expect(relay.flush()).resolves.toBeUndefined();
      await expect(relay.close()).resolves.toBeUndefined();
      expect(notices.map((n) => relayed(n))).toEqual([...deltas, 'retrying', '!']);
      expect(notices.map((n) => n.progress)).toEqual([4, 8, 14, 19, 24, 27, 28, 29]);
      expect(relay.relayedText).toBe(deltas.join('') + '!');
      vi.useRealTimers();
      await sleep(10);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it("a text notice's message is the tail of the answer so far, one line of at most 200 characters", async () => {
    vi.useFakeTimers();
    const { relay, notices } = fakeRelay(50);
    relay.push('First line.\nSecond');
    expect(notices[0]).toMatchObject({ message: 'First line. Second', delta: 'First line.\nSecond' });
    relay.push(` ${'word '.repeat(60)}last`);
    await relay.close();
    const last = notices.at(-1)!;
    expect(last.delta).toBe(` ${'word '.repeat(60)}last`);
    expect([...last.message].length).toBeLessThanOrEqual(200);
    expect(last.message).toMatch(/^…word( word)* last$/);
    // A whitespace-only start still gets a line.
    const blank = fakeRelay(50);
    blank.relay.push('\n\n');
    expect(blank.notices[0]).toMatchObject({ message: '…', delta: '\n\n' });
    await blank.relay.close();
  });

  it('sends a heartbeat after heartbeatMs of silence, again after each silent heartbeatMs, never after close', async () => {
    vi.useFakeTimers();
    const notices: Recorded[] = [];
    let beat = 0;
    const relay = new ProgressRelay({
      intervalMs: 50,
      now: () => Date.now(),
      heartbeatMs: 10_000,
      heartbeat: () => `waiting for gpt-5 (openai), ${(beat += 10)} s`,
      send: (n) => void notices.push({ ...n, at: Date.now() }),
    });
    await vi.advanceTimersByTimeAsync(9_999);
    expect(notices).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(notices.map((n) => [n.message, n.progress, n.delta])).toEqual([['waiting for gpt-5 (openai), 10 s', 1, undefined]]);
    // Text resets the countdown: the next beat comes 10 s after the text, not after the last beat.
    await vi.advanceTimersByTimeAsync(4_000);
    relay.push('Hi');
    await vi.advanceTimersByTimeAsync(9_999);
    expect(notices).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(notices.map((n) => relayed(n))).toEqual(['waiting for gpt-5 (openai), 10 s', 'Hi', 'waiting for gpt-5 (openai), 20 s']);
    expect(notices.map((n) => n.progress)).toEqual([1, 3, 4]);
    for (let i = 1; i < notices.length; i++) expect(notices[i]!.at - notices[i - 1]!.at).toBeLessThanOrEqual(10_000);
    await relay.close();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(notices).toHaveLength(3);
  });

  it('skips a beat when the heartbeat has nothing to say, and keeps counting', async () => {
    vi.useFakeTimers();
    const notices: ProgressNotice[] = [];
    let ready = false;
    const relay = new ProgressRelay({ heartbeatMs: 1_000, heartbeat: () => (ready ? 'alive' : undefined), send: (n) => void notices.push(n) });
    await vi.advanceTimersByTimeAsync(3_000);
    expect(notices).toEqual([]);
    ready = true;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(notices).toEqual([{ progress: 1, message: 'alive' }]);
    await relay.close();
  });

  it('has no heartbeat without one, and rejects an invalid heartbeatMs', async () => {
    vi.useFakeTimers();
    const { relay, notices } = fakeRelay(50);
    await vi.advanceTimersByTimeAsync(100_000);
    expect(notices).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
    await relay.close();
    expect(() => new ProgressRelay({ heartbeatMs: 0, heartbeat: () => 'x', send: () => {} })).toThrow(RangeError);
  });

  it('rejects an invalid interval', () => {
    expect(() => new ProgressRelay({ intervalMs: -1, send: () => {} })).toThrow(RangeError);
    expect(() => new ProgressRelay({ intervalMs: Number.NaN, send: () => {} })).toThrow(RangeError);
  });

  it('paces 5,000 tiny deltas in real time to >= ~45 ms apart and loses nothing', async () => {
    const notices: Recorded[] = [];
    const relay = new ProgressRelay({
      send: (n) => {
        notices.push({ ...n, at: performance.now() });
      },
    });
    const alphabet = ['a', 'b', ' ', 'é', '中', '😀', '👍🏽', '\n'];
    let input = '';
    const total = 5000;
    const bursts = 30;
    let i = 0;
    const started = performance.now();
    for (let b = 0; b < bursts; b++) {
      const end = Math.round(((b + 1) * total) / bursts);
      for (; i < end; i++) {
        const delta = alphabet[i % alphabet.length]!;
        // Cut some surrogate pairs in half across deltas.
        if (delta.length === 2 && i % 3 === 0) {
          relay.push(delta[0]!);
          relay.push(delta[1]!);
        } else {
          relay.push(delta);
        }
        input += delta;
      }
      await sleep(10);
    }
    const paced = notices.length;
    const elapsed = performance.now() - started;
    await relay.close();
    // 30 sleeps of >= 10 ms: at least ~300 ms of pushing, whatever the load.
    expect(paced).toBeGreaterThanOrEqual(3);
    // At most one notice per 50 ms of the time the pushing actually took (measured: a loaded
    // machine stretches the sleeps, and rightly gets more notices), plus the first one and the
    // one close() sends: far fewer notices than deltas.
    expect(notices.length).toBeLessThanOrEqual(Math.ceil(elapsed / 50) + 2);
    for (let k = 1; k < paced; k++) {
      expect(notices[k]!.at - notices[k - 1]!.at).toBeGreaterThanOrEqual(45);
    }
    checkInvariants(notices, [], input);
    expect(relay.relayedText).toBe(input);
    expect(relay.relayedChars).toBe([...input].length);
  });
});
