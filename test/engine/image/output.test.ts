import { describe, expect, test } from "bun:test";
import { blake2b } from "@noble/hashes/blake2.js";
import { commitImages, imageCommittedBytes } from "../../../src/commitment/image.ts";
import { decodeRgb, encodePng } from "../../../src/engine/image/png.ts";
import { IMAGE_LIMITS, toImageRequest } from "../../../src/jobs/image-params.ts";
import type { Text2ImagePromptParams } from "../../../src/protocol/types.ts";

const img = { width: 4, height: 2, rgb: Uint8Array.from({ length: 24 }, (_, i) => (i * 29) % 256) };
const u64le = (v: number) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
  return b;
};
const cat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) out.set(p, o), (o += p.length);
  return out;
};

describe("image output", () => {
  test("committed bytes are the raw pixels (September) or pixels ‖ u64_le(width) ‖ u64_le(height) (July); the last image counts", () => {
    expect(imageCommittedBytes(img)).toEqual(img.rgb);
    expect(imageCommittedBytes(img, "pixels+size")).toEqual(cat(img.rgb, u64le(4), u64le(2)));
    const first = { ...img, rgb: new Uint8Array(24) };
    const c = commitImages([first, img], 3, 1);
    // Independent recomputation: leaf_j = blake2b256(data ‖ u64_le(j)), root over the leaves.
    const leaves = [0, 1, 2].map((j) => blake2b(cat(img.rgb, u64le(j)), { dkLen: 32 }));
    expect(c.leaf).toEqual(leaves[1]!);
    expect(c.root).toEqual(blake2b(cat(...leaves), { dkLen: 32 }));
    expect(() => commitImages([], 1, 0)).toThrow(/no image/);
    expect(() => imageCommittedBytes({ ...img, width: 5 })).toThrow(/5x2 RGB needs 30/);
  });

  test("PNG round trip through fast-png is lossless and deterministic", () => {
    const png = encodePng(img);
    expect([...png.subarray(0, 8)]).toEqual([137, 80, 78, 71, 13, 10, 26, 10]);
    expect(decodeRgb(png)).toEqual(img);
    expect(encodePng(img)).toEqual(png);
  });
});

describe("image params (spec §7.3) — bad input is a reason, never a throw", () => {
  const model = { defaultSize: 512, maxSize: 1024, turbo: false };
  const prompt = new TextEncoder().encode("a cat");
  const p: Text2ImagePromptParams = {
    guidanceScale: 7.5, height: 0n, width: 0n, img2img: null, img2imgStrength: 0.5, model: "m", nSteps: 30n, numSamples: 1n,
    outputDestination: new Uint8Array(), prompt, randomSeed: (1n << 64n) - 1n, uncondPrompt: new Uint8Array(),
  };
  test("defaults: 0 size → the model's; the u64 seed kept exactly; node limits apply", () => {
    const r = toImageRequest({ ...p, nSteps: 30n }, model);
    expect(r.ok && r.request).toMatchObject({ prompt: "a cat", uncondPrompt: "", width: 512, height: 512, steps: 30, numSamples: 1, seed: (1n << 64n) - 1n });
    const t = toImageRequest({ ...p, nSteps: 0n }, { ...model, turbo: true });
    expect(!t.ok && t.reason).toBe("n_steps is 0; expected at least 1 (usually 1 to 4 for this turbo model)");
    const lim = toImageRequest({ ...p, nSteps: 60n, numSamples: 3n }, { ...model, maxSteps: 50, maxSamples: 4 });
    expect(!lim.ok && lim.reason).toBe("n_steps 60 is absurd; at most 50");
    const lim2 = toImageRequest({ ...p, nSteps: 50n, numSamples: 5n }, { ...model, maxSteps: 50, maxSamples: 4 });
    expect(!lim2.ok && lim2.reason).toBe("num_samples 5 is absurd; at most 4");
  });
  test("reasons", () => {
    const cases: [Partial<Text2ImagePromptParams>, RegExp][] = [
      [{ width: 500n }, /width 500 is not a multiple of 8/],
      [{ height: 2048n }, /height 2048 is beyond this model's limit of 1024/],
      [{ nSteps: 0n }, /n_steps is 0; expected at least 1 \(usually 20 to 50\)/],
      [{ nSteps: 100000n }, /n_steps 100000 is absurd; at most 500/],
      [{ guidanceScale: -1 }, /guidance_scale -1 must be a finite number >= 0/],
      [{ guidanceScale: NaN }, /guidance_scale NaN/],
      [{ numSamples: 0n }, /num_samples is 0/],
      [{ numSamples: 1000n }, new RegExp(`at most ${IMAGE_LIMITS.maxSamples}`)],
      [{ img2img: new Uint8Array([1, 2, 3]) }, /img2img is not a decodable PNG image/],
      [{ img2img: encodePng(img), img2imgStrength: 2 }, /img2img_strength 2 must be within \[0, 1\]/],
      [{ img2img: encodePng(img) }, /smaller than 32x32/],
    ];
    for (const [over, re] of cases) {
      const r = toImageRequest({ ...p, ...over }, model);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(re);
    }
  });
  test("img2img: centre-cropped to multiples of 32, which sets the output size", () => {
    const big = { width: 70, height: 40, rgb: Uint8Array.from({ length: 70 * 40 * 3 }, (_, i) => i % 251) };
    const r = toImageRequest({ ...p, width: 512n, height: 512n, img2img: encodePng(big) }, model);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect([r.request.width, r.request.height, r.request.strength]).toEqual([64, 32, 0.5]);
    // crop origin (3, 4): first pixel of the crop is source pixel (3, 4)
    expect([...r.request.init!.rgb.subarray(0, 3)]).toEqual([...big.rgb.subarray((4 * 70 + 3) * 3, (4 * 70 + 3) * 3 + 3)]);
  });
});
