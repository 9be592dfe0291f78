/**
 * Pure-TypeScript Llama forward pass, used ONLY by tests as an independent reference for the ONNX
 * graphs. Deliberately naive: one token at a time, float64 accumulation, explicit KV cache.
 * `rope: "interleaved"` runs llama2.c/Meta weights as-is (pairs 2i, 2i+1); `"half"` runs HF-layout
 * weights (pairs i, i + hd/2) — comparing the two proves an importer's Q/K row permutation.
 */
import { classifierOf, type LlamaWeights } from "../../src/engine/models/llama-weights.ts";
import { dequantizeNBits, quantizeNBits } from "../../src/engine/models/quantize-nbits.ts";
import { VARIANT_SPECS, type LlamaVariant } from "../../src/engine/models/llama-onnx.ts";
import { fromFloat16Bits, roundToFloat16, toFloat16Bits } from "../../src/engine/models/float16.ts";

export type RopeMode = "half" | "interleaved";

function matVec(w: Float32Array, x: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    const base = r * cols;
    for (let c = 0; c < cols; c++) s += w[base + c]! * x[c]!;
    out[r] = s;
  }
  return out;
}

/**
 * ONNX Runtime's int8 activation rounding for MatMulNBits at accuracy_level 4 (MLAS
 * QuantizeARow_CompInt8, CPU): along K, per block of 32 values (the last one shorter), in fp32:
 * scale = max|a| / 127, q = round-half-even(a · (127 / max|a|)); the product then uses q · scale.
 */
export function int8Activations(x: Float64Array): Float64Array {
  const out = new Float64Array(x.length);
  for (let k = 0; k < x.length; k += 32) {
    const end = Math.min(k + 32, x.length);
    let amax = 0;
    for (let i = k; i < end; i++) amax = Math.max(amax, Math.abs(Math.fround(x[i]!)));
    const scale = Math.fround(amax / 127), inv = amax ? Math.fround(127 / amax) : 0;
    for (let i = k; i < end; i++) out[i] = roundHalfEven(Math.fround(Math.fround(x[i]!) * inv)) * scale;
  }
  return out;
}

function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function rmsNorm(x: Float64Array, w: Float32Array, eps: number): Float64Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const inv = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * inv * w[i]!);
}

export class ReferenceLlama {
  private keys: Float64Array[][] = [];
  private values: Float64Array[][] = [];

  /** `int8`: round every linear layer's input as MatMulNBits does at accuracy_level 4. */
  constructor(readonly weights: LlamaWeights, readonly rope: RopeMode = "half", readonly int8 = false) {
    this.reset();
  }

  private linear(w: Float32Array, x: Float64Array, rows: number, cols: number): Float64Array {
    return matVec(w, this.int8 ? int8Activations(x) : x, rows, cols);
  }

  reset(): void {
    this.keys = this.weights.layers.map(() => []);
    this.values = this.weights.layers.map(() => []);
  }

  get length(): number {
    return this.keys[0]!.length;
  }

