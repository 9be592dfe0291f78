/**
 * The one place the download side asks about safetensors → ONNX conversion (src/convert/, issue
 * 10): can a family / a pulled config be converted (the reason when not), where the converted
 * folder of a pulled commit goes, and running the conversion with progress in the log.
 */
import { join } from "node:path";
import { canConvert } from "../convert/index.ts";
import { FAMILIES } from "../convert/families/index.ts";
import type { DType } from "../engine/types.ts";
import { log } from "../log/logger.ts";
import { recordCreated, RECORD_DIR } from "./downloads.ts";
import { formatBytes } from "./progress.ts";

/** Why a registry row of this architecture cannot be converted; undefined when the converter has the family. */
export function familyBlocker(architecture: string): string | undefined {
  if (FAMILIES[architecture]) return undefined;
  return `needs conversion: the converter has no ${architecture} family yet (supported: ${Object.keys(FAMILIES).join(", ")})`;
}

/** Why a checkpoint with this config.json cannot be converted here; undefined when it can. */
export function conversionBlocker(config: Record<string, unknown>): string | undefined {
  const r = canConvert(config as Parameters<typeof canConvert>[0]);
  return r.ok ? undefined : r.reason;
}

/** Why a diffusers repo cannot be converted, from its model_index.json and component configs; undefined when it can. */
export async function diffusersConversionBlocker(readText: (path: string) => Promise<string>): Promise<string | undefined> {
  const { diffusersConfigBlocker } = await import("../convert/diffusion/convert-pipeline.ts");
  return diffusersConfigBlocker(readText);
}

/** The converter's variant for a configured dtype (bf16 is served from fp16, engine/dtype.ts). */
export function variantFor(dtype: DType): "fp32" | "fp16" | "q8" | "q4" | "q4f16" {
  return ({ f32: "fp32", f16: "fp16", bf16: "fp16", q8: "q8", q4: "q4", q4f16: "q4f16" } as const)[dtype];
}

/** Where the converted transformers.js folder of a pulled commit goes, per variant (inside
 * cache_dir, removed by flush_storage). */
export function convertedDir(cacheDir: string, repoFolderName: string, commit: string, dtype: DType): string {
  return join(cacheDir, RECORD_DIR, "converted", repoFolderName, commit, variantFor(dtype));
}

/**
 * Converts `snapshotDir` into `outDir` at `dtype` (tokenizer files it lacks from `tokenizerDir`, a
 * row's tokenizer repo), logging progress every few seconds; returns `outDir`.
 */
export async function convertSnapshot(cacheDir: string, snapshotDir: string, outDir: string, dtype: DType, tokenizerDir?: string): Promise<string> {
  const { convertCheckpoint } = await import("../convert/index.ts");
  let last = 0;
  const started = Date.now();
  log.info(`converting ${snapshotDir} to ONNX (${variantFor(dtype)}) into ${outDir}`);
  recordCreated(cacheDir, "converted", outDir);
  await convertCheckpoint({
    src: snapshotDir,
    out: outDir,
    dtypes: [variantFor(dtype)],
    force: true,
    ...(tokenizerDir ? { tokenizerDir } : {}),
    onProgress(p) {
      if (Date.now() - last < 5000) return;
      last = Date.now();
      const rate = p.bytesDone / Math.max(0.001, (Date.now() - started) / 1000);
      log.info(`convert: ${p.tensorsDone}/${p.tensorsTotal} tensors, ${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)}, ETA ${Math.ceil((p.bytesTotal - p.bytesDone) / Math.max(1, rate))} s`);
    },
  });
  log.info(`converted ${snapshotDir} in ${Math.round((Date.now() - started) / 1000)} s`);
  return outDir;
}
