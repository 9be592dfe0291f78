/**
 * The one place the download side asks about safetensors → ONNX conversion (issue 10 builds the
 * converter in src/convert/). Until it lands, every safetensors repo is refused with the same
 * reason; wiring the converter is replacing these two bodies with calls into src/convert/.
 */
import { join } from "node:path";
import { RECORD_DIR } from "./downloads.ts";

export const NOT_BUILT = "needs conversion (not built yet)";

/** Why a checkpoint with this config.json cannot be converted here; undefined when it can. */
export function conversionBlocker(_config: { model_type?: unknown; architectures?: unknown }): string | undefined {
  return NOT_BUILT;
}

/** Where the converted transformers.js folder of a pulled commit goes (inside cache_dir, recorded for flush_storage). */
export function convertedDir(cacheDir: string, repoFolderName: string, commit: string): string {
  return join(cacheDir, RECORD_DIR, "converted", repoFolderName, commit);
}

/** Converts `snapshotDir` into `outDir` (transformers.js layout); returns `outDir`. */
export async function convertSnapshot(snapshotDir: string, _outDir: string, _dtype: string): Promise<string> {
  throw new Error(`${snapshotDir}: ${NOT_BUILT}`);
}
