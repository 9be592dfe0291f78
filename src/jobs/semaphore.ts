/** A counting semaphore with FIFO waiters; bounds concurrent generations per model and overall. */
export class Semaphore {
  private waiters: (() => void)[] = [];
  constructor(private permits: number) {
    if (!Number.isInteger(permits) || permits < 1) throw new RangeError(`semaphore permits ${permits} must be a positive integer`);
  }

  get available(): number {
    return this.permits;
  }

  tryAcquire(): boolean {
    if (this.permits > 0) {
      this.permits--;
      return true;
    }
    return false;
  }

  async acquire(): Promise<void> {
    if (this.tryAcquire()) return;
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.permits++;
  }

  async with<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}

/** `wait(ms)` resolves on the next `notify()`, after `ms`, or on abort; waiters never accumulate. */
export class Wakeup {
  private readonly pending = new Set<() => void>();
  notify(): void {
    for (const r of [...this.pending]) r();
  }
  wait(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        signal?.removeEventListener("abort", done);
        this.pending.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      signal?.addEventListener("abort", done, { once: true });
      this.pending.add(done);
    });
  }
}
