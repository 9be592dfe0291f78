/**
 * Plain-TypeScript reference of diffusers' image-model layers, written from their definitions
 * (torch.nn Conv2d/GroupNorm/LayerNorm/Linear, diffusers' ResnetBlock2D, Downsample2D,
 * Upsample2D, get_timestep_embedding, TimestepEmbedding, Attention, BasicTransformerBlock with
 * GEGLU, Transformer2DModel) in float64 loops, not from the converter's graphs. Weights come from a
 * `Params` lookup by diffusers tensor name, which the tests also use to create random checkpoints.
 */

export interface T {
  data: Float64Array;
  shape: number[];
}

/** A named weight of this shape (random-created on first use when building a checkpoint). */
export type Params = (name: string, shape: number[]) => Float64Array;

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
export const tensor = (shape: number[], data?: ArrayLike<number>): T => ({ shape, data: data ? Float64Array.from(data) : new Float64Array(size(shape)) });

export function add(a: T, b: T): T {
  if (a.data.length !== b.data.length) throw new Error(`add: ${a.shape} vs ${b.shape}`);
  return tensor(a.shape, a.data.map((v, i) => v + b.data[i]!));
}

export const silu = (x: T): T => tensor(x.shape, x.data.map((v) => v / (1 + Math.exp(-v))));

/** erf by Abramowitz–Stegun 7.1.26 would be too coarse; this series/continued fraction is ~1e-15. */
function erf(x: number): number {
  const s = Math.sign(x), a = Math.abs(x);
  if (a < 2.5) {
    let sum = a, term = a;
    for (let n = 1; n < 60; n++) {
      term *= (-a * a) / n;
      sum += term / (2 * n + 1);
    }
    return (s * 2 * sum) / Math.sqrt(Math.PI);
  }
  // erfc continued fraction for large |x|.
  let f = 0;
  for (let n = 60; n >= 1; n--) f = (n / 2) / (a + f);
  return s * (1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / (a + f));
}
const gelu = (v: number) => 0.5 * v * (1 + erf(v / Math.SQRT2));

/** torch Conv2d, weight [O, C, k, k], zero padding. */
export function conv2d(x: T, P: Params, p: string, outC: number, k = 3, stride = 1, pad = k === 3 ? 1 : 0): T {
  const [B, C, H, W] = x.shape as [number, number, number, number];
  const w = P(`${p}.weight`, [outC, C, k, k]), b = P(`${p}.bias`, [outC]);
  const Ho = Math.floor((H + 2 * pad - k) / stride) + 1, Wo = Math.floor((W + 2 * pad - k) / stride) + 1;
  const y = tensor([B, outC, Ho, Wo]);
  for (let n = 0; n < B; n++)
    for (let o = 0; o < outC; o++)
      for (let i = 0; i < Ho; i++)
        for (let j = 0; j < Wo; j++) {
          let s = b[o]!;
          for (let c = 0; c < C; c++)
            for (let di = 0; di < k; di++) {
              const yi = i * stride + di - pad;
              if (yi < 0 || yi >= H) continue;
              for (let dj = 0; dj < k; dj++) {
                const xj = j * stride + dj - pad;
                if (xj < 0 || xj >= W) continue;
                s += w[((o * C + c) * k + di) * k + dj]! * x.data[((n * C + c) * H + yi) * W + xj]!;
              }
            }
          y.data[((n * outC + o) * Ho + i) * Wo + j] = s;
        }
  return y;
}

/** torch GroupNorm: statistics over (C/G channels × H × W) per sample and group, biased variance. */
export function groupNorm(x: T, P: Params, p: string, groups: number, eps: number): T {
  const [B, C] = x.shape as [number, number];
  const hw = size(x.shape.slice(2)), per = (C / groups) * hw;
  const w = P(`${p}.weight`, [C]), b = P(`${p}.bias`, [C]);
  const y = tensor(x.shape);
  for (let n = 0; n < B; n++)
    for (let g = 0; g < groups; g++) {
      const base = (n * C + g * (C / groups)) * hw;
      let mean = 0;
      for (let i = 0; i < per; i++) mean += x.data[base + i]!;
      mean /= per;
      let v = 0;
      for (let i = 0; i < per; i++) v += (x.data[base + i]! - mean) ** 2;
      const inv = 1 / Math.sqrt(v / per + eps);
      for (let i = 0; i < per; i++) {
        const c = g * (C / groups) + Math.floor(i / hw);
        y.data[base + i] = (x.data[base + i]! - mean) * inv * w[c]! + b[c]!;
      }
    }
  return y;
}

/** torch Linear over the last axis, weight [out, in]. */
export function linear(x: T, P: Params, p: string, out: number, bias = true): T {
  const inF = x.shape[x.shape.length - 1]!, rows = x.data.length / inF;
  const w = P(`${p}.weight`, [out, inF]), b = bias ? P(`${p}.bias`, [out]) : undefined;
  const y = tensor([...x.shape.slice(0, -1), out]);
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < out; o++) {
      let s = b ? b[o]! : 0;
      for (let i = 0; i < inF; i++) s += w[o * inF + i]! * x.data[r * inF + i]!;
      y.data[r * out + o] = s;
    }
  return y;
}

