/**
 * The default model that ships with the node: stories260K (models/stories260K, MIT, provenance in
 * models/README.md). Imported with `type: "file"`, so from source these are the repository's
 * files and in the compiled binary they are embedded (`/$bunfs/…`): `atoma-node init` +
 * `atoma-node run --config local.toml` serve a model with nothing downloaded or copied.
 *
 * A configured model named `stories260k` whose folder does not exist yet is converted from these
 * files into that folder when `run` starts (the llama2.c importer, fp32 + q4, atomic rename).
 */
import { existsSync } from "node:fs";
import weightsPath from "../../models/stories260K/stories260K.bin" with { type: "file" };
import tokenizerPath from "../../models/stories260K/tok512.bin" with { type: "file" };
import type { ModelEntry } from "../config/types.ts";
import { importLlama2c } from "../engine/models/import.ts";

export const DEFAULT_MODEL_ID = "stories260k";

export const DEFAULT_MODEL_FILES = { weights: weightsPath, tokenizer: tokenizerPath };

/** True when `m` is the default model and its folder can be made from the embedded files. */
export function isProvisionableDefault(m: Pick<ModelEntry, "modelId" | "path" | "remote">): boolean {
  // A remote engine may serve the default model's name; there is no folder to make then.
  return m.modelId === DEFAULT_MODEL_ID && m.remote === undefined && !existsSync(m.path);
}

/** Converts the embedded stories260K into `m.path` when it is missing; returns whether it did. */
export async function provisionDefaultModel(m: Pick<ModelEntry, "modelId" | "path" | "remote">): Promise<boolean> {
  if (!isProvisionableDefault(m)) return false;
  const r = await importLlama2c({ ...DEFAULT_MODEL_FILES, out: m.path, ifMissing: true });
  return !r.skipped;
}
