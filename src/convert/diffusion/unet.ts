/**
 * UNet2DConditionModel (diffusers unet_2d_condition.py / unet_2d_blocks.py) → ONNX with the
 * diffusers ONNX export's interface: sample [B, C, h, w], timestep [1] (float), encoder_hidden_states
 * [B, tokens, cross_attention_dim] → out_sample; with addition_embed_type "text_time" (SDXL) also
 * text_embeds [B, D] and time_ids [B, n]. Graph inputs and outputs are float32 in every variant
 * (the fp16 graph casts inside), which is what src/engine/image/components.ts feeds.
 */
import type { GraphOps } from "../ops.ts";
import { ConvertError } from "../tensors.ts";
import { resnetBlock, downsample, upsample, timestepEmbedding, timestepProjection } from "./blocks.ts";
import { ConfigReader, type Json } from "./config.ts";
import { conv2d, groupNorm } from "./nn2d.ts";
import { transformer2d, type TransformerSpec } from "./transformer.ts";

const DOWN = ["CrossAttnDownBlock2D", "DownBlock2D"];
const UP = ["CrossAttnUpBlock2D", "UpBlock2D"];

export interface UnetSpec {
  inC: number;
  outC: number;
  blockOut: number[];
  layersPerBlock: number[];
  /** Heads per down block (the config's misnamed attention_head_dim). */
  heads: number[];
  transformerLayers: number[];
  crossDim: number;
  groups: number;
  eps: number;
  linearProjection: boolean;
  down: string[];
  up: string[];
  downsamplePadding: number;
  flipSinToCos: boolean;
  freqShift: number;
  timeEmbedDim: number;
  /** SDXL's added conditioning: add_embedding(text_embeds ‖ sinusoid(time_ids, timeDim)). */
  textTime?: { timeDim: number; inDim: number; timeIds: number };
}

/** The spec diffusers would build from this config (its constructor defaults), or a ConvertError. */
export function unetSpec(config: Json, where = "unet/config.json"): UnetSpec {
  const r = new ConfigReader(config, where);
  const blockOut = r.ints("block_out_channels", [320, 640, 1280, 1280]);
  const n = blockOut.length;
  const down = r.strings("down_block_types", ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"]);
  const up = r.strings("up_block_types", ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]);
  if (down.length !== n || up.length !== n) throw new ConvertError(`${where}: down_block_types and up_block_types need one entry per block_out_channels (${n})`);
  for (const t of down) if (!DOWN.includes(t)) throw new ConvertError(`${where}: down block type "${t}" is not supported by the converter (supported: ${DOWN.join(", ")})`);
  for (const t of up) if (!UP.includes(t)) throw new ConvertError(`${where}: up block type "${t}" is not supported by the converter (supported: ${UP.join(", ")})`);
  r.only("mid_block_type", [null, "UNetMidBlock2DCrossAttn"], "supported: UNetMidBlock2DCrossAttn");
  r.only("act_fn", [null, "silu"], "supported: silu");
  r.only("resnet_time_scale_shift", [null, "default"], "supported: default");
  r.only("time_embedding_type", [null, "positional"], "supported: positional");
  r.only("class_embed_type", [null], "class embeddings are not implemented");
  r.only("encoder_hid_dim", [null], "encoder_hid_proj is not implemented");
  r.only("time_cond_proj_dim", [null], "timestep conditioning (LCM) is not implemented");
  r.only("only_cross_attention", [null, false], "only false");
  r.only("dual_cross_attention", [null, false], "only false");
  r.only("center_input_sample", [null, false], "only false");
  r.only("conv_in_kernel", [null, 3], "only 3");
  r.only("conv_out_kernel", [null, 3], "only 3");
  r.only("timestep_post_act", [null], "only null");
  r.only("time_embedding_act_fn", [null], "only null");
  r.only("attention_type", [null, "default"], "only default");
  r.only("addition_embed_type", [null, "text_time"], "supported: text_time (SDXL)");
  r.only("num_class_embeds", [null], "class embeddings are not implemented");
  r.only("mid_block_scale_factor", [null, 1], "only 1");
  r.only("resnet_out_scale_factor", [null, 1, 1.0], "only 1");
  if (config.num_attention_heads !== undefined && config.num_attention_heads !== null) {
    throw new ConvertError(`${where}: "num_attention_heads" is set; diffusers reads heads from attention_head_dim for this model and refuses it too`);
  }
  const cross = config.cross_attention_dim ?? 1280;
  if (!Number.isInteger(cross) || (cross as number) < 1) r.fail("cross_attention_dim", "a positive integer (per-block lists are not supported)");
  const heads = r.perBlock("attention_head_dim", 8, n)!;
  blockOut.forEach((c, i) => {
    if (c % heads[i]! !== 0) throw new ConvertError(`${where}: block ${i} has ${c} channels, not divisible into ${heads[i]} heads (attention_head_dim)`);
  });
  const spec: UnetSpec = {
    inC: r.int("in_channels", 4),
    outC: r.int("out_channels", 4),
    blockOut,
    layersPerBlock: r.perBlock("layers_per_block", 2, n)!,
    heads,
    transformerLayers: r.perBlock("transformer_layers_per_block", 1, n)!,
    crossDim: cross as number,
    groups: r.int("norm_num_groups", 32),
    eps: r.num("norm_eps", 1e-5),
    linearProjection: r.bool("use_linear_projection", false),
    down,
    up,
    downsamplePadding: r.int("downsample_padding", 1, 0),
    flipSinToCos: r.bool("flip_sin_to_cos", true),
    freqShift: r.num("freq_shift", 0),
    timeEmbedDim: r.int("time_embedding_dim", 4 * blockOut[0]!),
  };
  for (const c of blockOut) if (c % spec.groups) throw new ConvertError(`${where}: ${c} channels do not split into norm_num_groups ${spec.groups}`);
  if (config.addition_embed_type === "text_time") {
    spec.textTime = {
      timeDim: r.int("addition_time_embed_dim", 0),
      inDim: r.int("projection_class_embeddings_input_dim", 0),
      timeIds: 6,
    };
  }
  return spec;
}

