/**
 * Test-only: a random Llama (Hugging Face layout) written as a GGUF file the way llama.cpp's
 * converter lays it out — llama.* metadata, GGUF tensor names, Q/K rows permuted into Meta's
 * interleaved RoPE order, each tensor quantized by the reference quantizer — and the weights the
 * importer must recover: the reference dequantization, in Hugging Face layout.
 */
import type { LlamaWeights } from "../../src/engine/models/llama-weights.ts";
import { quantizeRef, TYPE_IDS, type RefType } from "./ggml-reference.ts";
import { writeGguf, type GgufTensor, type MetaValue } from "./gguf-writer.ts";

/** llama.cpp's `permute` (HF rotate_half rows → interleaved pairs), on whole rows of bytes. */
export function permuteForGguf(rowsBytes: Uint8Array, rows: number, heads: number): Uint8Array {
  const rowBytes = rowsBytes.byteLength / rows, hd = rows / heads;
  const out = new Uint8Array(rowsBytes.byteLength);
  // reshape(heads, 2, hd/2, ·).swapaxes(1, 2): output row (h, i, t) ← input row (h, t, i).
  for (let h = 0; h < heads; h++) for (let i = 0; i < hd / 2; i++) for (let t = 0; t < 2; t++) {
    const src = (h * hd + t * (hd / 2) + i) * rowBytes, dst = (h * hd + 2 * i + t) * rowBytes;
    out.set(rowsBytes.subarray(src, src + rowBytes), dst);
  }
  return out;
}

export interface GgufLlamaOptions {
  /** ggml type per GGUF tensor name (norms default to F32). */
  typeOf: (ggufName: string) => RefType;
  version?: 2 | 3;
  extraMetadata?: Record<string, MetaValue>;
}

export interface WrittenGguf {
  bytes: Uint8Array;
  /** Expected dequantized tensors under Hugging Face names. */
  expected: Map<string, Float32Array>;
  /** The same as LlamaWeights (HF layout) for the reference forward pass. */
  weights: LlamaWeights;
  types: Map<string, RefType>;
}

export function llamaMetadata(w: LlamaWeights): Record<string, MetaValue> {
  const c = w.config;
  return {
    "general.architecture": { t: "str", v: "llama" },
    "general.name": { t: "str", v: "random test llama" },
    "llama.context_length": { t: "u32", v: c.maxPositions },
    "llama.embedding_length": { t: "u32", v: c.hiddenSize },
    "llama.block_count": { t: "u32", v: c.numLayers },
    "llama.feed_forward_length": { t: "u32", v: c.intermediateSize },
    "llama.rope.dimension_count": { t: "u32", v: c.headDim },
    "llama.attention.head_count": { t: "u32", v: c.numHeads },
    "llama.attention.head_count_kv": { t: "u32", v: c.numKvHeads },
    "llama.attention.layer_norm_rms_epsilon": { t: "f32", v: c.rmsNormEps },
    "llama.rope.freq_base": { t: "f32", v: c.ropeTheta },
    "tokenizer.ggml.bos_token_id": { t: "u32", v: c.bosTokenId },
    "tokenizer.ggml.eos_token_id": { t: "u32", v: c.eosTokenId },
  };
}

