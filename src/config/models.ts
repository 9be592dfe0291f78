/**
 * The `models` array in its three spellings (spec atoma-protocol.md §2.2), normalised to ModelEntry:
 *  - 4 elements `[device, precision, model_type, use_flash_attention]` (the seed README),
 *  - 5 elements `[device_ids, dtype, model_id, revision, use_flash_attention]` (the reference code;
 *    element 1 an integer or an array of integers),
 *  - an array of tables (`device_id`|`device_ids`, `dtype`, `model_id`, `revision`,
 *    `use_flash_attention`, plus our `device` and `path`).
 */
import { showValue } from "../log/show-value.ts";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { DEVICES, DTYPES, type DType, type Device } from "../engine/types.ts";
import type { ModelEntry } from "./types.ts";
import { describeValue } from "./errors.ts";
import { isTable, resolvePath, type Section } from "./fields.ts";
import { parseRepoRef, type RepoRef } from "../models/hub-cache.ts";
import { registryRow } from "../models/registry.ts";
import { defaultDtype, defaultDtypeForFolder, dtypeForQuantizedRow } from "../models/default-dtype.ts";
import { parseRemote } from "./remote-model.ts";

const FOUR = "[device, precision, model_type, use_flash_attention]";
const FIVE = "[device_ids, dtype, model_id, revision, use_flash_attention]";

export function parseModels(section: Section, cacheDir: string, cwd: string): ModelEntry[] {
  const raw = section.table.models;
  const expected = `an array of ${FOUR}, ${FIVE} or [[models]] tables`;
  if (raw === undefined) section.fail("models", "missing", expected);
  if (!Array.isArray(raw)) section.fail("models", `got ${describeValue(raw)}`, expected);
  const entries = raw.map((item, i) => parseEntry(section, `models[${i}]`, item, cacheDir, cwd));
  const seen = new Map<string, number>();
  entries.forEach((e, i) => {
    const first = seen.get(e.modelId);
    if (first !== undefined) {
      section.fail(`models[${i}]`, `model ${showValue(e.modelId, 60)} is also configured at models[${first}]`, "each model served once");
    }
    seen.set(e.modelId, i);
  });
  return entries;
}

function parseEntry(s: Section, key: string, item: unknown, cacheDir: string, cwd: string): ModelEntry {
  if (Array.isArray(item)) return parsePositional(s, key, item, cacheDir, cwd);
  if (isTable(item)) return parseTable(s.child(item, key), s, key, cacheDir, cwd);
  return s.fail(key, `got ${describeValue(item)}`, `${FOUR}, ${FIVE} or a table`);
}

function parsePositional(s: Section, key: string, item: unknown[], cacheDir: string, cwd: string): ModelEntry {
  if (item.length !== 4 && item.length !== 5) {
    s.fail(key, `array of ${item.length} elements`, `4 elements ${FOUR} or 5 elements ${FIVE}`);
  }
  const five = item.length === 5;
  const deviceIds = deviceIdList(s, `${key}[0]`, item[0]);
  const dtype = dtypeOf(s, `${key}[1]`, item[1]);
  const modelId = stringAt(s, `${key}[2]`, item[2], "a model_type name");
  const revision = five ? stringAt(s, `${key}[3]`, item[3], "a revision string (may be empty)") : "";
  const flashKey = `${key}[${five ? 4 : 3}]`;
  const flash = item[five ? 4 : 3];
  if (typeof flash !== "boolean") {
    const hint = !five && typeof flash === "string" ? " (a 4-element entry has no revision)" : "";
    s.fail(flashKey, `got ${describeValue(flash)}${hint}`, "use_flash_attention true or false");
  }
  const where = locate(s, `${key}[2]`, modelId, revision, undefined, cacheDir, cwd);
  return { deviceIds, ...servedDtype(modelId, where.local, dtype), modelId, revision, useFlashAttention: flash, device: "cpu", ...where };
}

function parseTable(t: Section, s: Section, key: string, cacheDir: string, cwd: string): ModelEntry {
  if (t.has("engine")) return parseRemoteTable(t, cwd);
  if (t.has("device_id") && t.has("device_ids")) t.fail("device_ids", "both device_id and device_ids given", "only one of them");
  const idKey = t.has("device_ids") ? "device_ids" : "device_id";
  const deviceIds = t.has(idKey) ? deviceIdList(s, `${key}.${idKey}`, t.table[idKey]) : [0];
  const modelId = t.str("model_id");
  if (modelId === "") t.fail("model_id", "empty name", "a model_type name");
  const revision = t.str("revision", "");
  const useFlashAttention = t.bool("use_flash_attention", false);
  const device: Device = t.oneOf("device", DEVICES, "cpu");
  const dtypeGiven = t.has("dtype") ? dtypeOf(s, `${key}.dtype`, t.table.dtype) : undefined;
  const explicitPath = t.optStr("path");
  // Generations decoded together (src/engine/batching.ts); 1 = one at a time.
  const maxBatch = t.has("max_batch") ? t.int("max_batch", { min: 1, max: 64, what: "an integer 1 … 64" }) : undefined;
  const image = imageLimits(t);
  const where = locate(s, `${key}.model_id`, modelId, revision, explicitPath, cacheDir, cwd);
  // Without dtype: the rule `models pull` and `generate` use too, so a pulled model is served as pulled.
  const dtype = dtypeGiven ?? (where.local ? defaultDtypeForFolder(device, where.path) : defaultDtype(device, registryRow(modelId)));
  markUsed(t, ["device_id", "device_ids", "dtype"]);
  t.reportUnknown();
  return { deviceIds, ...servedDtype(modelId, where.local, dtype), modelId, revision, useFlashAttention, device, ...where, ...(maxBatch !== undefined ? { maxBatch } : {}), ...(image ? { image } : {}) };
}

