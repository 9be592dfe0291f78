/**
 * AutoencoderKL (diffusers autoencoder_kl.py, vae.py) → the two ONNX graphs of the diffusers ONNX
 * layout: vae_decoder (latent_sample → post_quant_conv → Decoder → sample) and vae_encoder
 * (sample → Encoder → quant_conv → latent_parameters, the Gaussian's mean ‖ logvar on channels,
 * of which the pipeline takes the mean). Float32 inputs and outputs in every variant.
 */
import type { GraphOps } from "../ops.ts";
import { ConvertError } from "../tensors.ts";
import { downsample, resnetBlock, upsample } from "./blocks.ts";
import { ConfigReader, type Json } from "./config.ts";
import { conv2d, groupNorm } from "./nn2d.ts";
import { spatialSelfAttention } from "./transformer.ts";

export interface VaeSpec {
  inC: number;
  outC: number;
  latentC: number;
  blockOut: number[];
  layersPerBlock: number;
  groups: number;
  midAttention: boolean;
  quantConv: boolean;
  postQuantConv: boolean;
}

/** VAE blocks use eps 1e-6 everywhere (vae.py), whatever the config says. */
const EPS = 1e-6;

export function vaeSpec(config: Json, where = "vae/config.json"): VaeSpec {
  const r = new ConfigReader(config, where);
  const blockOut = r.ints("block_out_channels", [64]);
  const down = r.strings("down_block_types", ["DownEncoderBlock2D"]);
  const up = r.strings("up_block_types", ["UpDecoderBlock2D"]);
  if (down.length !== blockOut.length || up.length !== blockOut.length) throw new ConvertError(`${where}: down_block_types and up_block_types need one entry per block_out_channels (${blockOut.length})`);
  for (const t of down) if (t !== "DownEncoderBlock2D") throw new ConvertError(`${where}: down block type "${t}" is not supported by the converter (supported: DownEncoderBlock2D)`);
  for (const t of up) if (t !== "UpDecoderBlock2D") throw new ConvertError(`${where}: up block type "${t}" is not supported by the converter (supported: UpDecoderBlock2D)`);
  r.only("act_fn", [null, "silu"], "supported: silu");
  const spec: VaeSpec = {
    inC: r.int("in_channels", 3),
    outC: r.int("out_channels", 3),
    latentC: r.int("latent_channels", 4),
    blockOut,
    layersPerBlock: r.int("layers_per_block", 1),
    groups: r.int("norm_num_groups", 32),
    midAttention: r.bool("mid_block_add_attention", true),
    quantConv: r.bool("use_quant_conv", true),
    postQuantConv: r.bool("use_post_quant_conv", true),
  };
  for (const c of blockOut) if (c % spec.groups) throw new ConvertError(`${where}: ${c} channels do not split into norm_num_groups ${spec.groups}`);
  return spec;
}

/** UNetMidBlock2D without time embedding: resnet, attention (optional), resnet. */
function midBlock(ops: GraphOps, x: string, p: string, c: number, s: VaeSpec): string {
  const rs = { inC: c, outC: c, groups: s.groups, eps: EPS };
  let h = resnetBlock(ops, x, `${p}.resnets.0`, rs);
  if (s.midAttention) h = spatialSelfAttention(ops, h, `${p}.attentions.0`, c, s.groups, EPS);
  return resnetBlock(ops, h, `${p}.resnets.1`, rs);
}

export function writeVaeEncoder(ops: GraphOps, s: VaeSpec): void {
  const g = ops.g;
  g.input("sample", "float32", ["batch", s.inC, "height", "width"]);
  const n = s.blockOut.length;
  let h = conv2d(ops, ops.toT("sample"), "encoder.conv_in", s.inC, s.blockOut[0]!);
  let ch = s.blockOut[0]!;
  s.blockOut.forEach((out, i) => {
    for (let j = 0; j < s.layersPerBlock; j++) {
      h = resnetBlock(ops, h, `encoder.down_blocks.${i}.resnets.${j}`, { inC: ch, outC: out, groups: s.groups, eps: EPS });
      ch = out;
    }
    if (i < n - 1) h = downsample(ops, h, `encoder.down_blocks.${i}.downsamplers.0`, out, 0);
  });
  const last = s.blockOut[n - 1]!;
  h = midBlock(ops, h, "encoder.mid_block", last, s);
  h = ops.silu(groupNorm(ops, h, "encoder.conv_norm_out", last, s.groups, EPS));
  h = conv2d(ops, h, "encoder.conv_out", last, 2 * s.latentC);
  if (s.quantConv) h = conv2d(ops, h, "quant_conv", 2 * s.latentC, 2 * s.latentC, { kernel: 1 });
  g.op("Identity", [ops.toF32(h)], {}, { outputs: ["latent_parameters"] });
  g.output("latent_parameters", "float32", ["batch", 2 * s.latentC, "latent_height", "latent_width"]);
}

export function writeVaeDecoder(ops: GraphOps, s: VaeSpec): void {
  const g = ops.g;
  g.input("latent_sample", "float32", ["batch", s.latentC, "latent_height", "latent_width"]);
  const n = s.blockOut.length;
  let z = ops.toT("latent_sample");
  if (s.postQuantConv) z = conv2d(ops, z, "post_quant_conv", s.latentC, s.latentC, { kernel: 1 });
  const rev = [...s.blockOut].reverse();
  let h = conv2d(ops, z, "decoder.conv_in", s.latentC, rev[0]!);
  h = midBlock(ops, h, "decoder.mid_block", rev[0]!, s);
  let ch = rev[0]!;
  rev.forEach((out, i) => {
    for (let j = 0; j < s.layersPerBlock + 1; j++) {
      h = resnetBlock(ops, h, `decoder.up_blocks.${i}.resnets.${j}`, { inC: ch, outC: out, groups: s.groups, eps: EPS });
      ch = out;
    }
    if (i < n - 1) h = upsample(ops, h, `decoder.up_blocks.${i}.upsamplers.0`, out);
  });
  h = ops.silu(groupNorm(ops, h, "decoder.conv_norm_out", s.blockOut[0]!, s.groups, EPS));
  h = conv2d(ops, h, "decoder.conv_out", s.blockOut[0]!, s.outC);
  g.op("Identity", [ops.toF32(h)], {}, { outputs: ["sample"] });
  g.output("sample", "float32", ["batch", s.outC, "height", "width"]);
}
