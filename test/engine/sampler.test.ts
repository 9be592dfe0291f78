import { describe, expect, test } from "bun:test";
import { Sampler, argmax, validateSamplingParams } from "../../src/engine/sampler.ts";
import { EngineError, type SamplingParams } from "../../src/engine/types.ts";

const base: SamplingParams = { maxTokens: 8, temperature: 0, topK: 0, topP: 1, repeatPenalty: 1, repeatLastN: 64, seed: 1n };
const P = (o: Partial<SamplingParams>): SamplingParams => ({ ...base, ...o });

/** Empirical distribution of `n` draws (one Sampler, as in a generation). */
function histogram(logits: number[], params: SamplingParams, n: number): number[] {
  const s = new Sampler(params);
  const h = new Array(logits.length).fill(0);
  for (let i = 0; i < n; i++) h[s.next(logits, [])]++;
  return h;
}

describe("greedy", () => {
  test("temperature 0 and negative both pick the argmax; ties go to the lower id", () => {
    expect(new Sampler(P({})).next([1, 3, 3, 2], [])).toBe(1);
    expect(new Sampler(P({ temperature: -1 })).next([0, 5, 1], [])).toBe(1);
    expect(argmax([-Infinity, -Infinity])).toBe(0);
  });
  test("NaN logits count as −∞", () => {
    expect(new Sampler(P({})).next([NaN, -5, NaN], [])).toBe(1);
  });
  test("greedy draws nothing from the PRNG (same pick regardless of seed)", () => {
    expect(new Sampler(P({ seed: 5n })).next([0, 2, 1], [])).toBe(new Sampler(P({ seed: 9n })).next([0, 2, 1], []));
  });
});

describe("repeat penalty", () => {
  test("positive logits are divided, negative multiplied", () => {
    // id 0: 2 → 2/4 = 0.5 < id 1's 1.0 → greedy switches to id 1.
    expect(new Sampler(P({ repeatPenalty: 4 })).next([2, 1, 0], [0])).toBe(1);
    // id 0: −1 → −4 < id 2's −3 → id 2 wins.
    expect(new Sampler(P({ repeatPenalty: 4 })).next([-1, -5, -3], [0])).toBe(2);
  });
  test("window counts distinct ids in the last repeat_last_n of the whole history", () => {
    const s = new Sampler(P({ repeatPenalty: 4, repeatLastN: 2 }));
    // id 0 appears twice but is penalised once (2/4 = 0.5 > 0.4): still wins.
    expect(s.next([2, 0.4, 0], [0, 0])).toBe(0);
    // id 1 outside the 2-token window: not penalised.
    expect(new Sampler(P({ repeatPenalty: 100, repeatLastN: 2 })).next([0, 1, 0], [1, 2, 2])).toBe(1);
  });
  test("exactly 1.0 and repeat_last_n 0 disable it", () => {
    expect(new Sampler(P({ repeatPenalty: 1 })).next([2, 1], [0])).toBe(0);
    expect(new Sampler(P({ repeatPenalty: 9, repeatLastN: 0 })).next([2, 1], [0])).toBe(0);
  });
});

