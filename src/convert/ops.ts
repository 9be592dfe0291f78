/**
 * The weight-carrying pieces every family graph is made of (linear layers, norms, embeddings), per
 * ONNX variant. Each reads its tensor through `Weights` (shape-checked against the config), turns
 * it into the variant's storage (fp32, fp16, or MatMulNBits blocks) and drops the fp32 copy, so
 * memory holds one tensor at a time. In a dry run they only check names and shapes: the pipeline
 * builds every graph once that way, so a bad checkpoint fails before any file is written.
 */
import { GraphBuilder, onnxType, type TensorData } from "../engine/models/onnx-graph.ts";
import { quantizeNBits, type QBits, type QMatrix } from "../engine/models/quantize-nbits.ts";
import { fromFloat16Bits, toFloat16Array, toFloat16Bits } from "../engine/models/float16.ts";
import type { Weights } from "./tensors.ts";

export type Variant = "fp32" | "fp16" | "q8" | "q4" | "q4f16";
export const VARIANTS: readonly Variant[] = ["fp32", "fp16", "q8", "q4", "q4f16"];

/**
 * Graph form (docs/convert.md, "Graph forms"): `standard` opset-17 ops everywhere (any ONNX Runtime
 * build), or `fused` ONNX Runtime contrib ops where they exist — GroupQueryAttention,
 * RotaryEmbedding, SkipSimplifiedLayerNormalization, SimplifiedLayerNormalization — with the same
 * graph inputs and outputs. MatMulNBits is used by the quantised variants of both forms.
 */
export type GraphForm = "standard" | "fused";
export const GRAPH_FORMS: readonly GraphForm[] = ["standard", "fused"];

export interface VariantSpec {
  /** Element type of weights, activations, KV cache and logits. */
  float: "float32" | "float16";
  /** MatMulNBits bit width for every linear layer (incl. the classifier); absent = dense MatMul. */
  bits?: QBits;
}
/**
 * `accuracy_level` written on every MatMulNBits node (docs/convert.md, "MatMulNBits accuracy level"):
 * 0 = unset (ONNX Runtime computes in the activations' float type), 4 = int8 compute (activations
 * rounded to int8 per 32-value block, scale max|a|/127, as llama.cpp's Q4_0/Q8_0 products do).
 * Default 4 for fp32-activation variants (q8, q4): on CPU its one-row kernel reduces exactly like
 * the several-row one, so a lone job needs no idle row (src/engine/invariance-probe.ts checks that
 * per machine), q4 decodes faster and q8 ≈ 25× faster. Default 0 for q4f16, the GPU variant: there
 * the int8 path is another kernel, not measured here, and fp16 activations round less faithfully.
 */
export type AccuracyLevel = 0 | 4;
export const ACCURACY_LEVELS: readonly AccuracyLevel[] = [0, 4];
export function defaultAccuracyLevel(variant: Variant): AccuracyLevel {
  return VARIANT_SPECS[variant].float === "float32" ? 4 : 0;
}

export const VARIANT_SPECS: Record<Variant, VariantSpec> = {
  fp32: { float: "float32" },
  fp16: { float: "float16" },
  q8: { float: "float32", bits: 8 },
  q4: { float: "float32", bits: 4 },
  q4f16: { float: "float16", bits: 4 },
};

/** transformers.js file name per variant (runtime-notes §4.4). */
export const VARIANT_FILES: Record<Variant, string> = {
  fp32: "model.onnx",
  fp16: "model_fp16.onnx",
  q8: "model_quantized.onnx",
  q4: "model_q4.onnx",
  q4f16: "model_q4f16.onnx",
};

/**
 * Transposes a row-major [rows, cols] matrix to [cols, rows] (Linear layout → MatMul's B layout),
 * straight into fp16 bits for half variants, so a linear layer never holds two fp32 copies.
 */
function transposeTo(w: Float32Array, rows: number, cols: number, half: boolean): TensorData {
  const out = half ? new Uint16Array(w.length) : new Float32Array(w.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = half ? toFloat16Bits(w[r * cols + c]!) : w[r * cols + c]!;
  }
  return out;
}

