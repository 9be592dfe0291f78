/**
 * Writes in-memory Llama weights as a transformers.js-layout model directory (config.json,
 * generation_config.json, tokenizer.json, tokenizer_config.json, onnx/model*.onnx) through the
 * converter's folder writer (src/convert/write-folder.ts): assembled under a temporary sibling and
 * renamed into place, so readers (and concurrent importers) never see a half-written model.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { LlamaVariant } from "./llama-onnx.ts";
import type { LlamaWeights } from "./llama-weights.ts";
import { VARIANT_FILES, type AccuracyLevel, type GraphForm } from "../../convert/ops.ts";
import { llamaWeightsSource } from "../../convert/llama-weights-source.ts";
import { writeConvertedFolder } from "../../convert/write-folder.ts";

export { VARIANT_FILES };
/** What an import writes unless asked otherwise: full precision plus the small 4-bit file. */
export const DEFAULT_VARIANTS: readonly LlamaVariant[] = ["fp32", "q4"];

/** Files whose presence marks a finished import. */
export const MODEL_DIR_FILES = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"];

/** Default size above which weights go to `<file>.onnx_data` side files (protobuf caps a file at 2 GB). */
export const EXTERNAL_DATA_ABOVE_BYTES = 1 << 30;

export interface ModelDirContents {
  weights: LlamaWeights;
  tokenizer: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  variants?: readonly LlamaVariant[];
  /** Graph form (default: the converter's). */
  form?: GraphForm;
  /** MatMulNBits accuracy_level of the quantised variants (converter default when absent). */
  accuracyLevel?: AccuracyLevel;
  /** Weights above this many fp32 bytes go to external data files; default EXTERNAL_DATA_ABOVE_BYTES. */
  externalDataAboveBytes?: number;
}

/** True when `dir` holds a finished import with every requested variant. */
export function isCompleteModelDir(dir: string, variants: readonly LlamaVariant[] = DEFAULT_VARIANTS): boolean {
  return [...MODEL_DIR_FILES, ...variants.map((v) => join("onnx", VARIANT_FILES[v]))].every((f) => existsSync(join(dir, f)));
}

/** Writes the directory; replaces an existing `outDir` only when `replace` is set. */
export async function writeModelDir(outDir: string, contents: ModelDirContents, replace = false): Promise<void> {
  const variants = contents.variants ?? DEFAULT_VARIANTS;
  if (variants.length === 0) throw new Error("writeModelDir: no ONNX variant requested");
  const c = contents.weights.config;
  const json = (v: unknown) => JSON.stringify(v, null, 2) + "\n";
  const { config, source } = llamaWeightsSource(contents.weights);
  await writeConvertedFolder(outDir, {
    config,
    source,
    variants,
    ...(contents.form ? { form: contents.form } : {}),
    files: {
      "generation_config.json": json({ bos_token_id: c.bosTokenId, eos_token_id: c.extraStopTokenIds?.length ? [c.eosTokenId, ...c.extraStopTokenIds] : c.eosTokenId }),
      "tokenizer.json": json(contents.tokenizer),
      "tokenizer_config.json": json(contents.tokenizerConfig),
    },
    ...(contents.accuracyLevel !== undefined ? { accuracyLevel: contents.accuracyLevel } : {}),
    externalAboveBytes: contents.externalDataAboveBytes ?? EXTERNAL_DATA_ABOVE_BYTES,
    replace,
  });
}
