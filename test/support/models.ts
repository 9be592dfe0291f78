/**
 * Model fixtures for tests. `ensureStories260k()` imports the trained llama2.c stories260K model
 * that ships in the repository (models/stories260K, provenance in models/README.md) into a transformers.js directory once per process, cached in
 * os.tmpdir() under a key made of the input checksums and the importer's source, so repeated test
 * runs reuse it and any importer change re-imports. Signature is stable: other tests depend on it.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { importLlama2c } from "../../src/engine/models/import.ts";
import { DEFAULT_VARIANTS, isCompleteModelDir } from "../../src/engine/models/model-dir.ts";
import { LLAMA_VARIANTS, type LlamaVariant } from "../../src/engine/models/llama-onnx.ts";
import type { AccuracyLevel, GraphForm } from "../../src/convert/ops.ts";

/** The repository's models/ folder. */
export const REPO_MODELS = resolve(import.meta.dir, "../../models");
export const STORIES260K = {
  weights: join(REPO_MODELS, "stories260K/stories260K.bin"),
  tokenizer: join(REPO_MODELS, "stories260K/tok512.bin"),
  /** sha256 from models/README.md; other files circulate under the same names. */
  weightsSha256: "b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696",
  tokenizerSha256: "037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312",
} as const;

const sha256 = (data: Uint8Array | string) => createHash("sha256").update(data).digest("hex");

/** Throws unless the stories260K files are the ones the README documents. */
export function checkStories260kInputs(): void {
  for (const [path, want] of [
    [STORIES260K.weights, STORIES260K.weightsSha256],
    [STORIES260K.tokenizer, STORIES260K.tokenizerSha256],
  ] as const) {
    const got = sha256(readFileSync(path));
    if (got !== want) throw new Error(`${path}: sha256 ${got}, expected ${want} (wrong model file)`);
  }
}

function importerFingerprint(): string {
  // The importer's reader lives in src/engine/models, its graph writer in src/convert (+ families/).
  const h = createHash("sha256");
  for (const rel of ["../../src/engine/models", "../../src/convert", "../../src/convert/families"]) {
    const dir = resolve(import.meta.dir, rel);
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).filter((f) => f.endsWith(".ts")).sort()) h.update(rel).update(f).update(readFileSync(join(dir, f)));
  }
  return h.digest("hex");
}

const pending = new Map<string, Promise<string>>();

/**
 * Absolute path of an imported stories260K directory (config.json, tokenizer.json, and by default
 * onnx/model.onnx + onnx/model_q4.onnx — what `models import llama2c` writes without --dtypes).
 * `dtypes: "all"` (or a list) also writes model_fp16.onnx, model_quantized.onnx (q8),
 * model_q4f16.onnx — into a separate cached directory, so the default one keeps its exact contents.
 */
export function ensureStories260k(opts: { dtypes?: "all" | readonly LlamaVariant[]; form?: GraphForm; accuracyLevel?: AccuracyLevel } = {}): Promise<string> {
  const variants = opts.dtypes === "all" ? LLAMA_VARIANTS : (opts.dtypes ?? DEFAULT_VARIANTS);
  const level = opts.accuracyLevel;
  // Converter defaults keep the directory names other tests and benchmarks already use.
  const tag = variants.join("-") + (opts.form ? `-${opts.form}` : "") + (level === undefined ? "" : `-acc${level}`);
  let p = pending.get(tag);
  if (!p) {
    p = importOnce(variants, tag, opts.form, level);
    pending.set(tag, p);
  }
  return p;
}

async function importOnce(variants: readonly LlamaVariant[], tag: string, form: GraphForm | undefined, accuracyLevel: AccuracyLevel | undefined): Promise<string> {
  checkStories260kInputs();
  const key = sha256(STORIES260K.weightsSha256 + STORIES260K.tokenizerSha256 + importerFingerprint()).slice(0, 16);
  const out = join(tmpdir(), tag === DEFAULT_VARIANTS.join("-") ? `atoma-stories260k-${key}` : `atoma-stories260k-${key}-${tag}`);
  if (isCompleteModelDir(out, variants)) return out;
  try {
    // Reaching here with `out` present means an incomplete leftover: replace it.
    await importLlama2c({ weights: STORIES260K.weights, tokenizer: STORIES260K.tokenizer, out, variants, ifMissing: true, force: existsSync(out), ...(form ? { form } : {}), ...(accuracyLevel !== undefined ? { accuracyLevel } : {}) });
  } catch (e) {
    // A concurrent test process may have renamed its finished import into place first.
    if (!isCompleteModelDir(out, variants)) throw e;
  }
  return out;
}
