/**
 * Test-only model layouts for the engine tests. The shared random fp16 Llama ships without a
 * config.json and with its graph named model.onnx; transformers.js needs the layout of
 * shared/models/README.md §3.6, so it is assembled in a temp dir from symlinks (never copied into
 * the repository). Also builds deliberately broken directories for the bad-input tests.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SHARED_MODELS } from "../support/models.ts";

const TINY = join(SHARED_MODELS, "tiny-random-llama-onnx-fp16");
const made: string[] = [];

export const TINY_CONFIG = {
  model_type: "llama",
  architectures: ["LlamaForCausalLM"],
  num_hidden_layers: 2,
  num_key_value_heads: 1,
  num_attention_heads: 1,
  hidden_size: 16,
  head_dim: 16,
  vocab_size: 32000,
  intermediate_size: 64,
  max_position_embeddings: 2048,
  rms_norm_eps: 1e-6,
  bos_token_id: 1,
  eos_token_id: 2,
  tie_word_embeddings: false,
};

export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}

/** The shared fp16 random Llama in transformers.js layout (onnx/model_fp16.onnx + model.onnx.data). */
export function tinyFp16Dir(config: Record<string, unknown> = TINY_CONFIG): string {
  const d = tempDir("atoma-tiny-fp16-");
  mkdirSync(join(d, "onnx"));
  symlinkSync(join(TINY, "model.onnx"), join(d, "onnx", "model_fp16.onnx"));
  symlinkSync(join(TINY, "model.onnx.data"), join(d, "onnx", "model.onnx.data"));
  for (const f of ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]) symlinkSync(join(TINY, f), join(d, f));
  writeFileSync(join(d, "config.json"), JSON.stringify(config));
  return d;
}

/** A writable copy of a model directory (small models only) for corrupting one file. */
export function copyDir(src: string): string {
  const d = tempDir("atoma-model-copy-");
  cpSync(src, d, { recursive: true, dereference: true });
  return d;
}

export function cleanupTempDirs(): void {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}
