/**
 * One API image generation (OpenAI route and JSON-RPC alike): the model lock at normal priority,
 * so a waiting chain job still goes first (jobs/semaphore.ts), then the engine. The caller's
 * signal (client gone) and request_timeout both end it: while waiting it leaves the lock's queue;
 * while generating the engine stops after the current UNet step, so the model is free for the
 * next request without finishing an image nobody will read.
 */
import type { ImageOutput, ImageRequest } from "../../engine/types.ts";
import type { ImageSlot } from "../../jobs/scheduler.ts";

/** The node's slot for an image model: the same lock as its chain-job worker. */
export type { ImageSlot };

/** Ended before an image was made: `timeout` (request_timeout passed) or `client` (it left). */
export class ImageAborted extends Error {
  override name = "ImageAborted";
  constructor(readonly why: "timeout" | "client", timeoutMs: number) {
    super(why === "timeout" ? `image generation timed out after ${timeoutMs} ms (request_timeout)` : "image generation aborted: client disconnected");
  }
}

export interface ImageRun {
  output: ImageOutput;
  /** Time holding the model (the lock), ms. */
  busyMs: number;
}

export async function runImage(slot: ImageSlot, request: ImageRequest, client: AbortSignal, timeoutMs: number, onStep?: (done: number, total: number) => void): Promise<ImageRun> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = AbortSignal.any([client, timeout]);
  const ended = () => new ImageAborted(client.aborted ? "client" : "timeout", timeoutMs);
  try {
    await slot.lock.acquire("normal", signal);
  } catch {
    throw ended();
  }
  const t0 = performance.now();
  try {
    const output = await slot.engine.generate(request, { signal, onStep });
    return { output, busyMs: performance.now() - t0 };
  } catch (e) {
    if (signal.aborted) throw ended();
    throw e;
  } finally {
    slot.lock.release();
  }
}