export function layerNorm(x: T, P: Params, p: string, eps = 1e-5): T {
  const d = x.shape[x.shape.length - 1]!, rows = x.data.length / d;
  const w = P(`${p}.weight`, [d]), b = P(`${p}.bias`, [d]);
  const y = tensor(x.shape);
  for (let r = 0; r < rows; r++) {
    let m = 0, v = 0;
    for (let i = 0; i < d; i++) m += x.data[r * d + i]!;
    m /= d;
    for (let i = 0; i < d; i++) v += (x.data[r * d + i]! - m) ** 2;
    const inv = 1 / Math.sqrt(v / d + eps);
    for (let i = 0; i < d; i++) y.data[r * d + i] = (x.data[r * d + i]! - m) * inv * w[i]! + b[i]!;
  }
  return y;
}

/** NCHW → [B, HW, C] and back. */
export function nchwToTokens(x: T): T {
  const [B, C, H, W] = x.shape as [number, number, number, number];
  const y = tensor([B, H * W, C]);
  for (let n = 0; n < B; n++) for (let c = 0; c < C; c++) for (let p = 0; p < H * W; p++) y.data[(n * H * W + p) * C + c] = x.data[(n * C + c) * H * W + p]!;
  return y;
}
export function tokensToNchw(t: T, H: number, W: number): T {
  const [B, N, C] = t.shape as [number, number, number];
  const y = tensor([B, C, H, W]);
  for (let n = 0; n < B; n++) for (let c = 0; c < C; c++) for (let p = 0; p < N; p++) y.data[(n * C + c) * N + p] = t.data[(n * N + p) * C + c]!;
  return y;
}

/** Multi-head scaled dot-product attention: q [B, Nq, H·d], k/v [B, Nk, H·d]. */
function sdpa(q: T, k: T, v: T, heads: number): T {
  const [B, Nq, D] = q.shape as [number, number, number];
  const Nk = k.shape[1]!, d = D / heads, scale = 1 / Math.sqrt(d);
  const y = tensor([B, Nq, D]);
  const s = new Float64Array(Nk);
  for (let n = 0; n < B; n++)
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < Nq; i++) {
        let max = -Infinity;
        for (let j = 0; j < Nk; j++) {
          let dot = 0;
          for (let e = 0; e < d; e++) dot += q.data[(n * Nq + i) * D + h * d + e]! * k.data[(n * Nk + j) * D + h * d + e]!;
          s[j] = dot * scale;
          max = Math.max(max, s[j]!);
        }
        let z = 0;
        for (let j = 0; j < Nk; j++) z += (s[j] = Math.exp(s[j]! - max));
        for (let e = 0; e < d; e++) {
          let acc = 0;
          for (let j = 0; j < Nk; j++) acc += (s[j]! / z) * v.data[(n * Nk + j) * D + h * d + e]!;
          y.data[(n * Nq + i) * D + h * d + e] = acc;
        }
      }
  return y;
}

/** diffusers Attention: to_out.0(sdpa(to_q(x), to_k(ctx), to_v(ctx))). */
export function attention(x: T, ctx: T, P: Params, p: string, heads: number, headDim: number, qkvBias: boolean, names = ["to_q", "to_k", "to_v", "to_out.0"]): T {
  const inner = heads * headDim;
  const q = linear(x, P, `${p}.${names[0]}`, inner, qkvBias), k = linear(ctx, P, `${p}.${names[1]}`, inner, qkvBias), v = linear(ctx, P, `${p}.${names[2]}`, inner, qkvBias);
  return linear(sdpa(q, k, v, heads), P, `${p}.${names[3]}`, x.shape[2]!);
}

/** GEGLU feed-forward: net.2(a ⊙ gelu(b)), [a ‖ b] = net.0.proj(x). */
function feedForward(x: T, P: Params, p: string): T {
  const dim = x.shape[x.shape.length - 1]!, inner = 4 * dim;
  const ab = linear(x, P, `${p}.net.0.proj`, 2 * inner);
  const rows = ab.data.length / (2 * inner);
  const y = tensor([...x.shape.slice(0, -1), inner]);
  for (let r = 0; r < rows; r++) for (let i = 0; i < inner; i++) y.data[r * inner + i] = ab.data[r * 2 * inner + i]! * gelu(ab.data[r * 2 * inner + inner + i]!);
  return linear(y, P, `${p}.net.2`, dim);
}

export function transformerBlock(x: T, ctx: T, P: Params, p: string, heads: number, headDim: number): T {
  let y = add(attention(layerNormed(x, P, `${p}.norm1`), layerNormed(x, P, `${p}.norm1`), P, `${p}.attn1`, heads, headDim, false), x);
  y = add(attention(layerNormed(y, P, `${p}.norm2`), ctx, P, `${p}.attn2`, heads, headDim, false), y);
  return add(feedForward(layerNormed(y, P, `${p}.norm3`), P, `${p}.ff`), y);
}
const layerNormed = (x: T, P: Params, p: string) => layerNorm(x, P, p, 1e-5);

