/**
 * Stable Diffusion (1.x, 2.x, XL, XL-Turbo) text-to-image and img2img over a diffusers ONNX
 * folder: CLIP tokenization, text encoding (conditioning.ts; two encoders, pooled embeds and time
 * ids for SDXL), classifier-free guidance (uncond_prompt as the negative prompt, only when
 * guidance_scale > 1 as in the reference), the scheduler loop, VAE decode with scaling_factor.
 * Images of one job are generated one after another from one noise stream (noise.ts), so the
 * same params and seed give the same pixels on the same backend.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ClipTokenizer } from "./clip-tokenizer.ts";
import { DiffusionComponents, type Tensor4 } from "./components.ts";
import { textConditioning, type SdxlText } from "./conditioning.ts";
import { GaussianNoise } from "./noise.ts";
import { parseSchedulerConfig, type SchedulerConfig } from "./scheduler-config.ts";
import { createScheduler, img2imgStartStep } from "./schedulers.ts";

export interface RgbImage {
  width: number;
  height: number;
  /** Row-major H×W×3, u8 — the bytes spec §8.1 commits to. */
  rgb: Uint8Array;
}

export interface ImageRequest {
  prompt: string;
  uncondPrompt: string;
  /** Pixels; multiples of 8. */
  width: number;
  height: number;
  steps: number;
  guidanceScale: number;
  numSamples: number;
  seed: bigint;
  /** img2img: the initial image (already the requested width × height) and strength in [0, 1]. */
  init?: RgbImage;
  strength?: number;
}

export interface ImageResult {
  images: RgbImage[];
  /** Prompt tokens dropped to fit CLIP's context (prompt, negative prompt). */
  truncated: { prompt: number; uncond: number };
}

export type StepListener = (done: number, total: number) => void;

function readJson(file: string): Record<string, unknown> {
  if (!existsSync(file)) return {};
  const v = JSON.parse(readFileSync(file, "utf8")) as unknown;
  return typeof v === "object" && v !== null ? (v as Record<string, unknown>) : {};
}

/** u8 HWC RGB → [1, 3, H, W] in [-1, 1]. */
export function pixelsToTensor(img: RgbImage): Tensor4 {
  const { width: w, height: h, rgb } = img;
  const data = new Float32Array(3 * h * w);
  for (let c = 0; c < 3; c++) for (let p = 0; p < h * w; p++) data[c * h * w + p] = (rgb[p * 3 + c]! / 255) * 2 - 1;
  return { data, dims: [1, 3, h, w] };
}

/** VAE output [1, 3, H, W] in [-1, 1] → u8 HWC RGB: round(clamp(x/2 + 0.5, 0, 1) · 255). */
export function tensorToPixels(t: Tensor4): RgbImage {
  const [, c, h, w] = t.dims;
  if (c !== 3) throw new Error(`vae_decoder produced ${c} channels, expected 3`);
  const rgb = new Uint8Array(h * w * 3);
  for (let ch = 0; ch < 3; ch++) {
    for (let p = 0; p < h * w; p++) {
      const v = Math.min(1, Math.max(0, t.data[ch * h * w + p]! / 2 + 0.5));
      rgb[p * 3 + ch] = Math.round(v * 255);
    }
  }
  return { width: w, height: h, rgb };
}

export class DiffusionPipeline {
  private constructor(
    readonly dir: string,
    private readonly parts: DiffusionComponents,
    private readonly tokenizer: ClipTokenizer,
    readonly scheduler: SchedulerConfig,
    readonly scalingFactor: number,
    readonly latentChannels: number,
    /** Default pixel size: unet sample_size × 8 (512 for SD 1.5, 768 for SD 2.1, 1024 for SDXL). */
    readonly defaultSize: number,
    /** SDXL: the second tokenizer and the empty-negative rule; undefined for SD 1.x/2.x. */
    private readonly sdxl: SdxlText | undefined,
  ) {}

  get isSdxl(): boolean {
    return this.sdxl !== undefined;
  }

