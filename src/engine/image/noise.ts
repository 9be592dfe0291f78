/**
 * Seeded standard-normal noise for latents, so every node of an echelon starts from the same
 * latents for the same on-chain `random_seed`. Documented for other implementations:
 *
 *   Uniform doubles come from the sampler's PRNG (prng.ts: SplitMix64-seeded xoshiro256**,
 *   u = (next() >> 11) / 2^53). Normals come in pairs by Box–Muller: u1, u2 drawn in that order,
 *   r = sqrt(-2 ln(1 - u1)) (1 - u1 is in (0, 1], so the log is finite), z0 = r cos(2π u2),
 *   z1 = r sin(2π u2); z0 is used first, then z1. Each is rounded to float32. A tensor is filled
 *   in row-major (NCHW) order. One stream per job: initial latents, then (Euler-ancestral) each
 *   step's noise, sample after sample, are all drawn from it in the order they are needed.
 *
 * Math.log/cos/sin are not required by ECMAScript to be correctly rounded, so bit equality holds
 * for the same engine build (one binary), which is the project's determinism promise.
 */
import { Xoshiro256StarStar } from "../prng.ts";

export class GaussianNoise {
  private readonly rng: Xoshiro256StarStar;
  private spare: number | undefined;

  constructor(seed: bigint) {
    this.rng = new Xoshiro256StarStar(seed);
  }

  next(): number {
    if (this.spare !== undefined) {
      const z = this.spare;
      this.spare = undefined;
      return z;
    }
    const u1 = this.rng.nextDouble();
    const u2 = this.rng.nextDouble();
    const r = Math.sqrt(-2 * Math.log(1 - u1));
    this.spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }

  /** `n` normals as float32, in draw order. */
  fill(n: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.next();
    return out;
  }
}
