/**
 * Per-model workers that pull `received` jobs from the store (SQLite is the queue, so memory stays
 * bounded), generate, commit to the output (spec §8.2) and mark them `generated`. One model's
 * failure never touches another's jobs: every error is caught per job (spec §13 #8). Text models
 * run here; image models run through image-worker.ts under the same claims, limits and timeouts.
 */
import type { ImageEngine, TextEngine } from "../engine/types.ts";
import { toHex } from "@mysten/bcs";
import { commitText } from "../commitment/merkle.ts";
import { log } from "../log/logger.ts";
import type { NodeMetrics } from "../log/metrics.ts";
import type { Text2TextPromptParams } from "../protocol/types.ts";
import { serveImageJob } from "./image-worker.ts";
import { toGenerateRequest } from "./params.ts";
import type { OutputStreams, StreamEnd } from "./output-streams.ts";
import { Semaphore, Wakeup } from "./semaphore.ts";
import type { JobRecord, JobStore } from "./types.ts";

/** An engine plus the lock that serialises its use (an ONNX session is single-stream); the
 * JSON-RPC `generate` method and the OpenAI routes take the same lock (at normal priority, below
 * the workers' high priority) so direct requests and jobs never overlap. */
export interface ModelSlot {
  engine: TextEngine;
  lock: Semaphore;
  /** Worker loops for this model (default 1); a remote engine runs several generations at once. */
  workers?: number;
}

/** An image model (Stable Diffusion) and its lock: one image request at a time, shared with the
 * image APIs so they never overlap a job. */
export interface ImageSlot {
  engine: ImageEngine;
  lock: Semaphore;
}

export interface SchedulerOptions {
  /** Overall limit on concurrent generations (`max_concurrent_requests`). */
  maxConcurrent: number;
  /** Per-job generation timeout (`request_timeout`). */
  timeoutMs: number;
  /** Idle poll interval; `wake()` short-cuts it when new jobs land. */
  pollMs?: number;
  metrics?: NodeMetrics;
  /** Called after a job reaches `generated` (wakes the commitment submitter). */
  onGenerated?: (job: JobRecord) => void;
  /** Live output for prompts with `should_stream_output` (GET /v1/jobs/<ticket>/stream). */
  streams?: OutputStreams;
  /** Image models (Text2ImagePromptEvent jobs), one worker each. */
  images?: ReadonlyMap<string, ImageSlot>;
}

type AbortWhy = "timeout" | "shutdown";

export class Scheduler {
  private readonly wakeup = new Wakeup();
  private readonly overall: Semaphore;
  private readonly inFlight = new Map<number, AbortController>();
  private readonly loops: Promise<void>[] = [];
  private stopping = false;
  private readonly stopCtl = new AbortController();

  constructor(
    private readonly store: JobStore,
    private readonly models: ReadonlyMap<string, ModelSlot>,
    private readonly opts: SchedulerOptions,
  ) {
    this.overall = new Semaphore(Math.max(1, opts.maxConcurrent));
  }

  start(): void {
    for (const [model, slot] of this.models) {
      for (let i = 0; i < (slot.workers ?? 1); i++) this.loops.push(this.loop(model, slot.lock, (job) => this.runJob(job, slot)));
    }
    for (const [model, slot] of this.opts.images ?? []) this.loops.push(this.loop(model, slot.lock, (job) => this.runImageJob(job, slot)));
  }

  /** New jobs may be waiting. */
  wake(): void {
    this.wakeup.notify();
  }

  get running(): number {
    return this.inFlight.size;
  }

