import { describe, expect, test } from "bun:test";
import { parseSchedulerConfig, SchedulerConfigError, type SchedulerConfig } from "../../../src/engine/image/scheduler-config.ts";
import { createScheduler, img2imgStartStep } from "../../../src/engine/image/schedulers.ts";
import { GaussianNoise } from "../../../src/engine/image/noise.ts";
import { Xoshiro256StarStar } from "../../../src/engine/prng.ts";

// Independent transcription of diffusers' formulas (scheduling_ddim.py, scheduling_euler_discrete.py,
// scheduling_euler_ancestral_discrete.py, s_churn = 0, eta = 0), written from the formulas as the
// papers/diffusers state them, array-at-a-time like the numpy originals.
const ref = {
  betas(c: SchedulerConfig): number[] {
    const n = c.numTrainTimesteps;
    const lo = c.betaSchedule === "scaled_linear" ? c.betaStart ** 0.5 : c.betaStart;
    const hi = c.betaSchedule === "scaled_linear" ? c.betaEnd ** 0.5 : c.betaEnd;
    const lin = [...Array(n).keys()].map((i) => (i === n - 1 ? hi : lo + (i * (hi - lo)) / (n - 1)));
    return c.betaSchedule === "scaled_linear" ? lin.map((b) => b ** 2) : lin;
  },
  alphasCumprod(c: SchedulerConfig): number[] {
    const out: number[] = [];
    for (const b of ref.betas(c)) out.push((out.at(-1) ?? 1) * (1 - b));
    return out;
  },
  npRound: (x: number) => (Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : Math.round(x)),
  timesteps(c: SchedulerConfig, n: number): number[] {
    const N = c.numTrainTimesteps;
    if (c.timestepSpacing === "leading") return [...Array(n).keys()].map((i) => i * Math.floor(N / n)).reverse().map((t) => t + c.stepsOffset);
    if (c.timestepSpacing === "trailing") {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push(ref.npRound(N + i * -(N / n)) - 1);
      return out;
    }
    const ts = n === 1 ? [0] : [...Array(n).keys()].map((i) => (i === n - 1 ? N - 1 : (i * (N - 1)) / (n - 1)));
    ts.reverse();
    return c.kind === "ddim" ? ts.map(ref.npRound) : ts;
  },
  sigmas(c: SchedulerConfig, n: number): number[] {
    const ac = ref.alphasCumprod(c);
    const all = ac.map((a) => ((1 - a) / a) ** 0.5);
    const s = ref.timesteps(c, n).map((t) => {
      const lo = Math.floor(t);
      return lo === t ? all[t]! : all[lo]! * (1 - (t - lo)) + all[lo + 1]! * (t - lo);
    });
    return [...s, 0];
  },
};

function cfg(over: Record<string, unknown>): SchedulerConfig {
  return parseSchedulerConfig({ _class_name: "DDIMScheduler", beta_schedule: "scaled_linear", beta_start: 0.00085, beta_end: 0.012, ...over });
}

/** A deterministic stand-in for the UNet: any smooth function of (x, t) exercises the steps. */
function fakeModel(x: Float32Array, t: number): Float32Array {
  return Float32Array.from(x, (v, k) => Math.fround(0.3 * v + 0.05 * Math.sin(k + t / 100)));
}

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol = 2e-6): void {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    if (Math.abs(a[i]! - b[i]!) > tol * Math.max(1, Math.abs(b[i]!))) throw new Error(`element ${i}: ${a[i]} vs ${b[i]}`);
  }
}

