/**
 * In-memory Llama weights in Hugging Face layout: every linear matrix is PyTorch `nn.Linear`
 * `[out_features, in_features]` row-major, and Q/K rows are in `rotate_half` order (the order
 * transformers.js / HF graphs expect). Importers convert their source format into this shape; the
 * ONNX writer consumes it.
 */

export interface LlamaConfig {
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  maxPositions: number;
  rmsNormEps: number;
  ropeTheta: number;
  /** Classifier shares the token-embedding matrix. */
  tieWordEmbeddings: boolean;
  bosTokenId: number;
  eosTokenId: number;
  /** Further ids that end generation (written to generation_config.json beside eosTokenId). */
  extraStopTokenIds?: number[];
}

export interface LlamaLayerWeights {
  attnNorm: Float32Array; // [hidden]
  wq: Float32Array; // [heads*headDim, hidden]
  wk: Float32Array; // [kvHeads*headDim, hidden]
  wv: Float32Array; // [kvHeads*headDim, hidden]
  wo: Float32Array; // [hidden, heads*headDim]
  ffnNorm: Float32Array; // [hidden]
  gate: Float32Array; // w1 [intermediate, hidden]
  down: Float32Array; // w2 [hidden, intermediate]
  up: Float32Array; // w3 [intermediate, hidden]
}

export interface LlamaWeights {
  config: LlamaConfig;
  embed: Float32Array; // [vocab, hidden]
  layers: LlamaLayerWeights[];
  finalNorm: Float32Array; // [hidden]
  /** Separate classifier [vocab, hidden]; absent when tied to `embed`. */
  lmHead?: Float32Array;
}

/** Classifier matrix [vocab, hidden], whether tied or not. */
export function classifierOf(w: LlamaWeights): Float32Array {
  return w.lmHead ?? w.embed;
}

/**
 * Interleaved-pair RoPE rows (Meta/llama2.c/GGUF) → `rotate_half` rows (HF), per head: the row at
 * in-head position 2i+t moves to t·headDim/2 + i. Same as HF's convert_llama_weights_to_hf
 * `w.view(heads, hd/2, 2, in).transpose(1, 2)`. Only Q and K need it; attention scores are
 * invariant because Q and K are permuted identically.
 */
export function permuteInterleavedToHalf(w: Float32Array, heads: number, headDim: number, inDim: number): Float32Array {
  if (w.length !== heads * headDim * inDim) throw new Error("permuteInterleavedToHalf: size mismatch");
  const out = new Float32Array(w.length);
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let t = 0; t < 2; t++) {
        const src = (h * headDim + 2 * i + t) * inDim;
        const dst = (h * headDim + t * half + i) * inDim;
        out.set(w.subarray(src, src + inDim), dst);
      }
    }
  }
  return out;
}

/** Basic shape checks so a bad importer fails with a message instead of a broken graph. */
export function validateLlamaWeights(w: LlamaWeights): void {
  const c = w.config;
  const D = c.hiddenSize, I = c.intermediateSize, Q = c.numHeads * c.headDim, KV = c.numKvHeads * c.headDim;
  const expect = (name: string, arr: Float32Array | undefined, n: number) => {
    if (!arr || arr.length !== n) throw new Error(`weights: ${name} has ${arr?.length ?? 0} values, expected ${n}`);
  };
  if (c.headDim % 2 !== 0) throw new Error(`weights: head_dim ${c.headDim} must be even for RoPE`);
  if (c.numHeads % c.numKvHeads !== 0) throw new Error(`weights: num_heads ${c.numHeads} not a multiple of num_kv_heads ${c.numKvHeads}`);
  if (w.layers.length !== c.numLayers) throw new Error(`weights: ${w.layers.length} layers, expected ${c.numLayers}`);
  expect("embed", w.embed, c.vocabSize * D);
  expect("final_norm", w.finalNorm, D);
  if (c.tieWordEmbeddings !== !w.lmHead) throw new Error("weights: lm_head presence disagrees with tie_word_embeddings");
  if (w.lmHead) expect("lm_head", w.lmHead, c.vocabSize * D);
  w.layers.forEach((l, i) => {
    expect(`layers.${i}.attn_norm`, l.attnNorm, D);
    expect(`layers.${i}.wq`, l.wq, Q * D);
    expect(`layers.${i}.wk`, l.wk, KV * D);
    expect(`layers.${i}.wv`, l.wv, KV * D);
    expect(`layers.${i}.wo`, l.wo, D * Q);
    expect(`layers.${i}.ffn_norm`, l.ffnNorm, D);
    expect(`layers.${i}.gate`, l.gate, I * D);
    expect(`layers.${i}.down`, l.down, D * I);
    expect(`layers.${i}.up`, l.up, I * D);
  });
}