/** Writes the whole UNet into `ops.g` (inputs, body, out_sample). */
export function writeUnet(ops: GraphOps, s: UnetSpec): void {
  const g = ops.g;
  g.input("sample", "float32", ["batch", s.inC, "height", "width"]);
  g.input("timestep", "float32", ["timestep_batch"]);
  g.input("encoder_hidden_states", "float32", ["batch", "sequence", s.crossDim]);
  const context = ops.toT("encoder_hidden_states");
  const c0 = s.blockOut[0]!;
  let emb = timestepEmbedding(ops, ops.toT(timestepProjection(ops, "timestep", c0, s.flipSinToCos, s.freqShift)), "time_embedding", c0, s.timeEmbedDim);
  if (s.textTime) {
    const { timeDim, inDim, timeIds } = s.textTime;
    const textDim = inDim - timeIds * timeDim;
    if (textDim < 1) throw new ConvertError(`unet/config.json: projection_class_embeddings_input_dim ${inDim} leaves no room for text_embeds beside ${timeIds} time ids × ${timeDim}`);
    g.input("text_embeds", "float32", ["batch", textDim]);
    g.input("time_ids", "float32", ["batch", timeIds]);
    const flat = g.op("Reshape", ["time_ids", g.i64([-1])]);
    const timeEmb = g.op("Reshape", [timestepProjection(ops, flat, timeDim, s.flipSinToCos, s.freqShift), g.i64([-1, timeIds * timeDim])]);
    const added = ops.toT(g.op("Concat", ["text_embeds", timeEmb], { axis: 1 }));
    emb = g.op("Add", [emb, timestepEmbedding(ops, added, "add_embedding", inDim, s.timeEmbedDim)]);
  }
  const res = (p: string, x: string, inC: number, outC: number) =>
    resnetBlock(ops, x, p, { inC, outC, groups: s.groups, eps: s.eps, tembC: s.timeEmbedDim }, emb);
  const attn = (p: string, x: string, c: number, heads: number, layers: number) => {
    const t: TransformerSpec = { channels: c, heads, headDim: c / heads, crossDim: s.crossDim, layers, groups: s.groups, linearProjection: s.linearProjection };
    return transformer2d(ops, x, context, p, t);
  };

  let h = conv2d(ops, ops.toT("sample"), "conv_in", s.inC, c0);
  const skips: { x: string; c: number }[] = [{ x: h, c: c0 }];
  let ch = c0;
  const n = s.blockOut.length;
  s.down.forEach((type, i) => {
    const out = s.blockOut[i]!;
    for (let j = 0; j < s.layersPerBlock[i]!; j++) {
      h = res(`down_blocks.${i}.resnets.${j}`, h, ch, out);
      ch = out;
      if (type === "CrossAttnDownBlock2D") h = attn(`down_blocks.${i}.attentions.${j}`, h, out, s.heads[i]!, s.transformerLayers[i]!);
      skips.push({ x: h, c: out });
    }
    if (i < n - 1) {
      h = downsample(ops, h, `down_blocks.${i}.downsamplers.0`, out, s.downsamplePadding);
      skips.push({ x: h, c: out });
    }
  });

  const last = s.blockOut[n - 1]!;
  h = res("mid_block.resnets.0", h, last, last);
  h = attn("mid_block.attentions.0", h, last, s.heads[n - 1]!, s.transformerLayers[n - 1]!);
  h = res("mid_block.resnets.1", h, last, last);

  const rev = [...s.blockOut].reverse(), revHeads = [...s.heads].reverse();
  const revLayers = [...s.layersPerBlock].reverse(), revTl = [...s.transformerLayers].reverse();
  ch = rev[0]!;
  s.up.forEach((type, i) => {
    const out = rev[i]!;
    for (let j = 0; j < revLayers[i]! + 1; j++) {
      const skip = skips.pop();
      if (!skip) throw new ConvertError("unet/config.json: up blocks need more skip connections than the down blocks make (layers_per_block)");
      h = g.op("Concat", [h, skip.x], { axis: 1 });
      h = res(`up_blocks.${i}.resnets.${j}`, h, ch + skip.c, out);
      ch = out;
      if (type === "CrossAttnUpBlock2D") h = attn(`up_blocks.${i}.attentions.${j}`, h, out, revHeads[i]!, revTl[i]!);
    }
    // Upsampled to the next skip's size, as diffusers does when sizes are not multiples of 2^levels.
    if (i < n - 1) h = upsample(ops, h, `up_blocks.${i}.upsamplers.0`, out, skips[skips.length - 1]?.x);
  });

  h = ops.silu(groupNorm(ops, h, "conv_norm_out", c0, s.groups, s.eps));
  h = conv2d(ops, h, "conv_out", c0, s.outC);
  g.op("Identity", [ops.toF32(h)], {}, { outputs: ["out_sample"] });
  g.output("out_sample", "float32", ["batch", s.outC, "height", "width"]);
}