  static async load(dir: string, opts: { device?: string } = {}): Promise<DiffusionPipeline> {
    const schedFile = join(dir, "scheduler", "scheduler_config.json");
    if (!existsSync(schedFile)) throw new Error(`${schedFile}: missing`);
    const scheduler = parseSchedulerConfig(JSON.parse(readFileSync(schedFile, "utf8")), schedFile);
    const vae = readJson(join(dir, "vae_decoder", "config.json"));
    const unet = readJson(join(dir, "unet", "config.json"));
    const scaling = typeof vae.scaling_factor === "number" ? vae.scaling_factor : 0.18215;
    const channels = typeof unet.in_channels === "number" ? unet.in_channels : 4;
    const size = typeof unet.sample_size === "number" ? unet.sample_size * 8 : 512;
    const tokenizer = ClipTokenizer.fromFolder(join(dir, "tokenizer"));
    let sdxl: SdxlText | undefined;
    if (existsSync(join(dir, "text_encoder_2"))) {
      if (!existsSync(join(dir, "tokenizer_2"))) throw new Error(`${join(dir, "tokenizer_2")}: missing (an SDXL folder has text_encoder_2/ and tokenizer_2/)`);
      const index = readJson(join(dir, "model_index.json"));
      // The refiner's UNet takes 5 time ids (aesthetic score instead of the target size).
      if (index.requires_aesthetics_score === true) throw new Error(`${join(dir, "model_index.json")}: SDXL refiner pipelines (requires_aesthetics_score) are not supported`);
      const force = index.force_zeros_for_empty_prompt;
      // StableDiffusionXLPipeline's constructor default is true.
      sdxl = { tokenizer2: ClipTokenizer.fromFolder(join(dir, "tokenizer_2")), forceZerosForEmptyPrompt: force !== false };
    }
    const parts = await DiffusionComponents.load(dir, opts.device);
    return new DiffusionPipeline(dir, parts, tokenizer, scheduler, scaling, channels, size, sdxl);
  }

  async generate(req: ImageRequest, onStep?: StepListener): Promise<ImageResult> {
    if (req.width % 8 || req.height % 8 || req.width < 8 || req.height < 8) throw new RangeError(`width and height must be positive multiples of 8, got ${req.width}x${req.height}`);
    if (!Number.isInteger(req.numSamples) || req.numSamples < 1) throw new RangeError(`num_samples must be at least 1, got ${req.numSamples}`);
    const guided = req.guidanceScale > 1;
    const text = await textConditioning(this.parts, this.tokenizer, this.sdxl, req, guided);
    const cond = text.unet;
    const lh = req.height / 8, lw = req.width / 8;
    const n = this.latentChannels * lh * lw;
    const strength = req.strength ?? 1;
    if (req.init && !(strength >= 0 && strength <= 1)) throw new RangeError(`img2img_strength must be within [0, 1], got ${strength}`);
    const start = req.init ? img2imgStartStep(req.steps, strength) : 0;
    let initLatents: Float32Array | undefined;
    if (req.init) {
      if (req.init.width !== req.width || req.init.height !== req.height) throw new RangeError(`img2img image is ${req.init.width}x${req.init.height}, expected ${req.width}x${req.height}`);
      const enc = await this.parts.encode(pixelsToTensor(req.init), this.latentChannels);
      initLatents = Float32Array.from(enc, (v) => v * this.scalingFactor);
    }
    const noise = new GaussianNoise(req.seed);
    const images: RgbImage[] = [];
    const total = (req.steps - Math.min(start, req.steps)) * req.numSamples;
    let done = 0;
    for (let k = 0; k < req.numSamples; k++) {
      const sched = createScheduler(this.scheduler, req.steps);
      let x: Float32Array;
      if (initLatents) x = start < req.steps ? sched.addNoise(initLatents, noise.fill(n), start) : initLatents;
      else x = Float32Array.from(noise.fill(n), (z) => z * sched.initNoiseSigma);
      for (let i = start; i < req.steps; i++) {
        const inp = sched.scaleModelInput(x, i);
        const t = sched.timesteps[i]!;
        let eps: Float32Array;
        if (guided) {
          const both = new Float32Array(2 * n);
          both.set(inp, 0);
          both.set(inp, n);
          const out = await this.parts.unet({ data: both, dims: [2, this.latentChannels, lh, lw] }, t, cond);
          eps = new Float32Array(n);
          for (let e = 0; e < n; e++) eps[e] = out[e]! + req.guidanceScale * (out[n + e]! - out[e]!);
        } else {
          eps = await this.parts.unet({ data: inp, dims: [1, this.latentChannels, lh, lw] }, t, cond);
        }
        x = sched.step(eps, i, x, noise);
        onStep?.(++done, total);
      }
      const decoded = await this.parts.decode({ data: Float32Array.from(x, (v) => v / this.scalingFactor), dims: [1, this.latentChannels, lh, lw] });
      images.push(tensorToPixels(decoded));
    }
    return { images, truncated: text.truncated };
  }

  async dispose(): Promise<void> {
    await this.parts.release();
  }
}
