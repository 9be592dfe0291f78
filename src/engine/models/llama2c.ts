/**
 * Reader for llama2.c legacy ("v0") checkpoints (format: models/README.md, "Shape"): a 7×int32 header, then
 * fp32 arrays back to back. Returns weights in HF layout (Q/K rows permuted from llama2.c's
 * interleaved-pair RoPE to rotate_half) plus the raw llama2.c-order weights for reference checks.
 */
import { permuteInterleavedToHalf, type LlamaConfig, type LlamaWeights } from "./llama-weights.ts";

export class ModelFormatError extends Error {
  override name = "ModelFormatError";
}

export interface Llama2cHeader {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  /** |vocab_size| from the header. */
  vocabSize: number;
  seqLen: number;
  /** Positive header vocab_size ⇒ classifier tied to the embedding. */
  shared: boolean;
}

const HEADER_BYTES = 28;
/** llama2.c v1/v2 exports start with this magic ("ak42"); only the legacy format is supported. */
const V1_MAGIC = 0x616b3432;

export function parseLlama2cHeader(buf: Uint8Array, where: string): Llama2cHeader {
  if (buf.byteLength < HEADER_BYTES) {
    throw new ModelFormatError(`${where}: file is ${buf.byteLength} bytes, too short for a llama2.c header (28 bytes)`);
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (view.getUint32(0, true) === V1_MAGIC) {
    throw new ModelFormatError(`${where}: llama2.c version-1/2 export (magic "ak42") is not supported; expected the legacy format (export with --version 0)`);
  }
  const field = (i: number) => view.getInt32(i * 4, true);
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabRaw, seqLen] = [field(0), field(1), field(2), field(3), field(4), field(5), field(6)];
  const bad = (what: string) => new ModelFormatError(`${where}: not a llama2.c model header (${what}; header = ${[dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabRaw, seqLen].join(", ")})`);
  const sane = (v: number, max: number) => Number.isInteger(v) && v > 0 && v <= max;
  if (!sane(dim, 1 << 16) || !sane(hiddenDim, 1 << 18) || !sane(nLayers, 1024) || !sane(nHeads, 1024) || !sane(nKvHeads, 1024) || !sane(Math.abs(vocabRaw), 1 << 20) || !sane(seqLen, 1 << 20)) {
    throw bad("dimensions out of range");
  }
  if (dim % nHeads !== 0) throw bad(`dim ${dim} is not a multiple of n_heads ${nHeads}`);
  if (nHeads % nKvHeads !== 0) throw bad(`n_heads ${nHeads} is not a multiple of n_kv_heads ${nKvHeads}`);
  if ((dim / nHeads) % 2 !== 0) throw bad(`head size ${dim / nHeads} is odd`);
  return { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize: Math.abs(vocabRaw), seqLen, shared: vocabRaw > 0 };
}

export function llama2cConfig(h: Llama2cHeader): LlamaConfig {
  return {
    hiddenSize: h.dim,
    intermediateSize: h.hiddenDim,
    numLayers: h.nLayers,
    numHeads: h.nHeads,
    numKvHeads: h.nKvHeads,
    headDim: h.dim / h.nHeads,
    vocabSize: h.vocabSize,
    maxPositions: h.seqLen,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    tieWordEmbeddings: h.shared,
    bosTokenId: 1,
    eosTokenId: 2,
    // llama2.c's run.c ends a sample at BOS (1): its training data delimits stories with BOS, so a
    // trained model emits BOS, never EOS (2), when a story is over.
    extraStopTokenIds: [1],
  };
}

/** Bytes a legacy checkpoint with this header must have. */
export function expectedLlama2cBytes(h: Llama2cHeader): number {
  const hs = h.dim / h.nHeads, kv = h.nKvHeads * hs, L = h.nLayers;
  const floats =
    h.vocabSize * h.dim + L * h.dim + L * h.dim * h.dim + 2 * L * kv * h.dim + L * h.dim * h.dim + L * h.dim +
    3 * L * h.hiddenDim * h.dim + h.dim + h.seqLen * hs + (h.shared ? 0 : h.vocabSize * h.dim);
  return HEADER_BYTES + 4 * floats;
}

export interface Llama2cModel {
  header: Llama2cHeader;
  /** Weights exactly as llama2.c uses them (interleaved-pair RoPE order). */
  original: LlamaWeights;
  /** Same weights with Q/K rows permuted for rotate_half graphs. */
  hf: LlamaWeights;
}

export function parseLlama2cModel(buf: Uint8Array, where: string): Llama2cModel {
  const header = parseLlama2cHeader(buf, where);
  const expected = expectedLlama2cBytes(header);
  if (buf.byteLength !== expected) {
    const why = buf.byteLength < expected ? "truncated" : "has trailing data";
    throw new ModelFormatError(`${where}: file is ${buf.byteLength} bytes but its header needs ${expected} (${why}; expected a llama2.c legacy checkpoint)`);
  }
  // Copy once so every array is 4-byte aligned whatever the source buffer's offset.
  const all = new Float32Array(buf.slice(HEADER_BYTES).buffer);
  let off = 0;
  const take = (n: number) => all.subarray(off, (off += n));
  const { dim: D, hiddenDim: F, nLayers: L, nHeads: H, nKvHeads: KVH } = header;
  const hs = D / H, kv = KVH * hs;
  const perLayer = (n: number) => { const block = take(L * n); return Array.from({ length: L }, (_, l) => block.subarray(l * n, (l + 1) * n)); };
  const embed = take(header.vocabSize * D);
  const attnNorm = perLayer(D), wq = perLayer(D * D), wk = perLayer(kv * D), wv = perLayer(kv * D), wo = perLayer(D * D);
  const ffnNorm = perLayer(D), w1 = perLayer(F * D), w2 = perLayer(D * F), w3 = perLayer(F * D);
  const finalNorm = take(D);
  take(header.seqLen * hs); // legacy freq_cis_real/imag: llama2.c recomputes RoPE and ignores them
  const lmHead = header.shared ? undefined : take(header.vocabSize * D);

  const config = llama2cConfig(header);
  const layers = Array.from({ length: L }, (_, l) => ({
    attnNorm: attnNorm[l]!, wq: wq[l]!, wk: wk[l]!, wv: wv[l]!, wo: wo[l]!,
    ffnNorm: ffnNorm[l]!, gate: w1[l]!, down: w2[l]!, up: w3[l]!,
  }));
  const original: LlamaWeights = { config, embed, layers, finalNorm, ...(lmHead ? { lmHead } : {}) };
  const hf: LlamaWeights = {
    ...original,
    layers: layers.map((layer) => ({
      ...layer,
      wq: permuteInterleavedToHalf(layer.wq, H, hs, D),
      wk: permuteInterleavedToHalf(layer.wk, KVH, hs, D),
    })),
  };
  return { header, original, hf };
}
