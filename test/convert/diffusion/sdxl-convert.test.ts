/**
 * A tiny SDXL-layout diffusers repo (two CLIP text encoders, a text_time UNet, a force_upcast
 * VAE) converts through the same pipeline converter and runs in the SDXL pipeline: the UNet's
 * text_embeds/time_ids interface is the one src/engine/image feeds.
 */
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { convertCheckpoint } from "../../../src/convert/index.ts";
import { DiffusionPipeline } from "../../../src/engine/image/pipeline.ts";
import { tinyClipConfig, writeClipCheckpoint } from "../../support/clip-checkpoint.ts";
import { tinyUnetConfig, tinyVaeConfig, writeUnetCheckpoint, writeVaeCheckpoint } from "../../support/diffusers-checkpoint.ts";
import { writeTinyDiffusersRepo } from "../../support/diffusers-repo.ts";

setDefaultTimeout(120_000);
const work = mkdtempSync(join(tmpdir(), "atoma-sdxl-conv-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

test("SDXL repo → text_encoder/, text_encoder_2/, text_time unet/, fp32 VAE in an f16 folder; the SDXL pipeline generates deterministically", async () => {
  const repo = join(work, "sdxl");
  writeTinyDiffusersRepo(repo);
  writeFileSync(join(repo, "model_index.json"), JSON.stringify({
    _class_name: "StableDiffusionXLPipeline", _diffusers_version: "0.19.0.dev0", force_zeros_for_empty_prompt: true,
    scheduler: ["diffusers", "EulerDiscreteScheduler"], text_encoder: ["transformers", "CLIPTextModel"], text_encoder_2: ["transformers", "CLIPTextModelWithProjection"],
    tokenizer: ["transformers", "CLIPTokenizer"], tokenizer_2: ["transformers", "CLIPTokenizer"], unet: ["diffusers", "UNet2DConditionModel"], vae: ["diffusers", "AutoencoderKL"],
  }));
  const c1 = JSON.parse(readFileSync(join(repo, "text_encoder", "config.json"), "utf8"));
  writeClipCheckpoint(join(repo, "text_encoder_2"), tinyClipConfig({ ...c1, architectures: ["CLIPTextModelWithProjection"], hidden_act: "gelu", hidden_size: 24, intermediate_size: 48, num_hidden_layers: 4, projection_dim: 12 }), { seed: 9 });
  cpSync(join(repo, "tokenizer"), join(repo, "tokenizer_2"), { recursive: true });
  writeFileSync(join(repo, "tokenizer_2", "special_tokens_map.json"), JSON.stringify({ pad_token: "!" }));
  rmSync(join(repo, "unet"), { recursive: true });
  writeUnetCheckpoint(join(repo, "unet"), tinyUnetConfig("sdxl", { cross_attention_dim: 16 + 24 }));
  rmSync(join(repo, "vae"), { recursive: true });
  writeVaeCheckpoint(join(repo, "vae"), tinyVaeConfig({ force_upcast: true, scaling_factor: 0.13025 }));

  const out = join(work, "sdxl-f16");
  const r = await convertCheckpoint({ src: repo, out, dtypes: ["fp16"] });
  expect(r.modelType).toBe("StableDiffusionXLPipeline");
  for (const c of ["text_encoder", "text_encoder_2", "unet", "vae_decoder", "vae_encoder", "tokenizer_2"]) expect(existsSync(join(out, c))).toBe(true);
  expect(JSON.parse(readFileSync(join(out, "model_index.json"), "utf8")).force_zeros_for_empty_prompt).toBe(true);
  const p = await DiffusionPipeline.load(out);
  const req = { prompt: "a red cat", uncondPrompt: "", width: 64, height: 64, steps: 2, guidanceScale: 5, numSamples: 1, seed: 3n };
  const [a] = (await p.generate(req)).images;
  const [b] = (await p.generate(req)).images;
  expect(Buffer.from(a!.rgb).equals(Buffer.from(b!.rgb))).toBe(true);
  expect(new Set(a!.rgb).size).toBeGreaterThan(16);
});
