/**
 * Exponential backoff with jitter for reconnecting to a full node. "Equal jitter": the delay is
 * uniformly drawn from [base/2, base], base = min(max, initial × factor^attempt) — never zero, so a
 * failing endpoint can never turn the caller into a busy loop, and many nodes restarting together
 * spread out instead of retrying in lockstep.
 */

export interface BackoffOptions {
  /** First delay's upper bound, ms (default 250). */
  initialMs?: number;
  /** Cap on any delay, ms (default 30 000). */
  maxMs?: number;
  /** Growth per failed attempt (default 2). */
  factor?: number;
  /** Source of randomness in [0, 1) (tests pass a fixed one). */
  random?: () => number;
}

export class Backoff {
  private attempt = 0;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly factor: number;
  private readonly random: () => number;

  constructor(opts: BackoffOptions = {}) {
    this.initialMs = opts.initialMs ?? 250;
    this.maxMs = opts.maxMs ?? 30_000;
    this.factor = opts.factor ?? 2;
    this.random = opts.random ?? Math.random;
    if (!(this.initialMs > 0) || !(this.maxMs >= this.initialMs) || !(this.factor >= 1)) {
      throw new RangeError(`backoff: need initialMs > 0, maxMs >= initialMs, factor >= 1 (got ${this.initialMs}, ${this.maxMs}, ${this.factor})`);
    }
  }

  /** Failed attempts since the last reset. */
  get failures(): number {
    return this.attempt;
  }

  /** The next delay in ms; each call counts one more failure. */
  next(): number {
    const delay = backoffDelay(this.attempt, { initialMs: this.initialMs, maxMs: this.maxMs, factor: this.factor, random: this.random });
    this.attempt += 1;
    return delay;
  }

  /** Call after a success: the next failure starts again from `initialMs`. */
  reset(): void {
    this.attempt = 0;
  }

  /** Sleeps for `next()` ms; resolves false (early) when `signal` aborts. */
  wait(signal?: AbortSignal): Promise<boolean> {
    return sleep(this.next(), signal);
  }
}

/** The delay after `attempt` earlier failures (0-based), for callers that keep the count elsewhere
 * (e.g. per job in the store). Same equal-jitter rule as `Backoff.next()`. */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}): number {
  const initialMs = opts.initialMs ?? 250;
  const maxMs = opts.maxMs ?? 30_000;
  const base = Math.min(maxMs, initialMs * (opts.factor ?? 2) ** attempt);
  return base / 2 + (base / 2) * (opts.random ?? Math.random)();
}

/** Abort-aware sleep: true after `ms`, false as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
