/**
 * The training noise schedule and the inference timesteps, as diffusers derives them from a
 * scheduler config. Everything is float64 (diffusers keeps betas in float32 and sigmas in float32;
 * we do not claim bit equality with diffusers — the noise source differs anyway — only that every
 * node running this code computes the same numbers).
 */
import type { SchedulerConfig } from "./scheduler-config.ts";

/** numpy's `round` (round half to even), which diffusers' timestep arrays go through. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** numpy.linspace(start, stop, num): i*step + start, last element exactly `stop`; num = 1 gives [start]. */
export function linspace(start: number, stop: number, num: number): number[] {
  if (num === 1) return [start];
  const step = (stop - start) / (num - 1);
  const out = Array.from({ length: num }, (_, i) => i * step + start);
  out[num - 1] = stop;
  return out;
}

export function betas(cfg: SchedulerConfig): Float64Array {
  const n = cfg.numTrainTimesteps;
  if (cfg.betaSchedule === "linear") return Float64Array.from(linspace(cfg.betaStart, cfg.betaEnd, n));
  // scaled_linear: linear in sqrt(beta), then squared (the Stable Diffusion schedule).
  return Float64Array.from(linspace(Math.sqrt(cfg.betaStart), Math.sqrt(cfg.betaEnd), n), (b) => b * b);
}

/** alphas_cumprod[t] = prod_{s<=t} (1 - beta_s). */
export function alphasCumprod(cfg: SchedulerConfig): Float64Array {
  const b = betas(cfg);
  const out = new Float64Array(b.length);
  let acc = 1;
  for (let i = 0; i < b.length; i++) {
    acc *= 1 - b[i]!;
    out[i] = acc;
  }
  return out;
}

/**
 * Inference timesteps, highest first. DDIM's are integers; Euler's "linspace" ones may be
 * fractional (diffusers interpolates sigmas there and hands the UNet the float timestep).
 */
export function inferenceTimesteps(cfg: SchedulerConfig, steps: number): number[] {
  const N = cfg.numTrainTimesteps;
  const integer = cfg.kind === "ddim";
  switch (cfg.timestepSpacing) {
    case "linspace": {
      const t = linspace(0, N - 1, steps).reverse();
      return integer ? t.map(roundHalfEven) : t;
    }
    case "leading": {
      const ratio = Math.floor(N / steps);
      return Array.from({ length: steps }, (_, i) => (steps - 1 - i) * ratio + cfg.stepsOffset);
    }
    case "trailing": {
      const ratio = N / steps;
      return Array.from({ length: steps }, (_, i) => roundHalfEven(N - i * ratio) - 1);
    }
  }
}

/** numpy.interp over the grid 0..table.length-1 (x is inside it here). */
export function interpTable(x: number, table: Float64Array): number {
  if (x <= 0) return table[0]!;
  const last = table.length - 1;
  if (x >= last) return table[last]!;
  const i = Math.floor(x);
  const f = x - i;
  return f === 0 ? table[i]! : table[i]! + (table[i + 1]! - table[i]!) * f;
}
