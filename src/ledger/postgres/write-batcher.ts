/**
 * Group commit for the PostgreSQL ledger's `record()`: calls that finish while earlier rows are
 * being written wait for the next write, and go to the database together, as one statement (one
 * transaction, one round trip, one flush of the WAL for all of them). A commit that must reach the
 * disk costs the same for one row as for fifty: this is what lets instances record more calls per
 * second than the disk does flushes.
 *
 * Nothing waits on a timer: a write starts on the next turn of the event loop (setImmediate) when
 * fewer than `maxInFlight` are running, so a lone call is written at once, and calls recorded in
 * the same turn (those a finished write just answered, whose callers record their next call
 * straight away) go together. Otherwise batches form while writes are running, from the calls that
 * arrive meanwhile. Each caller's promise settles when the write holding its item has committed
 * (or failed), never before.
 *
 * A batch the database refuses is tried again one item at a time (when `splitOnError` says the
 * error may be one item's fault), so one bad row fails only its own call.
 */

interface Waiting<T, R> {
  item: T;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

export interface WriteBatcherOptions {
  /** Writes running at once; more calls wait for one to finish and go in the next batch. */
  maxInFlight: number;
  /** Items in one write at the most. */
  maxItems: number;
  /** True when a failed batch should be retried item by item (the error may be one item's). */
  splitOnError: (error: unknown) => boolean;
}

export class WriteBatcher<T, R> {
  private readonly queue: Array<Waiting<T, R>> = [];
  private inFlight = 0;
  private pumpScheduled = false;
  private idle: Array<() => void> = [];

  /** `write` writes the items in one transaction and returns one result per item, in order. */
  constructor(
    private readonly write: (items: T[]) => Promise<R[]>,
    private readonly options: WriteBatcherOptions,
  ) {}

  /** Queues `item`; resolves with its result once the write that holds it has committed. */
  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedulePump();
    });
  }

  /** Resolves once every item added so far has been written (or has failed). */
  async drain(): Promise<void> {
    while (this.inFlight > 0 || this.queue.length > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.options.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.options.maxItems);
      this.inFlight++;
      void this.run(batch).finally(() => {
        this.inFlight--;
        this.schedulePump();
        if (this.inFlight === 0 && this.queue.length === 0) {
          const waiting = this.idle;
          this.idle = [];
          for (const resolve of waiting) resolve();
        }
      });
    }
  }

  private async run(batch: Array<Waiting<T, R>>): Promise<void> {
    let results: R[];
    try {
      results = await this.write(batch.map((waiting) => waiting.item));
    } catch (error) {
      if (batch.length > 1 && this.options.splitOnError(error)) {
        for (const waiting of batch) await this.run([waiting]);
        return;
      }
      for (const waiting of batch) waiting.reject(error);
      return;
    }
    batch.forEach((waiting, i) => waiting.resolve(results[i]!));
  }
}
