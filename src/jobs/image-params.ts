/**
 * Chain image params (spec §7.3) → pipeline request, validated so a bad prompt fails its job with
 * a reason instead of touching the node: sizes multiples of 8 within the model's limit (0 = the
 * model's default, spec §7.3), steps within 1..maxSteps (0 is refused: it would decode pure
 * noise), a finite non-negative guidance (guidance applies only above 1), 1..maxSamples images,
 * strength within [0, 1], and an img2img payload that decodes as PNG. The img2img image
 * is centre-cropped to multiples of 32 (as the reference crops) and then sets the output size.
 */
import type { ImageRequest, RgbImage } from "../engine/image/pipeline.ts";
import { decodeRgb } from "../engine/image/png.ts";
import { promptText } from "../protocol/msgpack.ts";
import type { Text2ImagePromptParams } from "../protocol/types.ts";

export const IMAGE_LIMITS = { maxSteps: 500, maxSamples: 16, promptBytes: 1 << 16, img2imgBytes: 32 << 20 } as const;

export interface ImageModelInfo {
  /** Pixels used when width/height are 0 (unet sample_size × 8). */
  defaultSize: number;
  /** Largest width/height accepted. */
  maxSize: number;
  /** sd-turbo/sdxl-turbo: the 0-steps message suggests 1 step instead of 30. */
  turbo: boolean;
  /** The node's limits (ImageModelInfo); IMAGE_LIMITS when absent. */
  maxSteps?: number;
  maxSamples?: number;
}

export type ImageValidated = { ok: true; request: ImageRequest } | { ok: false; reason: string };

function cropTo32(img: RgbImage): RgbImage {
  const w = img.width - (img.width % 32), h = img.height - (img.height % 32);
  if (w === img.width && h === img.height) return img;
  const x0 = Math.floor((img.width - w) / 2), y0 = Math.floor((img.height - h) / 2);
  const rgb = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) rgb.set(img.rgb.subarray(((y0 + y) * img.width + x0) * 3, ((y0 + y) * img.width + x0 + w) * 3), y * w * 3);
  return { width: w, height: h, rgb };
}

export function toImageRequest(p: Text2ImagePromptParams, model: ImageModelInfo): ImageValidated {
  const fail = (reason: string): ImageValidated => ({ ok: false, reason });
  for (const [name, bytes] of [["prompt", p.prompt], ["uncond_prompt", p.uncondPrompt]] as const) {
    if (bytes.length > IMAGE_LIMITS.promptBytes) return fail(`${name} is ${bytes.length} bytes; at most ${IMAGE_LIMITS.promptBytes} accepted`);
  }
  const prompt = promptText(p.prompt);
  if ("error" in prompt) return fail(prompt.error);
  const uncond = p.uncondPrompt.length === 0 ? { text: "" } : promptText(p.uncondPrompt);
  if ("error" in uncond) return fail(`uncond_prompt: ${uncond.error}`);
  let width = p.width === 0n ? model.defaultSize : Number(p.width);
  let height = p.height === 0n ? model.defaultSize : Number(p.height);
  for (const [name, v] of [["width", width], ["height", height]] as const) {
    if (v % 8 !== 0) return fail(`${name} ${v} is not a multiple of 8`);
    if (v > model.maxSize) return fail(`${name} ${v} is beyond this model's limit of ${model.maxSize}`);
  }
  const maxSteps = model.maxSteps ?? IMAGE_LIMITS.maxSteps;
  const maxSamples = model.maxSamples ?? IMAGE_LIMITS.maxSamples;
  if (p.nSteps === 0n) return fail(`n_steps is 0; expected at least 1 (usually ${model.turbo ? "1 to 4 for this turbo model" : "20 to 50"})`);
  const steps = p.nSteps;
  if (steps > BigInt(maxSteps)) return fail(`n_steps ${steps} is absurd; at most ${maxSteps}`);
  if (!Number.isFinite(p.guidanceScale) || p.guidanceScale < 0) return fail(`guidance_scale ${p.guidanceScale} must be a finite number >= 0`);
  if (p.numSamples === 0n) return fail("num_samples is 0; expected at least 1");
  if (p.numSamples > BigInt(maxSamples)) return fail(`num_samples ${p.numSamples} is absurd; at most ${maxSamples}`);
  let init: RgbImage | undefined;
  if (p.img2img && p.img2img.length > 0) {
    if (!(p.img2imgStrength >= 0 && p.img2imgStrength <= 1)) return fail(`img2img_strength ${p.img2imgStrength} must be within [0, 1]`);
    if (p.img2img.length > IMAGE_LIMITS.img2imgBytes) return fail(`img2img is ${p.img2img.length} bytes; at most ${IMAGE_LIMITS.img2imgBytes} accepted`);
    try {
      init = cropTo32(decodeRgb(p.img2img));
    } catch (e) {
      return fail(`img2img is not a decodable PNG image: ${(e as Error).message}`);
    }
    if (init.width < 32 || init.height < 32) return fail(`img2img image is smaller than 32x32 after cropping to multiples of 32`);
    if (init.width > model.maxSize || init.height > model.maxSize) return fail(`img2img image ${init.width}x${init.height} is beyond this model's limit of ${model.maxSize}`);
    width = init.width;
    height = init.height;
  }
  return {
    ok: true,
    request: {
      prompt: prompt.text,
      uncondPrompt: uncond.text,
      width,
      height,
      steps: Number(steps),
      guidanceScale: p.guidanceScale,
      numSamples: Number(p.numSamples),
      seed: p.randomSeed,
      ...(init ? { init, strength: p.img2imgStrength } : {}),
    },
  };
}
