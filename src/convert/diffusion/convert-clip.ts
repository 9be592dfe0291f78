/**
 * `convertClipText(srcDir, outDir, opts)`: a diffusers pipeline's CLIP text encoder folder
 * (`text_encoder/` or `text_encoder_2/`: config.json + model.safetensors, single or sharded) →
 * the diffusers ONNX component folder the image pipeline loads (`model.onnx`, config.json).
 * Bad input is a ConvertError naming the file, key or tensor (one line, exit 2 in the CLI).
 */
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { readHfConfig } from "../hf-folder.ts";
import type { GraphOps, Variant } from "../ops.ts";
import { openSafetensors } from "../safetensors.ts";
import { ConvertError } from "../tensors.ts";
import { clipTextSpec, writeClipText, type ClipTextSpec } from "./clip-text.ts";
import { writeComponentFolder, type ComponentProgress, type ComponentResult } from "./component-folder.ts";

export interface ClipConvertOptions {
  /** fp32 (default) or fp16 weights; outputs stay float32 either way. */
  variant?: Variant;
  force?: boolean;
  onProgress?: (p: ComponentProgress) => void;
  externalAboveBytes?: number;
  maxChunkBytes?: number;
}

export interface ClipConvertResult extends ComponentResult {
  architecture: ClipTextSpec["architecture"];
  layers: number;
}

/** True when a folder's config.json describes a CLIP text encoder (how callers pick this writer). */
export function isClipTextConfig(config: Record<string, unknown>): boolean {
  const archs = Array.isArray(config.architectures) ? config.architectures : [];
  return archs.includes("CLIPTextModel") || archs.includes("CLIPTextModelWithProjection") || config.model_type === "clip_text_model";
}

/**
 * The plan for one text encoder folder of a diffusers pipeline (`sub`: text_encoder or
 * text_encoder_2): its open weights and the one ONNX component it makes, with the same name in
 * the ONNX layout. For a pipeline converter that dry-runs every component before writing any;
 * the caller closes `source`.
 */
/** `config`: already read by a caller that words its own errors (the pipeline converter names the
 * component's file); else read from `dir`. */
export function clipTextPlan(dir: string, sub = "text_encoder", config?: Record<string, unknown>) {
  const src = resolve(dir);
  if (!existsSync(src) || !statSync(src).isDirectory()) throw new ConvertError(`${src} is not a directory (expected a CLIP text encoder folder with config.json and model.safetensors)`);
  config ??= readHfConfig(src);
  const source = openSafetensors(src);
  try {
    const spec = clipTextSpec(config, source.info("text_projection.weight") !== undefined);
    return { source, spec, outputs: [{ sub, name: spec.architecture, write: (ops: GraphOps) => writeClipText(ops, spec), config }] };
  } catch (e) {
    source.close();
    throw e;
  }
}

export async function convertClipText(srcDir: string, outDir: string, opts: ClipConvertOptions = {}): Promise<ClipConvertResult> {
  const out = resolve(outDir);
  const variant = opts.variant ?? "fp32";
  if (variant !== "fp32" && variant !== "fp16") throw new ConvertError(`CLIP text encoders convert to f32 or f16 only, not ${variant}`);
  const { source, spec, outputs } = clipTextPlan(srcDir);
  try {
    const r = await writeComponentFolder(out, {
      ...outputs[0]!,
      source,
      variant,
      replace: opts.force === true,
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      ...(opts.externalAboveBytes !== undefined ? { externalAboveBytes: opts.externalAboveBytes } : {}),
      ...(opts.maxChunkBytes !== undefined ? { maxChunkBytes: opts.maxChunkBytes } : {}),
    });
    return { ...r, architecture: spec.architecture, layers: spec.layers };
  } finally {
    source.close();
  }
}