describe("scheduler config", () => {
  test("hand-computed timesteps and sigmas of the Stable Diffusion schedule", () => {
    // SD 1.5 / 2.1: DDIM-style leading spacing with steps_offset 1 → 981, 961, …, 1.
    const sd15 = createScheduler(cfg({ timestep_spacing: "leading", steps_offset: 1 }), 50);
    expect(sd15.timesteps[0]).toBe(981);
    expect(sd15.timesteps.at(-1)).toBe(1);
    // Turbo: trailing, 1 step → 999; 4 steps → 999, 749, 499, 249; 3 → 999, 666, 332 (round(666.67)−1).
    const turbo = (n: number) => createScheduler(cfg({ _class_name: "EulerAncestralDiscreteScheduler", timestep_spacing: "trailing", steps_offset: 1 }), n);
    expect(turbo(1).timesteps).toEqual([999]);
    expect(turbo(4).timesteps).toEqual([999, 749, 499, 249]);
    expect(turbo(3).timesteps).toEqual([999, 666, 332]);
    // DDIM linspace rounds half to even: linspace(0, 999, 3) = 0, 499.5, 999 → 999, 500, 0.
    expect(createScheduler(cfg({ timestep_spacing: "linspace" }), 3).timesteps).toEqual([999, 500, 0]);
    // sigma_max of scaled_linear(0.00085, 0.012, 1000) = sqrt((1 − ᾱ₉₉₉)/ᾱ₉₉₉) = 14.6146412…,
    // init sigma sqrt(σ² + 1) = 14.6488135… for leading spacing, σ itself for trailing.
    const euler = createScheduler(cfg({ _class_name: "EulerDiscreteScheduler", timestep_spacing: "leading", steps_offset: 1 }), 1);
    expect(createScheduler(cfg({ _class_name: "EulerDiscreteScheduler", timestep_spacing: "linspace" }), 3).initNoiseSigma).toBeCloseTo(14.614641229333639, 10);
    expect(turbo(1).initNoiseSigma).toBeCloseTo(14.614641229333639, 10);
    expect(euler.timesteps).toEqual([1]);
  });

  test("hand-computed DDIM steps (constant beta 0.1, 10 train steps, 2 inference steps: t = 5 → 0)", () => {
    const c = parseSchedulerConfig({ _class_name: "DDIMScheduler", num_train_timesteps: 10, beta_start: 0.1, beta_end: 0.1, timestep_spacing: "leading" });
    const s = createScheduler(c, 2);
    expect(s.timesteps).toEqual([5, 0]);
    // ᾱ₅ = 0.9⁶, ᾱ₀ = 0.9; x = 1, ε = 0.5 → sqrt(0.9)·(1 − sqrt(1−0.9⁶)·0.5)/sqrt(0.9⁶) + sqrt(0.1)·0.5
    const noise = new GaussianNoise(0n);
    expect(s.step(new Float32Array([0.5]), 0, new Float32Array([1]), noise)[0]).toBeCloseTo(1.0140671651943074, 6);
    const v = createScheduler({ ...c, predictionType: "v_prediction" }, 2);
    expect(v.step(new Float32Array([0.5]), 0, new Float32Array([1]), noise)[0]).toBeCloseTo(0.6986240265462949, 6);
  });

  test("the config is read with diffusers' per-class defaults and refuses what it does not implement", () => {
    const d = parseSchedulerConfig({ _class_name: "EulerDiscreteScheduler" });
    expect([d.betaSchedule, d.timestepSpacing, d.predictionType, d.stepsOffset, d.numTrainTimesteps]).toEqual(["linear", "linspace", "epsilon", 0, 1000]);
    expect(parseSchedulerConfig({ _class_name: "DDIMScheduler" }).timestepSpacing).toBe("leading");
    const bad: [unknown, RegExp][] = [
      [{ _class_name: "PNDMScheduler" }, /_class_name "PNDMScheduler" is not supported/],
      [{ _class_name: "DDIMScheduler", beta_schedule: "squaredcos_cap_v2" }, /beta_schedule "squaredcos_cap_v2"/],
      [{ _class_name: "EulerDiscreteScheduler", use_karras_sigmas: true }, /use_karras_sigmas=true is not supported/],
      [{ _class_name: "DDIMScheduler", rescale_betas_zero_snr: true }, /rescale_betas_zero_snr/],
      [{ _class_name: "DDIMScheduler", prediction_type: "sample" }, /prediction_type "sample"/],
      [{ _class_name: "DDIMScheduler", num_train_timesteps: "1000" }, /num_train_timesteps must be a finite integer/],
      [[1, 2], /expected a JSON object/],
    ];
    for (const [raw, re] of bad) expect(() => parseSchedulerConfig(raw)).toThrow(re);
    expect(() => parseSchedulerConfig({ _class_name: "X" })).toThrow(SchedulerConfigError);
    expect(() => createScheduler(d, 0)).toThrow(/steps must be an integer in 1..1000, got 0/);
    expect(() => createScheduler(d, 1001)).toThrow(RangeError);
    // leading + steps_offset past the last train step (diffusers would index out of range)
    expect(() => createScheduler(parseSchedulerConfig({ _class_name: "DDIMScheduler", steps_offset: 1 }), 1000)).toThrow(/timestep 1000 is outside 0..999/);
  });
});

