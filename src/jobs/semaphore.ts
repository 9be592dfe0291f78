/**
 * A counting semaphore with FIFO waiters; bounds concurrent generations per model and overall.
 * Waiters of `high` priority are served before `normal` ones (chain jobs before API requests on a
 * model's lock, so API traffic can delay a job by at most the generation already running); within
 * one priority, first come first served. A waiter whose `signal` aborts leaves the queue at once.
 */
export type Priority = "high" | "normal";

interface Waiter {
  resolve: () => void;
  reject: (e: unknown) => void;
}

export class Semaphore {
  private readonly waiters: Record<Priority, Waiter[]> = { high: [], normal: [] };
  constructor(private permits: number) {
    if (!Number.isInteger(permits) || permits < 1) throw new RangeError(`semaphore permits ${permits} must be a positive integer`);
  }

  get available(): number {
    return this.permits;
  }

  /** Callers waiting for a permit. */
  get waiting(): number {
    return this.waiters.high.length + this.waiters.normal.length;
  }

  tryAcquire(): boolean {
    if (this.permits > 0) {
      this.permits--;
      return true;
    }
    return false;
  }

  /** Rejects with the signal's reason when `signal` aborts before a permit is granted. */
  async acquire(priority: Priority = "normal", signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.waiting === 0 && this.tryAcquire()) return;
    const queue = this.waiters[priority];
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const i = queue.indexOf(w);
        if (i >= 0) queue.splice(i, 1);
        reject(signal!.reason);
      };
      const w: Waiter = {
        resolve: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
        reject,
      };
      queue.push(w);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  release(): void {
    const next = this.waiters.high.shift() ?? this.waiters.normal.shift();
    if (next) next.resolve();
    else this.permits++;
  }

  async with<T>(fn: () => Promise<T>, priority: Priority = "normal", signal?: AbortSignal): Promise<T> {
    await this.acquire(priority, signal);
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
