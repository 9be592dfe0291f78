/**
 * Our own sampler (spec atoma-protocol.md §7.1/§7.2). transformers.js's samplers use Math.random
 * and differ in order of operations, so they cannot give echelon-wide identical bytes. Exact
 * algorithm, per decode step, on the last position's logits (all arithmetic in f64, every loop in
 * ascending token-id order unless stated):
 *
 *   1. x[i] = logits[i] as f64; NaN → −∞.
 *   2. Repeat penalty, unless repeatPenalty === 1 or repeatLastN === 0: for each DISTINCT id in the
 *      last repeatLastN tokens of the whole sequence (pre-prompt ‖ prompt ‖ generated):
 *      x[id] = x[id] ≥ 0 ? x[id] / penalty : x[id] * penalty.
 *   3. temperature ≤ 0 → greedy: the id of the maximum x, ties → lowest id. No PRNG draw.
 *   4. x[i] /= temperature; m = max x; e[i] = exp(x[i] − m); S = Σ e (ascending id); p[i] = e[i] / S.
 *   5. Rank order = probability descending, ties → lower id.
 *      top-k (topK > 0 and < vocab): keep the first topK ids in rank order.
 *   6. top-p (0 < topP < 1): among the kept ids in rank order, keep the smallest prefix whose
 *      cumulative p (the step-4 probabilities, summed in rank order, not renormalised after top-k —
 *      candle's TopKThenTopP) is ≥ topP.
 *   7. Draw: S' = Σ p over kept ids (ascending id); u = prng.nextDouble(); walk kept ids in
 *      ascending id order accumulating c += p[i] / S'; pick the first id with c > u; if rounding
 *      leaves none, the last kept id.
 */
import { EngineError, type SamplingParams } from "./types.ts";
import { Xoshiro256StarStar } from "./prng.ts";

/** Numeric logits row: Float32Array, Float16Array (fp16 graphs) or plain numbers. */
export type LogitsRow = ArrayLike<number>;

const U64_MAX = (1n << 64n) - 1n;

/** Defaults for parameters a local request (JSON-RPC `generate`, the `generate` CLI) leaves out:
 * greedy, no top-k/top-p cut, no repeat penalty. Chain jobs always carry every field. */
export const DEFAULT_SAMPLING_PARAMS: Readonly<SamplingParams> = Object.freeze({
  maxTokens: 128, temperature: 0, topK: 0, topP: 1, repeatPenalty: 1, repeatLastN: 64, seed: 0n,
});

/** Throws an EngineError naming the first invalid field. Documented lenient cases pass. */
export function validateSamplingParams(p: SamplingParams): void {
  const bad = (field: string, value: unknown, expected: string) => {
    throw new EngineError(`invalid sampling parameter ${field}=${String(value)}: expected ${expected}`);
  };
  if (!Number.isInteger(p.maxTokens) || p.maxTokens < 1) bad("max_tokens", p.maxTokens, "an integer ≥ 1");
  if (Number.isNaN(p.temperature) || p.temperature === Infinity)
    bad("temperature", p.temperature, "a finite number (≤ 0 means greedy)");
  if (!Number.isInteger(p.topK) || p.topK < 0) bad("top_k", p.topK, "an integer ≥ 0 (0 = disabled)");
  if (Number.isNaN(p.topP)) bad("top_p", p.topP, "a number (≤ 0 or ≥ 1 = disabled)");
  if (!Number.isFinite(p.repeatPenalty) || p.repeatPenalty <= 0)
    bad("repeat_penalty", p.repeatPenalty, "a finite number > 0 (1 = disabled)");
  if (!Number.isInteger(p.repeatLastN) || p.repeatLastN < 0) bad("repeat_last_n", p.repeatLastN, "an integer ≥ 0");
  if (typeof p.seed !== "bigint" || p.seed < 0n || p.seed > U64_MAX) bad("seed", p.seed, "a u64 (0 … 2^64−1)");
}

/** Scratch arrays of one row's preparation, one vocabulary long (sampler-pool.ts hands in shared ones). */
export interface SampleScratch {
  x: Float64Array;
  marks: Uint8Array;
  candIds: Int32Array;
  candP: Float64Array;
}

/** `SamplePrep.prepare` left the probabilities of every id in `x[0 … count)` (no top-k/top-p cut). */
export const PREPARED_ALL = -1;
/** `SamplePrep.prepare` left the kept ids and their probabilities in `candIds` / `candP` [0 … count). */
export const PREPARED_KEPT = -2;

/**
 * Steps 1–6 of the header for one row: everything that does not touch the PRNG, so it can run on
 * another thread (sampler-pool.ts) with the draw (step 7) left to the row's own Sampler.
 */
