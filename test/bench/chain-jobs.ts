/**
 * What the chain benchmarks (node.bench.ts, remote.bench.ts) share: a percentile over latencies,
 * the committed job of a ticket, and a bounded poll. Benchmarks only, not product code.
 */
import type { JobRecord } from "../../src/jobs/types.ts";

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** The ticket's job once it is committed, else undefined. */
export function committedJob(store: { byTicket(t: string): JobRecord[] }, ticket: string): JobRecord | undefined {
  const j = store.byTicket(ticket)[0];
  return j && j.state === "committed" ? j : undefined;
}

/** Polls `fn` every millisecond until it returns a value; throws after `ms`. */
export async function pollUntil<T>(fn: () => T | undefined, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error("timed out");
    await Bun.sleep(1);
  }
}
