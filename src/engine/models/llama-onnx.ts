/**
 * Writes a decoder-only Llama graph that follows transformers.js's KV-cache contract
 * (runtime-notes §4.6): inputs `input_ids`, `attention_mask`, `position_ids`,
 * `past_key_values.{i}.key|value` [batch_size, kv_heads, past_sequence_length, head_dim]; outputs
 * `logits`, `present.{i}.key|value`. Dense variants use only standard opset-17 ops so any ONNX
 * Runtime build (node CPU, web wasm/webgpu) runs them; quantised variants swap the linear layers
 * for `com.microsoft::MatMulNBits`. fp16 variants keep fp16 weights, activations and KV cache but,
 * like Hugging Face's own fp16 Llama, compute RMSNorm and the attention softmax in fp32 (fp16 x²
 * overflows above 256).
 */
import { GraphBuilder, onnxType, type EncodedOnnx, type TensorData } from "./onnx-graph.ts";
import { classifierOf, validateLlamaWeights, type LlamaWeights } from "./llama-weights.ts";
import { quantizeNBits, type QBits } from "./quantize-nbits.ts";
import { fromFloat16Bits, toFloat16Array, toFloat16Bits } from "./float16.ts";

export type LlamaVariant = "fp32" | "fp16" | "q8" | "q4" | "q4f16";
export const LLAMA_VARIANTS: readonly LlamaVariant[] = ["fp32", "fp16", "q8", "q4", "q4f16"];

export interface VariantSpec {
  /** Element type of weights, activations, KV cache and logits. */
  float: "float32" | "float16";
  /** MatMulNBits bit width for every linear layer (incl. the classifier); absent = dense MatMul. */
  bits?: QBits;
}
export const VARIANT_SPECS: Record<LlamaVariant, VariantSpec> = {
  fp32: { float: "float32" },
  fp16: { float: "float16" },
  q8: { float: "float32", bits: 8 },
  q4: { float: "float32", bits: 4 },
  q4f16: { float: "float16", bits: 4 },
};

/** Smallest finite float32: a masked score stays finite so fully-masked (padding) rows cannot become NaN. */
const MASK_VALUE = -3.4028234663852886e38;

/** cos/sin tables [maxPositions, headDim] in duplicated-half layout for rotate_half. */
export function ropeTables(headDim: number, maxPositions: number, theta: number): { cos: Float32Array; sin: Float32Array } {
  const half = headDim / 2;
  const cos = new Float32Array(maxPositions * headDim);
  const sin = new Float32Array(maxPositions * headDim);
  for (let p = 0; p < maxPositions; p++) {
    for (let i = 0; i < half; i++) {
      const angle = p * Math.pow(theta, (-2 * i) / headDim);
      const c = Math.cos(angle), s = Math.sin(angle);
      cos[p * headDim + i] = c; cos[p * headDim + half + i] = c;
      sin[p * headDim + i] = s; sin[p * headDim + half + i] = s;
    }
  }
  return { cos, sin };
}

/** Transposes a row-major [rows, cols] matrix to [cols, rows] (Linear layout → MatMul's B layout). */
function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c]!;
  return out;
}

export interface BuildOptions {
  /**
   * Store large initializers in this side file (name relative to the .onnx file) instead of inline.
   * Needed past protobuf's 2 GB limit; transformers.js expects `<file>.onnx_data`.
   */
  externalData?: string;
}

