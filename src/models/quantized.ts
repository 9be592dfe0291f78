/**
 * The `quantized_*` rows (spec §10.1): one GGUF or GGML ggjt v3 file from the model repo, the
 * tokenizer from another repo. Pulling both and then importing the file (src/convert) into the
 * pulled commit's converted folder is what makes such a row runnable; the folder is recorded under
 * cache_dir like every conversion, so flush_storage removes it.
 */
import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import type { DType } from "../engine/types.ts";
import { log as logger } from "../log/logger.ts";
import { convertedDir, variantFor } from "./convert-seam.ts";
import { quantizedDefault as defaultDtype } from "./default-dtype.ts";
import { recordCreated } from "./downloads.ts";
import { cachedCommit, cachedSnapshot, hubEndpoint, repoFolder, type RepoRef } from "./hub-cache.ts";
import { layoutOfDir } from "./layout.ts";
import { pullRepo } from "./pull.ts";
import type { RegistryRow } from "./registry.ts";
import { ModelUnavailableError, type HubSettings } from "./resolve.ts";
import { resolveToken } from "./token.ts";

/** What a quantized row needs from its tokenizer repo. */
export const TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json", "generation_config.json"];

export function tokenizerRef(row: RegistryRow): RepoRef | undefined {
  return row.quantized ? { repo: row.quantized.tokenizerRepo, revision: undefined } : undefined;
}


/** Where the imported folder of this row at `commit` of its model repo goes, per variant. */
export function quantizedOutDir(cacheDir: string, row: RegistryRow, commit: string, dtype?: DType): string {
  return convertedDir(cacheDir, basename(repoFolder(cacheDir, row.repo)), commit, dtype ?? defaultDtype(row));
}

/**
 * Imports the row's file from the model snapshot with the tokenizer snapshot into `out` (unless
 * a complete import is already there); returns `out`. Throws ConvertError for a bad file.
 */
export async function importQuantizedRow(
  row: RegistryRow,
  modelSnapshot: string,
  tokenizerSnapshot: string,
  out: string,
  o: { dtype?: DType | undefined; log?: (line: string) => void; cacheDir?: string } = {},
): Promise<string> {
  if (!row.quantized) throw new Error(`${row.modelType} is not a quantized row`);
  if (layoutOfDir(out) === "onnx") return out;
  const file = join(modelSnapshot, row.quantized.file);
  if (!existsSync(file)) throw new Error(`${row.modelType}: ${row.quantized.file} is missing from ${modelSnapshot}`);
  const { importGguf, importGgml } = await import("../convert/import-llama-cpp.ts");
  const log = o.log ?? ((l: string) => logger.info(l));
  if (o.cacheDir) recordCreated(o.cacheDir, "converted", out);
  const common = { file, out, tokenizer: tokenizerSnapshot, force: true, dtypes: [variantFor(o.dtype ?? defaultDtype(row))], log };
  const r = row.source === "ggml"
    ? await importGgml({ ...common, ...(row.quantized.ggmlGqa !== undefined ? { gqa: row.quantized.ggmlGqa } : {}), ...(row.contextLength ? { contextLength: row.contextLength } : {}) })
    : await importGguf(common);
  log(`${row.modelType}: imported ${row.quantized.file} (${(r.dataBytes / (1 << 20)).toFixed(1)} MiB, ${(r.dataBytes / (1 << 20) / r.seconds).toFixed(1)} MiB/s) to ${out} (${r.variants.join(", ")})`);
  return out;
}

/**
 * For the engine's model resolution (run / generate --model): the imported folder of a quantized
 * row, pulling the model file and the tokenizer repo first when missing (if auto-pull allows).
 */
export async function ensureQuantizedDir(row: RegistryRow, s: HubSettings, name: string, dtype: DType | undefined): Promise<string> {
  const modelRef = { repo: row.repo, revision: row.revision }, tokRef = tokenizerRef(row)!;
  const cachedOut = () => {
    const commit = cachedCommit(s.cacheDir, modelRef);
    const out = commit && quantizedOutDir(s.cacheDir, row, commit, dtype);
    return out && layoutOfDir(out) === "onnx" ? out : undefined;
  };
  const done = cachedOut();
  if (done) return done;
  let snap = cachedSnapshot(s.cacheDir, modelRef), tok = cachedSnapshot(s.cacheDir, tokRef);
  if ((!snap || !tok) && !s.autoPull) {
    throw new ModelUnavailableError(`model ${name} is not in cache_dir ${s.cacheDir}: run \`atoma-node models pull ${row.modelType}\`, or set [inference] auto_pull = true`);
  }
  const env = s.env ?? process.env;
  const pull = (ref: RepoRef, include: readonly string[]) => pullRepo({
    ref, cacheDir: s.cacheDir, endpoint: hubEndpoint(env), token: resolveToken(s.apiKey, env), include, progress: s.progress(), signal: s.signal,
  });
  snap ??= (await pull(modelRef, row.files)).dir;
  tok ??= (await pull(tokRef, TOKENIZER_FILES)).dir;
  const { ConvertError } = await import("../convert/tensors.ts");
  try {
    return await importQuantizedRow(row, snap, tok, quantizedOutDir(s.cacheDir, row, cachedCommit(s.cacheDir, modelRef)!, dtype), { dtype, cacheDir: s.cacheDir });
  } catch (e) {
    if (e instanceof ConvertError) throw new ModelUnavailableError(`model ${name}: ${e.message}`);
    throw e;
  }
}
