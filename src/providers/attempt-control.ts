/**
 * One attempt's abort signal: aborted when the host cancels, or when the attempt has been silent
 * for `timeoutMs` (the timer restarts on every streamed event that carries progress, so a long
 * stream that keeps answering is not cut, but one that goes quiet, or only sends keep-alives, is).
 */
export class AttemptControl {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private timedOutFlag = false;
  private readonly onParentAbort = (): void => this.controller.abort();

  constructor(
    private readonly parent: AbortSignal | undefined,
    private readonly timeoutMs: number,
  ) {
    if (parent?.aborted) this.controller.abort();
    parent?.addEventListener('abort', this.onParentAbort, { once: true });
    this.touch();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The host cancelled the call. */
  get cancelled(): boolean {
    return this.parent?.aborted === true;
  }

  /** The attempt ran out of time (and the host did not cancel it). */
  get timedOut(): boolean {
    return this.timedOutFlag && !this.cancelled;
  }

  /** Restarts the silence timer: call on every piece of progress (never on a keep-alive). */
  touch(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.controller.signal.aborted) return;
    this.timer = setTimeout(() => {
      this.timedOutFlag = true;
      this.controller.abort();
    }, this.timeoutMs);
    this.timer.unref?.();
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.parent?.removeEventListener('abort', this.onParentAbort);
  }
}
