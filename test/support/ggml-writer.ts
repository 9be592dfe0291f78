/**
 * Test-only writer of llama.cpp's GGML `ggjt` files (the pre-GGUF format), from the layout
 * llama.cpp used: magic "ggjt", version, seven i32 hyper-parameters, the vocabulary (u32 length,
 * bytes, f32 score), then per tensor i32 n_dims, i32 name length, i32 type, dims innermost first,
 * the name, zero padding to a 32-byte file offset and the data. Independent of the reader.
 */
import { writeFileSync } from "node:fs";
import type { LlamaWeights } from "../../src/engine/models/llama-weights.ts";
import { quantizeRef, TYPE_IDS, type RefType } from "./ggml-reference.ts";
import { permuteForGguf } from "./gguf-llama.ts";

export interface GgjtTensor { name: string; dims: number[]; type: number; bytes: Uint8Array }

export function encodeGgjt(h: number[], vocab: { piece: Uint8Array; score: number }[], tensors: GgjtTensor[], version = 3): Uint8Array {
  const parts: Uint8Array[] = [];
  let length = 0;
  const push = (b: Uint8Array) => { parts.push(b); length += b.byteLength; };
  const i32 = (v: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setInt32(0, v, true); push(b); };
  const f32 = (v: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setFloat32(0, v, true); push(b); };
  i32(0x67676a74); i32(version);
  for (const v of h) i32(v);
  for (const { piece, score } of vocab) { i32(piece.byteLength); push(piece); f32(score); }
  for (const t of tensors) {
    const name = new TextEncoder().encode(t.name);
    i32(t.dims.length); i32(name.byteLength); i32(t.type);
    for (const d of t.dims) i32(d);
    push(name);
    push(new Uint8Array((32 - (length % 32)) % 32));
    push(t.bytes);
  }
  const out = new Uint8Array(length);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.byteLength; }
  return out;
}

/** The ggjt converter's vocabulary bytes: spaces for ▁, raw bytes for <0xNN>, "" for control, " ⁇ " for unknown. */
export function ggjtVocab(hfPieces: string[]): { piece: Uint8Array; score: number }[] {
  return hfPieces.map((p, id) => {
    const byte = /^<0x([0-9A-F]{2})>$/.exec(p);
    const piece = id === 0 ? new TextEncoder().encode(" \u2047 ") : id < 3 ? new Uint8Array(0)
      : byte ? Uint8Array.of(parseInt(byte[1]!, 16)) : new TextEncoder().encode(p.replaceAll("\u2581", " "));
    return { piece, score: id < 259 ? 0 : -(id - 259) };
  });
}

/** A random Llama as a ggjt v3 file of `type` tensors (norms F32), Q/K permuted as llama.cpp did; returns the expected HF-layout weights. */
export function writeLlamaGgjt(path: string, w: LlamaWeights, type: RefType, hfPieces: string[], o: { nMult?: number; version?: number } = {}): LlamaWeights {
  const c = w.config, D = c.hiddenSize, I = c.intermediateSize, Q = c.numHeads * c.headDim, KV = c.numKvHeads * c.headDim;
  const tensors: GgjtTensor[] = [];
  const add = (name: string, data: Float32Array, rows: number, cols: number, heads?: number): Float32Array => {
    const ty: RefType = rows === 1 ? "F32" : type;
    const q = quantizeRef(ty, data);
    tensors.push({ name, dims: rows === 1 ? [cols] : [cols, rows], type: TYPE_IDS[ty], bytes: heads ? permuteForGguf(q.bytes, rows, heads) : q.bytes });
    return q.expected;
  };
  const embed = add("tok_embeddings.weight", w.embed, c.vocabSize, D);
  const finalNorm = add("norm.weight", w.finalNorm, 1, D);
  const lmHead = w.lmHead ? add("output.weight", w.lmHead, c.vocabSize, D) : undefined;
  const layers = w.layers.map((l, i) => {
    const p = `layers.${i}`;
    return {
      wq: add(`${p}.attention.wq.weight`, l.wq, Q, D, c.numHeads),
      wk: add(`${p}.attention.wk.weight`, l.wk, KV, D, c.numKvHeads),
      wv: add(`${p}.attention.wv.weight`, l.wv, KV, D),
      wo: add(`${p}.attention.wo.weight`, l.wo, D, Q),
      attnNorm: add(`${p}.attention_norm.weight`, l.attnNorm, 1, D),
      gate: add(`${p}.feed_forward.w1.weight`, l.gate, I, D),
      down: add(`${p}.feed_forward.w2.weight`, l.down, D, I),
      up: add(`${p}.feed_forward.w3.weight`, l.up, I, D),
      ffnNorm: add(`${p}.ffn_norm.weight`, l.ffnNorm, 1, D),
    };
  });
  const ftype = { F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q8_0: 7, Q5_0: 8, Q5_1: 9 }[type as string] ?? 0;
  writeFileSync(path, encodeGgjt([c.vocabSize, D, o.nMult ?? 256, c.numHeads, c.numLayers, c.headDim, ftype], ggjtVocab(hfPieces), tensors, o.version ?? 3));
  return { config: { ...c }, embed, finalNorm, layers, ...(lmHead ? { lmHead } : {}) };
}
