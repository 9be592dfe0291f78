/**
 * The fused form of attention.ts: one ONNX Runtime contrib `com.microsoft.GroupQueryAttention` node
 * per layer instead of ~30 standard ops (docs/convert.md, "Graph forms"). The graph's inputs and
 * outputs are unchanged (transformers.js's contract: input_ids, attention_mask, position_ids,
 * past_key_values.* [B, KVH, past, HD] → logits, present.*), so transformers.js and the engine feed
 * it as before; GQA's own inputs are derived in the graph as onnxruntime-genai's exports do:
 * seqlens_k = Σ attention_mask − 1 per row (int32) and total_sequence_length = mask width.
 *
 * GQA's cache layout differs in one way the batched loop must know: each row's tokens start at
 * slot 0 (left-aligned, any padding after them), and the new token's key/value is written at slot
 * seqlens_k of that row, not appended at the end. A row alone (mask all ones) is both layouts.
 *
 * Step output: the graph also returns `step_key_values` [B, S, layers · (Q + 2·KVH) · HD]: per
 * layer the step's keys (after rotary) then values — exactly the slots GQA writes into `present.*`.
 * Where rotary runs outside GQA, they are GQA's own inputs, with the queries along (Q = H) because
 * the packed form below has them in the same tensor; where it runs inside, the rotated keys exist
 * only in `present.*`, so the new slots are gathered from it (Q = 0; GatherElements at
 * seqlens_k − S + 1 … seqlens_k per row: a copy, bits unchanged). A caller that keeps the cache itself (src/engine/batching.ts) fetches
 * only that and the logits: onnxruntime-node copies every fetched output into a new JS buffer, and
 * the whole cache per step was the largest cost of a small model's decode step (docs/performance.md).
 *
 * Rotary: inside GQA (do_rotary, cos/sin caches [max_positions, rotary/2]) where the kernel allows
 * it (head_dim a multiple of 16, rotary/2 a multiple of 8); otherwise a `com.microsoft.
 * RotaryEmbedding` node from position_ids (e.g. stories260K, head_dim 8): with separate q/k/v
 * projections one MatMul computes q|k, one RotaryEmbedding rotates its H + KVH heads, and GQA takes
 * Concat(q|k, v) packed (`attendPacked`) — 5 kernels per layer instead of 6; a fused qkv_proj
 * (Phi-3) rotates q and k apart (`attend`). Caches are
 * computed here in fp32 as transformers does (fround(pos · inv_freq), then cos/sin), times the
 * rope attention factor. A sliding window is GQA's `local_window_size` as is: onnxruntime 1.30's
 * CPU kernel then keeps keys q − k < window, as transformers does (checked by test/convert/fused).
 */
import { STEP_KV } from "../engine/kv-batch.ts";
import { onnxType } from "../engine/models/onnx-graph.ts";
import type { AttentionShape } from "./attention.ts";
import type { GraphOps } from "./ops.ts";
import type { RopeSpec } from "./rope.ts";

export interface GqaShape extends AttentionShape {
  /** Rows of the cos/sin caches: GQA refuses a total_sequence_length beyond them. */
  maxPositions: number;
}

/** Why this attention cannot take the fused form, or null when it can. */
export function gqaUnsupported(s: { headDim: number }): string | null {
  return s.headDim % 8 !== 0 ? `GroupQueryAttention needs head_dim a multiple of 8 (got ${s.headDim})` : null;
}

/** cos or sin of fround(pos · inv_freq) · factor for pos < rows: [rows, R/2]. */
function trigCache(fn: (x: number) => number, invFreq: Float32Array, rows: number, factor: number): Float32Array {
  const half = invFreq.length, out = new Float32Array(rows * half);
  for (let p = 0; p < rows; p++) {
    for (let i = 0; i < half; i++) {
      const t = Math.fround(fn(Math.fround(p * invFreq[i]!)));
      out[p * half + i] = factor === 1 ? t : Math.fround(t * factor);
    }
  }
  return out;
}

