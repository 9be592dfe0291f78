/**
 * Causal self-attention with a KV cache in transformers.js's contract (runtime-notes §4.6), shared
 * by every decoder family: graph inputs `input_ids`, `attention_mask`, `position_ids` and the past
 * cache; additive fp32 masks (causal, padding, optional sliding window); rotary embeddings computed
 * from position ids in fp32 as transformers does; grouped KV heads; softmax in fp32.
 * Cache layout per layer: `past_key_values.{l}.key|value` [batch, kv_heads, past, head_dim], or —
 * for configs with `multi_query` (Falcon), whose cache transformers.js names `key_value` — one
 * `past_key_values.{l}.key_value` [batch, 2·kv_heads, past, head_dim], keys first.
 */
import { onnxType } from "../engine/models/onnx-graph.ts";
import type { GraphOps } from "./ops.ts";
import type { RopeSpec } from "./rope.ts";

export interface AttentionShape {
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  rope: RopeSpec;
  fusedCache?: boolean;
}

/** Smallest finite float32: a masked score stays finite so fully-masked (padding) rows cannot become NaN. */
const MASK_VALUE = -3.4028234663852886e38;

export class Attention {
  readonly inputIds: string;
  private readonly past: string[][] = [];
  private readonly masks = new Map<number | null, string>();
  private readonly allowed: string;
  private readonly qSlots: string;
  private readonly kSlots: string;
  private readonly cos: string;
  private readonly sin: string;

  constructor(private readonly ops: GraphOps, private readonly s: AttentionShape) {
    const { g, T } = ops;
    const KVH = s.kvHeads, HD = s.headDim;
    this.inputIds = g.input("input_ids", "int64", ["batch_size", "sequence_length"]);
    const attnMask = g.input("attention_mask", "int64", ["batch_size", "total_sequence_length"]);
    const positionIds = g.input("position_ids", "int64", ["batch_size", "sequence_length"]);
    for (let l = 0; l < s.layers; l++) {
      this.past.push(s.fusedCache
        ? [g.input(`past_key_values.${l}.key_value`, T, ["batch_size", 2 * KVH, "past_sequence_length", HD])]
        : [
          g.input(`past_key_values.${l}.key`, T, ["batch_size", KVH, "past_sequence_length", HD]),
          g.input(`past_key_values.${l}.value`, T, ["batch_size", KVH, "past_sequence_length", HD]),
        ]);
    }

    // Query i (slot past+i) sees key slot j iff j ≤ past+i, attention_mask[b, j] = 1 and, in
    // sliding layers, past+i − j < window. Slots, not positions, so left padding works (pads are
    // contiguous, so slot distance = position distance for real tokens).
    const seqLen = g.op("Gather", [g.op("Shape", [this.inputIds]), g.i64([1], [])], { axis: 0 });
    const totalLen = g.op("Gather", [g.op("Shape", [attnMask]), g.i64([1], [])], { axis: 0 });
    const pastLen = g.op("Sub", [totalLen, seqLen]);
    const zero = g.i64([0], []), one = g.i64([1], []);
    this.qSlots = g.op("Unsqueeze", [g.op("Add", [g.op("Range", [zero, seqLen, one]), pastLen]), g.i64([1])]);
    this.kSlots = g.op("Unsqueeze", [g.op("Range", [zero, totalLen, one]), g.i64([0])]);
    const padOk = g.op("Unsqueeze", [g.op("Cast", [attnMask], { to: onnxType("bool") }), g.i64([1, 2])]);
    this.allowed = g.op("And", [g.op("LessOrEqual", [this.kSlots, this.qSlots]), padOk]);

    // cos/sin [B, 1, S, rot] from position ids, in fp32 as transformers computes them.
    const R = s.rope.rotaryDim;
    let invFreq = g.float(Array.from(s.rope.invFreq), [R / 2]);
    if (s.rope.invFreqLong) {
      const long = g.op("Greater", [totalLen, g.i64([s.rope.switchAbove!], [])]);
      invFreq = g.op("Where", [long, g.float(Array.from(s.rope.invFreqLong), [R / 2]), invFreq]);
    }
    const posF = g.op("Unsqueeze", [g.op("Cast", [positionIds], { to: onnxType("float32") }), g.i64([2])]);
    const angles = g.op("Mul", [posF, invFreq]);
    const emb = g.op("Concat", [angles, angles], { axis: -1 });
    const trig = (op: "Cos" | "Sin") => {
      let t = g.op(op, [emb]);
      if (s.rope.attentionFactor !== 1) t = g.op("Mul", [t, g.float([s.rope.attentionFactor], [])]);
      return ops.toT(g.op("Unsqueeze", [t, g.i64([1])]));
    };
    this.cos = trig("Cos");
    this.sin = trig("Sin");
  }

