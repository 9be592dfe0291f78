/**
 * From a configured model (seed model_type, `org/name[@rev]`, or folder) to the folder the engine
 * loads: a folder as given; `<cache_dir>/<model_id>` when an operator put one there; else the
 * cached hub snapshot — pulled first when missing, unless auto-pull is off. Refuses rows that
 * cannot run here before fetching any weights.
 */
import { basename } from "node:path";
import type { DType } from "../engine/types.ts";
import { cachedSnapshot, cachedCommit, formatRepoRef, hubEndpoint, repoFolder, type RepoRef } from "./hub-cache.ts";
import { conversionBlocker, convertedDir, convertSnapshot } from "./convert-seam.ts";
import { defaultDtype } from "./default-dtype.ts";
import { isRunnable, layoutOfDir, readConfig, selectForServing } from "./layout.ts";
import type { PullProgress } from "./progress.ts";
import { pullRepo } from "./pull.ts";
import { registryRow, type RegistryRow } from "./registry.ts";
import { legacyDir, rowBlocker } from "./status.ts";
import { resolveToken } from "./token.ts";

export class ModelUnavailableError extends Error {
  override name = "ModelUnavailableError";
}

export interface ModelRequest {
  modelId: string;
  /** A folder to load as is (explicit `path`, or a model_id written as a folder). */
  dir?: string;
  /** The hub repo, for seed model_types (from the registry) and `org/name[@rev]` ids. */
  hub?: RepoRef;
  dtype?: DType;
}

export interface HubSettings {
  cacheDir: string;
  autoPull: boolean;
  apiKey: string | undefined;
  env?: Record<string, string | undefined>;
  progress: () => PullProgress;
  signal?: AbortSignal;
}

/** The hub repo a model id names: a seed row's repo at its registry revision, or `org/name[@rev]`. */
export function hubRefFor(modelId: string, parsed: RepoRef | undefined): { ref: RepoRef; row?: RegistryRow } | undefined {
  const row = registryRow(modelId);
  if (row) return { ref: { repo: row.repo, revision: row.revision }, row };
  return parsed ? { ref: parsed } : undefined;
}

/** The snapshot of a row's separate tokenizer repo (GPT-NeoX's for Mamba), pulled when missing and allowed. */
async function tokenizerSnapshot(repo: string, name: string, modelId: string, s: HubSettings): Promise<string> {
  const ref = { repo, revision: undefined };
  const cached = cachedSnapshot(s.cacheDir, ref);
  if (cached) return cached;
  if (!s.autoPull) throw new ModelUnavailableError(`model ${name} needs the tokenizer repo ${repo}, which is not in cache_dir ${s.cacheDir}: run \`atoma-node models pull ${modelId}\`, or set [inference] auto_pull = true`);
  const env = s.env ?? process.env;
  const { TOKENIZER_FILES } = await import("./quantized.ts");
  const r = await pullRepo({ ref, cacheDir: s.cacheDir, endpoint: hubEndpoint(env), token: resolveToken(s.apiKey, env), include: TOKENIZER_FILES, progress: s.progress(), signal: s.signal });
  return r.dir;
}

export async function ensureModelDir(req: ModelRequest, s: HubSettings): Promise<string> {
  if (req.dir) return req.dir;
  const legacy = legacyDir(s.cacheDir, req.modelId);
  if (legacy) return legacy;
  if (!req.hub) throw new ModelUnavailableError(`model ${req.modelId}: no folder and no Hugging Face repo to pull it from`);
  const row = registryRow(req.modelId);
  const name = row ? `${req.modelId} (${formatRepoRef(req.hub)})` : formatRepoRef(req.hub);
  const blocker = row ? rowBlocker(row) : undefined;
  if (row?.quantized && !blocker) return (await import("./quantized.ts")).ensureQuantizedDir(row, s, name, req.dtype);
  let snap = cachedSnapshot(s.cacheDir, req.hub);
  if (!snap) {
    if (blocker) throw new ModelUnavailableError(`model ${name}: unsupported: ${blocker}`);
    if (!s.autoPull) {
      throw new ModelUnavailableError(`model ${name} is not in cache_dir ${s.cacheDir}: run \`atoma-node models pull ${req.modelId}\`, or set [inference] auto_pull = true`);
    }
    const env = s.env ?? process.env;
    const r = await pullRepo({
      ref: req.hub,
      cacheDir: s.cacheDir,
      endpoint: hubEndpoint(env),
      token: resolveToken(s.apiKey, env),
      include: row?.files,
      select: (paths, readText) => selectForServing(paths, req.dtype, readText),
      progress: s.progress(),
      signal: s.signal,
    });
    snap = r.dir;
  }
  const layout = layoutOfDir(snap);
  if (isRunnable(layout)) return snap;
  if (layout === "diffusers") {
    const commit = cachedCommit(s.cacheDir, req.hub) ?? basename(snap);
    const dtype = req.dtype ?? defaultDtype("cpu", row);
    const out = convertedDir(s.cacheDir, basename(repoFolder(s.cacheDir, req.hub.repo)), commit, dtype);
    return isRunnable(layoutOfDir(out)) ? out : convertSnapshot(s.cacheDir, snap, out, dtype);
  }
  if (layout === "safetensors") {
    const why = conversionBlocker(readConfig(snap));
    if (why) throw new ModelUnavailableError(`model ${name}: unsupported: ${why}`);
    const commit = cachedCommit(s.cacheDir, req.hub) ?? basename(snap);
    // Callers pass the dtype they will load (default-dtype.ts); the CPU default otherwise.
    const dtype = req.dtype ?? defaultDtype("cpu", row);
    const out = convertedDir(s.cacheDir, basename(repoFolder(s.cacheDir, req.hub.repo)), commit, dtype);
    if (layoutOfDir(out) === "onnx") return out;
    return convertSnapshot(s.cacheDir, snap, out, dtype, row?.tokenizerRepo ? await tokenizerSnapshot(row.tokenizerRepo, name, req.modelId, s) : undefined);
  }
  throw new ModelUnavailableError(`model ${name}: the cached snapshot ${snap} holds no transformers.js ONNX layout (config.json, tokenizer.json, onnx/model*.onnx)`);
}
