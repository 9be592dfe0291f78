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

export class Sampler {
  private readonly rng: Xoshiro256StarStar;
  private x: Float64Array = new Float64Array(0);

  constructor(private readonly params: SamplingParams) {
    validateSamplingParams(params);
    this.rng = new Xoshiro256StarStar(params.seed);
  }

  /** Picks the next token from one logits row; `history` is every token so far (see step 2). */
  next(logits: LogitsRow, history: readonly number[]): number {
    const n = logits.length;
    if (this.x.length !== n) this.x = new Float64Array(n);
    const x = this.x;
    for (let i = 0; i < n; i++) {
      const v = logits[i]!;
      x[i] = v === v ? v : -Infinity;
    }
    this.applyRepeatPenalty(x, history);
    const { temperature, topK, topP } = this.params;
    if (temperature <= 0) return argmax(x);

    let m = -Infinity;
    for (let i = 0; i < n; i++) {
      x[i] = x[i]! / temperature;
      if (x[i]! > m) m = x[i]!;
    }
    // Every logit −∞ (or overflowed): no distribution exists; fall back to greedy deterministically.
    if (m === -Infinity || m === Infinity) return argmax(x);
    let s = 0;
    for (let i = 0; i < n; i++) {
      const e = Math.exp(x[i]! - m);
      x[i] = e;
      s += e;
    }
    for (let i = 0; i < n; i++) x[i] = x[i]! / s;

    const useK = topK > 0 && topK < n;
    const useP = topP > 0 && topP < 1;
    return this.draw(x, useK || useP ? keptIds(x, useK ? topK : n, useP ? topP : Infinity) : null);
  }

  private applyRepeatPenalty(x: Float64Array, history: readonly number[]): void {
    const { repeatPenalty, repeatLastN } = this.params;
    if (repeatPenalty === 1 || repeatLastN === 0 || history.length === 0) return;
    const seen = new Set<number>();
    for (let i = Math.max(0, history.length - repeatLastN); i < history.length; i++) {
      const id = history[i]!;
      if (seen.has(id) || id < 0 || id >= x.length) continue;
      seen.add(id);
      const v = x[id]!;
      x[id] = v >= 0 ? v / repeatPenalty : v * repeatPenalty;
    }
  }

  /** Step 7; `kept` = ascending ids, or null for the whole vocabulary. */
  private draw(p: Float64Array, kept: Int32Array | null): number {
    const count = kept ? kept.length : p.length;
    let total = 0;
    for (let r = 0; r < count; r++) total += p[kept ? kept[r]! : r]!;
    const u = this.rng.nextDouble();
    let c = 0;
    let last = 0;
    for (let r = 0; r < count; r++) {
      const id = kept ? kept[r]! : r;
      const q = p[id]! / total;
      if (q === 0) continue;
      last = id;
      c += q;
      if (c > u) return id;
    }
    return last;
  }
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

/**
 * Steps 5–6 as ascending ids. Rank order only matters through probability VALUES (ties are equal
 * values), so the values are sorted natively instead of sorting ids with a comparator: the
 * cut-off value c and the count to keep follow from the sorted values (cumulative sums in rank
 * order are sums over that sorted sequence), then ids with p > c are kept plus the lowest ids
 * with p == c. To avoid sorting the whole vocabulary, values are first gathered above a threshold
 * that is lowered until they hold ≥ k entries or ≥ `mass` probability; every value outside is
 * smaller than every value inside, so the prefix is the same as that of a full sort.
 */
function keptIds(p: Float64Array, k: number, mass: number): Int32Array {
  const n = p.length;
  let pmax = 0;
  for (let i = 0; i < n; i++) if (p[i]! > pmax) pmax = p[i]!;
  let threshold = pmax / 1024;
  let vals = new Float64Array(0);
  for (;;) {
    let count = 0;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const v = p[i]!;
      if (v >= threshold) {
        count++;
        sum += v;
      }
    }
    // The margin absorbs summation-order rounding, so the rank-order prefix sum also reaches `mass`.
    if (count >= k || sum >= mass + 1e-9 || threshold === 0) {
      vals = new Float64Array(count);
      let j = 0;
      for (let i = 0; i < n; i++) if (p[i]! >= threshold) vals[j++] = p[i]!;
      break;
    }
    threshold = threshold < 1e-300 ? 0 : threshold / 1024;
  }
  vals.sort(); // ascending; rank r is vals[len − 1 − r]
  const len = vals.length;
  let keep = Math.min(k, len);
  if (mass !== Infinity) {
    let c = 0;
    for (let r = 0; r < keep; r++) {
      c += vals[len - 1 - r]!;
      if (c >= mass) {
        keep = r + 1;
        break;
      }
    }
  }
  const cut = vals[len - keep]!;
  let above = 0;
  for (let r = 0; r < keep; r++) if (vals[len - 1 - r]! > cut) above++;
  let ties = keep - above;
  const out = new Int32Array(keep);
  let j = 0;
  for (let i = 0; i < n && j < keep; i++) {
    const v = p[i]!;
    if (v > cut) out[j++] = i;
    else if (v === cut && ties > 0) {
      out[j++] = i;
      ties--;
    }
  }
  return out;
}
