/**
 * A whole tiny diffusers repo folder as the hub holds one (SD 1.5's layout): model_index.json as
 * diffusers writes it, with the safety_checker/feature_extractor entries the converter skips;
 * unet/ and vae/ from diffusers-checkpoint.ts; a tiny CLIP text_encoder/ (clip-checkpoint.ts); the
 * byte-level tokenizer/ of the image tests; scheduler/.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { StDtype } from "./safetensors-writer.ts";
import { tinyUnetConfig, tinyVaeConfig, writeUnetCheckpoint, writeVaeCheckpoint, type Cfg } from "./diffusers-checkpoint.ts";
import type { Params } from "./reference-diffusion.ts";
import { tinyClipConfig, writeClipCheckpoint } from "./clip-checkpoint.ts";
import { tinyVocab } from "../engine/image/tiny-sd.ts";

export const EULER = {
  _class_name: "EulerDiscreteScheduler", _diffusers_version: "0.8.0", beta_end: 0.012, beta_schedule: "scaled_linear",
  beta_start: 0.00085, num_train_timesteps: 1000, prediction_type: "epsilon", steps_offset: 1, timestep_spacing: "leading",
};

export function writeTinyDiffusersRepo(dir: string, opts: { dtype?: StDtype } = {}): { unet: Params; vae: Params; unetConfig: Cfg; vaeConfig: Cfg } {
  const dtype = opts.dtype ?? "F32";
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "model_index.json"), JSON.stringify({
    _class_name: "StableDiffusionPipeline", _diffusers_version: "0.6.0",
    feature_extractor: ["transformers", "CLIPImageProcessor"], safety_checker: ["stable_diffusion", "StableDiffusionSafetyChecker"],
    scheduler: ["diffusers", "EulerDiscreteScheduler"], text_encoder: ["transformers", "CLIPTextModel"],
    tokenizer: ["transformers", "CLIPTokenizer"], unet: ["diffusers", "UNet2DConditionModel"], vae: ["diffusers", "AutoencoderKL"], requires_safety_checker: false,
  }, null, 2));
  const unetConfig = tinyUnetConfig("sd15"), vaeConfig = tinyVaeConfig();
  const unet = writeUnetCheckpoint(join(dir, "unet"), unetConfig, 11n, dtype);
  const vae = writeVaeCheckpoint(join(dir, "vae"), vaeConfig, 12n, dtype);
  const { vocab, merges } = tinyVocab();
  writeClipCheckpoint(join(dir, "text_encoder"), tinyClipConfig({ vocab_size: Object.keys(vocab).length, bos_token_id: vocab["<|startoftext|>"], eos_token_id: vocab["<|endoftext|>"] }), { seed: 5, dtype });
  mkdirSync(join(dir, "tokenizer"), { recursive: true });
  writeFileSync(join(dir, "tokenizer", "vocab.json"), JSON.stringify(vocab));
  writeFileSync(join(dir, "tokenizer", "merges.txt"), ["#version: 0.2", ...merges].join("\n") + "\n");
  writeFileSync(join(dir, "tokenizer", "special_tokens_map.json"), JSON.stringify({ pad_token: "<|endoftext|>" }));
  writeFileSync(join(dir, "tokenizer", "tokenizer_config.json"), JSON.stringify({ model_max_length: 77 }));
  mkdirSync(join(dir, "scheduler"), { recursive: true });
  writeFileSync(join(dir, "scheduler", "scheduler_config.json"), JSON.stringify(EULER, null, 2));
  return { unet, vae, unetConfig, vaeConfig };
}
