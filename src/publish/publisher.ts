/**
 * Publishes outputs of tickets where this node was the first submitter (spec §8.5): the output is
 * always kept in the store (JSON-RPC `job`, HTTP `GET /v1/jobs/<ticket>`); with `webhook_url` set it
 * is also POSTed as `{"metadata", "data", "output_destination"}` (image jobs add `images`). Best effort: a webhook that keeps
 * failing is recorded on the job, never retried forever, and never affects the commitment.
 */
import { Backoff, sleep } from "../chain/backoff.ts";
import { log, redactText } from "../log/logger.ts";
import type { NodeMetrics } from "../log/metrics.ts";
import { Wakeup } from "../jobs/semaphore.ts";
import type { JobRecord, JobStore } from "../jobs/types.ts";
import { outputMetadata } from "./metadata.ts";

export interface PublisherOptions {
  webhookUrl: string | undefined;
  /** Signer address reported as `node_public_key`. */
  nodeAddress: string;
  attempts?: number;
  backoffMs?: number;
  timeoutMs?: number;
  metrics?: NodeMetrics;
}

/** Text: `data` is the output. Image (`output_type` "Image"): `data` is the committed image (the
 * last of `num_samples`, spec §8.1) as base64 PNG, and `images` all of them in order, so a
 * receiver can check the root over the decoded pixels. */
function webhookBody(job: JobRecord, nodeAddress: string, store: JobStore): unknown {
  const metadata = outputMetadata(job, nodeAddress);
  if (job.job.kind === "image") {
    const images = store.images(job.id).map((i) => Buffer.from(i.png).toString("base64"));
    return { metadata, data: images.at(-1) ?? "", images, output_destination: metadata.output_destination };
  }
  return { metadata, data: job.outputText ?? "", output_destination: metadata.output_destination };
}

export class Publisher {
  private readonly wakeup = new Wakeup();
  constructor(private readonly store: JobStore, private readonly opts: PublisherOptions) {}

  wake(): void {
    this.wakeup.notify();
  }

  async run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff({ initialMs: 500, maxMs: 30_000 });
    while (!signal.aborted) {
      let jobs: JobRecord[];
      try {
        jobs = this.store.unpublished(16);
        for (const j of jobs) {
          if (signal.aborted) return;
          await this.publish(j, signal);
        }
        backoff.reset();
      } catch (e) {
        // A store error must not reject this un-awaited loop (Bun would exit): log, back off, go on.
        log.error(`publisher loop: ${(e as Error).message}`);
        await backoff.wait(signal);
        continue;
      }
      if (jobs.length === 0) await this.wakeup.wait(1000, signal);
    }
  }

  private async publish(job: JobRecord, signal: AbortSignal): Promise<void> {
    const url = this.opts.webhookUrl;
    if (!url) {
      this.store.markPublished(job.id, Date.now());
      return;
    }
    const attempts = this.opts.attempts ?? 4;
    const body = JSON.stringify(webhookBody(job, this.opts.nodeAddress, this.store));
    let last = "";
    for (let i = 0; i < attempts && !signal.aborted; i++) {
      try {
        const res = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body,
          signal: AbortSignal.any([signal, AbortSignal.timeout(this.opts.timeoutMs ?? 10_000)]),
        });
        if (res.ok) {
          this.store.markPublished(job.id, Date.now());
          this.opts.metrics?.webhook.inc({ outcome: "ok" });
          return;
        }
        last = `HTTP ${res.status}`;
      } catch (e) {
        last = redactText((e as Error).message); // may quote the URL; it is stored on the job too
      }
      this.opts.metrics?.webhook.inc({ outcome: "retry" });
      // Plain sleep, not the wakeup: a new job's wake() must not cut a webhook's backoff short.
      if (i + 1 < attempts) await sleep((this.opts.backoffMs ?? 500) * 2 ** i, signal);
    }
    if (signal.aborted) return; // unpublished rows are picked up again after restart
    this.store.markPublished(job.id, Date.now(), `webhook failed after ${attempts} attempts: ${last}`);
    this.opts.metrics?.webhook.inc({ outcome: "failed" });
    log.warn(`ticket ${job.ticketId}: output webhook failed after ${attempts} attempts: ${last}`);
  }
}
