/** Per-run state and the streaming-call helpers shared by the follower's subscribe and poll modes. */
import type { CheckpointBatch } from "../protocol/types.ts";

/** Page size of `ListCheckpoints` / `ListEvents` calls. */
export const PAGE = 50;

export type Handle = (batch: CheckpointBatch) => Promise<void>;

/** Per-run state: `last` is the highest checkpoint whose batch `handle` has persisted (or -1n). */
export interface Run {
  last: bigint | null;
  handle: Handle;
  signal: AbortSignal;
  lastProgressAt: number;
}

/** A page that ends "more to come" must move the watermark; otherwise asking again would spin. */
export function mustAdvance(before: Uint8Array | undefined, after: Uint8Array | undefined, method: string): void {
  if (!after || (before && before.length === after.length && before.every((b, i) => b === after[i]))) {
    throw new Error(`${method} returned a partial page without advancing its watermark`);
  }
}

/** Runs `fn` with a controller that also fires when `fn` leaves early, so no stream outlives its reader. */
export async function scoped<T>(parent: AbortSignal, fn: (ctl: AbortController) => Promise<T>): Promise<T> {
  const ctl = new AbortController();
  const onAbort = () => ctl.abort(parent.reason);
  parent.addEventListener("abort", onAbort, { once: true });
  try {
    return await fn(ctl);
  } finally {
    parent.removeEventListener("abort", onAbort);
    ctl.abort();
  }
}
