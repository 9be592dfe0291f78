/**
 * The `models` array in its three spellings (spec atoma-protocol.md §2.2), normalised to ModelEntry:
 *  - 4 elements `[device, precision, model_type, use_flash_attention]` (the seed README),
 *  - 5 elements `[device_ids, dtype, model_id, revision, use_flash_attention]` (the reference code;
 *    element 1 an integer or an array of integers),
 *  - an array of tables (`device_id`|`device_ids`, `dtype`, `model_id`, `revision`,
 *    `use_flash_attention`, plus our `device` and `path`).
 */
import { join } from "node:path";
import { DEVICES, DTYPES, type DType, type Device } from "../engine/types.ts";
import type { ModelEntry } from "./types.ts";
import { describeValue } from "./errors.ts";
import { isTable, resolvePath, type Section } from "./fields.ts";
import { isKnownModelType } from "./model-catalog.ts";

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
      section.fail(`models[${i}]`, `model ${JSON.stringify(e.modelId)} is also configured at models[${first}]`, "each model served once");
    }
    seen.set(e.modelId, i);
  });
  return entries;
}

function parseEntry(s: Section, key: string, item: unknown, cacheDir: string, cwd: string): ModelEntry {
  if (Array.isArray(item)) return parsePositional(s, key, item, cacheDir);
  if (isTable(item)) return parseTable(s.child(item, key), s, key, cacheDir, cwd);
  return s.fail(key, `got ${describeValue(item)}`, `${FOUR}, ${FIVE} or a table`);
}

function parsePositional(s: Section, key: string, item: unknown[], cacheDir: string): ModelEntry {
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
  requireKnown(s, `${key}[2]`, modelId);
  return { deviceIds, dtype, modelId, revision, useFlashAttention: flash, device: "cpu", path: join(cacheDir, modelId) };
}

function parseTable(t: Section, s: Section, key: string, cacheDir: string, cwd: string): ModelEntry {
  if (t.has("device_id") && t.has("device_ids")) t.fail("device_ids", "both device_id and device_ids given", "only one of them");
  const idKey = t.has("device_ids") ? "device_ids" : "device_id";
  const deviceIds = t.has(idKey) ? deviceIdList(s, `${key}.${idKey}`, t.table[idKey]) : [0];
  const dtype = t.has("dtype") ? dtypeOf(s, `${key}.dtype`, t.table.dtype) : t.oneOf("dtype", DTYPES);
  const modelId = t.str("model_id");
  if (modelId === "") t.fail("model_id", "empty name", "a model_type name");
  const revision = t.str("revision", "");
  const useFlashAttention = t.bool("use_flash_attention", false);
  const device: Device = t.oneOf("device", DEVICES, "cpu");
  const explicitPath = t.optStr("path");
  // A custom name is fine when the operator says where the model is; otherwise it must be a
  // seed model_type so that `<cache_dir>/<model_id>` means something.
  if (explicitPath === undefined) requireKnown(s, `${key}.model_id`, modelId);
  const path = explicitPath === undefined ? join(cacheDir, modelId) : resolvePath(explicitPath, cwd);
  markUsed(t, ["device_id", "device_ids", "dtype"]);
  t.reportUnknown();
  return { deviceIds, dtype, modelId, revision, useFlashAttention, device, path };
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

function requireKnown(s: Section, key: string, modelId: string): void {
  if (!isKnownModelType(modelId)) {
    s.fail(key, `unknown model_type ${JSON.stringify(modelId)}`, "a model_type from the seed table (see README) or a [[models]] table with an explicit path");
  }
}