export class GqaAttention {
  readonly inputIds: string;
  private readonly positionIds: string;
  private readonly past: [string, string][] = [];
  private readonly seqlensK: string;
  /** seqlens_k as int64 [B] (the step output's gather indices). */
  private readonly seqlens: string;
  private readonly totalLen: string;
  private readonly cos: string;
  private readonly sin: string;
  /** Rotary inside GQA (true) or a separate RotaryEmbedding node (false). */
  private readonly inGqa: boolean;
  /** Per layer the rotated queries and keys and the values fed to GQA (the step output's parts). */
  private readonly stepParts: string[] = [];

  constructor(private readonly ops: GraphOps, private readonly s: GqaShape) {
    const { g, T } = ops;
    const KVH = s.kvHeads, HD = s.headDim, R = s.rope.rotaryDim;
    this.inputIds = g.input("input_ids", "int64", ["batch_size", "sequence_length"]);
    const attnMask = g.input("attention_mask", "int64", ["batch_size", "total_sequence_length"]);
    this.positionIds = g.input("position_ids", "int64", ["batch_size", "sequence_length"]);
    for (let l = 0; l < s.layers; l++) {
      this.past.push([
        g.input(`past_key_values.${l}.key`, T, ["batch_size", KVH, "past_sequence_length", HD]),
        g.input(`past_key_values.${l}.value`, T, ["batch_size", KVH, "past_sequence_length", HD]),
      ]);
    }
    const int32 = { to: onnxType("int32") };
    const seqlens = g.op("Sub", [g.op("ReduceSum", [attnMask, g.i64([1])], { keepdims: 0 }), g.i64([1], [])]);
    this.seqlensK = g.op("Cast", [seqlens], int32);
    this.seqlens = seqlens;
    // Shape's start/end (opset 15) read the width as [1] in one kernel instead of Shape + Gather.
    const width = g.op("Shape", [attnMask], { start: 1, end: 2 });
    this.totalLen = g.op("Cast", [width], int32);

    this.inGqa = HD % 16 === 0 && (R / 2) % 8 === 0;
    const [cos, sin] = this.caches(s.rope, width);
    this.cos = cos;
    this.sin = sin;
  }

  /** cos/sin caches in the variant's float type; longrope picks the long set past switchAbove tokens. */
  private caches(rope: RopeSpec, width: string): [string, string] {
    const { g } = this.ops, rows = this.s.maxPositions, half = rope.rotaryDim / 2;
    const make = (inv: Float32Array, tag: string) => [Math.cos, Math.sin].map((fn, i) =>
      this.ops.constant(`rotary.${tag}.${i ? "sin" : "cos"}_cache`, () => trigCache(fn, inv, rows, rope.attentionFactor), [rows, half])) as [string, string];
    const short = make(rope.invFreq, "short");
    if (!rope.invFreqLong) return short;
    const long = make(rope.invFreqLong, "long");
    const isLong = g.op("Greater", [width, g.i64([rope.switchAbove!], [])]);
    return [g.op("Where", [isLong, long[0], short[0]]), g.op("Where", [isLong, long[1], short[1]])];
  }

  private rotary(x: string, heads: number): string {
    return this.ops.g.op("RotaryEmbedding", [x, this.positionIds, this.cos, this.sin], {
      num_heads: heads, rotary_embedding_dim: this.s.rope.rotaryDim, interleaved: 0,
    }, { domain: "com.microsoft" });
  }

  /**
   * Layer `l`: q [B, S, H·HD], k and v [B, S, KVH·HD] (before rotary) → attention output
   * [B, S, H·HD]; writes the layer's present cache.
   */
  attend(l: number, q: string, k: string, v: string, window: number | null): string {
    const { g } = this.ops, { heads: H, kvHeads: KVH } = this.s;
    const [pastK, pastV] = this.past[l]!;
    const qIn = this.inGqa ? q : this.rotary(q, H);
    const kIn = this.inGqa ? k : this.rotary(k, KVH);
    this.stepParts.push(qIn, kIn, v);
    const inputs = [qIn, kIn, v, pastK, pastV, this.seqlensK, this.totalLen];
    if (this.inGqa) inputs.push(this.cos, this.sin);
    const out = g.fresh("gqa");
    g.op("GroupQueryAttention", inputs, {
      num_heads: H, kv_num_heads: KVH, local_window_size: window ?? -1,
      do_rotary: this.inGqa ? 1 : 0, rotary_interleaved: 0,
    }, { domain: "com.microsoft", outputs: [out, `present.${l}.key`, `present.${l}.value`] });
    return out;
  }

