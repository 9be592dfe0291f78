/**
 * DDIM (eta = 0), Euler and Euler-ancestral steps over float32 latents, driven by a parsed
 * scheduler config; the formulas are those of diffusers' scheduling_ddim.py and
 * scheduling_euler_(ancestral_)discrete.py (s_churn = 0), computed per element in float64.
 * SDXL-Turbo's few-step schedule is Euler-ancestral with "trailing" spacing (its repo's config),
 * so one step starts at t = 999 and ends on the predicted x0.
 */
import type { SchedulerConfig } from "./scheduler-config.ts";
import { alphasCumprod, inferenceTimesteps, interpTable } from "./schedule.ts";
import type { GaussianNoise } from "./noise.ts";

export interface Scheduler {
  readonly config: SchedulerConfig;
  /** Values handed to the UNet's `timestep` input, one per step, highest first. */
  readonly timesteps: readonly number[];
  /** Standard deviation of the initial latents (pure noise is `noise * initNoiseSigma`). */
  readonly initNoiseSigma: number;
  /** The UNet input for step `i` (Euler divides by sqrt(sigma² + 1); DDIM is the identity). */
  scaleModelInput(sample: Float32Array, i: number): Float32Array;
  /** x_{i+1} from the model output at step `i`; Euler-ancestral draws its noise from `noise`. */
  step(modelOutput: Float32Array, i: number, sample: Float32Array, noise: GaussianNoise): Float32Array;
  /** img2img: the clean latents noised to the level of step `i`. */
  addNoise(x0: Float32Array, noise: Float32Array, i: number): Float32Array;
}

/** img2img start step (spec §7.3): n − floor(n × strength), strength in [0, 1]. */
export function img2imgStartStep(steps: number, strength: number): number {
  return steps - Math.floor(steps * strength);
}

class Ddim implements Scheduler {
  readonly timesteps: readonly number[];
  readonly initNoiseSigma = 1;
  private readonly ac: Float64Array;
  private readonly finalAlpha: number;
  private readonly ratio: number;

  constructor(readonly config: SchedulerConfig, steps: number) {
    this.ac = alphasCumprod(config);
    this.finalAlpha = config.setAlphaToOne ? 1 : this.ac[0]!;
    this.timesteps = inferenceTimesteps(config, steps);
    this.ratio = Math.floor(config.numTrainTimesteps / steps);
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  step(out: Float32Array, i: number, x: Float32Array): Float32Array {
    const t = this.timesteps[i]!;
    const prev = t - this.ratio;
    const a = this.ac[t]!;
    const aPrev = prev >= 0 ? this.ac[prev]! : this.finalAlpha;
    const sa = Math.sqrt(a), sb = Math.sqrt(1 - a);
    const saPrev = Math.sqrt(aPrev), dirCoef = Math.sqrt(1 - aPrev);
    const v = this.config.predictionType === "v_prediction";
    const res = new Float32Array(x.length);
    for (let k = 0; k < x.length; k++) {
      const m = out[k]!, s = x[k]!;
      const x0 = v ? sa * s - sb * m : (s - sb * m) / sa;
      const eps = v ? sa * m + sb * s : m;
      res[k] = saPrev * x0 + dirCoef * eps;
    }
    return res;
  }

  addNoise(x0: Float32Array, noise: Float32Array, i: number): Float32Array {
    const a = this.ac[this.timesteps[i]!]!;
    const sa = Math.sqrt(a), sb = Math.sqrt(1 - a);
    return Float32Array.from(x0, (v, k) => sa * v + sb * noise[k]!);
  }
}

class EulerFamily implements Scheduler {
  readonly timesteps: readonly number[];
  readonly initNoiseSigma: number;
  /** sigma per step, then a final 0. */
  readonly sigmas: Float64Array;

  constructor(readonly config: SchedulerConfig, steps: number, private readonly ancestral: boolean) {
    const ac = alphasCumprod(config);
    const table = Float64Array.from(ac, (a) => Math.sqrt((1 - a) / a));
    this.timesteps = inferenceTimesteps(config, steps);
    this.sigmas = new Float64Array(steps + 1);
    this.timesteps.forEach((t, i) => (this.sigmas[i] = interpTable(t, table)));
    let max = 0;
    for (const s of this.sigmas) max = Math.max(max, s);
    // diffusers: sigma_max for linspace/trailing spacing, sqrt(sigma_max² + 1) for leading.
    this.initNoiseSigma = config.timestepSpacing === "leading" ? Math.sqrt(max * max + 1) : max;
  }

  scaleModelInput(sample: Float32Array, i: number): Float32Array {
    const s = this.sigmas[i]!;
    const d = Math.sqrt(s * s + 1);
    return Float32Array.from(sample, (v) => v / d);
  }

  private x0(m: number, s: number, sigma: number): number {
    if (this.config.predictionType === "v_prediction") return m * (-sigma / Math.sqrt(sigma * sigma + 1)) + s / (sigma * sigma + 1);
    return s - sigma * m;
  }

  step(out: Float32Array, i: number, x: Float32Array, noise: GaussianNoise): Float32Array {
    const sigma = this.sigmas[i]!, next = this.sigmas[i + 1]!;
    const res = new Float32Array(x.length);
    if (!this.ancestral) {
      const dt = next - sigma;
      for (let k = 0; k < x.length; k++) {
        const s = x[k]!;
        res[k] = s + ((s - this.x0(out[k]!, s, sigma)) / sigma) * dt;
      }
      return res;
    }
    const up = Math.sqrt((next * next * (sigma * sigma - next * next)) / (sigma * sigma));
    const down = Math.sqrt(next * next - up * up);
    const dt = down - sigma;
    // The step's noise is drawn even when sigma_up is 0 (last step), as diffusers does, so the
    // stream position does not depend on the schedule's values.
    const z = noise.fill(x.length);
    for (let k = 0; k < x.length; k++) {
      const s = x[k]!;
      res[k] = s + ((s - this.x0(out[k]!, s, sigma)) / sigma) * dt + z[k]! * up;
    }
    return res;
  }

  addNoise(x0: Float32Array, noise: Float32Array, i: number): Float32Array {
    const s = this.sigmas[i]!;
    return Float32Array.from(x0, (v, k) => v + noise[k]! * s);
  }
}

/** A scheduler for `steps` inference steps (1..numTrainTimesteps). */
export function createScheduler(config: SchedulerConfig, steps: number): Scheduler {
  if (!Number.isInteger(steps) || steps < 1 || steps > config.numTrainTimesteps) {
    throw new RangeError(`steps must be an integer in 1..${config.numTrainTimesteps}, got ${steps}`);
  }
  const s = config.kind === "ddim" ? new Ddim(config, steps) : new EulerFamily(config, steps, config.kind === "euler_ancestral");
  const top = s.timesteps[0]!;
  if (top > config.numTrainTimesteps - 1) {
    throw new RangeError(`${steps} steps with steps_offset ${config.stepsOffset}: timestep ${top} is outside 0..${config.numTrainTimesteps - 1}`);
  }
  return s;
}
