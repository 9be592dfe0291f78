/**
 * A whole tiny diffusers SDXL repo folder as the hub holds stabilityai/stable-diffusion-xl-base-1.0
 * or sdxl-turbo: model_index.json (StableDiffusionXLPipeline, force_zeros_for_empty_prompt),
 * text_encoder/ (CLIPTextModel) and text_encoder_2/ (CLIPTextModelWithProjection) from
 * clip-checkpoint.ts, tokenizer/ and tokenizer_2/ (pad "!"), an SDXL-shaped unet/ (text_time
 * addition embedding, cross_attention_dim = the two encoders' widths) and vae/ from
 * diffusers-checkpoint.ts, scheduler/.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tinyVocab } from "../engine/image/tiny-sd.ts";
import { tinyClipConfig, writeClipCheckpoint, type ClipConfig } from "./clip-checkpoint.ts";
import { tinyUnetConfig, tinyVaeConfig, writeUnetCheckpoint, writeVaeCheckpoint, type Cfg } from "./diffusers-checkpoint.ts";
import type { Params } from "./reference-diffusion.ts";
import type { NamedTensor } from "./safetensors-writer.ts";

export interface TinySdxlRepo {
  unet: Params;
  vae: Params;
  unetConfig: Cfg;
  vaeConfig: Cfg;
  te1: { config: ClipConfig; tensors: Map<string, NamedTensor> };
  te2: { config: ClipConfig; tensors: Map<string, NamedTensor> };
}

/** Widths: text_encoder 16 + text_encoder_2 24 = the UNet's cross_attention_dim; text_embeds 12. */
export const SDXL_D1 = 16, SDXL_D2 = 24, SDXL_PROJ = 12;

export function writeTinyDiffusersSdxlRepo(dir: string, scheduler: Record<string, unknown>): TinySdxlRepo {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "model_index.json"), JSON.stringify({
    _class_name: "StableDiffusionXLPipeline", _diffusers_version: "0.19.0.dev0", force_zeros_for_empty_prompt: true,
    scheduler: ["diffusers", String(scheduler._class_name)], text_encoder: ["transformers", "CLIPTextModel"],
    text_encoder_2: ["transformers", "CLIPTextModelWithProjection"], tokenizer: ["transformers", "CLIPTokenizer"],
    tokenizer_2: ["transformers", "CLIPTokenizer"], unet: ["diffusers", "UNet2DConditionModel"], vae: ["diffusers", "AutoencoderKL"],
  }, null, 2));
  // addition_time_embed_dim 4 × 6 time ids + text_embeds 12 = projection_class_embeddings_input_dim 36
  const unetConfig = tinyUnetConfig("sdxl", { cross_attention_dim: SDXL_D1 + SDXL_D2, projection_class_embeddings_input_dim: SDXL_PROJ + 6 * 4 });
  const vaeConfig = tinyVaeConfig({ scaling_factor: 0.13025, force_upcast: true });
  const unet = writeUnetCheckpoint(join(dir, "unet"), unetConfig, 31n);
  const vae = writeVaeCheckpoint(join(dir, "vae"), vaeConfig, 32n);
  const { vocab, merges } = tinyVocab();
  const ids = { vocab_size: Object.keys(vocab).length, bos_token_id: vocab["<|startoftext|>"], eos_token_id: vocab["<|endoftext|>"] };
  const c1 = tinyClipConfig({ ...ids, hidden_size: SDXL_D1, num_hidden_layers: 3 });
  const c2 = tinyClipConfig({ ...ids, architectures: ["CLIPTextModelWithProjection"], hidden_act: "gelu", hidden_size: SDXL_D2, intermediate_size: 48, num_hidden_layers: 4, projection_dim: SDXL_PROJ });
  const t1 = writeClipCheckpoint(join(dir, "text_encoder"), c1, { seed: 33 });
  const t2 = writeClipCheckpoint(join(dir, "text_encoder_2"), c2, { seed: 34 });
  for (const [sub, pad] of [["tokenizer", "<|endoftext|>"], ["tokenizer_2", "!"]] as const) {
    mkdirSync(join(dir, sub), { recursive: true });
    writeFileSync(join(dir, sub, "vocab.json"), JSON.stringify(vocab));
    writeFileSync(join(dir, sub, "merges.txt"), ["#version: 0.2", ...merges].join("\n") + "\n");
    writeFileSync(join(dir, sub, "special_tokens_map.json"), JSON.stringify({ pad_token: pad }));
    writeFileSync(join(dir, sub, "tokenizer_config.json"), JSON.stringify({ model_max_length: 77 }));
  }
  mkdirSync(join(dir, "scheduler"), { recursive: true });
  writeFileSync(join(dir, "scheduler", "scheduler_config.json"), JSON.stringify(scheduler, null, 2));
  return { unet, vae, unetConfig, vaeConfig, te1: { config: c1, tensors: t1 }, te2: { config: c2, tensors: t2 } };
}