describe("sampling", () => {
  test("same seed ⇒ same sequence; other seed ⇒ different", () => {
    const logits = Array.from({ length: 50 }, (_, i) => Math.sin(i));
    const run = (seed: bigint) => {
      const s = new Sampler(P({ temperature: 1, seed }));
      return Array.from({ length: 40 }, () => s.next(logits, []));
    };
    expect(run(3n)).toEqual(run(3n));
    expect(run(3n)).not.toEqual(run(4n));
  });
  test("draws follow softmax(logits / T)", () => {
    const h = histogram([0, Math.log(3)], P({ temperature: 1 }), 20_000);
    expect(h[1]! / 20_000).toBeCloseTo(0.75, 1);
  });
  test("top-k keeps the k most probable; ties at the boundary keep the lower id", () => {
    const h = histogram([1, 5, 5, 5, 0], P({ temperature: 1, topK: 2 }), 2000);
    expect(h[0]).toBe(0);
    expect(h[3]).toBe(0);
    expect(h[1]! > 0 && h[2]! > 0).toBe(true);
    expect(histogram([1, 2, 3], P({ temperature: 1, topK: 1 }), 50)[2]).toBe(50);
  });
  test("top-k ≥ vocab and 0 disable it", () => {
    for (const topK of [0, 3, 10]) expect(histogram([1, 1, 1], P({ temperature: 1, topK }), 3000).every((c) => c > 800)).toBe(true);
  });
  test("top-p keeps the smallest prefix reaching p", () => {
    // probs 0.5, 0.3, 0.2 (logits = ln p): p = 0.5 keeps only id 0; p = 0.6 keeps ids 0 and 1.
    const logits = [Math.log(0.5), Math.log(0.3), Math.log(0.2)];
    expect(histogram(logits, P({ temperature: 1, topP: 0.5 }), 500)).toEqual([500, 0, 0]);
    const h = histogram(logits, P({ temperature: 1, topP: 0.6 }), 4000);
    expect(h[2]).toBe(0);
    expect(h[0]! / 4000).toBeCloseTo(0.625, 1);
  });
  test("top-p ≤ 0 or ≥ 1 is off", () => {
    const logits = [0, 0, 0];
    for (const topP of [0, -1, 1, 7]) expect(histogram(logits, P({ temperature: 1, topP }), 3000).every((c) => c > 800)).toBe(true);
  });
  test("top-k then top-p uses the un-renormalised probabilities", () => {
    // probs ≈ 0.4, 0.3, 0.3·… : with k = 2 the kept mass is 0.7; p = 0.65 needs both ids.
    const logits = [Math.log(0.4), Math.log(0.3), Math.log(0.2), Math.log(0.1)];
    const h = histogram(logits, P({ temperature: 1, topK: 2, topP: 0.65 }), 3000);
    expect(h[1]! > 0 && h[2] === 0 && h[3] === 0).toBe(true);
  });
  test("large vocabulary top-p matches a full sort", () => {
    const V = 32_000;
    const logits = Array.from({ length: V }, (_, i) => ((i * 7919) % 1000) / 100);
    const s = new Sampler(P({ temperature: 0.7, topP: 0.9, seed: 11n }));
    const picks = Array.from({ length: 20 }, () => s.next(logits, []));
    // Reference: full sort by p desc then id asc, prefix reaching 0.9.
    const m = Math.max(...logits);
    const e = logits.map((l) => Math.exp(l / 0.7 - m / 0.7));
    const sum = e.reduce((a, b) => a + b, 0);
    const order = [...e.keys()].sort((a, b) => e[b]! - e[a]! || a - b);
    let c = 0;
    const kept = new Set<number>();
    for (const id of order) {
      kept.add(id);
      c += e[id]! / sum;
      if (c >= 0.9) break;
    }
    expect(picks.every((p) => kept.has(p))).toBe(true);
  });
});

