/**
 * SDXL and SDXL-Turbo on the tiny test-built folder (tiny-sdxl.ts): the conditioning the UNet gets
 * (penultimate hidden states of both converted CLIP encoders concatenated, text_encoder_2's
 * text_embeds, time ids, zeroed empty negative) against a TypeScript reference built on
 * test/support/reference-clip.ts, then whole guided and Turbo loops against a reference of the
 * loop, and byte-identical reruns per seed.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClipTokenizer } from "../../../src/engine/image/clip-tokenizer.ts";
import { DiffusionComponents } from "../../../src/engine/image/components.ts";
import { textConditioning } from "../../../src/engine/image/conditioning.ts";
import { GaussianNoise } from "../../../src/engine/image/noise.ts";
import { DiffusionPipeline, type ImageRequest, type RgbImage } from "../../../src/engine/image/pipeline.ts";
import { decodeRgb } from "../../../src/engine/image/png.ts";
import { parseSchedulerConfig } from "../../../src/engine/image/scheduler-config.ts";
import { createScheduler } from "../../../src/engine/image/schedulers.ts";
import { clipTextReference } from "../../support/reference-clip.ts";
import { C, writeTinySd } from "./tiny-sd.ts";
import { DT, P, unetReference, writeTinySdxl, type TinySdxl } from "./tiny-sdxl.ts";

setDefaultTimeout(120_000);
const root = mkdtempSync(join(tmpdir(), "tiny-sdxl-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// stabilityai/sdxl-turbo's scheduler: Euler-ancestral, trailing; SDXL base: Euler, leading.
const TURBO = { _class_name: "EulerAncestralDiscreteScheduler", beta_schedule: "scaled_linear", beta_start: 0.00085, beta_end: 0.012, timestep_spacing: "trailing", steps_offset: 1, num_train_timesteps: 1000 };
const BASE = { _class_name: "EulerDiscreteScheduler", beta_schedule: "scaled_linear", beta_start: 0.00085, beta_end: 0.012, timestep_spacing: "leading", steps_offset: 1, num_train_timesteps: 1000 };

interface RefCond { hidden: number[][]; pooled: number[] }

/** diffusers' encode_prompt for one prompt: hidden_states[-2] of both encoders, concatenated; text_embeds of the second. */
function refCondition(m: TinySdxl, tok1: ClipTokenizer, tok2: ClipTokenizer, prompt: string): RefCond {
  const r1 = clipTextReference(m.te1.config, m.te1.tensors, tok1.encode(prompt).ids);
  const r2 = clipTextReference(m.te2.config, m.te2.tensors, tok2.encode(prompt).ids);
  const h1 = r1.hiddenStates.at(-2)!, h2 = r2.hiddenStates.at(-2)!;
  return { hidden: h1.map((row, t) => [...row, ...h2[t]!]), pooled: r2.textEmbeds! };
}

const zeros = (): RefCond => ({ hidden: Array.from({ length: 77 }, () => new Array(DT).fill(0)), pooled: new Array(P).fill(0) });

