/**
 * Coalesces streamed text deltas into MCP `notifications/progress` notices, without knowing
 * anything about the transport: the caller supplies `send`.
 *
 * The contract (what the `chat` tool promises the MCP host):
 *
 * - A text notice's `delta` is the text that arrived since the previous text notice, so the
 *   concatenation of all deltas is exactly the text that was streamed; its `message` is what a host
 *   shows a person: the tail of the answer so far as one line (see answerTail). An announcement
 *   (e.g. "retrying in 2 s") or a heartbeat is a notice of its own and carries no `delta`.
 * - `progress` = characters relayed so far + announcements sent so far, where "characters" are
 *   Unicode code points (a surrogate pair counts 1; a lone surrogate also counts 1). Every notice
 *   carries at least one code point or is an announcement, so `progress` strictly increases
 *   across all notices.
 * - A surrogate pair is never split across two notices: a trailing lone high surrogate is held
 *   back until the next `push`, or sent as it is by `close()`.
 * - At most one notice per `intervalMs` (default 50 ms): when nothing was sent in the last
 *   interval, a notice goes out at once (calling `send` synchronously); otherwise text accumulates
 *   and an unref'd timer sends it at the interval boundary. For an async `send` the interval
 *   counts from when its promise settled, so the spacing holds where the notices arrive. `flush()` and `close()` are the only
 *   ways to send sooner. No notice has an empty message or an empty delta.
 * - Heartbeat: with `heartbeatMs`, whenever nothing has been sent for that long, the `heartbeat`
 *   line (e.g. "waiting for gpt-5 (openai), 40 s") goes out as an announcement, so a host that
 *   shows progress, or times out a silent call, sees the call is alive while the provider thinks
 *   or a retry waits.
 * - Sends are serialized: if `send` returns a promise, the next notice waits for it, and text that
 *   arrives meanwhile is coalesced into that next notice. Send errors (thrown or rejected) are
 *   swallowed: a host that went away must not crash the call.
 * - After `close()`, nothing is ever sent again (the MCP client treats a notification after the
 *   result as an error); `push` and `announce` are ignored.
 */

import { answerTail } from './answer-tail.js';

export interface ProgressNotice {
  /** Code points relayed so far plus announcements so far; strictly increasing. */
  progress: number;
  /** A line for a person: the tail of the answer so far, or an announcement. Never empty. */
  message: string;
  /** Text notices only: exactly the answer text since the previous text notice. Never empty. */
  delta?: string;
}

export interface ProgressRelayOptions {
  /** Minimum spacing between notices, in ms. Default 50. */
  intervalMs?: number;
  send: (notice: ProgressNotice) => void | Promise<void>;
  /** Monotonic clock in ms. Default `performance.now()`. */
  now?: () => number;
  /** Send `heartbeat()` when nothing has been sent for this long, in ms. Default: no heartbeat. */
  heartbeatMs?: number;
  /** The heartbeat line; undefined skips this beat. */
  heartbeat?: () => string | undefined;
}

/** How often a silent call says it is still alive, at most: hosts time out or look stuck beyond it. */
export const DEFAULT_HEARTBEAT_MS = 10_000;

export const DEFAULT_PROGRESS_INTERVAL_MS = 50;

// A whitespace-only answer so far still gets a line: the message is never empty.
const EMPTY_TAIL = '…';

type Segment = { kind: 'text'; text: string } | { kind: 'announce'; message: string };

const noop = (): void => {};

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/** Code points in `s`; a lone surrogate counts as one (as `for...of` iterates). */
export function countCodePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const code = s.charCodeAt(i);
    if (isHighSurrogate(code) && i + 1 < s.length) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

export class ProgressRelay {
  readonly #intervalMs: number;
  readonly #send: (notice: ProgressNotice) => void | Promise<void>;
  readonly #now: () => number;
  readonly #heartbeatMs: number | undefined;
  readonly #heartbeat: (() => string | undefined) | undefined;
  #heartbeatTimer: ReturnType<typeof setTimeout> | undefined;

  /** Notices waiting for the interval, in order; adjacent text is merged. */
  #queue: Segment[] = [];
  /** A trailing lone high surrogate held back until the next push (or close). */
  #carry = '';
  #relayedText = '';
  #relayedChars = 0;
  #announcements = 0;
  #lastSentAt: number | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The last in-flight send, settled (never rejects); undefined when no send is pending. */
  #tail: Promise<void> | undefined;
  #waitingForTail = false;
  #closed = false;

  constructor(options: ProgressRelayOptions) {
    const intervalMs = options.intervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS;
    if (!Number.isFinite(intervalMs) || intervalMs < 0) {
      throw new RangeError(`intervalMs must be a finite number >= 0, got ${intervalMs}`);
    }
    this.#intervalMs = intervalMs;
    this.#send = options.send;
    this.#now = options.now ?? (() => performance.now());
    const heartbeatMs = options.heartbeatMs;
    if (heartbeatMs !== undefined && (!Number.isFinite(heartbeatMs) || heartbeatMs <= 0)) {
      throw new RangeError(`heartbeatMs must be a finite number > 0, got ${heartbeatMs}`);
    }
    this.#heartbeatMs = options.heartbeat ? heartbeatMs : undefined;
    this.#heartbeat = options.heartbeat;
    this.#armHeartbeat();
  }

