/**
 * Progress of a `chat_many` call as one stream of notices: which models have answered, and the
 * tail of the fastest running answer (the longest so far). Each model's own relay (with its
 * heartbeat) feeds it; their retry and heartbeat lines pass through, prefixed with the model
 * unless they name it. Lines that arrive within one progress interval go out as one notice: the
 * silent models' heartbeats fire together, and a host should get one beat, not one per model.
 * There is no `_meta.delta`: several answers interleaved rebuild nothing.
 */
import { answerTail } from './answer-tail.js';
import type { ProgressNotice } from './progress-relay.js';

const TAIL_CHARS = 160;

export class ManyProgress {
  private readonly texts: string[];
  private readonly state: Array<'running' | 'answered' | 'failed'>;
  private progress = 0;
  private lastSent = Number.NEGATIVE_INFINITY;
  private closed = false;
  private readonly pending = new Set<Promise<void>>();
  /** Announcements gathered for the next notice, and the timer that sends them. */
  private lines: Array<{ index: number; line: string }> = [];
  private gather: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly models: string[],
    private readonly send: (notice: ProgressNotice) => void | Promise<void>,
    private readonly intervalMs: number,
  ) {
    this.texts = models.map(() => '');
    this.state = models.map(() => 'running');
  }

  /** The progress hook of model `index`'s call. */
  forModel(index: number): (notice: ProgressNotice) => void {
    return (notice) => {
      if (notice.delta !== undefined) {
        this.texts[index] += notice.delta;
        // Text notices are coalesced; a model finishing or an announcement is always shown.
        if (performance.now() - this.lastSent < this.intervalMs) return;
        this.emit();
      } else {
        // Retry, fallback and heartbeat lines mostly name their model already: not twice.
        const model = this.models[index]!;
        this.lines.push({ index, line: notice.message.includes(model) ? notice.message : `${model}: ${notice.message}` });
        if (this.gather === undefined) {
          this.gather = setTimeout(() => this.sendLines(), this.intervalMs);
          this.gather.unref?.();
        }
      }
    };
  }

  settle(index: number, answered: boolean): void {
    this.state[index] = answered ? 'answered' : 'failed';
    this.emit();
  }

  /** Waits for the notices on their way; nothing is sent afterwards. */
  async close(): Promise<void> {
    this.sendLines();
    this.closed = true;
    await Promise.all([...this.pending]);
  }

  private sendLines(): void {
    clearTimeout(this.gather);
    this.gather = undefined;
    // A line of a model that has ended since (a beat just before its deadline) is stale: dropped.
    const lines = this.lines.splice(0).filter((l) => this.state[l.index] === 'running');
    if (lines.length > 0) this.emit(lines.map((l) => l.line).join('; '));
  }

  private emit(announcement?: string): void {
    if (this.closed) return;
    const answered = this.models.filter((_, i) => this.state[i] === 'answered');
    const failed = this.models.filter((_, i) => this.state[i] === 'failed');
    let message = `${answered.length}/${this.models.length} answered${answered.length > 0 ? ` (${answered.join(', ')})` : ''}`;
    if (failed.length > 0) message += `, failed: ${failed.join(', ')}`;
    let fastest = -1;
    this.state.forEach((s, i) => {
      if (s === 'running' && this.texts[i]!.length > (fastest < 0 ? 0 : this.texts[fastest]!.length)) fastest = i;
    });
    if (announcement !== undefined) message += `; ${announcement}`;
    else if (fastest >= 0) message += `; ${this.models[fastest]}: ${answerTail(this.texts[fastest]!, TAIL_CHARS)}`;
    this.lastSent = performance.now();
    const progress = ++this.progress;
    const sent = Promise.resolve()
      .then(() => this.send({ progress, message }))
      .catch(() => undefined);
    this.pending.add(sent);
    void sent.finally(() => this.pending.delete(sent));
  }
}
