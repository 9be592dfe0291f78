/**
 * What the node's diffusers converter (src/convert/diffusion/convert-pipeline.ts) records about
 * the repo it converted, under SOURCE_KEY in the output's model_index.json, and the one decision
 * the engine takes from it: whether the model is a few-step one (sd-turbo, sdxl-turbo), whose
 * requests without steps/guidance get 1 step and guidance 0, as in the reference.
 */
import { readFileSync } from "node:fs";
import { basename, join } from "node:path";

/** `{ repo, commit, scheduler, timestep_spacing, few_step? }`; `few_step` only when the repo was known. */
export const SOURCE_KEY = "_atoma_source";

export type FewStepFrom = "converter record" | "name";

function readText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

/**
 * The converter's record decides when it has one. Folders converted elsewhere (optimum,
 * diffusers' own ONNX export, a copy made by hand) carry none, and neither does a conversion of
 * a folder whose repo the converter could not tell; for them only the old name rule is left:
 * "turbo" in the model id, the folder name or model_index.json.
 */
export function fewStep(id: string, dir: string): { turbo: boolean; turboFrom: FewStepFrom } {
  const text = readText(join(dir, "model_index.json"));
  let recorded: unknown;
  try {
    recorded = (JSON.parse(text) as Record<string, { few_step?: unknown } | undefined>)[SOURCE_KEY]?.few_step;
  } catch {
    // Unreadable model_index.json (the pipeline loader has accepted the folder without it): names.
  }
  if (typeof recorded === "boolean") return { turbo: recorded, turboFrom: "converter record" };
  return { turbo: /turbo/i.test(id) || /turbo/i.test(basename(dir)) || /turbo/i.test(text), turboFrom: "name" };
}
