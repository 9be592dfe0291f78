/**
 * What will happen for each registry row, from the registry and the local cache alone (no
 * network): `ready` (runnable now), `pullable` (`models pull` makes it runnable), or
 * `unsupported: <reason>`.
 */
import { join } from "node:path";
import { cachedSnapshot, cachedCommit, repoFolder } from "./hub-cache.ts";
import { conversionBlocker, convertedDir, familyBlocker } from "./convert-seam.ts";
import { isRunnable, layoutOfDir, readConfig } from "./layout.ts";
import { registryRow as registryRowFor, type RegistryRow } from "./registry.ts";
import { basename } from "node:path";
import type { DType } from "../engine/types.ts";

export type RowStatus = "ready" | "pullable" | `unsupported: ${string}`;

export interface RowState {
  cached: boolean;
  status: RowStatus;
  /** The folder the engine would load, when ready. */
  dir?: string;
}

/** Why a row can never run here, whatever is cached; undefined when it can (possibly after conversion). */
export function rowBlocker(row: RegistryRow): string | undefined {
  switch (row.source) {
    case "onnx":
      return undefined;
    case "safetensors":
      return familyBlocker(row.family);
    case "gguf":
    case "ggml":
      // Pulled with the tokenizer repo, then imported (src/models/quantized.ts).
      return undefined;
    case "diffusers":
      return diffusersBlocker(row);
  }
}

/**
 * The engine runs diffusers ONNX folders, SDXL and SDXL-Turbo included (src/engine/image,
 * docs/images.md), and the converter makes them from the seed repos' diffusers safetensors
 * (src/convert/diffusion): no diffusers row is blocked.
 */
function diffusersBlocker(_row: RegistryRow): string | undefined {
  return undefined;
}

/** `<cache_dir>/<model_type>` in transformers.js layout: an operator-made (or imported) folder. */
export function legacyDir(cacheDir: string, modelType: string): string | undefined {
  const dir = join(cacheDir, modelType);
  return isRunnable(layoutOfDir(dir)) ? dir : undefined;
}

export function rowState(row: RegistryRow, cacheDir: string): RowState {
  const legacy = legacyDir(cacheDir, row.modelType);
  if (legacy) return { cached: true, status: "ready", dir: legacy };
  const ref = { repo: row.repo, revision: row.revision };
  const snap = cachedSnapshot(cacheDir, ref);
  const blocker = rowBlocker(row);
  if (snap) {
    const layout = layoutOfDir(snap);
    if (isRunnable(layout)) return { cached: true, status: "ready", dir: snap };
    const commit = cachedCommit(cacheDir, ref)!;
    for (const dtype of ["f16", "f32", "q4", "q8", "q4f16"] as const) {
      const converted = convertedDir(cacheDir, basename(repoFolder(cacheDir, row.repo)), commit, dtype);
      if (isRunnable(layoutOfDir(converted))) return { cached: true, status: "ready", dir: converted };
    }
    if (layout === "safetensors") {
      const why = conversionBlocker(readConfig(snap));
      return why ? { cached: true, status: `unsupported: ${why}` } : { cached: true, status: "ready", dir: snap };
    }
    return { cached: true, status: blocker ? `unsupported: ${blocker}` : "pullable" };
  }
  return { cached: false, status: blocker ? `unsupported: ${blocker}` : "pullable" };
}

export interface ConfiguredModel {
  modelId: string;
  path: string;
  local: boolean;
  hub: { repo: string; revision: string | undefined } | undefined;
}

export interface ConfiguredState {
  /** present: a folder in ONNX layout is there; pullable: `run` (or `models pull`) will fetch it. */
  state: "present" | "pullable" | "missing" | "unsupported";
  /** One line for a checklist: the folder, the repo to pull, or why not. */
  detail: string;
  dir?: string;
}

/** What `run` will do for one configured model, without network (for `doctor`). */
export function configuredModelState(m: ConfiguredModel, cacheDir: string, autoPull: boolean, dtype: DType = "f32"): ConfiguredState {
  if (m.local) {
    return isRunnable(layoutOfDir(m.path))
      ? { state: "present", detail: m.path, dir: m.path }
      : { state: "missing", detail: `${m.path} holds no transformers.js ONNX layout (config.json, tokenizer.json, onnx/model*.onnx) nor a diffusers ONNX pipeline` };
  }
  const legacy = legacyDir(cacheDir, m.modelId);
  if (legacy) return { state: "present", detail: legacy, dir: legacy };
  if (!m.hub) return { state: "missing", detail: `no folder and no repo for ${m.modelId}` };
  const row = registryRowFor(m.modelId);
  const blocker = row ? rowBlocker(row) : undefined;
  const snap = cachedSnapshot(cacheDir, m.hub);
  const repo = m.hub.revision ? `${m.hub.repo}@${m.hub.revision}` : m.hub.repo;
  if (row?.quantized && !blocker) {
    // Present once imported (models pull, or run's auto-pull, imports the file with its tokenizer repo).
    const st = rowState(row, cacheDir);
    if (st.status === "ready") return { state: "present", detail: st.dir!, dir: st.dir! };
    return autoPull
      ? { state: "pullable", detail: `not imported in ${cacheDir}; run pulls ${repo} and ${row.quantized.tokenizerRepo} and imports ${row.quantized.file} (or: atoma-node models pull ${m.modelId})` }
      : { state: "missing", detail: `not imported in ${cacheDir} and auto_pull = false: atoma-node models pull ${m.modelId}` };
  }
  if (snap) {
    const layout = layoutOfDir(snap);
    if (isRunnable(layout)) return { state: "present", detail: snap, dir: snap };
    if (layout === "diffusers") {
      const out = convertedDir(cacheDir, basename(repoFolder(cacheDir, m.hub.repo)), basename(snap), dtype);
      if (isRunnable(layoutOfDir(out))) return { state: "present", detail: out, dir: out };
      return blocker ? { state: "unsupported", detail: `unsupported: ${blocker}` } : { state: "pullable", detail: `${snap} is cached (diffusers safetensors): run converts it to ONNX first` };
    }
    if (layout === "safetensors") {
      const out = convertedDir(cacheDir, basename(repoFolder(cacheDir, m.hub.repo)), basename(snap), dtype);
      if (layoutOfDir(out) === "onnx") return { state: "present", detail: out, dir: out };
      const why = conversionBlocker(readConfig(snap));
      return why ? { state: "unsupported", detail: `unsupported: ${why}` } : { state: "pullable", detail: `${snap} is cached (safetensors): run converts it to ONNX first` };
    }
    return { state: "unsupported", detail: `unsupported: ${snap} holds no transformers.js ONNX layout` };
  }
  if (blocker) return { state: "unsupported", detail: `unsupported: ${blocker}` };
  return autoPull
    ? { state: "pullable", detail: `not in ${cacheDir}; run pulls ${repo} (or: atoma-node models pull ${m.modelId})` }
    : { state: "missing", detail: `not in ${cacheDir} and auto_pull = false: atoma-node models pull ${m.modelId}` };
}
