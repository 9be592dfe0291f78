/**
 * `convertClipText(srcDir, outDir, opts)`: a diffusers pipeline's CLIP text encoder folder
 * (`text_encoder/` or `text_encoder_2/`: config.json + model.safetensors, single or sharded) →
 * the diffusers ONNX component folder the image pipeline loads (`model.onnx`, config.json).
 * Bad input is a ConvertError naming the file, key or tensor (one line, exit 2 in the CLI).
 */
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { readHfConfig } from "../hf-folder.ts";
import type { Variant } from "../ops.ts";
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

export async function convertClipText(srcDir: string, outDir: string, opts: ClipConvertOptions = {}): Promise<ClipConvertResult> {
  const src = resolve(srcDir), out = resolve(outDir);
  if (!existsSync(src) || !statSync(src).isDirectory()) throw new ConvertError(`${src} is not a directory (expected a CLIP text encoder folder with config.json and model.safetensors)`);
  const config = readHfConfig(src);
  const variant = opts.variant ?? "fp32";
  if (variant !== "fp32" && variant !== "fp16") throw new ConvertError(`CLIP text encoders convert to f32 or f16 only, not ${variant}`);
  const source = openSafetensors(src);
  try {
    const spec = clipTextSpec(config, source.info("text_projection.weight") !== undefined);
    const r = await writeComponentFolder(out, {
      name: spec.architecture,
      source,
      variant,
      config,
      write: (ops) => writeClipText(ops, spec),
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