/**
 * The dtype actually served. A `quantized_*` row the node pulls and imports ignores the configured
 * dtype (src/models/default-dtype.ts); an explicit `path` is the operator's own folder, whose
 * variants the dtype picks among, so it is kept there.
 */
function servedDtype(modelId: string, local: boolean, dtype: DType): { dtype: DType; dtypeIgnored?: string } {
  const row = registryRow(modelId);
  if (local || !row?.quantized) return { dtype };
  const r = dtypeForQuantizedRow(row, dtype);
  return r.ignored ? { dtype: r.dtype, dtypeIgnored: r.ignored } : { dtype: r.dtype };
}

/** Image models (diffusers folders): per-model request limits (docs/images.md#serving). They only
 * apply when the folder loads as an image model; a text model with them is refused at start. */
function imageLimits(t: Section): ModelEntry["image"] {
  const out: NonNullable<ModelEntry["image"]> = {};
  if (t.has("max_image_size")) {
    out.maxSize = t.int("max_image_size", { min: 8, max: 16384, what: "a pixel size 8 … 16384, a multiple of 8" });
    if (out.maxSize % 8 !== 0) t.fail("max_image_size", `${out.maxSize} is not a multiple of 8`, "a pixel size 8 … 16384, a multiple of 8");
  }
  if (t.has("max_steps")) out.maxSteps = t.int("max_steps", { min: 1, max: 10_000, what: "an integer 1 … 10000" });
  if (t.has("max_samples")) out.maxSamples = t.int("max_samples", { min: 1, max: 256, what: "an integer 1 … 256" });
  return Object.keys(out).length ? out : undefined;
}

/** A remote engine entry: no local files; device, dtype and path do not apply. */
function parseRemoteTable(t: Section, cwd: string): ModelEntry {
  const modelId = t.str("model_id");
  if (modelId === "") t.fail("model_id", "empty name", "the on-chain model name this entry serves");
  for (const k of ["path", "device", "dtype", "device_id", "device_ids"]) {
    if (t.has(k)) t.fail(k, `given for a remote engine (engine = ${JSON.stringify(t.table.engine)})`, "no local model keys in a remote entry");
  }
  const remote = parseRemote(t, cwd);
  const revision = t.str("revision", "");
  const useFlashAttention = t.bool("use_flash_attention", false);
  t.reportUnknown();
  return { deviceIds: [0], dtype: "f32", modelId, revision, useFlashAttention, device: "cpu", path: "", local: true, hub: undefined, remote };
}

/** The ids were validated through the parent Section (positional-compatible messages); mark them read. */
function markUsed(t: Section, keys: string[]): void {
  for (const k of keys) if (t.has(k)) t.peek(k);
}

function deviceIdList(s: Section, key: string, v: unknown): number[] {
  const expected = "a device id (integer >= 0) or an array with one device id";
  const ids = Array.isArray(v) ? v : [v];
  if (ids.length === 0) s.fail(key, "empty array", expected);
  const out = ids.map((id, i) => {
    const where = Array.isArray(v) ? `${key}[${i}]` : key;
    if (typeof id !== "bigint") s.fail(where, `got ${describeValue(id)}`, expected);
    if (id < 0n) s.fail(where, `negative number ${id}`, expected);
    if (id > 65535n) s.fail(where, `${id} is out of range`, expected);
    return Number(id);
  });
  if (out.length > 1) {
    s.fail(key, `${out.length} device ids (no tensor parallelism)`, "exactly one device id");
  }
  return out;
}

function dtypeOf(s: Section, key: string, v: unknown): DType {
  const expected = `one of ${DTYPES.map((d) => JSON.stringify(d)).join(", ")}`;
  if (typeof v !== "string" || !(DTYPES as readonly string[]).includes(v)) s.fail(key, `got ${describeValue(v)}`, expected);
  return v as DType;
}

function stringAt(s: Section, key: string, v: unknown, expected: string): string {
  if (typeof v !== "string") s.fail(key, `got ${describeValue(v)}`, expected);
  return v;
}

/**
 * Where a model comes from. A custom name needs an explicit `path`; otherwise the id is
 *  - a seed model_type: pulled from its registry repo at the registry revision (the config's
 *    `revision` stays provenance only, as in the reference);
 *  - a folder: written `./…`, `../…`, `/…`, `~/…`, or an existing directory;
 *  - `org/name[@rev]`: that Hugging Face repo (`@rev`, else a non-empty `revision`, else main).
 */
function locate(
  s: Section,
  key: string,
  modelId: string,
  revision: string,
  explicitPath: string | undefined,
  cacheDir: string,
  cwd: string,
): { path: string; local: boolean; hub: RepoRef | undefined } {
  const row = registryRow(modelId);
  const seedHub = row ? { repo: row.repo, revision: row.revision } : undefined;
  if (explicitPath !== undefined) return { path: resolvePath(explicitPath, cwd), local: true, hub: seedHub };
  if (row) return { path: join(cacheDir, modelId), local: false, hub: seedHub };
  const folder = resolvePath(modelId, cwd);
  if (/^(\.{1,2}\/|\/|~\/)/.test(modelId) || (existsSync(folder) && statSync(folder).isDirectory())) return { path: folder, local: true, hub: undefined };
  const ref = parseRepoRef(modelId);
  if (ref) {
    if (ref.revision === undefined && revision !== "") ref.revision = revision;
    return { path: join(cacheDir, modelId), local: false, hub: ref };
  }
  return s.fail(
    key,
    `unknown model_type ${showValue(modelId, 60)}`,
    "a seed model_type (see atoma-node models list), an org/name[@revision] Hugging Face repo, a folder (./dir), or a [[models]] table with an explicit path",
  );
}