export function writeLlamaGguf(path: string, w: LlamaWeights, o: GgufLlamaOptions): WrittenGguf {
  const c = w.config, D = c.hiddenSize, I = c.intermediateSize, Q = c.numHeads * c.headDim, KV = c.numKvHeads * c.headDim;
  const tensors: GgufTensor[] = [];
  const expected = new Map<string, Float32Array>();
  const types = new Map<string, RefType>();
  const add = (gguf: string, hf: string, data: Float32Array, rows: number, cols: number, permuteHeads?: number) => {
    const type = rows === 1 ? "F32" : o.typeOf(gguf);
    const q = quantizeRef(type, data);
    const bytes = permuteHeads ? permuteForGguf(q.bytes, rows, permuteHeads) : q.bytes;
    tensors.push({ name: gguf, dims: rows === 1 ? [cols] : [cols, rows], type: TYPE_IDS[type], bytes });
    expected.set(hf, q.expected);
    types.set(gguf, type);
  };
  add("token_embd.weight", "model.embed_tokens.weight", w.embed, c.vocabSize, D);
  w.layers.forEach((l, i) => {
    const b = `blk.${i}`, p = `model.layers.${i}`;
    add(`${b}.attn_norm.weight`, `${p}.input_layernorm.weight`, l.attnNorm, 1, D);
    add(`${b}.attn_q.weight`, `${p}.self_attn.q_proj.weight`, l.wq, Q, D, c.numHeads);
    add(`${b}.attn_k.weight`, `${p}.self_attn.k_proj.weight`, l.wk, KV, D, c.numKvHeads);
    add(`${b}.attn_v.weight`, `${p}.self_attn.v_proj.weight`, l.wv, KV, D);
    add(`${b}.attn_output.weight`, `${p}.self_attn.o_proj.weight`, l.wo, D, Q);
    add(`${b}.ffn_norm.weight`, `${p}.post_attention_layernorm.weight`, l.ffnNorm, 1, D);
    add(`${b}.ffn_gate.weight`, `${p}.mlp.gate_proj.weight`, l.gate, I, D);
    add(`${b}.ffn_up.weight`, `${p}.mlp.up_proj.weight`, l.up, I, D);
    add(`${b}.ffn_down.weight`, `${p}.mlp.down_proj.weight`, l.down, D, I);
  });
  add("output_norm.weight", "model.norm.weight", w.finalNorm, 1, D);
  if (w.lmHead) add("output.weight", "lm_head.weight", w.lmHead, c.vocabSize, D);
  const bytes = writeGguf(path, { ...llamaMetadata(w), ...o.extraMetadata }, tensors, o.version ?? 3);
  const e = (n: string) => expected.get(n)!;
  const weights: LlamaWeights = {
    config: { ...c },
    embed: e("model.embed_tokens.weight"),
    finalNorm: e("model.norm.weight"),
    ...(w.lmHead ? { lmHead: e("lm_head.weight") } : {}),
    layers: w.layers.map((_, i) => {
      const p = `model.layers.${i}`;
      return {
        attnNorm: e(`${p}.input_layernorm.weight`), ffnNorm: e(`${p}.post_attention_layernorm.weight`),
        wq: e(`${p}.self_attn.q_proj.weight`), wk: e(`${p}.self_attn.k_proj.weight`), wv: e(`${p}.self_attn.v_proj.weight`),
        wo: e(`${p}.self_attn.o_proj.weight`), gate: e(`${p}.mlp.gate_proj.weight`), up: e(`${p}.mlp.up_proj.weight`),
        down: e(`${p}.mlp.down_proj.weight`),
      };
    }),
  };
  return { bytes, expected, weights, types };
}

/** tokenizer.ggml.* for a llama (SentencePiece) vocabulary: <unk>, <s>, </s>, 256 byte pieces, then letters and "▁x" pieces. */
export function llamaTokenizerMetadata(vocabSize: number): Record<string, MetaValue> {
  const tokens = ["<unk>", "<s>", "</s>"];
  for (let b = 0; b < 256; b++) tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
  const letters = "etaoinshrdlucmfwypvbgkjqxz".split("");
  const extra = ["\u2581", ...letters, ...letters.map((l) => `\u2581${l}`), ...letters.map((l) => l.toUpperCase()), "\u2581t\u2581", "he", "\u2581the"];
  for (let i = 0; tokens.length < vocabSize; i++) tokens.push(i < extra.length ? extra[i]! : `<extra_${i}>`);
  return {
    "tokenizer.ggml.model": { t: "str", v: "llama" },
    "tokenizer.ggml.tokens": { t: "arr", of: "str", v: tokens },
    "tokenizer.ggml.scores": { t: "arr", of: "f32", v: tokens.map((_, i) => (i < 259 ? 0 : -(i - 259))) },
    "tokenizer.ggml.token_type": { t: "arr", of: "i32", v: tokens.map((_, i) => (i === 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1)) },
    "tokenizer.ggml.unknown_token_id": { t: "u32", v: 0 },
  };
}
