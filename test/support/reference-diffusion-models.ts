/**
 * Reference forward passes of whole diffusers models from their config.json, on the blocks of
 * reference-diffusion.ts: UNet2DConditionModel (down blocks collecting skips, cross-attention mid
 * block, up blocks consuming them) and AutoencoderKL's encoder (→ quant_conv moments) and decoder
 * (post_quant_conv →). Also the random-weight `Params` the tests build checkpoints with: running
 * a reference once on it records every tensor the architecture has, under its diffusers name.
 */
import { Xoshiro256StarStar } from "../../src/engine/prng.ts";
import {
  attention, concatChannels, conv2d, downsample, groupNorm, nchwToTokens, resnet, silu, tensor, timestepEmbedding,
  timestepMlp, tokensToNchw, transformer2d, upsample, add, type Params, type T,
} from "./reference-diffusion.ts";

type Cfg = Record<string, unknown>;
const perBlock = (v: unknown, n: number): number[] => (Array.isArray(v) ? (v as number[]) : new Array<number>(n).fill(v as number));

/** UNet2DConditionModel forward (SD 1.x/2.x layout; text_time when `added` is given). */
export function unetRef(P: Params, c: Cfg, sample: T, timestep: number, ctx: T, added?: { textEmbeds: T; timeIds: number[][] }): T {
  const boc = c.block_out_channels as number[], n = boc.length;
  const groups = c.norm_num_groups as number, eps = (c.norm_eps as number) ?? 1e-5;
  const heads = perBlock(c.attention_head_dim, n), layers = perBlock(c.layers_per_block, n);
  const tl = perBlock(c.transformer_layers_per_block ?? 1, n);
  const linearProjection = c.use_linear_projection === true;
  const flip = (c.flip_sin_to_cos as boolean) ?? true, shift = (c.freq_shift as number) ?? 0;
  const tdim = 4 * boc[0]!;
  let emb = timestepMlp(timestepEmbedding([timestep], boc[0]!, flip, shift), P, "time_embedding", tdim);
  if (added) {
    const ad = c.addition_time_embed_dim as number;
    const B = added.timeIds.length, k = added.timeIds[0]!.length, D = added.textEmbeds.shape[1]!;
    const te = timestepEmbedding(added.timeIds.flat(), ad, flip, shift);
    const cat = tensor([B, D + k * ad]);
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < D; i++) cat.data[b * (D + k * ad) + i] = added.textEmbeds.data[b * D + i]!;
      for (let i = 0; i < k * ad; i++) cat.data[b * (D + k * ad) + D + i] = te.data[b * k * ad + i]!;
    }
    const aug = timestepMlp(cat, P, "add_embedding", tdim);
    emb = tensor(aug.shape, aug.data.map((v, i) => v + emb.data[i % tdim]!));
  }
  const attn = (x: T, p: string, h: number, L: number) => transformer2d(x, ctx, P, p, { heads: h, layers: L, groups, linearProjection });

  let h = conv2d(sample, P, "conv_in", boc[0]!);
  const skips: T[] = [h];
  (c.down_block_types as string[]).forEach((type, i) => {
    for (let j = 0; j < layers[i]!; j++) {
      h = resnet(h, P, `down_blocks.${i}.resnets.${j}`, boc[i]!, groups, eps, emb);
      if (type === "CrossAttnDownBlock2D") h = attn(h, `down_blocks.${i}.attentions.${j}`, heads[i]!, tl[i]!);
      skips.push(h);
    }
    if (i < n - 1) {
      h = downsample(h, P, `down_blocks.${i}.downsamplers.0`, (c.downsample_padding as number) ?? 1);
      skips.push(h);
    }
  });
  h = resnet(h, P, "mid_block.resnets.0", boc[n - 1]!, groups, eps, emb);
  h = attn(h, "mid_block.attentions.0", heads[n - 1]!, tl[n - 1]!);
  h = resnet(h, P, "mid_block.resnets.1", boc[n - 1]!, groups, eps, emb);
  const rev = [...boc].reverse();
  (c.up_block_types as string[]).forEach((type, i) => {
    const li = layers[n - 1 - i]! + 1;
    for (let j = 0; j < li; j++) {
      h = concatChannels(h, skips.pop()!);
      h = resnet(h, P, `up_blocks.${i}.resnets.${j}`, rev[i]!, groups, eps, emb);
      if (type === "CrossAttnUpBlock2D") h = attn(h, `up_blocks.${i}.attentions.${j}`, heads[n - 1 - i]!, tl[n - 1 - i]!);
    }
    if (i < n - 1) {
      const next = skips[skips.length - 1]!;
      h = upsample(h, P, `up_blocks.${i}.upsamplers.0`, next.shape[2], next.shape[3]);
    }
  });
  h = silu(groupNorm(h, P, "conv_norm_out", groups, eps));
  return conv2d(h, P, "conv_out", (c.out_channels as number) ?? 4);
}