describe("validation", () => {
  const bad: [string, Partial<SamplingParams>][] = [
    ["max_tokens", { maxTokens: 0 }],
    ["max_tokens", { maxTokens: 1.5 }],
    ["temperature", { temperature: NaN }],
    ["top_k", { topK: -1 }],
    ["top_p", { topP: NaN }],
    ["repeat_penalty", { repeatPenalty: 0 }],
    ["repeat_penalty", { repeatPenalty: -2 }],
    ["repeat_last_n", { repeatLastN: -3 }],
    ["seed", { seed: -1n }],
    ["seed", { seed: 1n << 64n }],
  ];
  for (const [field, o] of bad) {
    test(`${field} ${JSON.stringify(o, (_, v) => (typeof v === "bigint" ? v.toString() : v))} is refused`, () => {
      expect(() => validateSamplingParams(P(o))).toThrow(EngineError);
      expect(() => validateSamplingParams(P(o))).toThrow(field);
    });
  }
  test("documented lenient values pass", () => {
    for (const o of [{ temperature: -0.5 }, { topP: 0 }, { topP: 1.5 }, { topP: -1 }, { topK: 1e9 }, { seed: (1n << 64n) - 1n }]) {
      expect(() => validateSamplingParams(P(o))).not.toThrow();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Exact vectors. Nodes of an echelon agree only if every implementation walks the same rule, so
// the rule is pinned by picks derived outside the sampler: by hand from the documented steps
// (sampler.ts header) and the PRNG's seed-0 doubles, and by an independent transcription below.

/** Independent SplitMix64 → xoshiro256** → double (prng.ts header, steps 1–3), written afresh. */
function referenceDoubles(seed: bigint): () => number {
  const W = (v: bigint) => BigInt.asUintN(64, v);
  let sm = W(seed);
  const split = () => {
    sm = W(sm + 0x9e3779b97f4a7c15n);
    let z = sm;
    z = W((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
    z = W((z ^ (z >> 27n)) * 0x94d049bb133111ebn);
    return z ^ (z >> 31n);
  };
  const s = [split(), split(), split(), split()];
  const rot = (v: bigint, k: bigint) => W((v << k) | (v >> (64n - k)));
  return () => {
    const out = W(rot(W(s[1]! * 5n), 7n) * 9n);
    const t = W(s[1]! << 17n);
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rot(s[3]!, 45n);
    return Number(out >> 11n) / 2 ** 53;
  };
}

/** Independent, naive transcription of steps 1–7: full sort for rank order, explicit id lists. */
function referencePicks(logits: number[], p: SamplingParams, history: number[], steps: number): number[] {
  const u = referenceDoubles(p.seed);
  const picks: number[] = [];
  for (let step = 0; step < steps; step++) {
    const x = logits.map((v) => (Number.isNaN(v) ? -Infinity : v));
    if (p.repeatPenalty !== 1 && p.repeatLastN > 0) {
      for (const id of new Set(history.slice(-p.repeatLastN))) x[id] = x[id]! >= 0 ? x[id]! / p.repeatPenalty : x[id]! * p.repeatPenalty;
    }
    const scaled = x.map((v) => v / p.temperature);
    const m = Math.max(...scaled);
    const e = scaled.map((v) => Math.exp(v - m));
    const sum = e.reduce((a, b) => a + b, 0);
    const prob = e.map((v) => v / sum);
    let kept = [...prob.keys()].sort((a, b) => prob[b]! - prob[a]! || a - b);
    if (p.topK > 0 && p.topK < kept.length) kept = kept.slice(0, p.topK);
    if (p.topP > 0 && p.topP < 1) {
      let c = 0;
      const n = kept.findIndex((id) => (c += prob[id]!) >= p.topP);
      if (n >= 0) kept = kept.slice(0, n + 1);
    }
    kept.sort((a, b) => a - b);
    const total = kept.reduce((a, id) => a + prob[id]!, 0);
    const draw = u();
    let c = 0;
    picks.push(kept.find((id) => (c += prob[id]! / total) > draw) ?? kept[kept.length - 1]!);
  }
  return picks;
}

/** Steps 1–3: the lowest id of the maximum after NaN → −∞ and the repeat penalty. */
function referenceGreedy(logits: number[], p: SamplingParams, history: number[]): number {
  const x = logits.map((v) => (Number.isNaN(v) ? -Infinity : v));
  if (p.repeatPenalty !== 1 && p.repeatLastN > 0) {
    for (const id of new Set(history.slice(-p.repeatLastN))) x[id] = x[id]! >= 0 ? x[id]! / p.repeatPenalty : x[id]! * p.repeatPenalty;
  }
  return x.indexOf(Math.max(...x));
}

function samplerPicks(logits: number[], p: SamplingParams, history: number[], steps: number): number[] {
  const s = new Sampler(p);
  return Array.from({ length: steps }, () => s.next(logits, history));
}

describe("exact vectors (seed 0: u = 0.6013, 0.7478, 0.1030, 0.4166, 0.7330, 0.9997)", () => {
  const ln = Math.log;
  const S = (o: Partial<SamplingParams>) => P({ temperature: 1, seed: 0n, ...o });

  test("the independent PRNG reproduces the published seed-0 doubles", () => {
    const u = referenceDoubles(0n);
    expect([u(), u(), u()]).toEqual([0.6012629994179048, 0.7477740925472398, 0.10301998939503632]);
  });

  test("plain draw walks ids in ascending order (reversed walk would give 1, 1, 2, …)", () => {
    // p = 0.2, 0.5, 0.3 → cumulative 0.2 | 0.7 | 1.0 in id order.
    expect(samplerPicks([ln(0.2), ln(0.5), ln(0.3)], S({}), [], 6)).toEqual([1, 2, 0, 1, 2, 2]);
  });

  test("temperature divides the logits", () => {
    // T = 0.5: p ∝ p² = 0.04, 0.25, 0.09 → 0.1053, 0.6579, 0.2368; cumulative 0.1053 | 0.7632 | 1.
    expect(samplerPicks([ln(0.2), ln(0.5), ln(0.3)], S({ temperature: 0.5 }), [], 6)).toEqual([1, 1, 0, 1, 1, 2]);
  });

  test("top-k renormalises over the kept ids and draws in id order", () => {
    // k = 2 keeps ids 1 (0.5) and 2 (0.3): 0.625 | 1.0.
    expect(samplerPicks([ln(0.2), ln(0.5), ln(0.3)], S({ topK: 2 }), [], 6)).toEqual([1, 2, 1, 1, 2, 2]);
    // Ties at the boundary keep the lower ids: 0.3, 0.3, 0.3, 0.1 with k = 2 keeps ids 0, 1 → 0.5 | 1.0.
    expect(samplerPicks([ln(0.3), ln(0.3), ln(0.3), ln(0.1)], S({ topK: 2 }), [], 6)).toEqual([1, 1, 0, 0, 1, 1]);
  });

  test("top-p keeps the smallest rank-order prefix reaching p", () => {
    // 0.1, 0.2, 0.3, 0.4 with p = 0.6: ids 3 (0.4) + 2 (0.3) = 0.7 ≥ 0.6 → id 2: 0.4286 | id 3: 1.0.
    expect(samplerPicks([ln(0.1), ln(0.2), ln(0.3), ln(0.4)], S({ topP: 0.6 }), [], 6)).toEqual([3, 3, 2, 2, 3, 3]);
  });

  test("top-k then top-p sums the un-renormalised probabilities", () => {
    // 0.4, 0.3, 0.2, 0.1; k = 2 → ids 0, 1; p = 0.5: 0.4 < 0.5, 0.7 ≥ 0.5 → both kept (renormalising after
    // top-k would make id 0 alone 0.571 ≥ 0.5 and pick 0 every time). Draw: 0.5714 | 1.0.
    expect(samplerPicks([ln(0.4), ln(0.3), ln(0.2), ln(0.1)], S({ topK: 2, topP: 0.5 }), [], 6)).toEqual([1, 1, 0, 0, 1, 1]);
  });

  test("repeat penalty divides positive and multiplies negative logits before sampling", () => {
    // [0.5, 2, −1], history [1, 2], penalty 4 → [0.5, 0.5, −4]: p = 0.4972, 0.4972, 0.0055 → 0.4972 | 0.9945 | 1.
    // Without the penalty the 4th pick would be 1; dividing the negative logit too, also 1.
    expect(samplerPicks([0.5, 2, -1], S({ repeatPenalty: 4 }), [1, 2], 6)).toEqual([1, 1, 0, 0, 1, 2]);
  });

  test("the independent transcription agrees with the hand-derived vectors", () => {
    expect(referencePicks([ln(0.2), ln(0.5), ln(0.3)], S({}), [], 6)).toEqual([1, 2, 0, 1, 2, 2]);
    expect(referencePicks([ln(0.4), ln(0.3), ln(0.2), ln(0.1)], S({ topK: 2, topP: 0.5 }), [], 6)).toEqual([1, 1, 0, 0, 1, 1]);
    expect(referencePicks([0.5, 2, -1], S({ repeatPenalty: 4 }), [1, 2], 6)).toEqual([1, 1, 0, 0, 1, 2]);
  });

  test("random cases agree with the independent transcription pick for pick", () => {
    const seed = BigInt(process.env.SAMPLER_VECTOR_SEED ?? "20261201");
    const r = referenceDoubles(seed);
    const int = (n: number) => Math.floor(r() * n);
    for (let c = 0; c < 300; c++) {
      const vocab = 2 + int(40);
      // Logits on a coarse grid so ties (rank order by lower id) occur often.
      const logits = Array.from({ length: vocab }, () => (int(25) - 12) / 4);
      const params = P({
        seed: BigInt(int(1 << 30)),
        temperature: [0.3, 0.7, 1, 1.6][int(4)]!,
        topK: [0, 1, 2, 5, 1000][int(5)]!,
        topP: [1, 0.3, 0.6, 0.9, 0][int(5)]!,
        repeatPenalty: [1, 1.3, 3][int(3)]!,
        repeatLastN: [0, 2, 64][int(3)]!,
      });
      const history = Array.from({ length: int(8) }, () => int(vocab));
      const want = referencePicks(logits, params, history, 5);
      const got = samplerPicks(logits, params, history, 5);
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        throw new Error(`case ${c} (SAMPLER_VECTOR_SEED=${seed}): ${JSON.stringify({ logits, params: { ...params, seed: String(params.seed) }, history })} → ${got} ≠ reference ${want}`);
      }
    }
  });
  test("large vocabularies agree with the independent transcription (threshold gathering, bounded top-k, ties, NaN)", () => {
    const r = referenceDoubles(BigInt(process.env.SAMPLER_VECTOR_SEED ?? "20261202"));
    const int = (n: number) => Math.floor(r() * n);
    for (let c = 0; c < 24; c++) {
      const vocab = c % 2 ? 32_000 : 3_000;
      const shape = c % 4;
      // Coarse grids tie often at the cut; a flat row makes every id a candidate; NaN counts as −∞.
      const logits = Array.from({ length: vocab }, () =>
        shape === 0 ? (int(41) - 20) / 2 : shape === 1 ? 0.25 : shape === 2 ? (r() + r() + r() - 1.5) * 6 : int(50) === 0 ? NaN : r() * 12);
      const params = P({
        seed: BigInt(int(1 << 30)),
        temperature: [0, 0.5, 0.8, 1.3][int(4)]!, // 0: greedy, checked against step 3 below
        topK: [0, 1, 7, 40, 300][int(5)]!,
        topP: [1, 0.5, 0.95, 0.999][int(4)]!,
        repeatPenalty: [1, 1.1, 2][int(3)]!,
        repeatLastN: 64,
      });
      const history = Array.from({ length: int(40) }, () => int(vocab));
      const want = params.temperature > 0 ? referencePicks(logits, params, history, 3) : Array(3).fill(referenceGreedy(logits, params, history));
      const got = samplerPicks(logits, params, history, 3);
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        throw new Error(`large case ${c}: params ${JSON.stringify({ ...params, seed: String(params.seed) })} → ${got} ≠ reference ${want}`);
      }
    }
  });
});
