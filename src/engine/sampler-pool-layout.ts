/**
 * Shared-memory layout between the decode loop and its sampling worker (sampler-pool.ts,
 * sampler-worker.ts): one SharedArrayBuffer holding, for up to `rows` rows, the request (sampling
 * parameters, penalty window, logits) and the result (SamplePrep's return value and count, and the
 * scratch arrays it filled, which the row's own Sampler then draws from).
 */
import type { SampleScratch } from "./sampler.ts";

/** Per row: temperature, topK, topP, repeatPenalty, repeatLastN. */
export const POOL_PARAMS = 5;
/** Longest penalty window a row may hand over (longer ones are sampled on the loop's thread). */
export const POOL_WINDOW = 256;

export interface PoolInit {
  sab: SharedArrayBuffer;
  rows: number;
  vocab: number;
}

export interface PoolViews {
  /** [0] request generation (loop → worker), [1] rows in it (−1: stop), [2] generation done (worker → loop), [3] 1 once the worker runs. */
  ctl: Int32Array;
  vocab: number;
  params: Float64Array;
  /** Per row: window length, then up to POOL_WINDOW token ids. */
  windows: Int32Array;
  /** Per row: SamplePrep.prepare's return value, then its count. */
  results: Int32Array;
  logits: Float32Array;
  scratch: SampleScratch[];
}

function plan(rows: number, vocab: number) {
  let at = 0;
  const take = (bytes: number) => {
    const o = at;
    at += Math.ceil(bytes / 8) * 8;
    return o;
  };
  const o = {
    ctl: take(16), params: take(rows * POOL_PARAMS * 8), windows: take(rows * (POOL_WINDOW + 1) * 4), results: take(rows * 8), logits: take(rows * vocab * 4),
    x: take(rows * vocab * 8), candP: take(rows * vocab * 8), candIds: take(rows * vocab * 4), marks: take(rows * vocab),
  };
  return { o, bytes: at };
}

export function poolBytes(rows: number, vocab: number): number {
  return plan(rows, vocab).bytes;
}

export function poolViews({ sab, rows, vocab }: PoolInit): PoolViews {
  const { o } = plan(rows, vocab);
  return {
    ctl: new Int32Array(sab, o.ctl, 4),
    vocab,
    params: new Float64Array(sab, o.params, rows * POOL_PARAMS),
    windows: new Int32Array(sab, o.windows, rows * (POOL_WINDOW + 1)),
    results: new Int32Array(sab, o.results, rows * 2),
    logits: new Float32Array(sab, o.logits, rows * vocab),
    scratch: Array.from({ length: rows }, (_, k) => ({
      x: new Float64Array(sab, o.x + k * vocab * 8, vocab),
      candP: new Float64Array(sab, o.candP + k * vocab * 8, vocab),
      candIds: new Int32Array(sab, o.candIds + k * vocab * 4, vocab),
      marks: new Uint8Array(sab, o.marks + k * vocab, vocab),
    })),
  };
}