  private applyRope(vec: Float64Array, heads: number, pos: number): void {
    const { headDim: hd, ropeTheta } = this.weights.config;
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < hd / 2; i++) {
        const angle = pos * Math.pow(ropeTheta, (-2 * i) / hd);
        const cos = Math.cos(angle), sin = Math.sin(angle);
        const [a, b] = this.rope === "half" ? [h * hd + i, h * hd + i + hd / 2] : [h * hd + 2 * i, h * hd + 2 * i + 1];
        const x0 = vec[a]!, x1 = vec[b]!;
        vec[a] = x0 * cos - x1 * sin;
        vec[b] = x0 * sin + x1 * cos;
      }
    }
  }

  /** Feeds one token at the next position; returns its logits [vocab]. */
  step(token: number): Float64Array {
    const w = this.weights, c = w.config;
    const D = c.hiddenSize, H = c.numHeads, KVH = c.numKvHeads, HD = c.headDim, I = c.intermediateSize;
    const pos = this.length;
    let x: Float64Array = Float64Array.from(w.embed.subarray(token * D, (token + 1) * D));
    for (let l = 0; l < c.numLayers; l++) {
      const L = w.layers[l]!;
      const h = rmsNorm(x, L.attnNorm, c.rmsNormEps);
      const q = this.linear(L.wq, h, H * HD, D);
      const k = this.linear(L.wk, h, KVH * HD, D);
      const v = this.linear(L.wv, h, KVH * HD, D);
      this.applyRope(q, H, pos);
      this.applyRope(k, KVH, pos);
      this.keys[l]!.push(k);
      this.values[l]!.push(v);
      const attn = new Float64Array(H * HD);
      const T = this.keys[l]!.length;
      for (let hq = 0; hq < H; hq++) {
        const kvh = Math.floor(hq / (H / KVH));
        const scores = new Float64Array(T);
        let max = -Infinity;
        for (let t = 0; t < T; t++) {
          const kt = this.keys[l]![t]!;
          let s = 0;
          for (let d = 0; d < HD; d++) s += q[hq * HD + d]! * kt[kvh * HD + d]!;
          scores[t] = s / Math.sqrt(HD);
          max = Math.max(max, scores[t]!);
        }
        let sum = 0;
        for (let t = 0; t < T; t++) sum += scores[t] = Math.exp(scores[t]! - max);
        for (let t = 0; t < T; t++) {
          const p = scores[t]! / sum, vt = this.values[l]![t]!;
          for (let d = 0; d < HD; d++) attn[hq * HD + d] += p * vt[kvh * HD + d]!;
        }
      }
      const o = this.linear(L.wo, attn, D, H * HD);
      x = x.map((v, i) => v + o[i]!);
      const h2 = rmsNorm(x, L.ffnNorm, c.rmsNormEps);
      const gate = this.linear(L.gate, h2, I, D);
      const up = this.linear(L.up, h2, I, D);
      const act = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]!);
      const down = this.linear(L.down, act, D, I);
      x = x.map((v, i) => v + down[i]!);
    }
    return this.linear(classifierOf(w), rmsNorm(x, w.finalNorm, c.rmsNormEps), c.vocabSize, D);
  }

  /** Greedy continuation: feeds `prompt`, then appends argmax tokens until `maxNew` or `stopToken`. */
  greedy(prompt: number[], maxNew: number, stopToken?: number): number[] {
    this.reset();
    let logits: Float64Array = new Float64Array(0);
    for (const t of prompt) logits = this.step(t);
    const out: number[] = [];
    while (out.length < maxNew) {
      const next = argmax(logits);
      if (next === stopToken) break;
      out.push(next);
      logits = this.step(next);
    }
    return out;
  }
}

/** First index of the maximum (ties → lowest id, like llama2.c and transformers.js). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/**
 * The weights a graph variant actually holds: fp16 variants round every tensor to fp16; quantised
 * variants round-trip every linear layer (and the classifier, hence untied) through MatMulNBits
 * blocks. The reference then runs these in float64, so remaining differences are the graph's own
 * arithmetic (fp16 activations, accumulation order).
 */
export function variantWeights(w: LlamaWeights, variant: LlamaVariant): LlamaWeights {
  const spec = VARIANT_SPECS[variant];
  if (variant === "fp32") return w;
  const c = w.config, D = c.hiddenSize, I = c.intermediateSize, Q = c.numHeads * c.headDim, KV = c.numKvHeads * c.headDim;
  const half = spec.float === "float16";
  const dense = (m: Float32Array) => (half ? roundToFloat16(m) : m);
  const roundScale = half ? (s: number) => fromFloat16Bits(toFloat16Bits(s)) : Math.fround;
  const lin = (m: Float32Array, n: number, k: number) =>
    spec.bits ? dequantizeNBits(quantizeNBits(m, n, k, spec.bits, roundScale)) : dense(m);
  return {
    config: { ...c, tieWordEmbeddings: spec.bits ? false : c.tieWordEmbeddings },
    embed: dense(w.embed),
    finalNorm: dense(w.finalNorm),
    ...(spec.bits ? { lmHead: lin(w.lmHead ?? w.embed, c.vocabSize, D) } : w.lmHead ? { lmHead: dense(w.lmHead) } : {}),
    layers: w.layers.map((l) => ({
      attnNorm: dense(l.attnNorm), ffnNorm: dense(l.ffnNorm),
      wq: lin(l.wq, Q, D), wk: lin(l.wk, KV, D), wv: lin(l.wv, KV, D), wo: lin(l.wo, D, Q),
      gate: lin(l.gate, I, D), up: lin(l.up, I, D), down: lin(l.down, D, I),
    })),
  };
}