  private maskFor(window: number | null): string {
    let m = this.masks.get(window);
    if (!m) {
      const g = this.ops.g;
      let ok = this.allowed;
      if (window !== null) ok = g.op("And", [ok, g.op("Less", [g.op("Sub", [this.qSlots, this.kSlots]), g.i64([window], [])])]);
      m = g.op("Where", [ok, g.float([0], []), g.float([MASK_VALUE], [])]);
      this.masks.set(window, m);
    }
    return m;
  }

  private rotate(x: string): string {
    const g = this.ops.g, R = this.s.rope.rotaryDim, HD = this.s.headDim;
    const part = (from: number, to: number) => g.op("Slice", [x, g.i64([from]), g.i64([to]), g.i64([3])]);
    const xr = R === HD ? x : part(0, R);
    const x1 = g.op("Slice", [xr, g.i64([0]), g.i64([R / 2]), g.i64([3])]);
    const x2 = g.op("Slice", [xr, g.i64([R / 2]), g.i64([R]), g.i64([3])]);
    const rotated = g.op("Concat", [g.op("Neg", [x2]), x1], { axis: 3 });
    const out = g.op("Add", [g.op("Mul", [xr, this.cos]), g.op("Mul", [rotated, this.sin])]);
    return R === HD ? out : g.op("Concat", [out, part(R, HD)], { axis: 3 });
  }

  /** [B, S, heads·HD] → [B, heads, S, HD] */
  private splitHeads(x: string, heads: number): string {
    return this.ops.g.op("Transpose", [this.ops.g.op("Reshape", [x, this.ops.g.i64([0, 0, heads, this.s.headDim])])], { perm: [0, 2, 1, 3] });
  }

  /** [B, KVH, T, HD] → [B, H, T, HD]: query head j uses KV head ⌊j / (H / KVH)⌋. */
  private repeatKv(x: string): string {
    const { g } = this.ops, { heads: H, kvHeads: KVH, headDim: HD } = this.s, nRep = H / KVH;
    if (nRep === 1) return x;
    const tiled = g.op("Tile", [g.op("Unsqueeze", [x, g.i64([2])]), g.i64([1, 1, nRep, 1, 1])]);
    return g.op("Reshape", [tiled, g.i64([0, H, -1, HD])]);
  }

  /**
   * Layer `l`: q [B, S, H·HD], k and v [B, S, KVH·HD] (before rotary) → attention output
   * [B, S, H·HD] (before the output projection); writes the layer's present cache.
   */
  attend(l: number, q: string, k: string, v: string, window: number | null): string {
    const { g } = this.ops, { heads: H, kvHeads: KVH, headDim: HD } = this.s;
    const qh = this.rotate(this.splitHeads(q, H));
    const kh = this.rotate(this.splitHeads(k, KVH));
    const vh = this.splitHeads(v, KVH);
    let presentK: string, presentV: string;
    if (this.s.fusedCache) {
      const [pastK, pastV] = [g.fresh("past_k"), g.fresh("past_v")];
      g.op("Split", [this.past[l]![0]!, g.i64([KVH, KVH])], { axis: 1 }, { outputs: [pastK, pastV] });
      presentK = g.op("Concat", [pastK, kh], { axis: 2 });
      presentV = g.op("Concat", [pastV, vh], { axis: 2 });
      g.op("Concat", [presentK, presentV], { axis: 1 }, { outputs: [`present.${l}.key_value`] });
    } else {
      presentK = g.op("Concat", [this.past[l]![0]!, kh], { axis: 2 }, { outputs: [`present.${l}.key`] });
      presentV = g.op("Concat", [this.past[l]![1]!, vh], { axis: 2 }, { outputs: [`present.${l}.value`] });
    }
    const kt = g.op("Transpose", [this.repeatKv(presentK)], { perm: [0, 1, 3, 2] });
    const scale = g.float([1 / Math.sqrt(HD)], [], this.ops.T);
    const scores = g.op("Add", [this.ops.toF32(g.op("Mul", [g.op("MatMul", [qh, kt]), scale])), this.maskFor(window)]);
    const probs = this.ops.toT(g.op("Softmax", [scores], { axis: -1 }));
    const attn = g.op("MatMul", [probs, this.repeatKv(presentV)]);
    return g.op("Reshape", [g.op("Transpose", [attn], { perm: [0, 2, 1, 3] }), g.i64([0, 0, H * HD])]);
  }

  /** Declares the present cache outputs (`logits` is lm-head.ts's). */
  outputs(): void {
    const { g, T } = this.ops, { kvHeads: KVH, headDim: HD } = this.s;
    for (let l = 0; l < this.s.layers; l++) {
      if (this.s.fusedCache) {
        g.output(`present.${l}.key_value`, T, ["batch_size", 2 * KVH, "total_sequence_length", HD]);
      } else {
        g.output(`present.${l}.key`, T, ["batch_size", KVH, "total_sequence_length", HD]);
        g.output(`present.${l}.value`, T, ["batch_size", KVH, "total_sequence_length", HD]);
      }
    }
  }
}