  /** Queues streamed text; the first delta is sent at once, later ones at most once per intervalMs. */
  push(text: string): void {
    if (this.#closed || text.length === 0) return;
    let chunk = this.#carry + text;
    this.#carry = '';
    if (isHighSurrogate(chunk.charCodeAt(chunk.length - 1))) {
      this.#carry = chunk.slice(-1);
      chunk = chunk.slice(0, -1);
    }
    if (chunk.length === 0) return;
    const last = this.#queue[this.#queue.length - 1];
    if (last?.kind === 'text') last.text += chunk;
    else this.#queue.push({ kind: 'text', text: chunk });
    this.#schedule();
  }

  /**
   * Sends a status line (e.g. a retry announcement) as its own notice, after any text queued before
   * it and paced like text. It carries no streamed text; progress increases by exactly 1.
   * An empty message is ignored.
   */
  announce(message: string): void {
    if (this.#closed || message.length === 0) return;
    this.#queue.push({ kind: 'announce', message });
    this.#schedule();
  }

  /**
   * Sends everything queued now (ignoring the interval) and stops the timer. A held-back lone high
   * surrogate stays held (it may still be completed by the next push). Resolves when all sends so
   * far have settled.
   */
  async flush(): Promise<void> {
    if (!this.#closed) this.#sendAllNow();
    await this.#drain();
  }

  /**
   * Sends everything queued, including a held-back lone high surrogate, then stops for good:
   * later push/announce calls are ignored and nothing is ever sent again. Resolves when all sends
   * have settled. Idempotent.
   */
  async close(): Promise<void> {
    if (!this.#closed) {
      if (this.#carry.length > 0) {
        const carry = this.#carry;
        this.#carry = '';
        const last = this.#queue[this.#queue.length - 1];
        if (last?.kind === 'text') last.text += carry;
        else this.#queue.push({ kind: 'text', text: carry });
      }
      this.#sendAllNow();
      this.#closed = true;
      this.#clearHeartbeat();
    }
    await this.#drain();
  }

  /** Concatenation of the text handed to `send` (announcements excluded). */
  get relayedText(): string {
    return this.#relayedText;
  }

  /** Code points in `relayedText`. */
  get relayedChars(): number {
    return this.#relayedChars;
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Sends the next queued notice if the interval allows and no send is in flight; else waits. */
  #schedule(): void {
    if (this.#closed || this.#queue.length === 0) return;
    if (this.#timer !== undefined || this.#waitingForTail) return;
    const wait = this.#lastSentAt === undefined ? 0 : this.#lastSentAt + this.#intervalMs - this.#now();
    if (wait > 0) {
      // Timers may fire a little early; #schedule re-checks the clock and waits the remainder.
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#schedule();
      }, Math.max(1, Math.ceil(wait)));
      this.#timer.unref?.();
      return;
    }
    const tail = this.#tail;
    if (tail !== undefined) {
      // Coalesce while the previous send is in flight rather than piling up sends.
      this.#waitingForTail = true;
      void tail.then(() => {
        this.#waitingForTail = false;
        this.#schedule();
      });
      return;
    }
    this.#sendNext();
    // Anything left (e.g. text queued after an announcement) waits for the next interval.
    this.#schedule();
  }

  #sendAllNow(): void {
    this.#clearTimer();
    while (this.#queue.length > 0) this.#sendNext();
  }

  #sendNext(): void {
    const segment = this.#queue.shift();
    if (segment === undefined) return;
    let notice: ProgressNotice;
    if (segment.kind === 'text') {
      this.#relayedText += segment.text;
      this.#relayedChars += countCodePoints(segment.text);
      const message = answerTail(this.#relayedText) || EMPTY_TAIL;
      notice = { progress: this.#relayedChars + this.#announcements, message, delta: segment.text };
    } else {
      this.#announcements++;
      notice = { progress: this.#relayedChars + this.#announcements, message: segment.message };
    }
    this.#lastSentAt = this.#now();
    this.#armHeartbeat();
    this.#dispatch(notice);
  }

  /** (Re)starts the heartbeat countdown: it fires only after `heartbeatMs` with nothing sent. */
  #armHeartbeat(): void {
    this.#clearHeartbeat();
    if (this.#heartbeatMs === undefined || this.#closed) return;
    this.#heartbeatTimer = setTimeout(() => {
      this.#heartbeatTimer = undefined;
      const line = this.#closed ? undefined : this.#heartbeat?.();
      // announce() re-arms through #sendNext; a skipped beat re-arms here.
      if (line) this.announce(line);
      else this.#armHeartbeat();
    }, this.#heartbeatMs);
    this.#heartbeatTimer.unref?.();
  }

  #clearHeartbeat(): void {
    if (this.#heartbeatTimer !== undefined) {
      clearTimeout(this.#heartbeatTimer);
      this.#heartbeatTimer = undefined;
    }
  }

  /** Calls `send` now if nothing is in flight (synchronously), else after the in-flight send. */
  #dispatch(notice: ProgressNotice): void {
    const tail = this.#tail;
    if (tail === undefined) {
      const pending = this.#invoke(notice);
      if (pending !== undefined) this.#track(pending);
    } else {
      this.#track(tail.then(() => this.#invoke(notice)));
    }
  }

  /** Calls `send`, swallowing errors; returns a never-rejecting promise if `send` was async. */
  #invoke(notice: ProgressNotice): Promise<void> | undefined {
    try {
      const result = this.#send(notice);
      if (result !== undefined && result !== null && typeof (result as PromiseLike<void>).then === 'function') {
        return Promise.resolve(result).then(noop, noop);
      }
    } catch {
      // A host that went away must not break the call.
    }
    return undefined;
  }

  #track(pending: Promise<void>): void {
    const settled = pending.then(noop, noop);
    this.#tail = settled;
    void settled.then(() => {
      // Pace from when an async send completed (the transport has the notice), not from when it
      // started: a busy event loop that delays one delivery must not let the next one follow it
      // closer than intervalMs at the host.
      this.#lastSentAt = this.#now();
      if (this.#tail === settled) this.#tail = undefined;
    });
  }

  async #drain(): Promise<void> {
    while (this.#tail !== undefined) await this.#tail;
  }
}
