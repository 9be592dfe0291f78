/**
 * What a model folder (or a repo's file list) holds, and which files of an ONNX repo a dtype
 * needs. transformers.js layout: config.json + tokenizer.json + onnx/model*.onnx.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { DType } from "../engine/types.ts";
import { conversionBlocker, diffusersConversionBlocker } from "./convert-seam.ts";
import { matchesPattern } from "./hub-cache.ts";

/** What conversion needs from a safetensors repo (top level only: `original/` copies are skipped). */
export const SAFETENSORS_FILES = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model", "model.safetensors.index.json", "*.safetensors"];

/**
 * The transformers weights of a safetensors repo: `model.safetensors` or its `model-0000i-of-0000n`
 * shards when the repo has them. Mistral AI's repos also ship `consolidated.safetensors` (the same
 * weights for mistral_inference, 14.5 GB for a 7B) beside the shards; `*.safetensors` would fetch
 * the model twice. Other names only when there is no `model*.safetensors` at all.
 */
function weightFiles(paths: readonly string[]): string[] {
  const top = paths.filter((p) => matchesPattern(p, "*.safetensors"));
  const transformers = top.filter((p) => matchesPattern(p, "model*.safetensors"));
  return transformers.length ? transformers : top;
}

/**
 * `diffusers-onnx`: a diffusers ONNX pipeline folder src/engine/image runs (model_index.json,
 * text_encoder/, unet/, vae_decoder/ model.onnx); `diffusers`: a diffusers safetensors repo the
 * converter turns into one (src/convert/diffusion).
 */
export type Layout = "onnx" | "safetensors" | "gguf" | "diffusers-onnx" | "diffusers" | "none";

const ONNX_FILE = /^onnx\/model[\w.-]*\.onnx$/;
const DIFFUSERS_ONNX = ["text_encoder/model.onnx", "unet/model.onnx", "vae_decoder/model.onnx"];
/** Component folders whose files decide a diffusers layout. */
const DIFFUSERS_DIRS = ["text_encoder", "unet", "vae_decoder", "vae"];
/** Not needed to generate images: never pulled (the safety checker alone is 1.2 GB). */
const DIFFUSERS_UNUSED = /^(safety_checker|feature_extractor)\//;

/** Folders the engine loads as they are. */
export const isRunnable = (l: Layout): boolean => l === "onnx" || l === "diffusers-onnx";

export function layoutOfFiles(paths: readonly string[]): Layout {
  const has = (re: RegExp) => paths.some((p) => re.test(p));
  if (paths.includes("model_index.json")) {
    if (DIFFUSERS_ONNX.every((p) => paths.includes(p))) return "diffusers-onnx";
    if (has(/^unet\/diffusion_pytorch_model(-[\w-]+)?\.safetensors$/)) return "diffusers";
  }
  if (has(ONNX_FILE) && paths.includes("config.json") && paths.includes("tokenizer.json")) return "onnx";
  if (has(/(^|\/)[^/]*\.safetensors$/) && paths.includes("config.json")) return "safetensors";
  if (has(/\.gguf$/)) return "gguf";
  return "none";
}

export function layoutOfDir(dir: string): Layout {
  if (!existsSync(dir)) return "none";
  const top = readdirSync(dir);
  const sub = (d: string) => (existsSync(join(dir, d)) ? readdirSync(join(dir, d)).map((f) => `${d}/${f}`) : []);
  const onnx = sub("onnx");
  const components = top.includes("model_index.json") ? DIFFUSERS_DIRS.flatMap(sub) : [];
  // A symlink whose blob is missing does not count.
  return layoutOfFiles([...top, ...onnx, ...components].filter((p) => existsSync(join(dir, p))));
}

/** transformers.js file names per dtype; bf16 is served from fp16, else fp32 (engine/dtype.ts). */
const DTYPE_FILES: Record<DType, string[]> = {
  f32: ["model.onnx"],
  f16: ["model_fp16.onnx"],
  bf16: ["model_fp16.onnx", "model.onnx"],
  q8: ["model_quantized.onnx"],
  q4: ["model_q4.onnx"],
  q4f16: ["model_q4f16.onnx"],
};

export interface Selection {
  /** Exact paths to pull. */
  include?: string[];
  /** Why nothing should be pulled. */
  refuse?: string;
}

/**
 * Which files of a repo to pull for serving at `dtype`: for an ONNX repo the metadata files and
 * only that dtype's graph (+ external data), not every variant; a safetensors repo goes to the
 * converter (refused while conversion is not built, before any weights are fetched).
 */
export async function selectForServing(paths: readonly string[], dtype: DType | undefined, readText?: (path: string) => Promise<string>): Promise<Selection> {
  const layout = layoutOfFiles(paths);
  if (layout === "onnx") {
    const meta = paths.filter((p) => !p.includes("/") && /\.(json|txt|model|jinja)$/.test(p));
    if (!dtype) return { include: [...meta, ...paths.filter((p) => p.startsWith("onnx/"))] };
    const wanted = DTYPE_FILES[dtype].map((f) => `onnx/${f}`);
    const graph = wanted.find((w) => paths.includes(w));
    if (!graph) {
      const have = paths.filter((p) => ONNX_FILE.test(p)).join(", ");
      return { refuse: `has no ${wanted.join(" or ")} for dtype ${dtype} (has ${have})` };
    }
    const data = paths.filter((p) => p.startsWith(`${graph}_data`) || p.startsWith(`${graph}.data`));
    return { include: [...meta, graph, ...data] };
  }
  if (layout === "safetensors") {
    // Ask the converter about this config before fetching gigabytes of weights.
    let config: Record<string, unknown> = {};
    try {
      if (readText) config = JSON.parse(await readText("config.json")) as Record<string, unknown>;
    } catch {
      return { refuse: "has a config.json that is not valid JSON" };
    }
    const why = conversionBlocker(config);
    if (why) return { refuse: `cannot be converted: ${why}` };
    const weights = new Set(weightFiles(paths));
    return { include: paths.filter((p) => (p.endsWith(".safetensors") ? weights.has(p) : SAFETENSORS_FILES.some((f) => matchesPattern(p, f)))) };
  }
  if (layout === "diffusers-onnx") return { include: paths.filter((p) => !DIFFUSERS_UNUSED.test(p)) };
  if (layout === "diffusers") {
    if (dtype && !["f32", "f16", "bf16"].includes(dtype)) return { refuse: `is a diffusers pipeline, which converts to f32 or f16, not ${dtype}` };
    // Ask the converter about the pipeline's configs before fetching gigabytes of weights.
    const why = readText ? await diffusersConversionBlocker(readText) : undefined;
    return why ? { refuse: `cannot be converted: ${why}` } : { include: paths.filter((p) => !DIFFUSERS_UNUSED.test(p)) };
  }
  if (layout === "gguf") return { refuse: "holds GGUF files, which are imported, not served: download one .gguf (models pull <repo> --include <file>) and run `atoma-node models import gguf <file> --out <dir>`, or pull a quantized_* seed row" };
  return { refuse: "holds neither a transformers.js ONNX layout (config.json, tokenizer.json, onnx/model*.onnx) nor safetensors weights" };
}

/** config.json of a folder, or {} when absent or unreadable (callers only read model_type). */
export function readConfig(dir: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
  } catch {
    return {};
  }
}
