/**
 * Plans for a diffusers pipeline's `unet/` (UNet2DConditionModel) and `vae/` (AutoencoderKL)
 * folders: each names the ONNX component folders it makes (unet/; vae_decoder/ and vae_encoder/),
 * their graph writers and the config.json written beside each. The pipeline converter
 * (convert-pipeline.ts) dry-runs every plan before writing any, so a bad checkpoint fails first.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { GraphOps } from "../ops.ts";
import { openSafetensors } from "../safetensors.ts";
import { ConvertError, type TensorSource } from "../tensors.ts";
import type { Json } from "./config.ts";
import { unetSpec, writeUnet } from "./unet.ts";
import { vaeSpec, writeVaeDecoder, writeVaeEncoder } from "./vae.ts";

export interface ComponentOutput {
  /** Folder name in the ONNX layout (unet, vae_decoder, …). */
  sub: string;
  name: string;
  write: (ops: GraphOps) => void;
  config: Json;
  /** Forced fp32 whatever the requested variant (an fp16-unsafe VAE, force_upcast). */
  fp32Only?: boolean;
}

export interface SourcePlan {
  source: TensorSource & { close(): void };
  outputs: ComponentOutput[];
}

export function readComponentConfig(dir: string, rel: string): Json {
  const file = join(dir, "config.json");
  if (!existsSync(file)) throw new ConvertError(`${rel}/config.json is missing`);
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    throw new ConvertError(`${rel}/config.json is not valid JSON`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new ConvertError(`${rel}/config.json must hold a JSON object`);
  return v as Json;
}

/** diffusers saves weights as diffusion_pytorch_model.safetensors (single or sharded). */
function openDiffusersWeights(dir: string, rel: string): TensorSource & { close(): void } {
  if (!existsSync(dir)) throw new ConvertError(`${rel}/ is missing`);
  return openSafetensors(dir, "diffusion_pytorch_model");
}

export function unetPlan(dir: string, rel = "unet"): SourcePlan {
  const config = readComponentConfig(dir, rel);
  const spec = unetSpec(config, `${rel}/config.json`);
  const source = openDiffusersWeights(dir, rel);
  return { source, outputs: [{ sub: "unet", name: "UNet2DConditionModel", write: (ops) => writeUnet(ops, spec), config }] };
}

export function vaePlan(dir: string, rel = "vae"): SourcePlan {
  const config = readComponentConfig(dir, rel);
  const spec = vaeSpec(config, `${rel}/config.json`);
  const source = openDiffusersWeights(dir, rel);
  // SDXL's VAE overflows in fp16 (diffusers upcasts it when the config says force_upcast).
  const fp32Only = config.force_upcast === true;
  return {
    source,
    outputs: [
      { sub: "vae_decoder", name: "AutoencoderKL.decoder", write: (ops) => writeVaeDecoder(ops, spec), config, fp32Only },
      { sub: "vae_encoder", name: "AutoencoderKL.encoder", write: (ops) => writeVaeEncoder(ops, spec), config, fp32Only },
    ],
  };
}
