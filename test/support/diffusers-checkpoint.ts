/**
 * Tiny random-weight diffusers checkpoints as a diffusers repo holds them: unet/ and vae/ with
 * config.json (the keys diffusers writes, tiny sizes) and diffusion_pytorch_model.safetensors. The tensor
 * list is what the reference forward pass (reference-diffusion-models.ts) reads under diffusers
 * names, recorded by running it once on random parameters.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { safetensorsBytes, type StDtype } from "./safetensors-writer.ts";
import { randomParams, unetRef, vaeDecodeRef, vaeEncodeRef } from "./reference-diffusion-models.ts";
import { tensor, type Params } from "./reference-diffusion.ts";

export type Cfg = Record<string, unknown>;

/** SD 1.5's unet/config.json keys at tiny sizes (2 levels, 1 layer per block, 4 groups). */
export function tinyUnetConfig(kind: "sd15" | "sd21" | "sdxl" = "sd15", over: Cfg = {}): Cfg {
  const base: Cfg = {
    _class_name: "UNet2DConditionModel", _diffusers_version: "0.6.0", act_fn: "silu", attention_head_dim: 2,
    block_out_channels: [8, 16], center_input_sample: false, cross_attention_dim: 16,
    down_block_types: ["CrossAttnDownBlock2D", "DownBlock2D"], downsample_padding: 1, flip_sin_to_cos: true, freq_shift: 0,
    in_channels: 4, layers_per_block: 1, mid_block_scale_factor: 1, norm_eps: 1e-5, norm_num_groups: 4, out_channels: 4,
    sample_size: 8, up_block_types: ["UpBlock2D", "CrossAttnUpBlock2D"],
  };
  if (kind === "sd21") {
    // SD 2.1: per-block head counts, linear proj_in/proj_out, upcast attention.
    Object.assign(base, {
      _diffusers_version: "0.10.0.dev0", attention_head_dim: [2, 4], dual_cross_attention: false, num_class_embeds: null,
      only_cross_attention: false, upcast_attention: true, use_linear_projection: true, class_embed_type: null, resnet_time_scale_shift: "default",
    });
  }
  if (kind === "sdxl") {
    Object.assign(base, {
      _diffusers_version: "0.19.0.dev0", addition_embed_type: "text_time", addition_embed_type_num_heads: 64, addition_time_embed_dim: 4,
      attention_head_dim: [2, 4], down_block_types: ["DownBlock2D", "CrossAttnDownBlock2D"], up_block_types: ["CrossAttnUpBlock2D", "UpBlock2D"],
      projection_class_embeddings_input_dim: 12 + 6 * 4, transformer_layers_per_block: [1, 2], use_linear_projection: true,
      class_embed_type: null, encoder_hid_dim: null, time_cond_proj_dim: null, num_attention_heads: null,
    });
  }
  return { ...base, ...over };
}

/** SD 1.5's vae/config.json keys at tiny sizes: 4 levels, so latents are 1/8 of the image. */
export function tinyVaeConfig(over: Cfg = {}): Cfg {
  return {
    _class_name: "AutoencoderKL", _diffusers_version: "0.6.0", act_fn: "silu", block_out_channels: [4, 4, 8, 8],
    down_block_types: ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
    in_channels: 3, latent_channels: 4, layers_per_block: 1, norm_num_groups: 4, out_channels: 3, sample_size: 64,
    up_block_types: ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"], ...over,
  };
}

function save(dir: string, config: Cfg, P: ReturnType<typeof randomParams>, dtype: StDtype, drop: string[] = []): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.json"), JSON.stringify(config, null, 2));
  const list = [...P.tensors.entries()].filter(([n]) => !drop.includes(n));
  writeFileSync(join(dir, "diffusion_pytorch_model.safetensors"), safetensorsBytes(list, dtype));
}

/** Writes unet/ (config + weights); returns the parameters for the reference. */
export function writeUnetCheckpoint(dir: string, config: Cfg, seed = 11n, dtype: StDtype = "F32"): Params {
  const P = randomParams(seed);
  const xl = config.addition_embed_type === "text_time";
  const added = xl ? { textEmbeds: tensor([1, 12]), timeIds: [[8, 8, 0, 0, 8, 8]] } : undefined;
  unetRef(P, config, tensor([1, config.in_channels as number, 4, 4]), 1, tensor([1, 3, config.cross_attention_dim as number]), added);
  save(dir, config, P, dtype);
  return P;
}

export function writeVaeCheckpoint(dir: string, config: Cfg, seed = 12n, dtype: StDtype = "F32"): Params {
  const P = randomParams(seed);
  vaeEncodeRef(P, config, tensor([1, 3, 8, 8]));
  vaeDecodeRef(P, config, tensor([1, config.latent_channels as number, 1, 1]));
  save(dir, config, P, dtype);
  return P;
}
