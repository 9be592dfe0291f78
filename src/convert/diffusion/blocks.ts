/**
 * diffusers' convolutional building blocks (resnet.py, downsampling.py, upsampling.py,
 * embeddings.py) as graph writers, under the checkpoint's own tensor names: ResnetBlock2D with
 * the optional time-embedding projection, Downsample2D, Upsample2D, the sinusoidal timestep
 * projection and the TimestepEmbedding MLP.
 */
import type { GraphOps } from "../ops.ts";
import { conv2d, groupNorm, upsampleNearest2x, upsampleNearestTo } from "./nn2d.ts";

export interface ResnetSpec {
  inC: number;
  outC: number;
  groups: number;
  eps: number;
  /** Width of the time embedding fed to time_emb_proj; undefined: the block has none (the VAE). */
  tembC?: number;
}

/**
 * ResnetBlock2D (time_embedding_norm "default", output_scale_factor 1):
 * h = conv1(silu(norm1(x))) [+ time_emb_proj(silu(temb))]; h = conv2(silu(norm2(h)));
 * out = shortcut(x) + h, the shortcut a 1×1 conv_shortcut when the width changes.
 */
export function resnetBlock(ops: GraphOps, x: string, p: string, s: ResnetSpec, temb?: string): string {
  const g = ops.g;
  let h = conv2d(ops, ops.silu(groupNorm(ops, x, `${p}.norm1`, s.inC, s.groups, s.eps)), `${p}.conv1`, s.inC, s.outC);
  if (s.tembC !== undefined && temb !== undefined) {
    const t = ops.linear(ops.silu(temb), `${p}.time_emb_proj.weight`, s.outC, s.tembC, `${p}.time_emb_proj.bias`);
    h = g.op("Add", [h, g.op("Unsqueeze", [t, g.i64([2, 3])])]);
  }
  h = conv2d(ops, ops.silu(groupNorm(ops, h, `${p}.norm2`, s.outC, s.groups, s.eps)), `${p}.conv2`, s.outC, s.outC);
  const shortcut = s.inC !== s.outC ? conv2d(ops, x, `${p}.conv_shortcut`, s.inC, s.outC, { kernel: 1 }) : x;
  return g.op("Add", [shortcut, h]);
}

/**
 * Downsample2D with use_conv: a stride-2 3×3 conv `${p}.conv`. With padding 0 (the VAE encoder)
 * diffusers pads right and bottom by one first, so odd sizes round the same way.
 */
export function downsample(ops: GraphOps, x: string, p: string, c: number, padding: number): string {
  const g = ops.g;
  if (padding === 0) {
    const padded = g.op("Pad", [x, g.i64([0, 0, 0, 0, 0, 0, 1, 1])], { mode: "constant" });
    return conv2d(ops, padded, `${p}.conv`, c, c, { stride: 2, pad: 0 });
  }
  return conv2d(ops, x, `${p}.conv`, c, c, { stride: 2, pad: padding });
}

/** Upsample2D with use_conv: nearest ×2 (or to the skip connection's size) then 3×3 `${p}.conv`. */
export function upsample(ops: GraphOps, x: string, p: string, c: number, like?: string): string {
  const up = like ? upsampleNearestTo(ops, x, like) : upsampleNearest2x(ops, x);
  return conv2d(ops, up, `${p}.conv`, c, c);
}

/**
 * Timesteps (get_timestep_embedding): t [N] → [N, dim] of sin(t·f_i) ‖ cos(t·f_i) (cos first with
 * flip_sin_to_cos), f_i = exp(−ln(10000)·i / (dim/2 − shift)); computed in fp32 and returned in
 * fp32, as diffusers does before the MLP.
 */
export function timestepProjection(ops: GraphOps, t: string, dim: number, flipSinToCos: boolean, shift: number): string {
  const g = ops.g;
  const half = Math.floor(dim / 2);
  const freqs = Array.from({ length: half }, (_, i) => Math.exp((-Math.log(10000) * i) / (half - shift)));
  const args = g.op("Mul", [g.op("Unsqueeze", [t, g.i64([1])]), g.float(freqs, [1, half])]);
  const sin = g.op("Sin", [args]), cos = g.op("Cos", [args]);
  let emb = g.op("Concat", flipSinToCos ? [cos, sin] : [sin, cos], { axis: 1 });
  if (dim % 2) emb = g.op("Pad", [emb, g.i64([0, 0, 0, 1])], { mode: "constant" });
  return emb;
}

/** TimestepEmbedding: linear_2(silu(linear_1(x))) under `${p}.linear_1` / `${p}.linear_2`. */
export function timestepEmbedding(ops: GraphOps, x: string, p: string, inDim: number, outDim: number): string {
  const h = ops.linear(x, `${p}.linear_1.weight`, outDim, inDim, `${p}.linear_1.bias`);
  return ops.linear(ops.silu(h), `${p}.linear_2.weight`, outDim, outDim, `${p}.linear_2.bias`);
}
