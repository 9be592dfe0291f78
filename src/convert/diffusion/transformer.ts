/**
 * diffusers' attention pieces as graph writers: the Attention module (self or cross, multi-head,
 * scale 1/√head_dim), BasicTransformerBlock (LayerNorm → self-attn, LayerNorm → cross-attn,
 * LayerNorm → GEGLU feed-forward, each residual), Transformer2DModel over an NCHW map (GroupNorm,
 * proj_in/proj_out as 1×1 convs or, with use_linear_projection, Linear layers) and the VAE's
 * single-head spatial attention block.
 */
import type { GraphOps } from "../ops.ts";
import { conv2d, fromTokens, groupNorm, toTokens } from "./nn2d.ts";

export interface AttentionSpec {
  queryDim: number;
  heads: number;
  headDim: number;
  /** Width of the key/value input (cross_attention_dim); = queryDim for self-attention. */
  kvDim: number;
  /** to_q/to_k/to_v carry biases (the VAE's attention); to_out.0 always does. */
  qkvBias: boolean;
}

/** [B, N, H·d] → [B, H, N, d]. */
function heads(ops: GraphOps, x: string, h: number, d: number): string {
  const g = ops.g;
  return g.op("Transpose", [g.op("Reshape", [x, g.i64([0, 0, h, d])])], { perm: [0, 2, 1, 3] });
}

/**
 * softmax(q·kᵀ/√d)·v per head over [B, N, ·] tokens, then to_out.0. `names` maps the diffusers
 * names (to_q, to_k, to_v, to_out.0) to the checkpoint's, for VAEs saved with the old
 * query/key/value/proj_attn names. Scores and softmax run in fp32 (upcast_softmax).
 */
export function attention(
  ops: GraphOps,
  x: string,
  context: string,
  p: string,
  s: AttentionSpec,
  names: { q: string; k: string; v: string; out: string } = { q: "to_q", k: "to_k", v: "to_v", out: "to_out.0" },
): string {
  const g = ops.g;
  const inner = s.heads * s.headDim;
  const proj = (src: string, n: string, inF: number) => ops.linear(src, `${p}.${n}.weight`, inner, inF, s.qkvBias ? `${p}.${n}.bias` : undefined);
  const q = heads(ops, proj(x, names.q, s.queryDim), s.heads, s.headDim);
  const k = heads(ops, proj(context, names.k, s.kvDim), s.heads, s.headDim);
  const v = heads(ops, proj(context, names.v, s.kvDim), s.heads, s.headDim);
  const kT = g.op("Transpose", [k], { perm: [0, 1, 3, 2] });
  const scores = g.op("Mul", [g.op("MatMul", [ops.toF32(q), ops.toF32(kT)]), g.float([1 / Math.sqrt(s.headDim)], [])]);
  const probs = ops.toT(g.op("Softmax", [scores], { axis: -1 }));
  const o = g.op("MatMul", [probs, v]);
  const merged = g.op("Reshape", [g.op("Transpose", [o], { perm: [0, 2, 1, 3] }), g.i64([0, 0, inner])]);
  return ops.linear(merged, `${p}.${names.out}.weight`, s.queryDim, inner, `${p}.${names.out}.bias`);
}

/** FeedForward with GEGLU: net.2(h · gelu(gate)), [h ‖ gate] = net.0.proj(x), inner = 4·dim. */
function gegluFeedForward(ops: GraphOps, x: string, p: string, dim: number): string {
  const inner = 4 * dim;
  const both = ops.linear(x, `${p}.net.0.proj.weight`, 2 * inner, dim, `${p}.net.0.proj.bias`);
  const [h, gate] = ops.split(both, [inner, inner]);
  const y = ops.g.op("Mul", [h!, ops.gelu(gate!)]);
  return ops.linear(y, `${p}.net.2.weight`, dim, inner, `${p}.net.2.bias`);
}

export interface TransformerSpec {
  channels: number;
  heads: number;
  headDim: number;
  crossDim: number;
  layers: number;
  groups: number;
  linearProjection: boolean;
}

/** BasicTransformerBlock (norm_type layer_norm, eps 1e-5, attention_bias false). */
function basicTransformerBlock(ops: GraphOps, x: string, context: string, p: string, dim: number, s: TransformerSpec): string {
  const g = ops.g;
  const self = { queryDim: dim, heads: s.heads, headDim: s.headDim, kvDim: dim, qkvBias: false };
  let h = ops.layerNorm(x, `${p}.norm1`, dim, 1e-5);
  let y = g.op("Add", [attention(ops, h, h, `${p}.attn1`, self), x]);
  h = ops.layerNorm(y, `${p}.norm2`, dim, 1e-5);
  y = g.op("Add", [attention(ops, h, context, `${p}.attn2`, { ...self, kvDim: s.crossDim }), y]);
  h = ops.layerNorm(y, `${p}.norm3`, dim, 1e-5);
  return g.op("Add", [gegluFeedForward(ops, h, `${p}.ff`, dim), y]);
}

/** Transformer2DModel on continuous input: x + proj_out(blocks(proj_in(norm(x)))). */
export function transformer2d(ops: GraphOps, x: string, context: string, p: string, s: TransformerSpec): string {
  const g = ops.g;
  const inner = s.heads * s.headDim, c = s.channels;
  const normed = groupNorm(ops, x, `${p}.norm`, c, s.groups, 1e-6);
  let t = s.linearProjection
    ? ops.linear(toTokens(ops, normed), `${p}.proj_in.weight`, inner, c, `${p}.proj_in.bias`)
    : toTokens(ops, conv2d(ops, normed, `${p}.proj_in`, c, inner, { kernel: 1 }));
  for (let i = 0; i < s.layers; i++) t = basicTransformerBlock(ops, t, context, `${p}.transformer_blocks.${i}`, inner, s);
  const out = s.linearProjection
    ? fromTokens(ops, ops.linear(t, `${p}.proj_out.weight`, c, inner, `${p}.proj_out.bias`), x, c)
    : conv2d(ops, fromTokens(ops, t, x, inner), `${p}.proj_out`, inner, c, { kernel: 1 });
  return g.op("Add", [out, x]);
}

/**
 * The VAE mid-block attention (Attention with group_norm, one head of width C, biased
 * projections, residual): x + to_out(attn(group_norm(x))). Checkpoints saved before diffusers
 * 0.14 name the projections query/key/value/proj_attn; diffusers renames them on load, so do we.
 */
export function spatialSelfAttention(ops: GraphOps, x: string, p: string, c: number, groups: number, eps: number): string {
  const g = ops.g;
  const old = !ops.w.has(`${p}.to_q.weight`) && ops.w.has(`${p}.query.weight`);
  const names = old ? { q: "query", k: "key", v: "value", out: "proj_attn" } : undefined;
  const t = toTokens(ops, groupNorm(ops, x, `${p}.group_norm`, c, groups, eps));
  const a = attention(ops, t, t, p, { queryDim: c, heads: 1, headDim: c, kvDim: c, qkvBias: true }, names);
  return g.op("Add", [fromTokens(ops, a, x, c), x]);
}
