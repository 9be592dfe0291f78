/**
 * The ImageEngine boundary over a tiny test-written diffusers folder: PNG and committed bytes agree,
 * deterministic per seed, limits refused before any work, abort between steps, calls queue.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decode } from "fast-png";
import { ImageAbortedError, isDiffusersDir, loadImageEngine } from "../../../src/engine/image/engine.ts";
import type { ImageEngine, ImageRequest } from "../../../src/engine/types.ts";
import { writeTinySd } from "./tiny-sd.ts";

const root = mkdtempSync(join(tmpdir(), "img-engine-"));
const EULER_A = { _class_name: "EulerAncestralDiscreteScheduler", beta_schedule: "scaled_linear", beta_start: 0.00085, beta_end: 0.012, timestep_spacing: "trailing", steps_offset: 1 };
let engine: ImageEngine;

beforeAll(async () => {
  writeTinySd(join(root, "sd"), EULER_A);
  engine = await loadImageEngine({ id: "tiny-sd", dir: join(root, "sd"), device: "cpu" });
});
afterAll(async () => {
  await engine?.dispose();
  rmSync(root, { recursive: true, force: true });
});

const base: ImageRequest = { prompt: "a red cat", uncondPrompt: "", width: 16, height: 16, steps: 3, guidanceScale: 7.5, numSamples: 2, seed: 7n };

describe("ImageEngine (diffusers ONNX folder)", () => {
  test("info: default size from unet sample_size, limits, scheduler", () => {
    expect(isDiffusersDir(join(root, "sd"))).toBe(true);
    expect(isDiffusersDir(root)).toBe(false);
    expect(engine.info).toMatchObject({ id: "tiny-sd", modelType: "stable_diffusion", scheduler: "euler_ancestral", defaultSize: 16, maxSize: 32, maxSteps: 500, maxSamples: 16, turbo: false, img2img: true });
  });

  test("num_samples images: PNG decodes to exactly the committed RGB bytes; same seed ⇒ same bytes", async () => {
    const steps: [number, number][] = [];
    const a = await engine.generate(base, { onStep: (d, t) => steps.push([d, t]) });
    expect(steps).toEqual([[1, 6], [2, 6], [3, 6], [4, 6], [5, 6], [6, 6]]);
    expect(a.images).toHaveLength(2);
    expect(a.steps).toBe(6);
    for (const img of a.images) {
      expect(img.rgb.length).toBe(16 * 16 * 3);
      const png = decode(img.png);
      expect([png.width, png.height, png.channels, png.depth]).toEqual([16, 16, 3, 8]);
      expect(Buffer.from(png.data as Uint8Array).equals(Buffer.from(img.rgb))).toBe(true);
    }
    const b = await engine.generate(base);
    expect(b.images.map((i) => Buffer.from(i.rgb).toString("hex"))).toEqual(a.images.map((i) => Buffer.from(i.rgb).toString("hex")));
    expect(b.images.map((i) => Buffer.from(i.png).toString("hex"))).toEqual(a.images.map((i) => Buffer.from(i.png).toString("hex")));
    const c = await engine.generate({ ...base, seed: 8n });
    expect(Buffer.from(c.images[0]!.rgb).equals(Buffer.from(a.images[0]!.rgb))).toBe(false);
  });

  test("a prompt beyond CLIP's 77 tokens is truncated and the count reported", async () => {
    const r = await engine.generate({ ...base, numSamples: 1, prompt: "cat ".repeat(100) });
    expect(r.truncated).toEqual({ prompt: 25, uncond: 0 });
  });

  test("requests outside the limits are refused with one line", async () => {
    const cases: [Partial<ImageRequest>, RegExp][] = [
      [{ width: 12 }, /^width 12 is not a positive multiple of 8$/],
      [{ height: 0 }, /^height 0 is not a positive multiple of 8$/],
      [{ width: 40 }, /^width 40 is beyond this model's limit of 32$/],
      [{ steps: 0 }, /^steps 0: at least 1 needed$/],
      [{ steps: 501 }, /^steps 501 is more than this node's limit of 500$/],
      [{ guidanceScale: -1 }, /^guidance_scale -1 must be a finite number >= 0$/],
      [{ guidanceScale: NaN }, /^guidance_scale NaN must be/],
      [{ numSamples: 0 }, /^num_samples 0: at least 1 needed$/],
      [{ numSamples: 17 }, /^num_samples 17 is more than this node's limit of 16$/],
      [{ init: { width: 8, height: 8, rgb: new Uint8Array(192) }, strength: 0.5 }, /^img2img image is 8x8, expected 16x16$/],
      [{ init: { width: 16, height: 16, rgb: new Uint8Array(768) }, strength: 2 }, /^img2img_strength 2 must be within \[0, 1\]$/],
    ];
    for (const [over, re] of cases) await expect(engine.generate({ ...base, ...over })).rejects.toThrow(re);
  });

  test("an aborted signal stops between steps; a queued request runs after it", async () => {
    const ctl = new AbortController();
    const first = engine.generate({ ...base, steps: 50, numSamples: 4 }, { onStep: (d) => d === 2 && ctl.abort(), signal: ctl.signal });
    const second = engine.generate({ ...base, numSamples: 1 });
    await expect(first).rejects.toBeInstanceOf(ImageAbortedError);
    await expect(first).rejects.toThrow(/aborted after 3 of 200 steps/);
    expect((await second).images).toHaveLength(1);
  });

  test("configured limits and bad folders", async () => {
    const e = await loadImageEngine({ id: "sd-small", dir: join(root, "sd"), device: "cpu", maxSize: 24, maxSteps: 4, maxSamples: 1 });
    try {
      expect(e.info).toMatchObject({ maxSize: 24, maxSteps: 4, maxSamples: 1 });
      await expect(e.generate({ ...base, numSamples: 2 })).rejects.toThrow(/limit of 1$/);
    } finally {
      await e.dispose();
    }
    await expect(e.generate(base)).rejects.toThrow(/has been unloaded/);
    await expect(loadImageEngine({ id: "x", dir: root, device: "cpu" })).rejects.toThrow(/not a diffusers pipeline folder/);
    await expect(loadImageEngine({ id: "x", dir: join(root, "sd"), device: "wasm" })).rejects.toThrow(/device wasm is not available/);
    await expect(loadImageEngine({ id: "x", dir: join(root, "sd"), device: "cpu", maxSize: 20 })).rejects.toThrow(/multiple of 8/);
    await expect(loadImageEngine({ id: "x", dir: join(root, "sd"), device: "cpu", maxSteps: 1001 })).rejects.toThrow(/^max_steps 1001 is more than the scheduler's num_train_timesteps 1000: at most 1000$/);
  });
});