  /** Stops claiming; waits up to `graceMs` for in-flight jobs, then aborts them (they go back to `received`). */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    this.stopCtl.abort();
    this.wakeup.notify();
    const all = Promise.all(this.loops);
    let t: ReturnType<typeof setTimeout> | undefined;
    const timer = new Promise<"late">((r) => (t = setTimeout(() => r("late"), graceMs)));
    const outcome = await Promise.race([all.then(() => "ok" as const), timer]);
    clearTimeout(t);
    if (outcome === "late") {
      log.warn(`shutdown: aborting ${this.inFlight.size} generation(s) still running after ${graceMs} ms; they resume on restart`);
      for (const c of this.inFlight.values()) c.abort("shutdown" satisfies AbortWhy);
      await all;
    }
  }

  private async loop(model: string, lock: Semaphore, run: (job: JobRecord) => Promise<void>): Promise<void> {
    const poll = this.opts.pollMs ?? 250;
    while (!this.stopping) {
      let claimed = false;
      // Model lock first: it is shared with JSON-RPC generations, and waiting for it while holding
      // a global permit would leave that permit idle and starve the other models' workers. High
      // priority: a chain job goes before every queued API request (they can wait, it has a deadline).
      await lock.acquire("high");
      try {
        await this.overall.acquire();
        try {
          if (this.stopping) break;
          const job = this.store.claimNext(model);
          if (job) {
            claimed = true;
            await run(job);
          }
        } finally {
          this.overall.release();
        }
      } catch (e) {
        // A store error (disk full, locked) must not kill the worker; it retries after the poll delay.
        log.error(`worker ${model}: ${(e as Error).message}`);
      } finally {
        lock.release();
      }
      if (!claimed) await this.wakeup.wait(poll, this.stopCtl.signal);
    }
  }

  private async runJob(job: JobRecord, slot: ModelSlot): Promise<void> {
    const m = this.opts.metrics;
    if (job.job.kind !== "text") {
      this.store.markFailed(job.id, `model ${job.model} is a text model; an image prompt cannot run on it`);
      return;
    }
    const ctl = new AbortController();
    this.inFlight.set(job.id, ctl);
    const timer = setTimeout(() => ctl.abort("timeout" satisfies AbortWhy), this.opts.timeoutMs);
    const started = performance.now();
    const params: Text2TextPromptParams = job.job.params;
    // Streaming is a view for subscribers; the output below is stored and committed exactly as without it.
    const sink = params.shouldStreamOutput ? (this.opts.streams?.open(job.ticketId) ?? null) : null;
    let streamEnd: StreamEnd = { ok: false, reason: "generation failed" };
    try {
      const v = toGenerateRequest(params, ctl.signal);
      if (!v.ok) {
        streamEnd = { ok: false, reason: `invalid params: ${v.reason}` };
        this.store.markFailed(job.id, v.reason);
        m?.jobOutcomes.inc({ model: job.model, outcome: "invalid" });
        log.warn(`ticket ${job.ticketId}: invalid params: ${v.reason}`);
        return;
      }
      const res = await slot.engine.generate(v.request, sink ? (ch) => sink.push(ch.text) : undefined);
      const ms = performance.now() - started;
      if (ctl.signal.aborted || res.finishReason === "aborted") {
        if (ctl.signal.reason === "shutdown") {
          streamEnd = { ok: false, reason: "interrupted by shutdown; generated again after restart" };
          this.store.release(job.id);
          return;
        }
        streamEnd = { ok: false, reason: `generation timed out after ${this.opts.timeoutMs} ms (request_timeout)` };
        this.store.markFailed(job.id, `generation timed out after ${this.opts.timeoutMs} ms (request_timeout)`);
        m?.jobOutcomes.inc({ model: job.model, outcome: "timeout" });
        return;
      }
      const c = commitText(res.text, job.numLeaves, job.leafIndex);
      this.store.markGenerated(job.id, {
        text: res.text,
        tokens: params.prependOutputWithInput ? res.tokens : null,
        inputTokens: res.inputTokens,
        outputTokens: res.outputTokens,
        rootHex: toHex(c.root),
        leafHex: toHex(c.leaf),
        generationMs: ms,
      });
      streamEnd = { ok: true, outputTokens: res.outputTokens };
      m?.tokens.inc({ model: job.model, source: "job" }, res.outputTokens);
      m?.generation.observe({ model: job.model }, ms / 1000);
      m?.jobOutcomes.inc({ model: job.model, outcome: "generated" });
      log.debug(`ticket ${job.ticketId}: generated ${res.outputTokens} tokens in ${ms.toFixed(0)} ms`);
      const done = this.store.get(job.id);
      if (done) this.opts.onGenerated?.(done);
    } catch (e) {
      if (ctl.signal.reason === "shutdown") {
        this.store.release(job.id);
        return;
      }
      const reason = ctl.signal.reason === "timeout" ? `generation timed out after ${this.opts.timeoutMs} ms (request_timeout)` : `model error: ${(e as Error).message}`;
      streamEnd = { ok: false, reason };
      this.store.markFailed(job.id, reason);
      m?.jobOutcomes.inc({ model: job.model, outcome: "error" });
      log.error(`ticket ${job.ticketId}: ${reason}`);
    } finally {
      sink?.end(streamEnd);
      clearTimeout(timer);
      this.inFlight.delete(job.id);
    }
  }

  private async runImageJob(job: JobRecord, slot: ImageSlot): Promise<void> {
    const ctl = new AbortController();
    this.inFlight.set(job.id, ctl);
    const timer = setTimeout(() => ctl.abort("timeout" satisfies AbortWhy), this.opts.timeoutMs);
    try {
      const outcome = await serveImageJob(job, slot, { store: this.store, metrics: this.opts.metrics, timeoutMs: this.opts.timeoutMs, signal: ctl.signal });
      const done = outcome === "generated" ? this.store.get(job.id) : null;
      if (done) this.opts.onGenerated?.(done);
    } finally {
      clearTimeout(timer);
      this.inFlight.delete(job.id);
    }
  }
}