export class SamplePrep {
  /** How many probabilities the last `prepare` left (see PREPARED_ALL / PREPARED_KEPT). */
  count = 0;

  constructor(
    private readonly params: SamplingParams,
    readonly scratch: SampleScratch = { x: new Float64Array(0), marks: new Uint8Array(0), candIds: new Int32Array(0), candP: new Float64Array(0) },
  ) {}

  /**
   * The steps of the header up to the draw in fewer passes over the vocabulary: steps 1, 2 and
   * step 4's division are one pass, greedy without a penalty reads the row directly, and with
   * top-k/top-p only ids that can be kept get their probability divided out (keptIds). Every value
   * that decides a pick comes from the same f64 operations in the same order as the step-by-step
   * form (test/engine/sampler.test.ts checks pick for pick against an independent transcription).
   * Returns the token when no draw is needed (greedy, or no distribution), else PREPARED_ALL or
   * PREPARED_KEPT with `count` set.
   */
  prepare(logits: LogitsRow, history: ArrayLike<number>): number {
    const n = logits.length;
    const sc = this.scratch;
    if (sc.x.length !== n) {
      sc.x = new Float64Array(n);
      sc.marks = new Uint8Array(n);
    }
    const { temperature, topK, topP } = this.params;
    const window = this.penaltyWindow(history, n);
    // NaN never compares greater, so the row's own argmax equals that of step 1's −∞ form.
    if (temperature <= 0 && window === 0) return argmax(logits);
    const x = sc.x;
    // Greedy with a penalty shares the pass: dividing by 1 is exact.
    const m = this.scale(logits, temperature <= 0 ? 1 : temperature, history, window);
    if (temperature <= 0) return argmax(x);
    // Every logit −∞ (or overflowed): no distribution exists; fall back to greedy deterministically.
    if (m === -Infinity || m === Infinity) return argmax(x);
    let s = 0;
    for (let i = 0; i < n; i++) {
      const e = Math.exp(x[i]! - m);
      x[i] = e;
      s += e;
    }
    const useK = topK > 0 && topK < n;
    const useP = topP > 0 && topP < 1;
    if (!useK && !useP) {
      for (let i = 0; i < n; i++) x[i] = x[i]! / s;
      this.count = n;
      return PREPARED_ALL;
    }
    this.count = this.keptIds(x, s, useK ? topK : n, useP ? topP : Infinity);
    return PREPARED_KEPT;
  }

  /** Step 2's window: marks each distinct in-range id of the last repeatLastN tokens; their count. */
  private penaltyWindow(history: ArrayLike<number>, n: number): number {
    const { repeatPenalty, repeatLastN } = this.params;
    if (repeatPenalty === 1 || repeatLastN === 0 || history.length === 0) return 0;
    const marks = this.scratch.marks;
    let count = 0;
    for (let i = Math.max(0, history.length - repeatLastN); i < history.length; i++) {
      const id = history[i]!;
      if (id < 0 || id >= n || marks[id]) continue;
      marks[id] = 1;
      count++;
    }
    return count;
  }

  /** Steps 1, 2 and x / temperature into scratch.x; returns the maximum. Clears the penalty marks. */
  private scale(logits: LogitsRow, temperature: number, history: ArrayLike<number>, window: number): number {
    const x = this.scratch.x;
    const n = logits.length;
    let m = -Infinity;
    if (window === 0) {
      for (let i = 0; i < n; i++) {
        let v = logits[i]!;
        if (v !== v) v = -Infinity;
        v = v / temperature;
        x[i] = v;
        if (v > m) m = v;
      }
      return m;
    }
    const marks = this.scratch.marks;
    const rp = this.params.repeatPenalty;
    for (let i = 0; i < n; i++) {
      let v = logits[i]!;
      if (v !== v) v = -Infinity;
      if (marks[i]) v = v >= 0 ? v / rp : v * rp;
      v = v / temperature;
      x[i] = v;
      if (v > m) m = v;
    }
    for (let i = Math.max(0, history.length - this.params.repeatLastN); i < history.length; i++) {
      const id = history[i]!;
      if (id >= 0 && id < n) marks[id] = 0;
    }
    return m;
  }

