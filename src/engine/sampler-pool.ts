/**
 * Samples a decode step's rows on two threads. With top-k/top-p over a 32000-token vocabulary a
 * row's sampler costs ≈ 0.3 ms, almost all of it the exp pass over every id (sampler.ts), so eight
 * rows spent ≈ 2.4 ms of one thread after each ONNX Runtime call while the other core idled
 * (docs/performance.md, "Bandwidth-bound model"). Here a worker thread (sampler-worker.ts) runs
 * SamplePrep.prepare — every step but the PRNG draw, the same code on the same values — for half of
 * the rows while the loop's thread samples the other half; each row's own Sampler then draws from
 * what the worker left in shared memory, so every pick is the one the loop's thread would have made
 * (test/engine/sampler-pool.test.ts). The worker is a convenience, never a dependency: until it
 * reports running, or if it fails, every row is sampled on the loop's thread.
 * When: only beside a session with one intra-op thread (the engine's default for small models,
 * `--threads 1`). Measured on the 2-core machine (random Llama 512×8, vocab 32000, 8 jobs, 6
 * alternating rounds, load ≈ 1.2): at one ONNX Runtime thread the worker raised aggregate tok/s
 * 588 → 628 (q4) and 391 → 415 (f32); beside ONNX Runtime's two-thread pool, whose second thread
 * spins on the other core after each run, it gave 804 → 817 (q4) and 640 → 585 (f32): no gain.
 */
import { Worker } from "node:worker_threads";
import type { DecodeRow } from "./decode-row.ts";
import { engineLog } from "./log.ts";
import { POOL_PARAMS, POOL_WINDOW, poolBytes, poolViews, type PoolViews } from "./sampler-pool-layout.ts";
import type { LogitsRow, SampleScratch } from "./sampler.ts";

/** Rows a step must sample (beyond an argmax) before half of them go to the worker. */
export const POOL_MIN_ROWS = 4;
/**
 * Smallest vocabulary worth a hand-over: copying a row's logits and waking the worker cost tens
 * of µs, more than a small vocabulary's whole sampler (stories260K's 512 ids: ≈ 5 µs a row).
 */
export const POOL_MIN_VOCAB = 8192;
/** How long the loop waits for the worker's half before sampling it itself (a stuck worker). */
const WAIT_MS = 2000;

/** What a row's Sampler draws from when its preparation ran elsewhere (DecodeRow.accept). */
export interface Prepared {
  kind: number;
  count: number;
  scratch: Pick<SampleScratch, "x" | "candIds" | "candP">;
}

/** Whether a row's sampler does more than an argmax (temperature > 0, or a repeat penalty). */
function heavy(r: DecodeRow): boolean {
  const p = r.req.params;
  return p.temperature > 0 || (p.repeatPenalty !== 1 && p.repeatLastN > 0);
}

/**
 * The worker's module: next to this file when running from source; in the compiled binary, where
 * build.ts adds it as a second entry point, under its path from src/ (the entry points' common root).
 */
function workerEntry(): string | URL {
  return Bun.isStandaloneExecutable ? "./engine/sampler-worker.ts" : new URL("./sampler-worker.ts", import.meta.url);
}

export class SamplerPool {
  private readonly views: PoolViews;
  private worker: Worker | null;
  private gen = 0;
  /** Rows whose preparation ran on the worker so far. */
  offloaded = 0;

  /** A pool for up to `rows` offloaded rows of `vocab` logits each. */
  constructor(private readonly rows: number, readonly vocab: number) {
    const sab = new SharedArrayBuffer(poolBytes(rows, vocab));
    this.views = poolViews({ sab, rows, vocab });
    let w: Worker | null = null;
    try {
      // node:worker_threads, not the global Worker: transformers.js replaces that global with
      // another class when it loads (measured in Bun), and this must work either way.
      w = new Worker(workerEntry(), { workerData: { sab, rows, vocab } });
      w.on("error", (e) => this.fail(`sampling worker failed: ${(e as Error)?.message ?? e}`));
      w.unref();
    } catch (e) {
      engineLog.debug(`sampling on one thread: ${(e as Error)?.message ?? e}`);
      w = null;
    }
    this.worker = w;
  }