/** Arrays of one type laid end to end (row blocks of matrices, biases, quantised blocks). */
function stack<T extends Float32Array | Uint8Array>(parts: T[]): T {
  const out = new (parts[0]!.constructor as new (n: number) => T)(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export class GraphOps {
  readonly T: "float32" | "float16";
  readonly half: boolean;
  readonly spec: VariantSpec;
  /** MatMulNBits accuracy_level of the linear layers written from here on; unset = the variant's default. */
  accuracyLevel: AccuracyLevel | undefined;

  constructor(readonly g: GraphBuilder, readonly w: Weights, readonly variant: Variant, readonly dry = false, readonly form: GraphForm = "standard") {
    this.spec = VARIANT_SPECS[variant];
    this.T = this.spec.float;
    this.half = this.T === "float16";
  }

  private stored(x: Float32Array): TensorData {
    return this.half ? toFloat16Array(x) : x;
  }

  /** A weight stored as-is in the variant's float type (norm weights, biases, embeddings). */
  tensor(name: string, shape: number[]): string {
    if (this.dry) {
      this.w.check(name, shape);
      return name;
    }
    return this.g.initializer(name, this.stored(this.w.get(name, shape)), shape);
  }

  /** A computed (not checkpoint) constant in the variant's float type; not computed in a dry run. */
  constant(name: string, data: () => Float32Array, shape: number[]): string {
    return this.dry ? name : this.g.initializer(name, this.stored(data()), shape);
  }

  toF32(x: string): string {
    return this.half ? this.g.op("Cast", [x], { to: onnxType("float32") }) : x;
  }

  toT(x: string): string {
    return this.half ? this.g.op("Cast", [x], { to: onnxType("float16") }) : x;
  }

  /** y = x · Wᵀ (+ b) for a Hugging Face Linear weight `name` [out, in]; `bias` names its bias [out]. */
  linear(x: string, name: string, out: number, inF: number, bias?: string): string {
    const g = this.g;
    let y: string;
    if (this.dry) {
      this.w.check(name, [out, inF]);
      y = g.op("MatMul", [x, name]);
    } else if (!this.spec.bits) {
      const t = transposeTo(this.w.get(name, [out, inF]), out, inF, this.half);
      y = g.op("MatMul", [x, g.initializer(name, t, [inF, out])]);
    } else {
      y = this.matMulNBits(x, name, this.quantized(name, out, inF), out, inF);
    }
    return bias ? g.op("Add", [y, this.tensor(bias, [out])]) : y;
  }

  /**
   * One MatMul for several Linear weights that read the same input: y = x · [W₁; W₂; …]ᵀ (+ the
   * biases, concatenated), outputs in the parts' order; the packed weight is the initializer
   * `name`. Quantised parts are quantised one by one (blocks run along a row, so stacking rows is
   * exact) and stacked. Saves a kernel per extra part, which on a tiny model is most of its cost.
   */
  linearPacked(x: string, name: string, parts: { weight: string; out: number; bias?: string }[], inF: number): string {
    const g = this.g;
    const out = parts.reduce((n, p) => n + p.out, 0);
    let y: string;
    if (this.dry) {
      for (const p of parts) this.w.check(p.weight, [p.out, inF]);
      y = g.op("MatMul", [x, name]);
    } else if (!this.spec.bits) {
      const rows = stack(parts.map((p) => this.w.get(p.weight, [p.out, inF])));
      y = g.op("MatMul", [x, g.initializer(name, transposeTo(rows, out, inF, this.half), [inF, out])]);
    } else {
      const qs = parts.map((p) => this.quantized(p.weight, p.out, inF));
      const q = { ...qs[0]!, n: out, data: stack(qs.map((m) => m.data)), scales: stack(qs.map((m) => m.scales)) };
      y = this.matMulNBits(x, name, q, out, inF);
    }
    const biases = parts.filter((p) => p.bias);
    if (biases.length === 0) return y;
    if (biases.length !== parts.length) throw new Error(`${name}: packed parts must all have a bias or none`);
    if (this.dry) {
      for (const p of parts) this.w.check(p.bias!, [p.out]);
      return g.op("Add", [y, `${name}.bias`]);
    }
    const b = stack(parts.map((p) => this.w.get(p.bias!, [p.out])));
    return g.op("Add", [y, g.initializer(`${name}.bias`, this.stored(b), [out])]);
  }

  /** A Linear weight [out, in] as MatMulNBits blocks: the source's own when it has them exactly. */
  private quantized(name: string, out: number, inF: number): QMatrix {
    const bits = this.spec.bits!;
    const roundScale = this.half ? (s: number) => fromFloat16Bits(toFloat16Bits(s)) : Math.fround;
    // A source already holding these exact blocks (GGUF Q4_0 / Q8_0) is taken as is, without loss.
    const exact = this.w.nbits(name, [out, inF], bits);
    const from = exact ? undefined : this.w.get(name, [out, inF]);
    const q = exact ?? quantizeNBits(from!, out, inF, bits, roundScale);
    this.w.onQuantized?.(name, q, from);
    return q;
  }

  private matMulNBits(x: string, name: string, q: QMatrix, out: number, inF: number): string {
    const g = this.g, bits = this.spec.bits!;
    const b = g.initializer(`${name}.q${bits}`, q.data, [out, q.blocksPerRow, q.blobSize]);
    const s = g.initializer(`${name}.scales`, this.stored(q.scales), [out * q.blocksPerRow]);
    const level = this.accuracyLevel ?? defaultAccuracyLevel(this.variant);
    return g.op("MatMulNBits", [x, b, s], { K: inF, N: out, bits, block_size: 32, ...(level ? { accuracy_level: level } : {}) }, { domain: "com.microsoft" });
  }

  /** RMSNorm computed in fp32 (fp16 x² overflows above 256), weight `name` [dim]. */
  rmsNorm(x: string, name: string, dim: number, eps: number): string {
    const g = this.g;
    const xf = this.toF32(x);
    const mean = g.op("ReduceMean", [g.op("Mul", [xf, xf])], { axes: [-1], keepdims: 1 });
    const rms = g.op("Sqrt", [g.op("Add", [mean, g.float([eps], [])])]);
    return g.op("Mul", [this.toT(g.op("Div", [xf, rms])), this.tensor(name, [dim])]);
  }

  /** Fused RMSNorm: one SimplifiedLayerNormalization node (ONNX domain, contrib schema), stats in fp32. */
  simplifiedNorm(x: string, name: string, dim: number, eps: number): string {
    return this.g.op("SimplifiedLayerNormalization", [x, this.tensor(name, [dim])], { axis: -1, epsilon: { float: eps }, stash_type: 1 });
  }

  /**
   * Residual add + RMSNorm in one SkipSimplifiedLayerNormalization node: returns [norm(x + skip),
   * x + skip] (output 3 is the sum; outputs 1 and 2 are the unused statistics).
   */
  skipNorm(x: string, skip: string, name: string, dim: number, eps: number): [string, string] {
    const g = this.g, normed = g.fresh("skip_norm"), sum = g.fresh("residual");
    g.op("SkipSimplifiedLayerNormalization", [x, skip, this.tensor(name, [dim])], { epsilon: { float: eps } }, { domain: "com.microsoft", outputs: [normed, "", "", sum] });
    return [normed, sum];
  }

  /** LayerNorm (mean and variance in fp32) with `${prefix}.weight` and `${prefix}.bias` [dim]. */
  layerNorm(x: string, prefix: string, dim: number, eps: number): string {
    const g = this.g;
    const xf = this.toF32(x);
    const centered = g.op("Sub", [xf, g.op("ReduceMean", [xf], { axes: [-1], keepdims: 1 })]);
    const variance = g.op("ReduceMean", [g.op("Mul", [centered, centered])], { axes: [-1], keepdims: 1 });
    const normed = this.toT(g.op("Div", [centered, g.op("Sqrt", [g.op("Add", [variance, g.float([eps], [])])])]));
    return g.op("Add", [g.op("Mul", [normed, this.tensor(`${prefix}.weight`, [dim])]), this.tensor(`${prefix}.bias`, [dim])]);
  }

  /** Exact (erf) GELU, as torch's nn.GELU(); evaluated in fp32 (opset 17 has no Gelu op). */
  gelu(x: string): string {
    const g = this.g;
    const xf = this.toF32(x);
    const erf = g.op("Erf", [g.op("Mul", [xf, g.float([Math.SQRT1_2], [])])]);
    return this.toT(g.op("Mul", [g.op("Mul", [xf, g.float([0.5], [])]), g.op("Add", [erf, g.float([1], [])])]));
  }

  /** Split the last axis into consecutive pieces of these sizes (fused projections). */
  split(x: string, sizes: number[]): string[] {
    const outs = sizes.map(() => this.g.fresh("split"));
    this.g.op("Split", [x, this.g.i64(sizes)], { axis: -1 }, { outputs: outs });
    return outs;
  }

  silu(x: string): string {
    return this.g.op("Mul", [x, this.g.op("Sigmoid", [x])]);
  }
}
