/**
 * `convertCheckpoint`: a Hugging Face model folder (config.json, safetensors weights, tokenizer
 * files) → a transformers.js folder the engine loads. The reader is chosen by what the folder holds
 * (today: safetensors, single or sharded); the family writer by config.json's model_type.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { openSafetensors } from "./safetensors.ts";
import type { AccuracyLevel, GraphForm, Variant } from "./ops.ts";
import { ConvertError } from "./tensors.ts";
import { writeConvertedFolder, type FolderResult, type Progress } from "./write-folder.ts";
import type { HfConfig } from "./families/common.ts";
import { isMambaSsmConfig } from "./families/mamba-config.ts";
import { convertClipText, isClipTextConfig } from "./diffusion/convert-clip.ts";
import { convertDiffusersPipeline, isDiffusersPipelineFolder } from "./diffusion/convert-pipeline.ts";

/** Tokenizer and generation files transformers.js may read, copied verbatim when present. */
const COPIED = [
  "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json",
  "chat_template.jinja", "chat_template.json", "tokenizer.model", "vocab.json", "merges.txt", "added_tokens.json",
];

export interface ConvertOptions {
  src: string;
  out: string;
  /** Default: fp16 + q4 for 16-bit checkpoints, fp32 + q4 for fp32 ones. */
  dtypes?: readonly Variant[];
  /** Graph form (default: write-folder's DEFAULT_GRAPH_FORM where the family has it). */
  form?: GraphForm;
  /** MatMulNBits accuracy_level of the quantised variants (converter default when absent). */
  accuracyLevel?: AccuracyLevel;
  onProgress?: (p: Progress) => void;
  force?: boolean;
  /** Where tokenizer files the checkpoint folder lacks come from (a registry row's tokenizer repo). */
  tokenizerDir?: string;
  externalAboveBytes?: number;
  maxChunkBytes?: number;
}

export function readHfConfig(dir: string): HfConfig {
  const path = join(dir, "config.json");
  if (!existsSync(path)) throw new ConvertError(`${dir} has no config.json (expected a Hugging Face model folder)`);
  let config: unknown;
  try {
    config = JSON.parse(readFileSync(path, "utf8"));
  } catch {
    throw new ConvertError(`${path} is not valid JSON`);
  }
  if (typeof config !== "object" || config === null || Array.isArray(config)) throw new ConvertError(`${path} must hold a JSON object`);
  return config as HfConfig;
}

export async function convertCheckpoint(o: ConvertOptions): Promise<FolderResult> {
  const src = resolve(o.src), out = resolve(o.out);
  if (!existsSync(src) || !statSync(src).isDirectory()) throw new ConvertError(`${src} is not a directory (expected a Hugging Face model folder)`);
  // A diffusers pipeline repo (model_index.json, unet/, vae/, text_encoder/, …): the diffusers
  // ONNX layout src/engine/image loads.
  if (isDiffusersPipelineFolder(src)) return convertPipelineFolder(src, out, o);
  const config = readHfConfig(src);
  // A diffusers pipeline's text_encoder/ or text_encoder_2/ folder: one model.onnx in the
  // diffusers ONNX layout (no tokenizer here; the pipeline folder holds tokenizer/).
  if (isClipTextConfig(config)) return convertClipFolder(src, out, o);
  const tokDir = o.tokenizerDir ? resolve(o.tokenizerDir) : undefined;
  const fileOf = (f: string) => [src, ...(tokDir ? [tokDir] : [])].map((d) => join(d, f)).find((p) => existsSync(p));
  if (!fileOf("tokenizer.json")) {
    // The original state-spaces/mamba-* repos ship weights only; their models use GPT-NeoX's tokenizer.
    const hint = isMambaSsmConfig(config) ? "; this mamba_ssm checkpoint uses EleutherAI/gpt-neox-20b's tokenizer: copy its tokenizer.json and tokenizer_config.json into the folder" : "";
    throw new ConvertError(`${src} has no tokenizer.json (transformers.js needs the fast tokenizer file)${hint}`);
  }
  const source = openSafetensors(src);
  try {
    const files: Record<string, Uint8Array> = {};
    for (const f of COPIED) {
      const path = fileOf(f);
      if (path) files[f] = readFileSync(path);
    }
    if (!files["tokenizer_config.json"]) files["tokenizer_config.json"] = new TextEncoder().encode("{}\n");
    if (!files["generation_config.json"]) {
      const gen = { bos_token_id: config.bos_token_id, eos_token_id: config.eos_token_id };
      files["generation_config.json"] = new TextEncoder().encode(JSON.stringify(gen, null, 2) + "\n");
    }
    const sixteen = source.names().some((n) => ["F16", "BF16"].includes(source.info(n)!.dtype));
    const variants = o.dtypes ?? (sixteen ? ["fp16", "q4"] : ["fp32", "q4"]);
    return await writeConvertedFolder(out, {
      config, source, files, variants,
      ...(o.form ? { form: o.form } : {}),
      ...(o.accuracyLevel !== undefined ? { accuracyLevel: o.accuracyLevel } : {}),
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      ...(o.externalAboveBytes !== undefined ? { externalAboveBytes: o.externalAboveBytes } : {}),
      ...(o.maxChunkBytes !== undefined ? { maxChunkBytes: o.maxChunkBytes } : {}),
      replace: o.force === true,
    });
  } finally {
    source.close();
  }
}

async function convertClipFolder(src: string, out: string, o: ConvertOptions): Promise<FolderResult> {
  if (o.dtypes && o.dtypes.length !== 1) throw new ConvertError(`a CLIP text encoder converts to one model.onnx: give one of f32, f16 in --dtypes, not ${o.dtypes.length}`);
  const r = await convertClipText(src, out, {
    ...(o.dtypes ? { variant: o.dtypes[0]! } : {}),
    force: o.force === true,
    ...(o.onProgress ? { onProgress: (p) => o.onProgress!({ variant: o.dtypes?.[0] ?? "fp32", ...p }) } : {}),
    ...(o.externalAboveBytes !== undefined ? { externalAboveBytes: o.externalAboveBytes } : {}),
    ...(o.maxChunkBytes !== undefined ? { maxChunkBytes: o.maxChunkBytes } : {}),
  });
  return { dir: r.dir, modelType: r.architecture, variants: [r.variant], externalChunks: r.externalChunks ? { "model.onnx": r.externalChunks } : {}, bytesRead: r.bytesRead };
}

async function convertPipelineFolder(src: string, out: string, o: ConvertOptions): Promise<FolderResult> {
  if (o.dtypes && o.dtypes.length !== 1) throw new ConvertError(`a diffusers pipeline converts to one model.onnx per component: give one of f32, f16 in --dtypes, not ${o.dtypes.length}`);
  const r = await convertDiffusersPipeline({
    src, out,
    ...(o.dtypes ? { variant: o.dtypes[0]! } : {}),
    force: o.force === true,
    ...(o.onProgress ? { onProgress: (p) => o.onProgress!(p) } : {}),
    ...(o.externalAboveBytes !== undefined ? { externalAboveBytes: o.externalAboveBytes } : {}),
    ...(o.maxChunkBytes !== undefined ? { maxChunkBytes: o.maxChunkBytes } : {}),
  });
  return { dir: r.dir, modelType: r.pipeline, variants: [r.variant], externalChunks: {}, bytesRead: r.bytesRead };
}