function referenceImages(m: TinySdxl, dir: string, sched: Record<string, unknown>, req: ImageRequest, forceZeros: boolean): RgbImage[] {
  const tok1 = ClipTokenizer.fromFolder(join(dir, "tokenizer")), tok2 = ClipTokenizer.fromFolder(join(dir, "tokenizer_2"));
  const guided = req.guidanceScale > 1;
  const pos = refCondition(m, tok1, tok2, req.prompt);
  const neg = forceZeros && req.uncondPrompt === "" ? zeros() : refCondition(m, tok1, tok2, req.uncondPrompt);
  const ids = [req.height, req.width, 0, 0, req.height, req.width]; // original_size, crop (0, 0), target_size
  const h = req.height / 8, wd = req.width / 8, hw = h * wd;
  const noise = new GaussianNoise(req.seed);
  const out: RgbImage[] = [];
  for (let k = 0; k < req.numSamples; k++) {
    const s = createScheduler(parseSchedulerConfig(sched), req.steps);
    let x: Float32Array = Float32Array.from(noise.fill(C * hw), (z) => z * s.initNoiseSigma);
    for (let i = 0; i < req.steps; i++) {
      const inp = s.scaleModelInput(x, i), t = s.timesteps[i]!;
      const c = unetReference(m.unet, inp, hw, t, pos.hidden, pos.pooled, ids);
      const eps = guided ? unetReference(m.unet, inp, hw, t, neg.hidden, neg.pooled, ids).map((u, e) => u + req.guidanceScale * (c[e]! - u)) : c;
      x = s.step(Float32Array.from(eps), i, x, noise);
    }
    const rgb = new Uint8Array(req.height * req.width * 3);
    for (let y = 0; y < req.height; y++)
      for (let xx = 0; xx < req.width; xx++)
        for (let ch = 0; ch < 3; ch++) {
          const p = Math.floor(y / 8) * wd + Math.floor(xx / 8);
          let v = 0;
          for (let j = 0; j < C; j++) v += m.decW[ch * C + j]! * (x[j * hw + p]! / m.scaling);
          rgb[(y * req.width + xx) * 3 + ch] = Math.round(Math.min(1, Math.max(0, Math.tanh(v) / 2 + 0.5)) * 255);
        }
    out.push({ width: req.width, height: req.height, rgb });
  }
  return out;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const same = (a: RgbImage, b: RgbImage) => Buffer.from(a.rgb).equals(Buffer.from(b.rgb));

describe("tiny SDXL pipeline on onnxruntime-node", () => {
  test("conditioning: penultimate states of both encoders concatenated, text_embeds, time ids [H, W, 0, 0, H, W], zeros for an empty negative", async () => {
    const dir = join(root, "cond");
    const m = await writeTinySdxl(dir, BASE);
    const parts = await DiffusionComponents.load(dir);
    expect(parts.isSdxl).toBe(true);
    const tok1 = ClipTokenizer.fromFolder(join(dir, "tokenizer")), tok2 = ClipTokenizer.fromFolder(join(dir, "tokenizer_2"));
    expect(tok2.pad).toBe(33); // "!" — SDXL's tokenizer_2 pads with it, not with <|endoftext|>
    const sdxl = { tokenizer2: tok2, forceZerosForEmptyPrompt: true };
    const req = { prompt: "a red cat", uncondPrompt: "dog", width: 64, height: 48 };
    const pos = refCondition(m, tok1, tok2, req.prompt), neg = refCondition(m, tok1, tok2, req.uncondPrompt);

    const guided = await textConditioning(parts, tok1, sdxl, req, true);
    expect(guided.unet.hidden.dims).toEqual([2, 77, DT]);
    expect(maxDiff(guided.unet.hidden.data, [...neg.hidden.flat(), ...pos.hidden.flat()])).toBeLessThan(1e-4);
    expect(guided.unet.textEmbeds!.dims).toEqual([2, P]);
    expect(maxDiff(guided.unet.textEmbeds!.data, [...neg.pooled, ...pos.pooled])).toBeLessThan(1e-4);
    expect(guided.unet.timeIds).toEqual({ data: Float32Array.from([48, 64, 0, 0, 48, 64, 48, 64, 0, 0, 48, 64]), dims: [2, 6] });

    const empty = await textConditioning(parts, tok1, sdxl, { ...req, uncondPrompt: "" }, true);
    expect(maxDiff(empty.unet.hidden.data, [...zeros().hidden.flat(), ...pos.hidden.flat()])).toBeLessThan(1e-4);
    expect(maxDiff(empty.unet.textEmbeds!.data, [...zeros().pooled, ...pos.pooled])).toBeLessThan(1e-4);
    // force_zeros_for_empty_prompt false: "" is encoded like any prompt
    const encoded = await textConditioning(parts, tok1, { ...sdxl, forceZerosForEmptyPrompt: false }, { ...req, uncondPrompt: "" }, true);
    const e = refCondition(m, tok1, tok2, "");
    expect(maxDiff(encoded.unet.textEmbeds!.data, [...e.pooled, ...pos.pooled])).toBeLessThan(1e-4);

    const unguided = await textConditioning(parts, tok1, sdxl, req, false);
    expect(unguided.unet.hidden.dims).toEqual([1, 77, DT]);
    expect(maxDiff(unguided.unet.hidden.data, pos.hidden.flat())).toBeLessThan(1e-4);
    expect([...unguided.unet.timeIds!.data]).toEqual([48, 64, 0, 0, 48, 64]);
  });

  test("SDXL base: guided Euler loop matches the reference (empty negative zeroed, and a real negative); same seed ⇒ same bytes", async () => {
    const dir = join(root, "base");
    const m = await writeTinySdxl(dir, BASE);
    const pipe = await DiffusionPipeline.load(dir);
    expect(pipe.isSdxl).toBe(true);
    expect(pipe.defaultSize).toBe(64);
    const req: ImageRequest = { prompt: "a red cat", uncondPrompt: "", width: 64, height: 48, steps: 3, guidanceScale: 5, numSamples: 2, seed: 77n };
    const a = await pipe.generate(req);
    // the check is only worth something if the pixels are not saturated
    expect(new Set(a.images[0]!.rgb).size).toBeGreaterThan(20);
    const ref = referenceImages(m, dir, BASE, req, true);
    for (let k = 0; k < 2; k++) expect(maxDiff(a.images[k]!.rgb, ref[k]!.rgb)).toBeLessThanOrEqual(1);
    expect(same((await pipe.generate(req)).images[1]!, a.images[1]!)).toBe(true);
    const withNeg = { ...req, uncondPrompt: "dog", numSamples: 1 };
    const b = await pipe.generate(withNeg);
    expect(maxDiff(b.images[0]!.rgb, referenceImages(m, dir, BASE, withNeg, true)[0]!.rgb)).toBeLessThanOrEqual(1);
    expect(same(b.images[0]!, a.images[0]!)).toBe(false);
  });

  test("SDXL-Turbo: guidance 0, 1 and 4 trailing Euler-ancestral steps match the reference; seeds differ, reruns identical", async () => {
    const dir = join(root, "turbo");
    const m = await writeTinySdxl(dir, TURBO, { forceZeros: true });
    const pipe = await DiffusionPipeline.load(dir);
    for (const steps of [1, 4]) {
      const req: ImageRequest = { prompt: "a cat", uncondPrompt: "", width: 48, height: 64, steps, guidanceScale: 0, numSamples: 1, seed: 5n };
      const seen: number[] = [];
      const a = await pipe.generate(req, (d) => seen.push(d));
      expect(seen.length).toBe(steps);
      expect(maxDiff(a.images[0]!.rgb, referenceImages(m, dir, TURBO, req, true)[0]!.rgb)).toBeLessThanOrEqual(1);
      expect(same((await pipe.generate(req)).images[0]!, a.images[0]!)).toBe(true);
      expect(same((await pipe.generate({ ...req, seed: 6n })).images[0]!, a.images[0]!)).toBe(false);
    }
  });

  test("atoma-node generate-image on an SDXL-Turbo folder: turbo defaults (1 step, guidance 0), the pipeline's pixels", async () => {
    const dir = join(root, "sdxl-turbo");
    await writeTinySdxl(dir, TURBO);
    const png = join(root, "turbo.png");
    const p = Bun.spawn([process.execPath, join(import.meta.dir, "../../../src/cli/main.ts"), "generate-image", "--model", dir, "--prompt", "a red cat", "--seed", "5", "--width", "48", "--height", "64", "--out", png], { stdout: "pipe", stderr: "pipe", env: { ...process.env, ATOMA_LOG: "warn" } });
    const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
    expect(code).toBe(0);
    expect(err).toContain("step 1/1 (100%)");
    const want = await (await DiffusionPipeline.load(dir)).generate({ prompt: "a red cat", uncondPrompt: "", width: 48, height: 64, steps: 1, guidanceScale: 0, numSamples: 1, seed: 5n });
    expect(Buffer.from(decodeRgb(readFileSync(png)).rgb).equals(Buffer.from(want.images[0]!.rgb))).toBe(true);
  });

  test("an SDXL folder without tokenizer_2/ or with a UNet lacking text_embeds or a refiner fails with one clear line", async () => {
    const dir = join(root, "broken");
    await writeTinySdxl(dir, TURBO);
    cpSync(join(dir, "tokenizer_2"), join(root, "tok2"), { recursive: true });
    rmSync(join(dir, "tokenizer_2"), { recursive: true });
    await expect(DiffusionPipeline.load(dir)).rejects.toThrow(/tokenizer_2: missing \(an SDXL folder has text_encoder_2\/ and tokenizer_2\/\)/);
    cpSync(join(root, "tok2"), join(dir, "tokenizer_2"), { recursive: true });
    writeTinySd(join(root, "plain"), TURBO);
    cpSync(join(root, "plain", "unet"), join(dir, "unet"), { recursive: true, force: true });
    writeFileSync(join(dir, "model_index.json"), JSON.stringify({ _class_name: "StableDiffusionXLImg2ImgPipeline", requires_aesthetics_score: true }));
    await expect(DiffusionPipeline.load(dir)).rejects.toThrow(/model_index.json: SDXL refiner pipelines \(requires_aesthetics_score\) are not supported$/);
    writeFileSync(join(dir, "model_index.json"), "{}");
    await expect(DiffusionPipeline.load(dir)).rejects.toThrow(/^unet \(SDXL\): model has no input "text_embeds" \(inputs: sample, timestep, encoder_hidden_states\)$/);
  });
});