export interface Transformer2dRef {
  heads: number;
  layers: number;
  groups: number;
  linearProjection: boolean;
}

export function transformer2d(x: T, ctx: T, P: Params, p: string, o: Transformer2dRef): T {
  const [, C, H, W] = x.shape as [number, number, number, number];
  const headDim = C / o.heads, inner = C;
  const n = groupNorm(x, P, `${p}.norm`, o.groups, 1e-6);
  let t = o.linearProjection ? linear(nchwToTokens(n), P, `${p}.proj_in`, inner) : nchwToTokens(conv2d(n, P, `${p}.proj_in`, inner, 1));
  for (let i = 0; i < o.layers; i++) t = transformerBlock(t, ctx, P, `${p}.transformer_blocks.${i}`, o.heads, headDim);
  const out = o.linearProjection ? tokensToNchw(linear(t, P, `${p}.proj_out`, C), H, W) : conv2d(tokensToNchw(t, H, W), P, `${p}.proj_out`, C, 1);
  return add(out, x);
}

/** ResnetBlock2D; `temb` [B, T] (or [1, T]) when the block has time_emb_proj. */
export function resnet(x: T, P: Params, p: string, outC: number, groups: number, eps: number, temb?: T): T {
  const [B, C, H, W] = x.shape as [number, number, number, number];
  let h = conv2d(silu(groupNorm(x, P, `${p}.norm1`, groups, eps)), P, `${p}.conv1`, outC);
  if (temb) {
    const t = linear(silu(temb), P, `${p}.time_emb_proj`, outC);
    const tb = t.shape[0]!;
    h = tensor(h.shape, h.data.map((v, i) => {
      const n = Math.floor(i / (outC * H * W)), c = Math.floor(i / (H * W)) % outC;
      return v + t.data[(tb === 1 ? 0 : n) * outC + c]!;
    }));
  }
  h = conv2d(silu(groupNorm(h, P, `${p}.norm2`, groups, eps)), P, `${p}.conv2`, outC);
  const sc = C !== outC ? conv2d(x, P, `${p}.conv_shortcut`, outC, 1) : x;
  void B;
  return add(sc, h);
}

/** Downsample2D (use_conv): padding 0 pads right/bottom by one, then stride-2 3×3 conv. */
export function downsample(x: T, P: Params, p: string, padding: number): T {
  const C = x.shape[1]!;
  if (padding !== 0) return conv2d(x, P, `${p}.conv`, C, 3, 2, padding);
  const [B, , H, W] = x.shape as [number, number, number, number];
  const y = tensor([B, C, H + 1, W + 1]);
  for (let n = 0; n < B * C; n++) for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) y.data[(n * (H + 1) + i) * (W + 1) + j] = x.data[(n * H + i) * W + j]!;
  return conv2d(y, P, `${p}.conv`, C, 3, 2, 0);
}

/** Upsample2D (use_conv): nearest to (Ho, Wo) (default ×2), then 3×3 conv. */
export function upsample(x: T, P: Params, p: string, Ho?: number, Wo?: number): T {
  const [B, C, H, W] = x.shape as [number, number, number, number];
  const oh = Ho ?? 2 * H, ow = Wo ?? 2 * W;
  const y = tensor([B, C, oh, ow]);
  for (let n = 0; n < B * C; n++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++) y.data[(n * oh + i) * ow + j] = x.data[(n * H + Math.floor((i * H) / oh)) * W + Math.floor((j * W) / ow)]!;
  return conv2d(y, P, `${p}.conv`, C);
}

/** get_timestep_embedding(t, dim, flip_sin_to_cos, downscale_freq_shift), scale 1, max_period 10000. */
export function timestepEmbedding(ts: number[], dim: number, flip: boolean, shift: number): T {
  const half = Math.floor(dim / 2);
  const y = tensor([ts.length, dim]);
  ts.forEach((t, r) => {
    for (let i = 0; i < half; i++) {
      const a = t * Math.exp((-Math.log(10000) * i) / (half - shift));
      y.data[r * dim + (flip ? half : 0) + i] = Math.sin(a);
      y.data[r * dim + (flip ? 0 : half) + i] = Math.cos(a);
    }
  });
  return y;
}

/** TimestepEmbedding: linear_2(silu(linear_1(x))). */
export function timestepMlp(x: T, P: Params, p: string, outDim: number): T {
  return linear(silu(linear(x, P, `${p}.linear_1`, outDim)), P, `${p}.linear_2`, outDim);
}

export function concatChannels(a: T, b: T): T {
  const [B, Ca, H, W] = a.shape as [number, number, number, number];
  const Cb = b.shape[1]!, hw = H * W;
  const y = tensor([B, Ca + Cb, H, W]);
  for (let n = 0; n < B; n++) {
    y.data.set(a.data.subarray(n * Ca * hw, (n + 1) * Ca * hw), n * (Ca + Cb) * hw);
    y.data.set(b.data.subarray(n * Cb * hw, (n + 1) * Cb * hw), (n * (Ca + Cb) + Ca) * hw);
  }
  return y;
}
