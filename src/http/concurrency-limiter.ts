/** Caps the requests one principal has open at once; over the cap, the gateway answers 429. */
export class ConcurrencyLimiter {
  private readonly open = new Map<string, number>();

  constructor(private readonly maxPerKey: number) {}

  /** A slot for `key`, or undefined when it already has `maxPerKey`; release it exactly once (extra calls are ignored). */
  acquire(key: string): { release: () => void } | undefined {
    const count = this.open.get(key) ?? 0;
    if (count >= this.maxPerKey) return undefined;
    this.open.set(key, count + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        const left = (this.open.get(key) ?? 1) - 1;
        if (left <= 0) this.open.delete(key);
        else this.open.set(key, left);
      },
    };
  }
}
