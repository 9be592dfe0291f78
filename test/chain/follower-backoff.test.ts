import { describe, expect, test } from "bun:test";
import { Backoff, sleep } from "../../src/chain/backoff.ts";

describe("backoff", () => {
  test("grows exponentially within [base/2, base], capped, and resets", () => {
    const lo = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0 });
    const hi = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0.999999 });
    expect([1, 2, 3, 4, 5, 6].map(() => lo.next())).toEqual([50, 100, 200, 400, 500, 500]);
    const his = [1, 2, 3, 4, 5].map(() => Math.round(hi.next()));
    expect(his).toEqual([100, 200, 400, 800, 1000]);
    expect(lo.failures).toBe(6);
    lo.reset();
    expect(lo.next()).toBe(50);
  });

  test("jitter spreads retries and never reaches zero", () => {
    const b = new Backoff({ initialMs: 10 });
    const first = Array.from({ length: 200 }, () => {
      b.reset();
      return b.next();
    });
    expect(Math.min(...first)).toBeGreaterThanOrEqual(5);
    expect(Math.max(...first)).toBeLessThanOrEqual(10);
    expect(new Set(first.map((x) => x.toFixed(3))).size).toBeGreaterThan(100);
  });

  test("rejects nonsense settings with a clear message", () => {
    expect(() => new Backoff({ initialMs: 0 })).toThrow(/initialMs > 0/);
    expect(() => new Backoff({ initialMs: 10, maxMs: 5 })).toThrow(/maxMs >= initialMs/);
  });

  test("sleep and wait end early on abort", async () => {
    const ctl = new AbortController();
    // A 10-minute backoff: only an early return on abort can win the race against the hang guard;
    // `false` (not `true`) says the wait was cut short rather than served.
    const p = new Backoff({ initialMs: 600_000, maxMs: 600_000 }).wait(ctl.signal);
    queueMicrotask(() => ctl.abort());
    let timer: ReturnType<typeof setTimeout> | undefined;
    const guard = new Promise<string>((r) => (timer = setTimeout(() => r("still sleeping"), 60_000)));
    expect(await Promise.race([p, guard])).toBe(false);
    clearTimeout(timer);
    expect(await sleep(5)).toBe(true);
    expect(await sleep(5, AbortSignal.abort())).toBe(false);
  });
});
