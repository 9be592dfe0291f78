/**
 * The upstreams of one remote model: requests go to the least-loaded usable upstream (fewest in
 * flight, under its concurrency cap). Each upstream has a circuit breaker: consecutive failures
 * open it (no requests) for a cooldown that doubles up to a ceiling; after the cooldown one request
 * may try it again (a failure re-opens it at once, a success closes it). The health check takes a
 * failing upstream out and brings it back as soon as it answers again.
 */
import type { Upstream } from "./client.ts";

export interface BreakerOptions {
  /** Consecutive failures that open the breaker. */
  threshold: number;
  /** First cooldown; doubles on every re-open up to maxOpenMs. */
  openMs: number;
  maxOpenMs: number;
}

export class PooledUpstream implements Upstream {
  inFlight = 0;
  failures = 0;
  /** performance.now() until which no request is sent; 0 = closed. */
  openUntil = 0;
  cooldownMs: number;
  lastError: string | undefined;
  constructor(
    readonly base: string,
    readonly display: string,
    private readonly b: BreakerOptions,
  ) {
    this.cooldownMs = b.openMs;
  }

  usable(now: number): boolean {
    return now >= this.openUntil;
  }

  open(now: number, why: string, ms = this.cooldownMs): void {
    this.openUntil = now + ms;
    this.lastError = why;
    this.cooldownMs = Math.min(this.cooldownMs * 2, this.b.maxOpenMs);
  }

  close(): void {
    this.openUntil = 0;
    this.failures = 0;
    this.cooldownMs = this.b.openMs;
  }
}

export type Outcome = "ok" | "failed" | "neutral";

export class UpstreamPool {
  readonly upstreams: PooledUpstream[];
  private waiters: (() => void)[] = [];
  private rr = 0;

  constructor(
    bases: { base: string; display: string }[],
    readonly cap: number,
    private readonly b: BreakerOptions,
    private readonly onChange?: (u: PooledUpstream, state: "out" | "back", why: string) => void,
  ) {
    this.upstreams = bases.map((x) => new PooledUpstream(x.base, x.display, b));
  }

  /**
   * The upstream for the next attempt, counted in flight until `release`. Prefers upstreams not in
   * `avoid` (those that already failed this request). Waits while every usable one is at its cap;
   * returns null when none is usable (all breakers open).
   */
  async acquire(avoid: ReadonlySet<PooledUpstream>, signal?: AbortSignal): Promise<PooledUpstream | null> {
    for (;;) {
      if (signal?.aborted) return null;
      const now = performance.now();
      const usable = this.upstreams.filter((u) => u.usable(now));
      if (usable.length === 0) return null;
      const fresh = usable.filter((u) => !avoid.has(u));
      const pool = (fresh.length > 0 ? fresh : usable).filter((u) => u.inFlight < this.cap);
      if (pool.length > 0) {
        const least = Math.min(...pool.map((u) => u.inFlight));
        const ties = pool.filter((u) => u.inFlight === least);
        const u = ties[this.rr++ % ties.length]!;
        u.inFlight++;
        return u;
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          signal?.removeEventListener("abort", done);
          resolve();
        };
        // Re-check periodically too: a breaker that re-closes by time wakes nobody.
        const t = setTimeout(done, 250);
        signal?.addEventListener("abort", done, { once: true });
        this.waiters.push(done);
      });
    }
  }

  release(u: PooledUpstream, outcome: Outcome, why = ""): void {
    u.inFlight--;
    const now = performance.now();
    if (outcome === "ok") {
      if (u.failures > 0 || u.openUntil > 0) {
        const wasOut = u.openUntil > 0;
        u.close();
        if (wasOut) this.onChange?.(u, "back", "request succeeded");
      }
    } else if (outcome === "failed") {
      u.failures++;
      if (u.failures >= this.b.threshold) {
        const wasOut = u.openUntil > 0;
        u.open(now, why);
        if (!wasOut) this.onChange?.(u, "out", why);
      }
    }
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Health-check verdict: null = healthy. */
  health(u: PooledUpstream, problem: string | null, intervalMs: number): void {
    const now = performance.now();
    if (problem === null) {
      if (u.openUntil > 0) {
        u.close();
        this.onChange?.(u, "back", "health check passed");
      }
      return;
    }
    const wasOut = u.openUntil > now;
    // Out until a later check passes: each failing check extends this past the next one (its
    // period plus the check's own time limit); a cooldown already longer stays.
    u.failures = Math.max(u.failures, this.b.threshold);
    u.openUntil = Math.max(u.openUntil, now + intervalMs + 5000);
    u.lastError = problem;
    if (!wasOut) this.onChange?.(u, "out", problem);
  }
}
