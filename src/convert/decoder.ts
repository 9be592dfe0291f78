/**
 * The decoder-only transformer graph shared by the Llama-like families (Llama, Mistral, Qwen2,
 * Phi-3, Mixtral, Qwen2-MoE), following transformers.js's KV-cache contract (runtime-notes §4.6):
 * inputs `input_ids`, `attention_mask`, `position_ids`, `past_key_values.{i}.key|value`
 * [batch, kv_heads, past, head_dim]; outputs `logits`, `present.{i}.key|value`. Families differ only
 * in what `DecoderSpec` says: biases, fused projections, sliding windows, rotary scaling, and the
 * feed-forward block (dense gated MLP or mixture of experts, in mlp.ts). Standard opset-17 ops only
 * (MatMulNBits for quantised variants), so every ONNX Runtime build runs the result; RMSNorm and the
 * attention softmax run in fp32 even in fp16 variants, like transformers' own fp16 path.
 */
import { onnxType } from "../engine/models/onnx-graph.ts";
import { feedForward, type MlpSpec } from "./mlp.ts";
import type { GraphOps } from "./ops.ts";
import type { RopeSpec } from "./rope.ts";

export interface DecoderSpec {
  modelType: string;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  rmsEps: number;
  rope: RopeSpec;
  /** Phi-3 stores q, k, v as one `qkv_proj` [(H + 2·KVH)·hd, D]. */
  fusedQkv: boolean;
  qkvBias: boolean;
  oBias: boolean;
  /** Per layer: sliding attention window (a query sees keys q − k < window), or null for full attention. */
  slidingWindow: (number | null)[];
  tied: boolean;
  mlp: MlpSpec[];
}

/** Smallest finite float32: a masked score stays finite so fully-masked (padding) rows cannot become NaN. */
const MASK_VALUE = -3.4028234663852886e38;

