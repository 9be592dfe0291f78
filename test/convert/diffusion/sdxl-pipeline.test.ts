/**
 * A tiny random diffusers SDXL repo (test/support/diffusers-sdxl-repo.ts: both CLIP encoders, an
 * SDXL-shaped UNet with the text_time addition embedding, AutoencoderKL) converted by
 * `models convert`'s code path, then run by the image pipeline as SDXL and as SDXL-Turbo, against a
 * float64 reference of everything: the CLIP encoders (reference-clip.ts), diffusers' SDXL
 * conditioning, the UNet and VAE decoder (reference-diffusion-models.ts), the scheduler loop.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { convertCheckpoint } from "../../../src/convert/index.ts";
import { ClipTokenizer } from "../../../src/engine/image/clip-tokenizer.ts";
import { GaussianNoise } from "../../../src/engine/image/noise.ts";
import { DiffusionPipeline, type ImageRequest } from "../../../src/engine/image/pipeline.ts";
import { parseSchedulerConfig } from "../../../src/engine/image/scheduler-config.ts";
import { createScheduler } from "../../../src/engine/image/schedulers.ts";
import { writeTinyDiffusersSdxlRepo, SDXL_D1, SDXL_D2, SDXL_PROJ, type TinySdxlRepo } from "../../support/diffusers-sdxl-repo.ts";
import { clipTextReference } from "../../support/reference-clip.ts";
import { unetRef, vaeDecodeRef } from "../../support/reference-diffusion-models.ts";
import { tensor } from "../../support/reference-diffusion.ts";

setDefaultTimeout(240_000);
const work = mkdtempSync(join(tmpdir(), "atoma-sdxl-repo-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const TURBO = { _class_name: "EulerAncestralDiscreteScheduler", beta_schedule: "scaled_linear", beta_start: 0.00085, beta_end: 0.012, timestep_spacing: "trailing", steps_offset: 1, num_train_timesteps: 1000, prediction_type: "epsilon" };
const BASE = { _class_name: "EulerDiscreteScheduler", beta_schedule: "scaled_linear", beta_start: 0.00085, beta_end: 0.012, timestep_spacing: "leading", steps_offset: 1, num_train_timesteps: 1000, prediction_type: "epsilon" };

/** diffusers' StableDiffusionXLPipeline, in float64, for one image. */
function reference(m: TinySdxlRepo, dir: string, sched: Record<string, unknown>, req: ImageRequest): Uint8Array {
  const tok1 = ClipTokenizer.fromFolder(join(dir, "tokenizer")), tok2 = ClipTokenizer.fromFolder(join(dir, "tokenizer_2"));
  const DT = SDXL_D1 + SDXL_D2;
  const encode = (p: string) => {
    const r1 = clipTextReference(m.te1.config, m.te1.tensors, tok1.encode(p).ids);
    const r2 = clipTextReference(m.te2.config, m.te2.tensors, tok2.encode(p).ids);
    const h1 = r1.hiddenStates.at(-2)!, h2 = r2.hiddenStates.at(-2)!;
    return { hidden: tensor([1, 77, DT], h1.flatMap((row, t) => [...row, ...h2[t]!])), pooled: tensor([1, SDXL_PROJ], r2.textEmbeds!) };
  };
  const guided = req.guidanceScale > 1;
  const pos = encode(req.prompt);
  // force_zeros_for_empty_prompt with an empty negative prompt: zeros
  const neg = req.uncondPrompt === "" ? { hidden: tensor([1, 77, DT]), pooled: tensor([1, SDXL_PROJ]) } : encode(req.uncondPrompt);
  const timeIds = [[req.height, req.width, 0, 0, req.height, req.width]];
  const h = req.height / 8, w = req.width / 8, n = 4 * h * w;
  const noise = new GaussianNoise(req.seed);
  const s = createScheduler(parseSchedulerConfig(sched), req.steps);
  let x: Float32Array = Float32Array.from(noise.fill(n), (z) => z * s.initNoiseSigma);
  for (let i = 0; i < req.steps; i++) {
    const inp = tensor([1, 4, h, w], s.scaleModelInput(x, i));
    const t = s.timesteps[i]!;
    const c = unetRef(m.unet, m.unetConfig, inp, t, pos.hidden, { textEmbeds: pos.pooled, timeIds }).data;
    let eps = c;
    if (guided) {
      const u = unetRef(m.unet, m.unetConfig, inp, t, neg.hidden, { textEmbeds: neg.pooled, timeIds }).data;
      eps = u.map((v, e) => v + req.guidanceScale * (c[e]! - v));
    }
    x = s.step(Float32Array.from(eps), i, x, noise);
  }
  const img = vaeDecodeRef(m.vae, m.vaeConfig, tensor([1, 4, h, w], Array.from(x, (v) => v / 0.13025))).data;
  const rgb = new Uint8Array(req.width * req.height * 3);
  const hw = req.width * req.height;
  for (let c = 0; c < 3; c++) for (let p = 0; p < hw; p++) rgb[p * 3 + c] = Math.round(Math.min(1, Math.max(0, img[c * hw + p]! / 2 + 0.5)) * 255);
  return rgb;
}

function maxDiff(a: Uint8Array, b: Uint8Array): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

describe("diffusers SDXL repo → ONNX → SDXL pipeline", () => {
  for (const [name, sched, req] of [
    ["SDXL base, guided, empty negative zeroed", BASE, { prompt: "a red cat", uncondPrompt: "", width: 64, height: 48, steps: 2, guidanceScale: 5, numSamples: 1, seed: 9n }],
    ["SDXL base, guided, a negative prompt", BASE, { prompt: "a red cat", uncondPrompt: "dog", width: 48, height: 64, steps: 2, guidanceScale: 5, numSamples: 1, seed: 10n }],
    ["SDXL-Turbo, guidance 0, 1 step", TURBO, { prompt: "a cat", uncondPrompt: "", width: 64, height: 64, steps: 1, guidanceScale: 0, numSamples: 1, seed: 11n }],
  ] as const) {
    test(`${name}: matches the float64 reference; reruns identical`, async () => {
      const key = name.replace(/[^a-z0-9]+/gi, "-");
      const repo = join(work, `${key}-repo`), out = join(work, `${key}-onnx`);
      const m = writeTinyDiffusersSdxlRepo(repo, sched);
      const r = await convertCheckpoint({ src: repo, out, dtypes: ["fp32"] });
      expect(r.modelType).toBe("StableDiffusionXLPipeline");
      expect(JSON.parse(readFileSync(join(out, "model_index.json"), "utf8")).force_zeros_for_empty_prompt).toBe(true);
      const pipe = await DiffusionPipeline.load(out);
      expect(pipe.isSdxl).toBe(true);
      const a = (await pipe.generate(req)).images[0]!;
      expect(new Set(a.rgb).size).toBeGreaterThan(16);
      expect(maxDiff(a.rgb, reference(m, repo, sched, req))).toBeLessThanOrEqual(1);
      const b = (await pipe.generate(req)).images[0]!;
      expect(Buffer.from(a.rgb).equals(Buffer.from(b.rgb))).toBe(true);
    });
  }
});
