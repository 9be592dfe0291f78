/**
 * Is a configured model ready for `run`? Used by `atoma-node doctor`. A folder (explicit `path`) must
 * load; a seed model_type or org/name repo must be in the hub cache and load, or be pullable (the
 * hub is asked), or the line says why not (unsupported row, auto_pull off, gated, not found).
 *
 * "Ready" means what `run` does with it: the folder exists and the engine really loads it on the
 * configured device and dtype (then it is disposed). A missing `stories260k` folder is fine: `run`
 * converts the embedded default model into it.
 */
import { existsSync, statSync } from "node:fs";
import type { ModelEntry } from "../config/types.ts";
import { oneLineError } from "../log/one-line.ts";
import { DEFAULT_MODEL_ID, isProvisionableDefault } from "./default-model.ts";
import { hubEndpoint } from "./hub-cache.ts";
import { probeRepo } from "./pull.ts";
import { configuredModelState } from "./status.ts";
import { resolveToken } from "./token.ts";

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

/** The hub side of a configured model (seed model_type or org/name repo): in the cache and loadable,
 * or pullable (the hub is asked whether the repo exists and the token may read it), or why not. */
async function checkHubModel(m: ModelEntry, inf: HubInference): Promise<ModelCheck> {
  const name = `model ${m.modelId}`;
  const st = configuredModelState(m, inf.cacheDir, inf.autoPull, m.dtype);
  if (st.state === "present") return loadCheck(m, st.dir!);
  if (st.state !== "pullable") return { name, ok: false, detail: st.detail };
  if (st.detail.includes("is cached")) return { name, ok: true, detail: st.detail };
  const env = inf.env ?? process.env;
  const endpoint = hubEndpoint(env);
  try {
    const commit = await probeRepo(m.hub!, endpoint, resolveToken(inf.apiKey, env));
    return { name, ok: true, detail: `pullable: ${st.detail}; ${endpoint} has it (commit ${commit.slice(0, 12)})` };
  } catch (e) {
    return { name, ok: false, detail: `not in ${inf.cacheDir} and cannot be pulled: ${(e as Error).message}` };
  }
}

export interface HubInference {
  cacheDir: string;
  autoPull: boolean;
  apiKey: string | undefined;
  env?: Record<string, string | undefined>;
}

export async function checkConfiguredModel(m: ModelEntry, inf?: HubInference): Promise<ModelCheck> {
  const name = `model ${m.modelId}`;
  if (!m.local && inf) return checkHubModel(m, inf);
  if (!existsSync(m.path)) {
    const remedy = missingModelRemedy(m);
    if (remedy) return remedy;
    const hint = m.modelId === DEFAULT_MODEL_ID ? "" : " (point `path` at a transformers.js model folder, or see `atoma-node models --help`)";
    return { name, ok: false, detail: `model folder ${m.path} does not exist${hint}` };
  }
  if (!statSync(m.path).isDirectory()) return { name, ok: false, detail: `${m.path} is not a folder, expected a transformers.js model folder` };
  return loadCheck(m, m.path);
}

/** The engine really loads `dir` on the configured device and dtype (then it is disposed). */
async function loadCheck(m: ModelEntry, dir: string): Promise<ModelCheck> {
  const name = `model ${m.modelId}`;
  try {
    // Loaded lazily: importing the engine pulls in ONNX Runtime.
    const { loadTextEngine } = await import("../engine/engine.ts");
    const { describeDecodeRows } = await import("../engine/invariance-probe.ts");
    const e = await loadTextEngine({ id: m.modelId, dir, device: m.device, dtype: m.dtype });
    const i = e.info;
    await e.dispose().catch(() => {});
    const rows = i.decodeRows ? `; ${describeDecodeRows(i.decodeRows)}` : "";
    return { name, ok: true, detail: `loads: ${i.modelType}, ${i.loadedDtype} on ${i.device}, vocabulary ${i.vocabSize}, context ${i.contextLength} (${dir})${rows}` };
  } catch (e) {
    return { name, ok: false, detail: `${dir}: ${oneLineError(e, 300)}` };
  }
}