export function writeDecoder(ops: GraphOps, s: DecoderSpec): void {
  const { g, T } = ops;
  const D = s.hidden, H = s.heads, KVH = s.kvHeads, HD = s.headDim, nRep = H / KVH;

  const inputIds = g.input("input_ids", "int64", ["batch_size", "sequence_length"]);
  const attnMask = g.input("attention_mask", "int64", ["batch_size", "total_sequence_length"]);
  const positionIds = g.input("position_ids", "int64", ["batch_size", "sequence_length"]);
  const past: [string, string][] = [];
  for (let l = 0; l < s.layers; l++) {
    past.push([
      g.input(`past_key_values.${l}.key`, T, ["batch_size", KVH, "past_sequence_length", HD]),
      g.input(`past_key_values.${l}.value`, T, ["batch_size", KVH, "past_sequence_length", HD]),
    ]);
  }

  // Additive fp32 masks [B, 1, S, T]: query i (slot past+i) sees key slot j iff j ≤ past+i,
  // attention_mask[b, j] = 1 and, in sliding layers, past+i − j < window. Slots, not positions, so
  // left padding works (pads are contiguous, so slot distance = position distance for real tokens).
  const seqLen = g.op("Gather", [g.op("Shape", [inputIds]), g.i64([1], [])], { axis: 0 });
  const totalLen = g.op("Gather", [g.op("Shape", [attnMask]), g.i64([1], [])], { axis: 0 });
  const pastLen = g.op("Sub", [totalLen, seqLen]);
  const zero = g.i64([0], []), one = g.i64([1], []);
  const qSlots = g.op("Unsqueeze", [g.op("Add", [g.op("Range", [zero, seqLen, one]), pastLen]), g.i64([1])]);
  const kSlots = g.op("Unsqueeze", [g.op("Range", [zero, totalLen, one]), g.i64([0])]);
  const padOk = g.op("Unsqueeze", [g.op("Cast", [attnMask], { to: onnxType("bool") }), g.i64([1, 2])]);
  const allowed = g.op("And", [g.op("LessOrEqual", [kSlots, qSlots]), padOk]);
  const masks = new Map<number | null, string>();
  const maskFor = (window: number | null): string => {
    let m = masks.get(window);
    if (!m) {
      let ok = allowed;
      if (window !== null) ok = g.op("And", [ok, g.op("Less", [g.op("Sub", [qSlots, kSlots]), g.i64([window], [])])]);
      m = g.op("Where", [ok, g.float([0], []), g.float([MASK_VALUE], [])]);
      masks.set(window, m);
    }
    return m;
  };

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
  const cos = trig("Cos"), sin = trig("Sin");
  const rotate = (x: string): string => {
    const part = (from: number, to: number) => g.op("Slice", [x, g.i64([from]), g.i64([to]), g.i64([3])]);
    const xr = R === HD ? x : part(0, R);
    const x1 = g.op("Slice", [xr, g.i64([0]), g.i64([R / 2]), g.i64([3])]);
    const x2 = g.op("Slice", [xr, g.i64([R / 2]), g.i64([R]), g.i64([3])]);
    const rotated = g.op("Concat", [g.op("Neg", [x2]), x1], { axis: 3 });
    const out = g.op("Add", [g.op("Mul", [xr, cos]), g.op("Mul", [rotated, sin])]);
    return R === HD ? out : g.op("Concat", [out, part(R, HD)], { axis: 3 });
  };
  /** [B, S, heads·HD] → [B, heads, S, HD] */
  const splitHeads = (x: string, heads: number) =>
    g.op("Transpose", [g.op("Reshape", [x, g.i64([0, 0, heads, HD])])], { perm: [0, 2, 1, 3] });
  /** [B, KVH, T, HD] → [B, H, T, HD]: query head j uses KV head ⌊j / nRep⌋. */
  const repeatKv = (x: string) => {
    if (nRep === 1) return x;
    const tiled = g.op("Tile", [g.op("Unsqueeze", [x, g.i64([2])]), g.i64([1, 1, nRep, 1, 1])]);
    return g.op("Reshape", [tiled, g.i64([0, H, -1, HD])]);
  };

  const embed = ops.tensor("model.embed_tokens.weight", [s.vocab, D]);
  let x = g.op("Gather", [embed, inputIds], { axis: 0 });
  const scale = g.float([1 / Math.sqrt(HD)], [], T);
  for (let l = 0; l < s.layers; l++) {
    const p = `model.layers.${l}`;
    const h = ops.rmsNorm(x, `${p}.input_layernorm.weight`, D, s.rmsEps);
    let q: string, k: string, v: string;
    if (s.fusedQkv) {
      [q, k, v] = ops.split(ops.linear(h, `${p}.self_attn.qkv_proj.weight`, (H + 2 * KVH) * HD, D), [H * HD, KVH * HD, KVH * HD]) as [string, string, string];
    } else {
      const b = (n: string) => (s.qkvBias ? `${p}.self_attn.${n}.bias` : undefined);
      q = ops.linear(h, `${p}.self_attn.q_proj.weight`, H * HD, D, b("q_proj"));
      k = ops.linear(h, `${p}.self_attn.k_proj.weight`, KVH * HD, D, b("k_proj"));
      v = ops.linear(h, `${p}.self_attn.v_proj.weight`, KVH * HD, D, b("v_proj"));
    }
    q = rotate(splitHeads(q, H));
    k = rotate(splitHeads(k, KVH));
    v = splitHeads(v, KVH);
    const [pastK, pastV] = past[l]!;
    const presentK = g.op("Concat", [pastK, k], { axis: 2 }, { outputs: [`present.${l}.key`] });
    const presentV = g.op("Concat", [pastV, v], { axis: 2 }, { outputs: [`present.${l}.value`] });
    const kt = g.op("Transpose", [repeatKv(presentK)], { perm: [0, 1, 3, 2] });
    const scores = g.op("Add", [ops.toF32(g.op("Mul", [g.op("MatMul", [q, kt]), scale])), maskFor(s.slidingWindow[l] ?? null)]);
    const probs = ops.toT(g.op("Softmax", [scores], { axis: -1 }));
    const attn = g.op("MatMul", [probs, repeatKv(presentV)]);
    const merged = g.op("Reshape", [g.op("Transpose", [attn], { perm: [0, 2, 1, 3] }), g.i64([0, 0, H * HD])]);
    x = g.op("Add", [x, ops.linear(merged, `${p}.self_attn.o_proj.weight`, D, H * HD, s.oBias ? `${p}.self_attn.o_proj.bias` : undefined)]);

    const h2 = ops.rmsNorm(x, `${p}.post_attention_layernorm.weight`, D, s.rmsEps);
    x = g.op("Add", [x, feedForward(ops, h2, p, D, s.mlp[l]!)]);
  }
  const final = ops.rmsNorm(x, "model.norm.weight", D, s.rmsEps);
  if (s.tied && !ops.spec.bits) {
    // Tied: reuse the embedding initializer through a Transpose (ORT folds it) instead of a second copy.
    g.op("MatMul", [final, g.op("Transpose", [embed], { perm: [1, 0] })], {}, { outputs: ["logits"] });
  } else {
    // Quantised variants quantise the classifier too; the embedding table stays dense for Gather.
    const logits = ops.linear(final, s.tied ? "model.embed_tokens.weight" : "lm_head.weight", s.vocab, D);
    g.op("Identity", [logits], {}, { outputs: ["logits"] });
  }

  g.output("logits", T, ["batch_size", "sequence_length", s.vocab]);
  for (let l = 0; l < s.layers; l++) {
    g.output(`present.${l}.key`, T, ["batch_size", KVH, "total_sequence_length", HD]);
    g.output(`present.${l}.value`, T, ["batch_size", KVH, "total_sequence_length", HD]);
  }
}