/** The VAE's UNetMidBlock2D: resnet, single-head attention with group_norm (residual), resnet. */
function vaeMid(h: T, P: Params, p: string, groups: number): T {
  const C = h.shape[1]!, H = h.shape[2]!, W = h.shape[3]!;
  h = resnet(h, P, `${p}.resnets.0`, C, groups, 1e-6);
  const t = nchwToTokens(groupNorm(h, P, `${p}.attentions.0.group_norm`, groups, 1e-6));
  h = add(tokensToNchw(attention(t, t, P, `${p}.attentions.0`, 1, C, true), H, W), h);
  return resnet(h, P, `${p}.resnets.1`, C, groups, 1e-6);
}

/** AutoencoderKL encoder + quant_conv: the moments (mean ‖ logvar) [B, 2L, h, w]. */
export function vaeEncodeRef(P: Params, c: Cfg, x: T): T {
  const boc = c.block_out_channels as number[], groups = c.norm_num_groups as number, L = c.latent_channels as number;
  let h = conv2d(x, P, "encoder.conv_in", boc[0]!);
  boc.forEach((out, i) => {
    for (let j = 0; j < (c.layers_per_block as number); j++) h = resnet(h, P, `encoder.down_blocks.${i}.resnets.${j}`, out, groups, 1e-6);
    if (i < boc.length - 1) h = downsample(h, P, `encoder.down_blocks.${i}.downsamplers.0`, 0);
  });
  h = vaeMid(h, P, "encoder.mid_block", groups);
  h = conv2d(silu(groupNorm(h, P, "encoder.conv_norm_out", groups, 1e-6)), P, "encoder.conv_out", 2 * L);
  return conv2d(h, P, "quant_conv", 2 * L, 1);
}

/** post_quant_conv + AutoencoderKL decoder: latents [B, L, h, w] → image [B, 3, H, W]. */
export function vaeDecodeRef(P: Params, c: Cfg, z: T): T {
  const boc = c.block_out_channels as number[], groups = c.norm_num_groups as number, L = c.latent_channels as number;
  const rev = [...boc].reverse();
  let h = conv2d(conv2d(z, P, "post_quant_conv", L, 1), P, "decoder.conv_in", rev[0]!);
  h = vaeMid(h, P, "decoder.mid_block", groups);
  rev.forEach((out, i) => {
    for (let j = 0; j < (c.layers_per_block as number) + 1; j++) h = resnet(h, P, `decoder.up_blocks.${i}.resnets.${j}`, out, groups, 1e-6);
    if (i < rev.length - 1) h = upsample(h, P, `decoder.up_blocks.${i}.upsamplers.0`);
  });
  h = silu(groupNorm(h, P, "decoder.conv_norm_out", groups, 1e-6));
  return conv2d(h, P, "decoder.conv_out", (c.out_channels as number) ?? 3);
}

/**
 * Random weights created on first request, remembered by name: 1-D `weight`s near 1 (norms),
 * biases small, matrices and kernels ~ U(±1/√fan_in) like torch's default init, so activations
 * stay O(1) through every block. `names()` lists what the architecture read, in order.
 */
export function randomParams(seed: bigint): Params & { tensors: Map<string, { shape: number[]; data: Float32Array }> } {
  const rng = new Xoshiro256StarStar(seed);
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  const P = ((name: string, shape: number[]) => {
    let t = tensors.get(name);
    if (!t) {
      const count = shape.reduce((a, b) => a * b, 1);
      const fanIn = shape.length > 1 ? shape.slice(1).reduce((a, b) => a * b, 1) : 1;
      const u = () => rng.nextDouble() * 2 - 1;
      const data = Float32Array.from({ length: count }, () =>
        shape.length === 1 ? (name.endsWith(".weight") ? 1 + 0.2 * u() : 0.1 * u()) : u() / Math.sqrt(fanIn));
      t = { shape, data };
      tensors.set(name, t);
    }
    if (t.shape.join() !== shape.join()) throw new Error(`reference read ${name} as [${shape}] and as [${t.shape}]`);
    return Float64Array.from(t.data);
  }) as Params & { tensors: typeof tensors };
  P.tensors = tensors;
  return P;
}
