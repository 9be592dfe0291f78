import { describe, expect, test } from "bun:test";
import { SplitMix64, Xoshiro256StarStar } from "../../src/engine/prng.ts";

// Vectors from an independent Python transcription of SplitMix64 / xoshiro256** (see prng.ts);
// the SplitMix64 one is the widely published seed-1234567 sequence.
describe("prng", () => {
  test("SplitMix64 known vector", () => {
    const sm = new SplitMix64(1234567n);
    expect([sm.next(), sm.next(), sm.next()]).toEqual([6457827717110365317n, 3203168211198807973n, 9817491932198370423n]);
  });

  test("xoshiro256** seeded through SplitMix64", () => {
    const cases: [bigint, bigint[], number[]][] = [
      [0n, [11091344671253066420n, 13793997310169335082n, 1900383378846508768n], [0.6012629994179048, 0.7477740925472398, 0.10301998939503632]],
      [42n, [1546998764402558742n, 6990951692964543102n, 12544586762248559009n], [0.08386297105988216, 0.3789802506626686, 0.6800434110281394]],
      [(1n << 64n) - 1n, [10328197420357168392n, 14156678507024973869n, 9357971779955476126n], [0.5598927040505212, 0.7674350796247662, 0.5072966666942884]],
    ];
    for (const [seed, words, doubles] of cases) {
      const a = new Xoshiro256StarStar(seed);
      expect([a.next(), a.next(), a.next()]).toEqual(words);
      const b = new Xoshiro256StarStar(seed);
      expect([b.nextDouble(), b.nextDouble(), b.nextDouble()]).toEqual(doubles);
    }
  });

  test("doubles stay in [0, 1)", () => {
    const r = new Xoshiro256StarStar(7n);
    for (let i = 0; i < 10_000; i++) {
      const u = r.nextDouble();
      expect(u >= 0 && u < 1).toBe(true);
    }
  });
});
