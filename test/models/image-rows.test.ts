import { expect, test } from "bun:test";
import { registryRow } from "../../src/models/registry.ts";
import { rowBlocker } from "../../src/models/status.ts";

test("models list names exactly what the stable_diffusion rows miss", () => {
  const v15 = rowBlocker(registryRow("stable_diffusion_v1-5")!)!;
  expect(v15).toBe(
    "text-to-image: converting this repo's diffusers safetensors (UNet2DConditionModel, AutoencoderKL) to the ONNX pipeline's unet/, vae_decoder/ model.onnx is not implemented",
  );
  // SDXL and Turbo (text_encoder_2, pooled embeds, time ids) run now: the same conversion is all they miss
  for (const m of ["stable_diffusion_v2-1", "stable_diffusion_xl", "stable_diffusion_turbo"]) expect(rowBlocker(registryRow(m)!)).toBe(v15);
});
