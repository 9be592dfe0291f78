/**
 * The sampler's seeded PRNG. Every node of an echelon must draw the same numbers from the same
 * on-chain `random_seed`, so the algorithm is fixed here and documented for other implementations:
 *
 *   1. Seeding: SplitMix64 with state = seed (u64). Four successive outputs become xoshiro256**'s
 *      state s[0..3]. SplitMix64 step: state += 0x9E3779B97F4A7C15; z = state;
 *      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9; z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
 *      output z ^ (z >> 31)   (all arithmetic mod 2^64).
 *   2. Generator: xoshiro256** 1.0 (Blackman & Vigna): result = rotl(s1 * 5, 7) * 9;
 *      t = s1 << 17; s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = rotl(s3, 45).
 *   3. Uniform double: u = (next() >> 11) / 2^53, exactly representable, in [0, 1).
 *
 * One `nextDouble()` per sampled token (greedy steps draw nothing). BigInt is used because the
 * generator runs once per token, which is negligible next to a forward pass, and it keeps the
 * code a line-by-line transcription of the reference algorithm.
 */

const MASK64 = (1n << 64n) - 1n;

function rotl(x: bigint, k: bigint): bigint {
  return ((x << k) | (x >> (64n - k))) & MASK64;
}

/** SplitMix64, used only to expand the u64 seed into xoshiro's 256-bit state. */
export class SplitMix64 {
  private state: bigint;
  constructor(seed: bigint) {
    this.state = BigInt.asUintN(64, seed);
  }
  next(): bigint {
    this.state = (this.state + 0x9e3779b97f4a7c15n) & MASK64;
    let z = this.state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
    return z ^ (z >> 31n);
  }
}

export class Xoshiro256StarStar {
  private s0: bigint;
  private s1: bigint;
  private s2: bigint;
  private s3: bigint;

  /** `seed` must be a u64 (0 ≤ seed < 2^64); callers validate, this only reduces mod 2^64. */
  constructor(seed: bigint) {
    const sm = new SplitMix64(seed);
    this.s0 = sm.next();
    this.s1 = sm.next();
    this.s2 = sm.next();
    this.s3 = sm.next();
  }

  next(): bigint {
    const result = (rotl((this.s1 * 5n) & MASK64, 7n) * 9n) & MASK64;
    const t = (this.s1 << 17n) & MASK64;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 45n);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  nextDouble(): number {
    return Number(this.next() >> 11n) / 9007199254740992;
  }
}
