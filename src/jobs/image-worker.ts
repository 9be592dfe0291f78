/**
 * One `Text2ImagePromptEvent` job on an image engine: chain params → request (bad input fails the
 * job with its reason), generation, the commitment over the committed image's raw pixels (spec
 * §8.1/§8.2, commitment/image.ts), and the PNGs stored with the `generated` state in one
 * transaction, so a crash either leaves the job to run again or leaves it fully generated.
 */
import { toHex } from "@mysten/bcs";
import { commitImages } from "../commitment/image.ts";
import { ImageAbortedError } from "../engine/image/engine.ts";
import { log } from "../log/logger.ts";
import type { NodeMetrics } from "../log/metrics.ts";
import type { ImageSlot } from "./scheduler.ts";
import { toImageRequest } from "./image-params.ts";
import type { JobRecord, JobStore } from "./types.ts";

export type ImageJobOutcome = "generated" | "failed" | "released";

export interface ImageJobContext {
  store: JobStore;
  metrics?: NodeMetrics;
  timeoutMs: number;
  /** Aborted with reason "timeout" or "shutdown" by the scheduler. */
  signal: AbortSignal;
}

/** CLIP reads 77 tokens; a longer prompt is truncated (never refused), and the job record says so. */
function truncationNote(t: { prompt: number; uncond: number }): string | undefined {
  const parts = [];
  if (t.prompt > 0) parts.push(`prompt truncated to CLIP's 77 tokens (${t.prompt} token(s) dropped)`);
  if (t.uncond > 0) parts.push(`uncond_prompt truncated to CLIP's 77 tokens (${t.uncond} token(s) dropped)`);
  return parts.length ? parts.join("; ") : undefined;
}

export async function serveImageJob(job: JobRecord, slot: ImageSlot, ctx: ImageJobContext): Promise<ImageJobOutcome> {
  const { store, metrics: m, signal } = ctx;
  if (job.job.kind !== "image") {
    store.markFailed(job.id, `model ${job.model} is an image model; a text prompt cannot run on it`);
    return "failed";
  }
  const v = toImageRequest(job.job.params, slot.engine.info);
  if (!v.ok) {
    store.markFailed(job.id, v.reason);
    m?.jobOutcomes.inc({ model: job.model, outcome: "invalid" });
    log.warn(`ticket ${job.ticketId}: invalid image params: ${v.reason}`);
    return "failed";
  }
  const started = performance.now();
  try {
    const res = await slot.engine.generate(v.request, {
      signal,
      onStep: (done, total) => log.debug(`ticket ${job.ticketId}: step ${done}/${total}`),
    });
    const ms = performance.now() - started;
    const c = commitImages(res.images, job.numLeaves, job.leafIndex);
    const note = truncationNote(res.truncated);
    if (note) log.warn(`ticket ${job.ticketId}: ${note}`);
    store.markGenerated(job.id, {
      text: null,
      tokens: null,
      // The contract documents output_tokens_count as the number of images for image prompts
      // (spec §8.3); no input tokens are counted. All nodes of an echelon use this rule.
      inputTokens: 0,
      outputTokens: res.images.length,
      rootHex: toHex(c.root),
      leafHex: toHex(c.leaf),
      generationMs: ms,
      images: res.images.map((img) => ({ width: img.width, height: img.height, png: img.png })),
      ...(note ? { note } : {}),
    });
    m?.generation.observe({ model: job.model }, ms / 1000);
    m?.jobOutcomes.inc({ model: job.model, outcome: "generated" });
    log.info(`ticket ${job.ticketId}: generated ${res.images.length} image(s) ${v.request.width}x${v.request.height}, ${res.steps} steps in ${ms.toFixed(0)} ms`);
    return "generated";
  } catch (e) {
    if (signal.reason === "shutdown") {
      store.release(job.id);
      return "released";
    }
    const timedOut = signal.reason === "timeout" && e instanceof ImageAbortedError;
    const reason = timedOut ? `generation timed out after ${ctx.timeoutMs} ms (request_timeout)` : `model error: ${(e as Error).message}`;
    store.markFailed(job.id, reason);
    m?.jobOutcomes.inc({ model: job.model, outcome: timedOut ? "timeout" : "error" });
    log.error(`ticket ${job.ticketId}: ${reason}`);
    return "failed";
  }
}
