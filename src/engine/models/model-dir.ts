/**
 * Writes a transformers.js-layout model directory (config.json, generation_config.json,
 * tokenizer.json, tokenizer_config.json, onnx/model.onnx, onnx/model_q4.onnx). The directory is
 * assembled under a temporary sibling name and renamed into place, so readers (and concurrent
 * importers, e.g. parallel test processes) never see a half-written model.
 */
import { mkdir, open, rename, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { dirname, basename, join } from "node:path";
import { buildLlamaOnnx, type LlamaVariant } from "./llama-onnx.ts";
import type { LlamaWeights } from "./llama-weights.ts";

/** transformers.js file name per variant (runtime-notes §4.4). */
export const VARIANT_FILES: Record<LlamaVariant, string> = {
  fp32: "model.onnx",
  fp16: "model_fp16.onnx",
  q8: "model_quantized.onnx",
  q4: "model_q4.onnx",
  q4f16: "model_q4f16.onnx",
};
/** What an import writes unless asked otherwise: full precision plus the small 4-bit file. */
export const DEFAULT_VARIANTS: readonly LlamaVariant[] = ["fp32", "q4"];

/** Files whose presence marks a finished import. */
export const MODEL_DIR_FILES = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"];

/** Default size above which weights go to `<file>.onnx_data` side files (protobuf caps a file at 2 GB). */
export const EXTERNAL_DATA_ABOVE_BYTES = 1 << 30;

/** fp32 bytes of all weights (an upper bound for every variant). */
export function llamaWeightBytes(w: LlamaWeights): number {
  const arrays = [w.embed, w.finalNorm, w.lmHead, ...w.layers.flatMap((l) => Object.values(l) as Float32Array[])];
  return arrays.reduce((n, a) => n + (a?.byteLength ?? 0), 0);
}

/**
 * config.json. `defaultDtype` is the variant transformers.js loads when the caller names none
 * (fp32 when written, else the first variant present).
 */
export function llamaHfConfig(w: LlamaWeights, defaultDtype: LlamaVariant = "fp32", externalFiles: string[] = []): Record<string, unknown> {
  const c = w.config;
  return {
    model_type: "llama",
    architectures: ["LlamaForCausalLM"],
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_attention_heads: c.numHeads,
    num_key_value_heads: c.numKvHeads,
    head_dim: c.headDim,
    num_hidden_layers: c.numLayers,
    vocab_size: c.vocabSize,
    max_position_embeddings: c.maxPositions,
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    hidden_act: "silu",
    bos_token_id: c.bosTokenId,
    eos_token_id: c.eosTokenId,
    tie_word_embeddings: c.tieWordEmbeddings,
    torch_dtype: "float32",
    "transformers.js_config": {
      dtype: defaultDtype,
      // Per-file chunk counts: transformers.js then fetches `<file>_data` itself (needed for buffer-based onnxruntime-web).
      ...(externalFiles.length ? { use_external_data_format: Object.fromEntries(externalFiles.map((f) => [f, 1])) } : {}),
    },
  };
}

export interface ModelDirContents {
  weights: LlamaWeights;
  tokenizer: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  variants?: readonly LlamaVariant[];
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
  const tmp = join(dirname(outDir), `.${basename(outDir)}.tmp-${process.pid}-${Date.now()}`);
  await mkdir(join(tmp, "onnx"), { recursive: true });
  try {
    const json = (v: unknown) => JSON.stringify(v, null, 2) + "\n";
    const external = llamaWeightBytes(contents.weights) > (contents.externalDataAboveBytes ?? EXTERNAL_DATA_ABOVE_BYTES);
    const onnxFiles = variants.map((v) => VARIANT_FILES[v]);
    await writeFile(join(tmp, "config.json"), json(llamaHfConfig(contents.weights, variants.includes("fp32") ? "fp32" : variants[0], external ? onnxFiles : [])));
    await writeFile(join(tmp, "generation_config.json"), json({ bos_token_id: c.bosTokenId, eos_token_id: c.extraStopTokenIds?.length ? [c.eosTokenId, ...c.extraStopTokenIds] : c.eosTokenId }));
    await writeFile(join(tmp, "tokenizer.json"), json(contents.tokenizer));
    await writeFile(join(tmp, "tokenizer_config.json"), json(contents.tokenizerConfig));
    for (const v of variants) {
      const file = VARIANT_FILES[v];
      const encoded = buildLlamaOnnx(contents.weights, v, external ? { externalData: `${file}_data` } : {});
      await writeFile(join(tmp, "onnx", file), encoded.model);
      if (encoded.external) await writeParts(join(tmp, "onnx", encoded.external.location), encoded.external.parts);
    }
    if (existsSync(outDir)) {
      if (!replace) throw new Error(`${outDir} already exists`);
      await rm(outDir, { recursive: true, force: true });
    }
    await rename(tmp, outDir);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Writes chunks back to back without concatenating them (external data can be gigabytes). */
async function writeParts(path: string, parts: Uint8Array[]): Promise<void> {
  const fh = await open(path, "w");
  try {
    for (const p of parts) {
      for (let done = 0; done < p.byteLength; ) done += (await fh.write(p, done, p.byteLength - done)).bytesWritten;
    }
  } finally {
    await fh.close();
  }
}