  /**
   * Steps 5–6 on e = exp(x − max) and S = Σ e: leaves the kept ids (ascending) and their
   * probabilities e / S in candIds / candP and returns how many. Rank order only matters through
   * probability VALUES (ties are equal values), so the cut-off value and the count to keep follow
   * from the largest values: ids with p > cut are kept plus the lowest ids with p == cut. To avoid
   * sorting the vocabulary, values are first gathered above a threshold that is lowered until they
   * hold ≥ k entries or ≥ `mass` probability; every value outside is smaller than every value
   * inside, so the prefix is that of a full sort. Gathering tests e against a bound a hair below
   * threshold · S (e below it cannot divide to ≥ threshold) and divides only the survivors.
   */
  private keptIds(e: Float64Array, s: number, k: number, mass: number): number {
    const n = e.length;
    const sc = this.scratch;
    if (sc.candIds.length !== n) {
      sc.candIds = new Int32Array(n);
      sc.candP = new Float64Array(n);
    }
    const ids = sc.candIds;
    const ps = sc.candP;
    // The row maximum has e = exp(0) = 1 and division is monotone, so the largest p is 1 / S.
    let threshold = 1 / s / 1024;
    let count = 0;
    for (;;) {
      const bound = threshold * s * (1 - 1e-12);
      let sum = 0;
      count = 0;
      for (let i = 0; i < n; i++) {
        const ei = e[i]!;
        if (ei < bound) continue;
        const p = ei / s;
        if (p >= threshold) {
          ids[count] = i;
          ps[count++] = p;
          sum += p;
        }
      }
      // The margin absorbs summation-order rounding, so the rank-order prefix sum also reaches `mass`.
      if (count >= k || sum >= mass + 1e-9 || threshold === 0) break;
      threshold = threshold < 1e-300 ? 0 : threshold / 1024;
    }
    const top = largest(ps, count, Math.min(k, count));
    let keep = top.length;
    if (mass !== Infinity) {
      let c = 0;
      for (let r = 0; r < keep; r++) {
        c += top[r]!;
        if (c >= mass) {
          keep = r + 1;
          break;
        }
      }
    }
    const cut = top[keep - 1]!;
    let above = 0;
    for (let r = 0; r < keep; r++) if (top[r]! > cut) above++;
    let ties = keep - above;
    let j = 0;
    for (let c = 0; c < count && j < keep; c++) {
      const v = ps[c]!;
      if (v > cut || (v === cut && ties > 0)) {
        if (v === cut) ties--;
        ids[j] = ids[c]!;
        ps[j++] = v;
      }
    }
    return j;
  }
}

export class Sampler {
  private readonly rng: Xoshiro256StarStar;
  /** Per-vocabulary scratch, reused across steps (reallocated only when the vocabulary changes). */
  private readonly prep: SamplePrep;

  constructor(params: SamplingParams) {
    validateSamplingParams(params);
    this.rng = new Xoshiro256StarStar(params.seed);
    this.prep = new SamplePrep(params);
  }

  /** Picks the next token from one logits row; `history` is every token so far (see step 2). */
  next(logits: LogitsRow, history: readonly number[]): number {
    const r = this.prep.prepare(logits, history);
    return r >= 0 ? r : this.drawPrepared(r, this.prep.count, this.prep.scratch);
  }

  /**
   * Step 7 on what a SamplePrep.prepare of this row's logits left (here or on another thread):
   * `kind` its return value (a token is returned as is), `count` and the arrays it filled.
   */
  drawPrepared(kind: number, count: number, sc: Pick<SampleScratch, "x" | "candIds" | "candP">): number {
    if (kind >= 0) return kind;
    return kind === PREPARED_ALL ? this.draw(sc.x, null, count) : this.draw(sc.candP, sc.candIds, count);
  }

  /** Step 7 over `count` probabilities `p` of ids `ids` (ascending), or of ids 0 … count−1. */
  private draw(p: Float64Array, ids: Int32Array | null, count: number): number {
    let total = 0;
    for (let r = 0; r < count; r++) total += p[r]!;
    const u = this.rng.nextDouble();
    let c = 0;
    let last = 0;
    for (let r = 0; r < count; r++) {
      const q = p[r]! / total;
      if (q === 0) continue;
      const id = ids ? ids[r]! : r;
      last = id;
      c += q;
      if (c > u) return id;
    }
    return last;
  }
}

/** The `k` largest of p[0 … count−1], descending (a bounded insertion when k is small). */
function largest(p: Float64Array, count: number, k: number): Float64Array {
  if (k > 64 || k * 8 > count) {
    const sorted = p.slice(0, count).sort();
    const out = new Float64Array(k);
    for (let r = 0; r < k; r++) out[r] = sorted[count - 1 - r]!;
    return out;
  }
  const top = new Float64Array(k);
  let len = 0;
  for (let i = 0; i < count; i++) {
    const v = p[i]!;
    if (len === k && v <= top[k - 1]!) continue;
    let j = len < k ? len++ : k - 1;
    while (j > 0 && top[j - 1]! < v) {
      top[j] = top[j - 1]!;
      j--;
    }
    top[j] = v;
  }
  return top;
}

/** Greedy: index of the maximum, lowest id on ties. */
export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  let bv = -Infinity;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (v > bv) {
      bv = v;
      best = i;
    }
  }
  return best;
}
