import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DiffusionPipeline, type ImageRequest, type RgbImage } from "../../../src/engine/image/pipeline.ts";
import { ClipTokenizer } from "../../../src/engine/image/clip-tokenizer.ts";
import { GaussianNoise } from "../../../src/engine/image/noise.ts";
import { parseSchedulerConfig } from "../../../src/engine/image/scheduler-config.ts";
import { createScheduler, img2imgStartStep } from "../../../src/engine/image/schedulers.ts";
import { C, D, tinyVocab, writeTinySd, type TinyWeights } from "./tiny-sd.ts";

const root = mkdtempSync(join(tmpdir(), "tiny-sd-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const EULER_A = { _class_name: "EulerAncestralDiscreteScheduler", beta_schedule: "scaled_linear", beta_start: 0.00085, beta_end: 0.012, timestep_spacing: "trailing", steps_offset: 1 };
const DDIM = { _class_name: "DDIMScheduler", beta_schedule: "scaled_linear", beta_start: 0.00085, beta_end: 0.012, timestep_spacing: "leading", steps_offset: 1, set_alpha_to_one: false };

/** Plain-TypeScript reference of the tiny components and of the whole guided loop. */
function reference(w: TinyWeights, sched: Record<string, unknown>, req: ImageRequest): RgbImage[] {
  const { vocab, merges } = tinyVocab();
  const tok = new ClipTokenizer(new Map(Object.entries(vocab)), merges, "<|endoftext|>");
  const text = (ids: number[]) => ids.map((id) => Array.from({ length: D }, (_, k) => Math.tanh(w.emb[id * D + k]!)));
  const mean = (rows: number[][]) => rows.flat().reduce((a, b) => a + b, 0) / (rows.length * D);
  const ctxC = mean(text(tok.encode(req.prompt).ids));
  const ctxU = mean(text(tok.encode(req.uncondPrompt).ids));
  const h = req.height / 8, wd = req.width / 8, hw = h * wd;
  const unet = (x: number[], t: number, ctx: number) =>
    x.map((_, i) => {
      const c = Math.floor(i / hw), p = i % hw;
      let s = w.unetB[c]!;
      for (let j = 0; j < C; j++) s += w.unetW[c * C + j]! * x[j * hw + p]!;
      return s + 0.5 * ctx + 0.1 * Math.sin(Math.fround(0.01 * Math.fround(t)));
    });
  const cfg = parseSchedulerConfig(sched);
  const noise = new GaussianNoise(req.seed);
  const out: RgbImage[] = [];
  const guided = req.guidanceScale > 1;
  let init: number[] | undefined;
  if (req.init) {
    const H = req.height, W = req.width;
    const pooled = Array.from({ length: 3 * hw }, (_, i) => {
      const c = Math.floor(i / hw), p = i % hw, py = Math.floor(p / wd), px = p % wd;
      let s = 0;
      for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) s += (req.init!.rgb[((py * 8 + y) * W + px * 8 + x) * 3 + c]! / 255) * 2 - 1;
      return s / 64;
    });
    void H;
    init = Array.from({ length: C * hw }, (_, i) => {
      const c = Math.floor(i / hw), p = i % hw;
      let s = 0;
      for (let j = 0; j < 3; j++) s += w.encW[c * 3 + j]! * pooled[j * hw + p]!;
      return s * 0.5;
    });
  }
  const start = req.init ? img2imgStartStep(req.steps, req.strength!) : 0;
  for (let k = 0; k < req.numSamples; k++) {
    const s = createScheduler(cfg, req.steps);
    let x: Float32Array = init
      ? s.addNoise(Float32Array.from(init), noise.fill(C * hw), start)
      : Float32Array.from(noise.fill(C * hw), (z) => z * s.initNoiseSigma);
    for (let i = start; i < req.steps; i++) {
      const inp = Array.from(s.scaleModelInput(x, i));
      const t = s.timesteps[i]!;
      const c = unet(inp, t, ctxC);
      const eps = guided ? unet(inp, t, ctxU).map((u, e) => u + req.guidanceScale * (c[e]! - u)) : c;
      x = s.step(Float32Array.from(eps), i, x, noise);
    }
    const rgb = new Uint8Array(req.height * req.width * 3);
    for (let y = 0; y < req.height; y++)
      for (let xx = 0; xx < req.width; xx++)
        for (let ch = 0; ch < 3; ch++) {
          const p = Math.floor(y / 8) * wd + Math.floor(xx / 8);
          let v = 0;
          for (let j = 0; j < C; j++) v += w.decW[ch * C + j]! * (x[j * hw + p]! / 0.5);
          rgb[(y * req.width + xx) * 3 + ch] = Math.round(Math.min(1, Math.max(0, Math.tanh(v) / 2 + 0.5)) * 255);
        }
    out.push({ width: req.width, height: req.height, rgb });
  }
  return out;
}

function maxDiff(a: Uint8Array, b: Uint8Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const base: ImageRequest = { prompt: "a red cat", uncondPrompt: "dog", width: 64, height: 48, steps: 4, guidanceScale: 7.5, numSamples: 1, seed: 1234n };

describe("tiny Stable Diffusion pipeline on onnxruntime-node", () => {
  test("CLIP tokenizer: lowercase, whitespace, pattern split, BPE with </w>, BOS/EOS, padding, truncation", () => {
    const { vocab, merges } = tinyVocab();
    const tok = new ClipTokenizer(new Map(Object.entries(vocab)), merges, "<|endoftext|>");
    // "a" → a</w> (256+97), "cat" → c a → ca, ca t</w> → cat</w>, "," → ,</w>, "dog" → dog</w>, "!" → !</w>
    expect(tok.tokenize("  A   Cat, DOG!")).toEqual([256 + 97, vocab["cat</w>"], 256 + 44, vocab["dog</w>"], 256 + 33]);
    const e = tok.encode("red");
    expect(e.ids.length).toBe(77);
    expect(e.ids.slice(0, 3)).toEqual([tok.bos, vocab["red</w>"]!, tok.eos]);
    expect(e.ids[76]).toBe(tok.pad);
    const long = tok.encode("cat ".repeat(100));
    expect(long.truncated).toBe(25);
    expect(long.ids[76]).toBe(tok.eos);
  });

  for (const [name, sched] of [["euler-ancestral trailing", EULER_A], ["ddim leading", DDIM]] as const) {
    test(`${name}: guided txt2img matches the TypeScript reference; same params ⇒ byte-identical pixels`, async () => {
      const dir = join(root, name.replace(/ /g, "-"));
      const w = writeTinySd(dir, sched);
      const pipe = await DiffusionPipeline.load(dir);
      const steps: number[] = [];
      const a = await pipe.generate({ ...base, numSamples: 2 }, (d) => steps.push(d));
      expect(steps).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      expect(a.images.length).toBe(2);
      const ref = reference(w, sched, { ...base, numSamples: 2 });
      for (let k = 0; k < 2; k++) expect(maxDiff(a.images[k]!.rgb, ref[k]!.rgb)).toBeLessThanOrEqual(1);
      expect(Buffer.from(a.images[0]!.rgb).equals(Buffer.from(a.images[1]!.rgb))).toBe(false);
      const b = await pipe.generate({ ...base, numSamples: 2 });
      expect(Buffer.from(b.images[1]!.rgb).equals(Buffer.from(a.images[1]!.rgb))).toBe(true);
      const c = await pipe.generate({ ...base, seed: 1235n });
      expect(Buffer.from(c.images[0]!.rgb).equals(Buffer.from(a.images[0]!.rgb))).toBe(false);
      // guidance ≤ 1: no negative branch (the reference's rule), so uncond_prompt has no effect
      const u1 = await pipe.generate({ ...base, guidanceScale: 1, uncondPrompt: "cat" });
      const u2 = await pipe.generate({ ...base, guidanceScale: 1, uncondPrompt: "dog" });
      expect(Buffer.from(u1.images[0]!.rgb).equals(Buffer.from(u2.images[0]!.rgb))).toBe(true);
      expect(maxDiff(u1.images[0]!.rgb, reference(w, sched, { ...base, guidanceScale: 1 })[0]!.rgb)).toBeLessThanOrEqual(1);
    });
  }

  test("img2img: VAE encode (mean of latent_parameters), strength → start step, matches the reference", async () => {
    const dir = join(root, "img2img");
    const w = writeTinySd(dir, DDIM);
    const pipe = await DiffusionPipeline.load(dir);
    const init: RgbImage = { width: 64, height: 48, rgb: Uint8Array.from({ length: 64 * 48 * 3 }, (_, i) => (i * 37) % 256) };
    const req = { ...base, steps: 10, init, strength: 0.45 };
    const seen: number[] = [];
    const r = await pipe.generate(req, (d, t) => seen.push(t));
    expect(seen.length).toBe(4); // 10 − floor(10·0.45) = 6 → steps 6..9
    expect(maxDiff(r.images[0]!.rgb, reference(w, DDIM, req)[0]!.rgb)).toBeLessThanOrEqual(1);
    await expect(pipe.generate({ ...req, strength: 1.5 })).rejects.toThrow(/img2img_strength must be within \[0, 1\], got 1.5/);
  });

  test("bad requests and folders fail with one clear line", async () => {
    const dir = join(root, "bad");
    writeTinySd(dir, DDIM, { encoder: false });
    const pipe = await DiffusionPipeline.load(dir);
    await expect(pipe.generate({ ...base, width: 60 })).rejects.toThrow(/multiples of 8, got 60x48/);
    await expect(pipe.generate({ ...base, numSamples: 0 })).rejects.toThrow(/num_samples must be at least 1/);
    await expect(pipe.generate({ ...base, steps: 0 })).rejects.toThrow(/steps must be an integer in 1..1000, got 0/);
    const init: RgbImage = { width: 64, height: 48, rgb: new Uint8Array(64 * 48 * 3) };
    await expect(pipe.generate({ ...base, init, strength: 0.5 })).rejects.toThrow(/img2img needs vae_encoder/);
    await expect(DiffusionPipeline.load(join(root, "nothing-here"))).rejects.toThrow(/scheduler_config.json: missing/);
  });
});
