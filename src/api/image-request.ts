/**
 * Operator image requests — the OpenAI body, JSON-RPC `generate_image` params and the
 * `generate-image` flags — checked field by field under the caller's own parameter names, then
 * run through the chain's `toImageRequest` (jobs/image-params.ts), so an API image and a chain job
 * with the same params, model and seed get the same defaults, f32 rounding and pixels. Stricter
 * than chain params where 0 means "default" on chain: an operator who writes 0 steps, 0 images or
 * a 0 size gets told so instead of a default.
 */
import { IMAGE_LIMITS, toImageRequest } from "../jobs/image-params.ts";
import type { ImageModelInfo, ImageRequest } from "../engine/types.ts";
import { showValue } from "../log/show-value.ts";

/** A field of the request, named as the caller wrote it (`n`, `num_samples` or `--samples`). */
export class ImageParamError extends Error {
  override name = "ImageParamError";
  constructor(readonly param: string, message: string) {
    super(message);
  }
}

export interface ImageAsk {
  prompt: unknown;
  negativePrompt?: unknown;
  width?: unknown;
  height?: unknown;
  steps?: unknown;
  guidance?: unknown;
  samples?: unknown;
  /** Already a u64 (each frontend has its own seed rules: OpenAI's signed, absent → random). */
  seed: bigint;
  /** img2img (JSON-RPC only): PNG bytes and strength in [0, 1]. */
  init?: Uint8Array;
  strength?: unknown;
}

/** The caller's name for each field, used in every message. */
export type ImageNames = Record<Exclude<keyof ImageAsk, "seed">, string>;

const given = (v: unknown) => v !== undefined && v !== null;

function int(v: unknown, name: string, min: number, max: number, what = ""): number | undefined {
  if (!given(v)) return undefined;
  if (!Number.isSafeInteger(v) || (v as number) < min || (v as number) > max) {
    throw new ImageParamError(name, `${name}: expected an integer in ${min}..${max}${what}, got ${showValue(v)}`);
  }
  return v as number;
}

function text(v: unknown, name: string, required: boolean): string {
  if (!given(v)) {
    if (required) throw new ImageParamError(name, `${name}: expected a non-empty string`);
    return "";
  }
  if (typeof v !== "string" || (required && v === "")) throw new ImageParamError(name, `${name}: expected ${required ? "a non-empty" : "a"} string, got ${showValue(v)}`);
  const bytes = new TextEncoder().encode(v).length;
  if (bytes > IMAGE_LIMITS.promptBytes) throw new ImageParamError(name, `${name}: ${bytes} bytes; at most ${IMAGE_LIMITS.promptBytes} accepted`);
  return v;
}

function size(v: unknown, name: string, max: number): number | undefined {
  const n = int(v, name, 8, max, ` (this model's limit is ${max})`);
  if (n !== undefined && n % 8 !== 0) throw new ImageParamError(name, `${name}: ${n} is not a multiple of 8 (latents are 1/8 of the image)`);
  return n;
}

/** Checks every field, then builds the request exactly as a chain job with these params would. */
export function toOperatorImageRequest(ask: ImageAsk, names: ImageNames, info: ImageModelInfo): ImageRequest {
  const prompt = text(ask.prompt, names.prompt, true);
  const negative = text(ask.negativePrompt, names.negativePrompt, false);
  const width = size(ask.width, names.width, info.maxSize);
  const height = size(ask.height, names.height, info.maxSize);
  const steps = int(ask.steps, names.steps, 1, info.maxSteps);
  const samples = int(ask.samples, names.samples, 1, info.maxSamples) ?? 1;
  let guidance: number | undefined;
  if (given(ask.guidance)) {
    const g = ask.guidance;
    if (typeof g !== "number" || !Number.isFinite(g) || g < 0 || g > 100) {
      throw new ImageParamError(names.guidance, `${names.guidance}: expected a number in [0, 100] (guidance applies above 1), got ${showValue(g)}`);
    }
    guidance = g;
  }
  let strength = 0;
  if (ask.init) {
    const s = ask.strength ?? 0.8;
    if (typeof s !== "number" || !(s >= 0 && s <= 1)) throw new ImageParamError(names.strength, `${names.strength}: expected a number in [0, 1], got ${showValue(s)}`);
    strength = s;
  }
  const enc = new TextEncoder();
  // Chain form: size 0 = the model's default; floats carried as f32.
  const v = toImageRequest(
    {
      model: info.id,
      prompt: enc.encode(prompt),
      uncondPrompt: enc.encode(negative),
      width: BigInt(width ?? 0),
      height: BigInt(height ?? 0),
      // Spec §7.3 defaults: 30 steps (1 for turbo models).
      nSteps: BigInt(steps ?? (info.turbo ? 1 : 30)),
      guidanceScale: Math.fround(guidance ?? (info.turbo ? 0 : 7.5)),
      numSamples: BigInt(samples),
      randomSeed: ask.seed,
      img2img: ask.init ?? null,
      img2imgStrength: Math.fround(strength),
      outputDestination: new Uint8Array(),
    },
    info,
  );
  if (!v.ok) throw new ImageParamError(ask.init ? names.init : names.prompt, v.reason);
  return v.request;
}

/** What the answer says about CLIP's 77-token context (empty when nothing was dropped). */
export function truncationNote(t: { prompt: number; uncond: number }, names: Pick<ImageNames, "prompt" | "negativePrompt">): string {
  const parts: string[] = [];
  if (t.prompt > 0) parts.push(`${names.prompt}: ${t.prompt} CLIP tokens beyond the 77-token context were dropped`);
  if (t.uncond > 0) parts.push(`${names.negativePrompt}: ${t.uncond} CLIP tokens beyond the 77-token context were dropped`);
  return parts.join("; ");
}