  /** Rotary runs in RotaryEmbedding nodes (so the q|k projections may be packed: attendPacked). */
  get rotaryOutside(): boolean {
    return !this.inGqa;
  }

  /**
   * Layer `l` with rotary outside GQA and q, k from one packed projection: qk [B, S, (H + KVH)·HD]
   * (q heads then k heads, before rotary), v [B, S, KVH·HD] → attention output [B, S, H·HD].
   */
  attendPacked(l: number, qk: string, v: string, window: number | null): string {
    const { g } = this.ops, { heads: H, kvHeads: KVH } = this.s;
    const [pastK, pastV] = this.past[l]!;
    // Rotary is per head and position, so q and k heads rotate in one node as H + KVH heads.
    const packed = g.op("Concat", [this.rotary(qk, H + KVH), v], { axis: -1 });
    this.stepParts.push(packed);
    const out = g.fresh("gqa");
    g.op("GroupQueryAttention", [packed, "", "", pastK, pastV, this.seqlensK, this.totalLen], {
      num_heads: H, kv_num_heads: KVH, local_window_size: window ?? -1, do_rotary: 0, rotary_interleaved: 0,
    }, { domain: "com.microsoft", outputs: [out, `present.${l}.key`, `present.${l}.value`] });
    return out;
  }

  /** Declares the present cache outputs (`logits` is lm-head.ts's). */
  outputs(): void {
    const { g, T } = this.ops, { kvHeads: KVH, headDim: HD } = this.s;
    for (let l = 0; l < this.s.layers; l++) {
      g.output(`present.${l}.key`, T, ["batch_size", KVH, "total_sequence_length", HD]);
      g.output(`present.${l}.value`, T, ["batch_size", KVH, "total_sequence_length", HD]);
    }
    if (this.inGqa) {
      this.gatherStep();
      g.output(STEP_KV, T, ["batch_size", "sequence_length", this.s.layers * 2 * KVH * HD]);
      return;
    }
    g.op("Concat", this.stepParts, { axis: -1 }, { outputs: [STEP_KV] });
    g.output(STEP_KV, T, ["batch_size", "sequence_length", this.s.layers * (this.s.heads + 2 * KVH) * HD]);
  }

  /**
   * Rotary inside GQA: STEP_KV from `present.*` — per row b the S slots seqlens_k[b] − S + 1 …
   * seqlens_k[b] (where GQA wrote this step's keys and values, left-aligned), [B, S, KVH·HD] per
   * tensor, layers' keys and values in input order.
   */
  private gatherStep(): void {
    const { g } = this.ops, { kvHeads: KVH, headDim: HD } = this.s;
    const shape = g.op("Shape", [this.inputIds]);
    const batch = g.op("Gather", [shape, g.i64([0])], { axis: 0 });
    const seq = g.op("Gather", [shape, g.i64([1])], { axis: 0 });
    const seqScalar = g.op("Gather", [shape, g.i64([1], [])], { axis: 0 });
    const one = g.i64([1], []);
    const start = g.op("Add", [g.op("Sub", [this.seqlens, seqScalar]), one]);
    const slots = g.op("Add", [g.op("Unsqueeze", [start, g.i64([1])]), g.op("Unsqueeze", [g.op("Range", [g.i64([0], []), seqScalar, one]), g.i64([0])])]);
    const index = g.op("Expand", [g.op("Unsqueeze", [slots, g.i64([1, 3])]), g.op("Concat", [batch, g.i64([KVH]), seq, g.i64([HD])], { axis: 0 })]);
    const parts: string[] = [];
    for (let l = 0; l < this.s.layers; l++) {
      for (const kv of ["key", "value"]) {
        const picked = g.op("GatherElements", [`present.${l}.${kv}`, index], { axis: 2 });
        parts.push(g.op("Reshape", [g.op("Transpose", [picked], { perm: [0, 2, 1, 3] }), g.i64([0, 0, KVH * HD])]));
      }
    }
    g.op("Concat", parts, { axis: -1 }, { outputs: [STEP_KV] });
  }
}
