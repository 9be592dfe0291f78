/**
 * The image-model layers the text families never needed, on the shared GraphOps (one tensor read
 * at a time, dry runs check names and shapes): Conv2d, GroupNorm, nearest upsampling and the
 * NCHW ↔ token-sequence reshapes. Tensors are [batch, channels, height, width] as in torch.
 */
import type { GraphOps } from "../ops.ts";

/** torch.nn.Conv2d with `${prefix}.weight` [out, in, k, k] and `${prefix}.bias` [out]. */
export function conv2d(
  ops: GraphOps,
  x: string,
  prefix: string,
  inC: number,
  outC: number,
  o: { kernel?: number; stride?: number; pad?: number; bias?: boolean } = {},
): string {
  const k = o.kernel ?? 3, s = o.stride ?? 1, p = o.pad ?? (k === 3 ? 1 : 0);
  const inputs = [x, ops.tensor(`${prefix}.weight`, [outC, inC, k, k])];
  if (o.bias !== false) inputs.push(ops.tensor(`${prefix}.bias`, [outC]));
  return ops.g.op("Conv", inputs, { kernel_shape: [k, k], strides: [s, s], pads: [p, p, p, p] });
}

/** A per-channel [C] weight as [C, 1, 1], to broadcast over an NCHW tensor. */
export function perChannel(ops: GraphOps, name: string, c: number): string {
  return ops.g.op("Reshape", [ops.tensor(name, [c]), ops.g.i64([c, 1, 1])]);
}

/**
 * torch.nn.GroupNorm(groups, C, eps) with affine `${prefix}.weight`/`.bias` [C] on NCHW: the
 * statistics are InstanceNormalization over [B, groups, C/groups·H·W] (opset 17 has no
 * GroupNormalization), computed in fp32 as fp16 sums of squares overflow.
 */
export function groupNorm(ops: GraphOps, x: string, prefix: string, c: number, groups: number, eps: number): string {
  const g = ops.g;
  const xf = ops.toF32(x);
  const grouped = g.op("Reshape", [xf, g.i64([0, groups, -1])]);
  const ones = g.float(new Array<number>(groups).fill(1), [groups]);
  const zeros = g.float(new Array<number>(groups).fill(0), [groups]);
  const normed = g.op("InstanceNormalization", [grouped, ones, zeros], { epsilon: { float: eps } });
  const back = ops.toT(g.op("Reshape", [normed, g.op("Shape", [x])]));
  return g.op("Add", [g.op("Mul", [back, perChannel(ops, `${prefix}.weight`, c)]), perChannel(ops, `${prefix}.bias`, c)]);
}

/** Nearest-neighbour upsampling of H and W to those of `like` (torch interpolate(mode="nearest")). */
export function upsampleNearestTo(ops: GraphOps, x: string, like: string): string {
  const g = ops.g;
  const batchChannels = g.op("Slice", [g.op("Shape", [x]), g.i64([0]), g.i64([2])]);
  const hw = g.op("Slice", [g.op("Shape", [like]), g.i64([2]), g.i64([4])]);
  const sizes = g.op("Concat", [batchChannels, hw], { axis: 0 });
  // torch's nearest picks floor(dst · in/out): asymmetric coordinates, floor rounding.
  return g.op("Resize", [x, "", "", sizes], { mode: "nearest", coordinate_transformation_mode: "asymmetric", nearest_mode: "floor" });
}

/** Nearest ×2 (no size to follow). */
export function upsampleNearest2x(ops: GraphOps, x: string): string {
  const scales = ops.g.float([1, 1, 2, 2]);
  return ops.g.op("Resize", [x, "", scales], { mode: "nearest", coordinate_transformation_mode: "asymmetric", nearest_mode: "floor" });
}

/** [B, C, H, W] → [B, H·W, C] (torch: x.view(B, C, HW).transpose(1, 2)). */
export function toTokens(ops: GraphOps, x: string): string {
  const g = ops.g;
  return g.op("Transpose", [g.op("Reshape", [x, g.i64([0, 0, -1])])], { perm: [0, 2, 1] });
}

/** [B, H·W, C] → [B, C, H, W] with H and W taken from `like` (same batch and spatial size). */
export function fromTokens(ops: GraphOps, t: string, like: string, channels: number): string {
  const g = ops.g;
  const shape = g.op("Shape", [like]);
  const b = g.op("Slice", [shape, g.i64([0]), g.i64([1])]);
  const hw = g.op("Slice", [shape, g.i64([2]), g.i64([4])]);
  const target = g.op("Concat", [b, g.i64([channels]), hw], { axis: 0 });
  return g.op("Reshape", [g.op("Transpose", [t], { perm: [0, 2, 1] }), target]);
}
