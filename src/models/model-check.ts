/**
 * Is a configured model ready for `run`? Used by `atoma-node doctor`. One function per question so
 * other sources (a hub pull, a converter) can add their own answer for a missing folder.
 *
 * "Ready" means what `run` does with it: the folder exists and the engine really loads it on the
 * configured device and dtype (then it is disposed). A missing `stories260k` folder is fine: `run`
 * converts the embedded default model into it.
 */
import { existsSync, statSync } from "node:fs";
import type { ModelEntry } from "../config/types.ts";
import { oneLineError } from "../log/one-line.ts";
import { DEFAULT_MODEL_ID, isProvisionableDefault } from "./default-model.ts";

export interface ModelCheck {
  /** `model <model_id>`. */
  name: string;
  ok: boolean;
  /** What was found, or why it fails (one line, names the folder). */
  detail: string;
}

/** The model's folder is missing: can `run` still get it? `undefined` when nothing can. */
export function missingModelRemedy(m: ModelEntry): ModelCheck | undefined {
  if (isProvisionableDefault(m)) {
    return { name: `model ${m.modelId}`, ok: true, detail: `not converted yet: run converts the embedded stories260K into ${m.path}` };
  }
  return undefined;
}

export async function checkConfiguredModel(m: ModelEntry): Promise<ModelCheck> {
  const name = `model ${m.modelId}`;
  if (!existsSync(m.path)) {
    const remedy = missingModelRemedy(m);
    if (remedy) return remedy;
    const hint = m.modelId === DEFAULT_MODEL_ID ? "" : " (point `path` at a transformers.js model folder, or see `atoma-node models --help`)";
    return { name, ok: false, detail: `model folder ${m.path} does not exist${hint}` };
  }
  if (!statSync(m.path).isDirectory()) return { name, ok: false, detail: `${m.path} is not a folder, expected a transformers.js model folder` };
  try {
    // Loaded lazily: importing the engine pulls in ONNX Runtime.
    const { loadTextEngine } = await import("../engine/engine.ts");
    const e = await loadTextEngine({ id: m.modelId, dir: m.path, device: m.device, dtype: m.dtype });
    const i = e.info;
    await e.dispose().catch(() => {});
    return { name, ok: true, detail: `loads: ${i.modelType}, ${i.loadedDtype} on ${i.device}, vocabulary ${i.vocabSize}, context ${i.contextLength} (${m.path})` };
  } catch (e) {
    return { name, ok: false, detail: `${m.path}: ${oneLineError(e, 300)}` };
  }
}
