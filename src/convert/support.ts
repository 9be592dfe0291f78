/**
 * Which Hugging Face configs the converter can turn into ONNX, with the precise reason when not:
 * `models pull` asks this before downloading weights it could not use.
 */
import { FAMILIES } from "./families/index.ts";
import type { Family, HfConfig } from "./families/common.ts";
import { isMambaSsmConfig } from "./families/mamba-config.ts";
import { ConvertError } from "./tensors.ts";

export type CanConvert = { ok: true; modelType: string } | { ok: false; reason: string };

export function familyOf(config: HfConfig): Family {
  // The original state-spaces/mamba-* checkpoints carry mamba_ssm's config, which names no model_type.
  const type = isMambaSsmConfig(config) ? "mamba" : config.model_type;
  if (typeof type !== "string") throw new ConvertError(`config.json has no "model_type" string`);
  const family = FAMILIES[type];
  if (!family) throw new ConvertError(`model_type "${type}" is not supported by the converter (supported: ${Object.keys(FAMILIES).join(", ")})`);
  return family;
}

/** Checks the config fully (architecture, shapes, rope scaling) without touching any weights. */
export function canConvert(config: HfConfig): CanConvert {
  try {
    return { ok: true, modelType: familyOf(config).plan(config).modelType };
  } catch (e) {
    if (e instanceof ConvertError) return { ok: false, reason: e.message };
    throw e;
  }
}
