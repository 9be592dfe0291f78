/**
 * The retention rule for image jobs' PNGs (`[node] image_retention_hours`, docs/configuration.md):
 * once the node is done with a job — committed and, when it was the first submitter, published
 * (or the webhook given up on), or failed — its PNGs are deleted from the job store after the
 * retention time; `GET /v1/jobs/<ticket>/images/<k>.png` then answers 410 Gone. A job not yet
 * committed or published keeps them whatever its age: they are what it still has to deliver.
 *
 * bun:sqlite runs on the event loop's thread, so pruning goes in small transactions with a yield
 * between them: a backlog of thousands of jobs (first run after an upgrade) never holds the loop
 * for more than one batch. The database file does not shrink (no VACUUM on a live node); SQLite
 * reuses the freed pages for new images.
 */
import { sleep } from "../chain/backoff.ts";
import { log } from "../log/logger.ts";
import type { JobStore } from "./types.ts";

export interface ImageRetentionOptions {
  /** 0 = keep forever (the pruner does nothing). */
  retentionMs: number;
  now?: () => number;
  /** Between passes; default 60 s (a pass is cheap: an index of the jobs still holding PNGs). */
  intervalMs?: number;
  /** Jobs per transaction; default 32. */
  batch?: number;
}

export class ImagePruner {
  private readonly now: () => number;

  constructor(private readonly store: Pick<JobStore, "pruneImages">, private readonly opts: ImageRetentionOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** One pass: every job past the retention time, batch by batch; returns how many jobs were pruned. */
  async pruneOnce(signal?: AbortSignal): Promise<number> {
    if (this.opts.retentionMs <= 0) return 0;
    const batch = this.opts.batch ?? 32;
    let total = 0;
    while (!signal?.aborted) {
      const n = this.store.pruneImages(this.now() - this.opts.retentionMs, batch);
      total += n;
      if (n < batch) break;
      await new Promise((r) => setImmediate(r));
    }
    return total;
  }

  /** Until `signal`: a pass every interval. A store error (busy or full disk) is logged, never thrown. */
  async run(signal: AbortSignal): Promise<void> {
    if (this.opts.retentionMs <= 0) return;
    while (!signal.aborted) {
      try {
        const n = await this.pruneOnce(signal);
        if (n > 0) log.info(`image retention: deleted the PNGs of ${n} job${n === 1 ? "" : "s"} done more than ${formatHours(this.opts.retentionMs)} ago`);
      } catch (e) {
        log.error(`image retention: pruning stored PNGs failed: ${(e as Error).message}`);
      }
      await sleep(this.opts.intervalMs ?? 60_000, signal);
    }
  }
}

export function formatHours(ms: number): string {
  const h = ms / 3_600_000;
  return `${Number.isInteger(h) ? h : h.toFixed(2)} h`;
}