describe("schedulers match the reference step by step", () => {
  const combos: Record<string, unknown>[] = [];
  for (const cls of ["DDIMScheduler", "EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler"])
    for (const spacing of ["leading", "trailing", "linspace"])
      for (const pred of ["epsilon", "v_prediction"])
        for (const sched of ["scaled_linear", "linear"])
          combos.push({ _class_name: cls, timestep_spacing: spacing, prediction_type: pred, beta_schedule: sched, steps_offset: spacing === "leading" ? 1 : 0, set_alpha_to_one: sched === "linear" });

  for (const raw of combos) {
    for (const steps of [1, 4, 7]) {
      test(`${raw._class_name} ${raw.timestep_spacing} ${raw.prediction_type} ${raw.beta_schedule} ${steps} steps`, () => {
        const c = cfg(raw);
        const s = createScheduler(c, steps);
        const ts = ref.timesteps(c, steps);
        expect(s.timesteps).toEqual(ts);
        const ac = ref.alphasCumprod(c);
        const sig = ref.sigmas(c, steps);
        const isDdim = c.kind === "ddim";
        const v = c.predictionType === "v_prediction";
        const initSigma = isDdim ? 1 : c.timestepSpacing === "leading" ? (Math.max(...sig) ** 2 + 1) ** 0.5 : Math.max(...sig);
        expect(s.initNoiseSigma).toBeCloseTo(initSigma, 9);

        // Same noise for both sides: ours from GaussianNoise, the reference's from a second copy.
        const ours = new GaussianNoise(99n), theirs = new GaussianNoise(99n);
        let x: Float32Array = Float32Array.from(ours.fill(16), (z) => z * s.initNoiseSigma);
        let y = Array.from(theirs.fill(16), (z) => z * initSigma);
        for (let i = 0; i < steps; i++) {
          const t = ts[i]!;
          // scale_model_input
          const yIn = isDdim ? y : y.map((e) => e / (sig[i]! ** 2 + 1) ** 0.5);
          close(s.scaleModelInput(x, i), yIn, 1e-6);
          const m = fakeModel(Float32Array.from(yIn), t);
          const xNext = s.step(m, i, x, ours);
          let yNext: number[];
          if (isDdim) {
            const prevT = t - Math.floor(c.numTrainTimesteps / steps);
            const aT = ac[t]!, aP = prevT >= 0 ? ac[prevT]! : c.setAlphaToOne ? 1 : ac[0]!;
            const bT = 1 - aT;
            yNext = y.map((e, k) => {
              const x0 = v ? aT ** 0.5 * e - bT ** 0.5 * m[k]! : (e - bT ** 0.5 * m[k]!) / aT ** 0.5;
              const eps = v ? aT ** 0.5 * m[k]! + bT ** 0.5 * e : m[k]!;
              return aP ** 0.5 * x0 + (1 - aP) ** 0.5 * eps;
            });
          } else {
            const sg = sig[i]!, sn = sig[i + 1]!;
            const x0 = y.map((e, k) => (v ? m[k]! * (-sg / (sg * sg + 1) ** 0.5) + e / (sg * sg + 1) : e - sg * m[k]!));
            const d = y.map((e, k) => (e - x0[k]!) / sg);
            if (c.kind === "euler") yNext = y.map((e, k) => e + d[k]! * (sn - sg));
            else {
              const up = (sn ** 2 * (sg ** 2 - sn ** 2) / sg ** 2) ** 0.5;
              const down = (sn ** 2 - up ** 2) ** 0.5;
              const z = theirs.fill(y.length);
              yNext = y.map((e, k) => e + d[k]! * (down - sg) + z[k]! * up);
            }
          }
          close(xNext, yNext, 5e-6);
          x = xNext;
          y = Array.from(Float32Array.from(yNext));
        }
      });
    }
  }

  test("img2img: start step n − floor(n·strength) and add_noise per scheduler", () => {
    expect([img2imgStartStep(30, 0.75), img2imgStartStep(30, 1), img2imgStartStep(30, 0), img2imgStartStep(7, 0.5)]).toEqual([8, 0, 30, 4]);
    const x0 = new Float32Array([0.5, -1]), z = new Float32Array([1, 2]);
    const ddim = createScheduler(cfg({ timestep_spacing: "leading", steps_offset: 1 }), 10);
    const a = ref.alphasCumprod(cfg({}))[ddim.timesteps[3]!]!;
    close(ddim.addNoise(x0, z, 3), [a ** 0.5 * 0.5 + (1 - a) ** 0.5, -(a ** 0.5) + 2 * (1 - a) ** 0.5]);
    const eu = cfg({ _class_name: "EulerDiscreteScheduler", timestep_spacing: "leading", steps_offset: 1 });
    const sg = ref.sigmas(eu, 10)[3]!;
    close(createScheduler(eu, 10).addNoise(x0, z, 3), [0.5 + sg, -1 + 2 * sg]);
  });
});