export function buildLlamaOnnx(weights: LlamaWeights, variant: LlamaVariant, opts: BuildOptions = {}): EncodedOnnx {
  validateLlamaWeights(weights);
  const spec = VARIANT_SPECS[variant];
  const T = spec.float, half = T === "float16";
  const c = weights.config;
  const g = new GraphBuilder();
  const D = c.hiddenSize, H = c.numHeads, KVH = c.numKvHeads, HD = c.headDim, I = c.intermediateSize;
  const nRep = H / KVH;
  const stored = (w: Float32Array): TensorData => (half ? toFloat16Array(w) : w);
  const roundScale = half ? (s: number) => fromFloat16Bits(toFloat16Bits(s)) : Math.fround;
  const toF32 = (x: string) => (half ? g.op("Cast", [x], { to: onnxType("float32") }) : x);
  const toT = (x: string) => (half ? g.op("Cast", [x], { to: onnxType("float16") }) : x);

  /** y = x · Wᵀ for a Linear weight W [out, in]. */
  const linear = (x: string, w: Float32Array, out: number, inF: number, name: string): string => {
    if (!spec.bits) return g.op("MatMul", [x, g.initializer(name, stored(transpose(w, out, inF)), [inF, out])]);
    const q = quantizeNBits(w, out, inF, spec.bits, roundScale);
    const b = g.initializer(`${name}.q${spec.bits}`, q.data, [out, q.blocksPerRow, q.blobSize]);
    const s = g.initializer(`${name}.scales`, stored(q.scales), [out * q.blocksPerRow]);
    return g.op("MatMulNBits", [x, b, s], { K: inF, N: out, bits: spec.bits, block_size: 32 }, { domain: "com.microsoft" });
  };
  const rmsNorm = (x: string, w: Float32Array, name: string): string => {
    const xf = toF32(x);
    const mean = g.op("ReduceMean", [g.op("Mul", [xf, xf])], { axes: [-1], keepdims: 1 });
    const rms = g.op("Sqrt", [g.op("Add", [mean, g.float([c.rmsNormEps], [])])]);
    return g.op("Mul", [toT(g.op("Div", [xf, rms])), g.initializer(name, stored(w), [D])]);
  };

  const inputIds = g.input("input_ids", "int64", ["batch_size", "sequence_length"]);
  const attnMask = g.input("attention_mask", "int64", ["batch_size", "total_sequence_length"]);
  const positionIds = g.input("position_ids", "int64", ["batch_size", "sequence_length"]);
  const pastNames: [string, string][] = [];
  for (let l = 0; l < c.numLayers; l++) {
    pastNames.push([
      g.input(`past_key_values.${l}.key`, T, ["batch_size", KVH, "past_sequence_length", HD]),
      g.input(`past_key_values.${l}.value`, T, ["batch_size", KVH, "past_sequence_length", HD]),
    ]);
  }

  // Additive fp32 attention mask [B, 1, S, T]: query i (slot past+i) sees key slot j iff
  // j ≤ past+i and attention_mask[b, j] = 1. Slots, not positions, so left padding works.
  const seqLen = g.op("Gather", [g.op("Shape", [inputIds]), g.i64([1], [])], { axis: 0 });
  const totalLen = g.op("Gather", [g.op("Shape", [attnMask]), g.i64([1], [])], { axis: 0 });
  const pastLen = g.op("Sub", [totalLen, seqLen]);
  const zero = g.i64([0], []), one = g.i64([1], []);
  const qSlots = g.op("Add", [g.op("Range", [zero, seqLen, one]), pastLen]);
  const kSlots = g.op("Range", [zero, totalLen, one]);
  const causal = g.op("LessOrEqual", [g.op("Unsqueeze", [kSlots, g.i64([0])]), g.op("Unsqueeze", [qSlots, g.i64([1])])]);
  const padOk = g.op("Unsqueeze", [g.op("Cast", [attnMask], { to: onnxType("bool") }), g.i64([1, 2])]);
  const maskAdd = g.op("Where", [g.op("And", [causal, padOk]), g.float([0], []), g.float([MASK_VALUE], [])]);

  // RoPE tables gathered by position id → [B, 1, S, HD].
  const { cos, sin } = ropeTables(HD, c.maxPositions, c.ropeTheta);
  const table = (name: string, t: Float32Array) =>
    g.op("Unsqueeze", [g.op("Gather", [g.initializer(name, stored(t), [c.maxPositions, HD]), positionIds], { axis: 0 }), g.i64([1])]);
  const cosT = table("rope.cos", cos), sinT = table("rope.sin", sin);
  const rope = (x: string): string => {
    const x1 = g.op("Slice", [x, g.i64([0]), g.i64([HD / 2]), g.i64([3])]);
    const x2 = g.op("Slice", [x, g.i64([HD / 2]), g.i64([HD]), g.i64([3])]);
    const rotated = g.op("Concat", [g.op("Neg", [x2]), x1], { axis: 3 });
    return g.op("Add", [g.op("Mul", [x, cosT]), g.op("Mul", [rotated, sinT])]);
  };
  /** [B, S, heads*HD] → [B, heads, S, HD] */
  const splitHeads = (x: string, heads: number) =>
    g.op("Transpose", [g.op("Reshape", [x, g.i64([0, 0, heads, HD])])], { perm: [0, 2, 1, 3] });
  /** [B, KVH, T, HD] → [B, H, T, HD], each KV head repeated nRep times consecutively (query head j uses KV head j / nRep). */
  const repeatKv = (x: string) => {
    if (nRep === 1) return x;
    const tiled = g.op("Tile", [g.op("Unsqueeze", [x, g.i64([2])]), g.i64([1, 1, nRep, 1, 1])]);
    return g.op("Reshape", [tiled, g.i64([0, H, -1, HD])]);
  };

  const embedName = g.initializer("model.embed_tokens.weight", stored(weights.embed), [c.vocabSize, D]);
  let x = g.op("Gather", [embedName, inputIds], { axis: 0 });
  const scale = g.float([1 / Math.sqrt(HD)], [], T);
  for (let l = 0; l < c.numLayers; l++) {
    const L = weights.layers[l]!;
    const p = `model.layers.${l}`;
    const h = rmsNorm(x, L.attnNorm, `${p}.input_layernorm.weight`);
    const q = rope(splitHeads(linear(h, L.wq, H * HD, D, `${p}.self_attn.q_proj`), H));
    const k = rope(splitHeads(linear(h, L.wk, KVH * HD, D, `${p}.self_attn.k_proj`), KVH));
    const v = splitHeads(linear(h, L.wv, KVH * HD, D, `${p}.self_attn.v_proj`), KVH);
    const [pastK, pastV] = pastNames[l]!;
    const presentK = g.op("Concat", [pastK, k], { axis: 2 }, { outputs: [`present.${l}.key`] });
    const presentV = g.op("Concat", [pastV, v], { axis: 2 }, { outputs: [`present.${l}.value`] });
    const kt = g.op("Transpose", [repeatKv(presentK)], { perm: [0, 1, 3, 2] });
    const scores = g.op("Add", [toF32(g.op("Mul", [g.op("MatMul", [q, kt]), scale])), maskAdd]);
    const probs = toT(g.op("Softmax", [scores], { axis: -1 }));
    const attn = g.op("MatMul", [probs, repeatKv(presentV)]);
    const merged = g.op("Reshape", [g.op("Transpose", [attn], { perm: [0, 2, 1, 3] }), g.i64([0, 0, H * HD])]);
    x = g.op("Add", [x, linear(merged, L.wo, D, H * HD, `${p}.self_attn.o_proj`)]);

    const h2 = rmsNorm(x, L.ffnNorm, `${p}.post_attention_layernorm.weight`);
    const gate = linear(h2, L.gate, I, D, `${p}.mlp.gate_proj`);
    const up = linear(h2, L.up, I, D, `${p}.mlp.up_proj`);
    const act = g.op("Mul", [g.op("Mul", [gate, g.op("Sigmoid", [gate])]), up]);
    x = g.op("Add", [x, linear(act, L.down, D, I, `${p}.mlp.down_proj`)]);
  }
  const final = rmsNorm(x, weights.finalNorm, "model.norm.weight");
  if (!spec.bits && c.tieWordEmbeddings) {
    // Tied: reuse the embedding initializer through a Transpose (ORT folds it) instead of a second copy.
    g.op("MatMul", [final, g.op("Transpose", [embedName], { perm: [1, 0] })], {}, { outputs: ["logits"] });
  } else {
    // Quantised variants quantise the classifier too; the embedding table stays dense for Gather.
    const logits = linear(final, classifierOf(weights), c.vocabSize, D, "lm_head");
    g.op("Identity", [logits], {}, { outputs: ["logits"] });
  }

  g.output("logits", T, ["batch_size", "sequence_length", c.vocabSize]);
  for (let l = 0; l < c.numLayers; l++) {
    g.output(`present.${l}.key`, T, ["batch_size", KVH, "total_sequence_length", HD]);
    g.output(`present.${l}.value`, T, ["batch_size", KVH, "total_sequence_length", HD]);
  }
  return g.encode("llama", "atoma-node", opts.externalData);
}
