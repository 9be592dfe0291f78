/**
 * `ImageEngine` (src/engine/types.ts) over a diffusers ONNX folder: the Stable Diffusion pipeline
 * (pipeline.ts) plus what callers need around it — limits checked before any work, one request
 * at a time per engine (ONNX sessions are single-stream), abort between steps, PNG encoding.
 * The node, the APIs and the CLI see only the boundary, never the pipeline.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { EngineError, type GeneratedImage, type ImageEngine, type ImageGenerateOptions, type ImageLoadOptions, type ImageModelInfo, type ImageOutput, type ImageRequest } from "../types.ts";
import { DiffusionPipeline } from "./pipeline.ts";
import { fewStep } from "./source-record.ts";
import { encodePng } from "./png.ts";

/** Defaults an operator can override per model (`max_image_size`, `max_steps`, `max_samples`). */
export const IMAGE_DEFAULTS = { maxSteps: 500, maxSamples: 16, sizeFactor: 2 } as const;

/** Rejected because the caller's signal aborted (shutdown, timeout, client gone). */
export class ImageAbortedError extends EngineError {
  override name = "ImageAbortedError";
}

/** A diffusers pipeline folder: model_index.json, or the unet/ + scheduler/ pair of an export. */
export function isDiffusersDir(dir: string): boolean {
  return existsSync(join(dir, "model_index.json")) || (existsSync(join(dir, "unet")) && existsSync(join(dir, "scheduler")));
}

/** The request against the model's limits: one line saying what, the value and what is accepted. */
export function checkImageRequest(req: ImageRequest, info: ImageModelInfo): string | undefined {
  for (const [name, v] of [["width", req.width], ["height", req.height]] as const) {
    if (!Number.isInteger(v) || v < 8 || v % 8 !== 0) return `${name} ${v} is not a positive multiple of 8`;
    if (v > info.maxSize) return `${name} ${v} is beyond this model's limit of ${info.maxSize}`;
  }
  if (!Number.isInteger(req.steps) || req.steps < 1) return `steps ${req.steps}: at least 1 needed`;
  if (req.steps > info.maxSteps) return `steps ${req.steps} is more than this node's limit of ${info.maxSteps}`;
  if (!Number.isFinite(req.guidanceScale) || req.guidanceScale < 0) return `guidance_scale ${req.guidanceScale} must be a finite number >= 0`;
  if (!Number.isInteger(req.numSamples) || req.numSamples < 1) return `num_samples ${req.numSamples}: at least 1 needed`;
  if (req.numSamples > info.maxSamples) return `num_samples ${req.numSamples} is more than this node's limit of ${info.maxSamples}`;
  if (req.init) {
    if (!info.img2img) return "img2img needs vae_encoder/model.onnx, which this model folder lacks";
    const s = req.strength ?? 1;
    if (!(s >= 0 && s <= 1)) return `img2img_strength ${s} must be within [0, 1]`;
    if (req.init.width !== req.width || req.init.height !== req.height) return `img2img image is ${req.init.width}x${req.init.height}, expected ${req.width}x${req.height}`;
    if (req.init.rgb.length !== req.init.width * req.init.height * 3) return "img2img image: pixel buffer does not match its size";
  }
  return undefined;
}

class DiffusersImageEngine implements ImageEngine {
  private queue: Promise<void> = Promise.resolve();
  private disposed = false;

  constructor(
    readonly info: ImageModelInfo,
    private readonly pipe: DiffusionPipeline,
  ) {}

  async generate(req: ImageRequest, opts: ImageGenerateOptions = {}): Promise<ImageOutput> {
    if (this.disposed) throw new EngineError(`model ${this.info.id} has been unloaded`);
    const bad = checkImageRequest(req, this.info);
    if (bad) throw new EngineError(bad);
    const previous = this.queue;
    let release!: () => void;
    this.queue = new Promise((r) => (release = r));
    try {
      await previous;
      if (this.disposed) throw new EngineError(`model ${this.info.id} has been unloaded`);
      const { signal, onStep } = opts;
      if (signal?.aborted) throw new ImageAbortedError("image generation aborted before it started");
      const started = performance.now();
      let steps = 0;
      // The pipeline reports each step; throwing from the listener ends its loop between steps.
      const res = await this.pipe.generate(req, (done, total) => {
        steps = done;
        if (signal?.aborted) throw new ImageAbortedError(`image generation aborted after ${done} of ${total} steps`);
        onStep?.(done, total);
      });
      const images: GeneratedImage[] = res.images.map((img) => ({ width: img.width, height: img.height, rgb: img.rgb, png: encodePng(img) }));
      return { images, truncated: res.truncated, steps, totalMs: performance.now() - started };
    } catch (e) {
      if (e instanceof EngineError) throw e;
      throw new EngineError(`model ${this.info.id}: ${(e as Error).message}`);
    } finally {
      release();
    }
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.queue; // the running request finishes first; queued ones see `disposed`
    await this.pipe.dispose();
  }
}

function positive(v: number | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v < 1) throw new EngineError(`${what} ${v}: expected a positive integer`);
  return v;
}

export async function loadImageEngine(opts: ImageLoadOptions): Promise<ImageEngine> {
  if (opts.device !== "cpu" && opts.device !== "cuda") {
    throw new EngineError(`model ${opts.id}: image models run on onnxruntime-node; device ${opts.device} is not available for them (cpu or cuda)`);
  }
  if (!isDiffusersDir(opts.dir)) throw new EngineError(`${opts.dir}: not a diffusers pipeline folder (model_index.json, unet/, scheduler/ expected)`);
  let pipe: DiffusionPipeline;
  try {
    pipe = await DiffusionPipeline.load(opts.dir, { device: opts.device });
  } catch (e) {
    throw new EngineError(`model ${opts.id}: ${(e as Error).message}`);
  }
  const maxSize = positive(opts.maxSize, "max_image_size") ?? pipe.defaultSize * IMAGE_DEFAULTS.sizeFactor;
  if (maxSize % 8 !== 0) {
    await pipe.dispose();
    throw new EngineError(`max_image_size ${maxSize}: expected a multiple of 8`);
  }
  const maxSteps = positive(opts.maxSteps, "max_steps") ?? Math.min(IMAGE_DEFAULTS.maxSteps, pipe.scheduler.numTrainTimesteps);
  if (maxSteps > pipe.scheduler.numTrainTimesteps) {
    await pipe.dispose();
    throw new EngineError(`max_steps ${maxSteps} is more than the scheduler's num_train_timesteps ${pipe.scheduler.numTrainTimesteps}: at most ${pipe.scheduler.numTrainTimesteps}`);
  }
  const info: ImageModelInfo = {
    id: opts.id,
    dir: opts.dir,
    device: opts.device,
    modelType: "stable_diffusion",
    scheduler: pipe.scheduler.kind,
    defaultSize: pipe.defaultSize,
    maxSize,
    maxSteps,
    maxSamples: positive(opts.maxSamples, "max_samples") ?? IMAGE_DEFAULTS.maxSamples,
    ...fewStep(opts.id, opts.dir),
    img2img: existsSync(join(opts.dir, "vae_encoder", "model.onnx")),
  };
  return new DiffusersImageEngine(info, pipe);
}