describe("seeded Gaussian noise", () => {
  test("Box–Muller over the project PRNG, pairs in order, float32", () => {
    const u = new Xoshiro256StarStar(42n);
    const u1 = u.nextDouble(), u2 = u.nextDouble();
    const r = Math.sqrt(-2 * Math.log(1 - u1));
    const z = new GaussianNoise(42n).fill(3);
    expect(z[0]).toBe(Math.fround(r * Math.cos(2 * Math.PI * u2)));
    expect(z[1]).toBe(Math.fround(r * Math.sin(2 * Math.PI * u2)));
    expect(Array.from(new GaussianNoise(42n).fill(3))).toEqual(Array.from(z));
    expect(Array.from(new GaussianNoise(43n).fill(3))).not.toEqual(Array.from(z));
  });

  test("moments of 20000 draws are those of N(0, 1)", () => {
    const z = new GaussianNoise(7n).fill(20000);
    let m = 0, v = 0;
    for (const e of z) m += e;
    m /= z.length;
    for (const e of z) v += (e - m) ** 2;
    v /= z.length;
    expect(Math.abs(m)).toBeLessThan(0.03);
    expect(Math.abs(v - 1)).toBeLessThan(0.04);
  });

  test("same params ⇒ identical latents after a full Euler-ancestral run", () => {
    const c = cfg({ _class_name: "EulerAncestralDiscreteScheduler", timestep_spacing: "trailing" });
    const run = (seed: bigint) => {
      const s = createScheduler(c, 4);
      const n = new GaussianNoise(seed);
      let x: Float32Array = Float32Array.from(n.fill(64), (e) => e * s.initNoiseSigma);
      for (let i = 0; i < 4; i++) x = s.step(fakeModel(s.scaleModelInput(x, i), s.timesteps[i]!), i, x, n);
      return Buffer.from(x.buffer).toString("hex");
    };
    expect(run(5n)).toBe(run(5n));
    expect(run(5n)).not.toBe(run(6n));
  });
});
