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
