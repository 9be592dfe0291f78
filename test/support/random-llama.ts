/**
 * Random-weight Llama models of arbitrary shapes for the ONNX-vs-reference tests, written as
 * transformers.js directories through the product writer (src/engine/models/model-dir.ts).
 * Seeded, so every run builds the same bytes.
 */
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LlamaConfig, LlamaWeights } from "../../src/engine/models/llama-weights.ts";
import { writeModelDir } from "../../src/engine/models/model-dir.ts";
import type { LlamaVariant } from "../../src/engine/models/llama-onnx.ts";
import type { AccuracyLevel, GraphForm } from "../../src/convert/ops.ts";
import { llama2cToHfTokenizer, llama2cTokenizerConfig, type Llama2cVocab } from "../../src/engine/models/tokenizer-llama2c.ts";

/** The architecture fields of `LlamaConfig`; `vocabSize` ≥ 259 so the synthetic tokenizer has
 * specials + 256 byte tokens. */
export type RandomLlamaShape = Pick<LlamaConfig, "hiddenSize" | "intermediateSize" | "numLayers" | "numHeads" | "numKvHeads" | "headDim" | "vocabSize"> & {
  tied: boolean;
  maxPositions?: number;
};

/** mulberry32: tiny seeded PRNG, uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomLlama(shape: RandomLlamaShape, seed: number): LlamaWeights {
  const rnd = mulberry32(seed);
  /** Uniform with the variance of N(0, scale²)-ish init, so activations stay O(1) through layers. */
  const mat = (rows: number, cols: number, scale = 1 / Math.sqrt(cols)) =>
    Float32Array.from({ length: rows * cols }, () => (rnd() * 2 - 1) * Math.sqrt(3) * scale);
  const norm = (n: number) => Float32Array.from({ length: n }, () => 0.8 + 0.4 * rnd());
  const { hiddenSize: D, intermediateSize: I, numHeads: H, numKvHeads: KVH, headDim: HD, vocabSize: V } = shape;
  const config: LlamaConfig = {
    hiddenSize: D, intermediateSize: I, numLayers: shape.numLayers, numHeads: H, numKvHeads: KVH, headDim: HD,
    vocabSize: V, maxPositions: shape.maxPositions ?? 128, rmsNormEps: 1e-5, ropeTheta: 10000,
    tieWordEmbeddings: shape.tied, bosTokenId: 1, eosTokenId: 2,
  };
  const layers = Array.from({ length: shape.numLayers }, () => ({
    attnNorm: norm(D), wq: mat(H * HD, D), wk: mat(KVH * HD, D), wv: mat(KVH * HD, D), wo: mat(D, H * HD),
    ffnNorm: norm(D), gate: mat(I, D), down: mat(D, I), up: mat(I, D),
  }));
  const embed = mat(V, D, 1);
  const w: LlamaWeights = { config, embed, layers, finalNorm: norm(D) };
  if (!shape.tied) w.lmHead = mat(V, D, 1);
  return w;
}

/** llama2.c-style vocabulary: <unk>, BOS, EOS, 256 byte tokens, then letters and " x" pieces. */
export function syntheticVocab(vocabSize: number): Llama2cVocab {
  const pieces = ["<unk>", "\n<s>\n", "\n</s>\n"];
  for (let b = 0; b < 256; b++) pieces.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
  const letters = "etaoinshrdlucmfwypvbgkjqxz".split("");
  const extra = [" ", ...letters, ...letters.map((l) => ` ${l}`), ...letters.map((l) => l.toUpperCase())];
  for (let i = 0; pieces.length < vocabSize; i++) pieces.push(i < extra.length ? extra[i]! : `<extra_${i}>`);
  return { maxTokenLength: 16, pieces, scores: pieces.map((_, i) => (i < 259 ? 0 : -(i - 259))) };
}

/** Writes `weights` as a transformers.js directory in a fresh temp dir; returns its path. */
export async function writeRandomLlamaDir(weights: LlamaWeights, variants: readonly LlamaVariant[] = ["fp32", "q4"], form?: GraphForm, opts: { accuracyLevel?: AccuracyLevel } = {}): Promise<string> {
  const dir = join(await mkdtemp(join(tmpdir(), "atoma-random-llama-")), "model");
  await writeModelDir(dir, {
    weights,
    ...(form ? { form } : {}),
    tokenizer: llama2cToHfTokenizer(syntheticVocab(weights.config.vocabSize)),
    tokenizerConfig: llama2cTokenizerConfig(weights.config.maxPositions),
    variants,
    ...(opts.accuracyLevel !== undefined ? { accuracyLevel: opts.accuracyLevel } : {}),
  });
  return dir;
}