  private get ready(): boolean {
    return this.worker !== null && Atomics.load(this.views.ctl, 3) === 1;
  }

  private fail(why: string): void {
    if (!this.worker) return;
    engineLog.warn(`${why}; sampling on the decode loop's thread from now on`);
    void this.worker.terminate();
    this.worker = null;
  }

  /**
   * `accept` for every row of a step (rows that must not run on already filtered out), in this
   * order: rows sampled here first, then those prepared on the worker. Returns, per row, what
   * DecodeRow.accept returned.
   */
  acceptAll(rows: readonly DecodeRow[], logitsOf: (i: number) => LogitsRow): boolean[] {
    const out = new Array<boolean>(rows.length);
    const offload: number[] = [];
    if (this.ready) {
      const cand = rows.flatMap((r, i) => (heavy(r) && logitsOf(i).length === this.vocab && this.windowOf(r) <= POOL_WINDOW ? [i] : []));
      if (cand.length >= POOL_MIN_ROWS) offload.push(...cand.slice(cand.length - Math.min(this.rows, cand.length >> 1)));
    }
    if (offload.length) this.post(rows, offload, logitsOf);
    const away = new Set(offload);
    rows.forEach((r, i) => {
      if (!away.has(i)) out[i] = r.accept(logitsOf(i));
    });
    if (!offload.length) return out;
    const done = this.await();
    if (done) this.offloaded += offload.length;
    offload.forEach((i, k) => {
      const v = this.views;
      out[i] = done ? rows[i]!.accept(logitsOf(i), { kind: v.results[2 * k]!, count: v.results[2 * k + 1]!, scratch: v.scratch[k]! }) : rows[i]!.accept(logitsOf(i));
    });
    return out;
  }

  /** Tokens the penalty window reads (0 without a penalty). */
  private windowOf(r: DecodeRow): number {
    const p = r.req.params;
    return p.repeatPenalty === 1 || p.repeatLastN === 0 ? 0 : Math.min(p.repeatLastN, r.tokens.length);
  }

  private post(rows: readonly DecodeRow[], offload: number[], logitsOf: (i: number) => LogitsRow): void {
    const v = this.views;
    offload.forEach((i, k) => {
      const r = rows[i]!;
      const p = r.req.params;
      v.params.set([p.temperature, p.topK, p.topP, p.repeatPenalty, p.repeatLastN], k * POOL_PARAMS);
      const wl = this.windowOf(r);
      const w0 = k * (POOL_WINDOW + 1);
      v.windows[w0] = wl;
      for (let j = 0; j < wl; j++) v.windows[w0 + 1 + j] = r.tokens[r.tokens.length - wl + j]!;
      v.logits.set(logitsOf(i) as ArrayLike<number>, k * this.vocab);
    });
    Atomics.store(v.ctl, 1, offload.length);
    Atomics.store(v.ctl, 0, ++this.gen);
    Atomics.notify(v.ctl, 0);
  }

  /** Whether the worker runs (it starts asynchronously; until then every row is sampled here). */
  get running(): boolean {
    return this.ready;
  }

  /** Waits for the worker's half; false (and the worker dropped) when it does not answer in time. */
  private await(): boolean {
    const ctl = this.views.ctl;
    const t0 = performance.now();
    for (;;) {
      const seen = Atomics.load(ctl, 2);
      if (seen === this.gen) return true;
      const left = WAIT_MS - (performance.now() - t0);
      if (left <= 0 || !this.worker) {
        this.fail(`sampling worker did not answer within ${WAIT_MS} ms`);
        return false;
      }
      Atomics.wait(ctl, 2, seen, left);
    }
  }

  /** Stops the worker (the engine is unloading). */
  close(): void {
    if (!this.worker) return;
    Atomics.store(this.views.ctl, 1, -1);
    Atomics.store(this.views.ctl, 0, ++this.gen);
    Atomics.notify(this.views.ctl, 0);
    void this.worker.terminate();
    this.worker = null;
  }
}
