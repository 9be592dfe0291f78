/**
 * The decoder-only transformer graph shared by the Llama-like families (Llama, Mistral, Qwen2,
 * Phi-3, Mixtral, Qwen2-MoE), with the cache contract and attention of attention.ts: pre-norm
 * RMSNorm layers, attention then feed-forward, each added to the residual. Families differ only
 * in what `DecoderSpec` says: biases, fused projections, sliding windows, rotary scaling, and the
 * feed-forward block (dense gated MLP or mixture of experts, in mlp.ts). Standard opset-17 ops only
 * (MatMulNBits for quantised variants), so every ONNX Runtime build runs the result; RMSNorm and the
 * attention softmax run in fp32 even in fp16 variants, like transformers' own fp16 path.
 * The fused form (ops.form, attention-gqa.ts) writes the same computation with ONNX Runtime's
 * contrib ops: GroupQueryAttention per layer, and each residual add fused with the RMSNorm after it
 * (SkipSimplifiedLayerNormalization; the first norm is a SimplifiedLayerNormalization).
 */
import { Attention } from "./attention.ts";
import { GqaAttention, gqaUnsupported } from "./attention-gqa.ts";
import { writeLmHead } from "./lm-head.ts";
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
  /** Context length (the fused form's rotary caches cover it). */
  maxPositions: number;
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

/** Why this spec cannot take the fused form, or null when it can. */
export function fusedUnsupported(s: DecoderSpec): string | null {
  return gqaUnsupported(s);
}

export function writeDecoder(ops: GraphOps, s: DecoderSpec): void {
  const { g } = ops;
  const D = s.hidden, H = s.heads, KVH = s.kvHeads, HD = s.headDim;
  const fused = ops.form === "fused";
  const attention = fused ? new GqaAttention(ops, s) : new Attention(ops, s);
  const inputIds = attention.inputIds;
  // Fused: the residual add before a norm is the norm's own input (SkipSimplifiedLayerNormalization).
  const norm = (x: string, name: string) => (fused ? ops.simplifiedNorm(x, name, D, s.rmsEps) : ops.rmsNorm(x, name, D, s.rmsEps));
  const addNorm = (x: string, delta: string, name: string): [string, string] => {
    if (fused) return ops.skipNorm(x, delta, name, D, s.rmsEps);
    const sum = g.op("Add", [x, delta]);
    return [ops.rmsNorm(sum, name, D, s.rmsEps), sum];
  };

  const embed = ops.tensor("model.embed_tokens.weight", [s.vocab, D]);
  let x = g.op("Gather", [embed, inputIds], { axis: 0 });
  let h = norm(x, "model.layers.0.input_layernorm.weight");
  let final = "";
  for (let l = 0; l < s.layers; l++) {
    const p = `model.layers.${l}`;
    const b = (n: string) => (s.qkvBias ? `${p}.self_attn.${n}.bias` : undefined);
    const window = s.slidingWindow[l] ?? null;
    let merged: string;
    if (attention instanceof GqaAttention && attention.rotaryOutside && !s.fusedQkv) {
      // One MatMul for q|k (they share the RotaryEmbedding node that follows); v apart.
      const part = (n: string, out: number) => ({ weight: `${p}.self_attn.${n}.weight`, out, bias: b(n) });
      const qk = ops.linearPacked(h, `${p}.self_attn.qk_proj.weight`, [part("q_proj", H * HD), part("k_proj", KVH * HD)], D);
      merged = attention.attendPacked(l, qk, ops.linear(h, `${p}.self_attn.v_proj.weight`, KVH * HD, D, b("v_proj")), window);
    } else {
      let q: string, k: string, v: string;
      if (s.fusedQkv) {
        [q, k, v] = ops.split(ops.linear(h, `${p}.self_attn.qkv_proj.weight`, (H + 2 * KVH) * HD, D), [H * HD, KVH * HD, KVH * HD]) as [string, string, string];
      } else {
        q = ops.linear(h, `${p}.self_attn.q_proj.weight`, H * HD, D, b("q_proj"));
        k = ops.linear(h, `${p}.self_attn.k_proj.weight`, KVH * HD, D, b("k_proj"));
        v = ops.linear(h, `${p}.self_attn.v_proj.weight`, KVH * HD, D, b("v_proj"));
      }
      merged = attention.attend(l, q, k, v, window);
    }
    const attnOut = ops.linear(merged, `${p}.self_attn.o_proj.weight`, D, H * HD, s.oBias ? `${p}.self_attn.o_proj.bias` : undefined);
    const [h2, x2] = addNorm(x, attnOut, `${p}.post_attention_layernorm.weight`);
    const mlpOut = feedForward(ops, h2, p, D, s.mlp[l]!);
    const next = l + 1 < s.layers ? `model.layers.${l + 1}.input_layernorm.weight` : "model.norm.weight";
    [h, x] = addNorm(x2, mlpOut, next);
    if (l + 1 === s.layers) final = h;
  }
  writeLmHead(ops, final, { vocab: s.vocab, hidden: D, tied: s.tied ? { embed, name: "model.embed_tokens.weight" } : null });
  attention.outputs();
}
