/**
 * `models import llama2c`: llama2.c checkpoint + tokenizer → transformers.js model directory with
 * ONNX variants (fp32 and q4 by default; `--dtypes` adds fp16, q8, q4f16).
 */
import { readFile, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { parseLlama2cHeader, parseLlama2cModel } from "./llama2c.ts";
import { llama2cToHfTokenizer, llama2cTokenizerConfig, parseLlama2cTokenizer } from "./tokenizer-llama2c.ts";
import type { LlamaVariant } from "./llama-onnx.ts";
import { parseDtypeList as parseDtypes, parseGraphForm as parseForm } from "../../convert/dtypes.ts";
import type { AccuracyLevel, GraphForm } from "../../convert/ops.ts";
import { ConvertError } from "../../convert/tensors.ts";
import { DEFAULT_VARIANTS, isCompleteModelDir, writeModelDir } from "./model-dir.ts";

/** User-facing import problem (bad path, bad file, existing output): printed as one line, exit 2. */
export class ImportError extends Error {
  override name = "ImportError";
}

export interface Llama2cImportOptions {
  weights: string;
  tokenizer: string;
  out: string;
  /** Skip (successfully) when `out` already holds a complete import. */
  ifMissing?: boolean;
  /** Replace an existing `out`. */
  force?: boolean;
  variants?: readonly LlamaVariant[];
  /** Graph form (default: the converter's). */
  form?: GraphForm;
  /** MatMulNBits accuracy_level of the quantised variants (converter default when absent). */
  accuracyLevel?: AccuracyLevel;
}

export interface ImportResult {
  dir: string;
  skipped: boolean;
  vocabSize: number;
  layers: number;
}

/** Parses `--dtypes f32,q4,...` (or `all`) into variants, in canonical order. */
export function parseDtypeList(raw: string): LlamaVariant[] {
  try {
    return parseDtypes(raw);
  } catch (e) {
    throw e instanceof ConvertError ? new ImportError(e.message) : e;
  }
}

/** Parses `--graph standard|fused`. */
export function parseGraphForm(raw: string): GraphForm {
  try {
    return parseForm(raw);
  } catch (e) {
    throw e instanceof ConvertError ? new ImportError(e.message) : e;
  }
}

async function readInput(path: string, what: string): Promise<Uint8Array> {
  const st = await stat(path).catch(() => null);
  if (!st) throw new ImportError(`${what} file not found: ${path}`);
  if (!st.isFile()) throw new ImportError(`${what} path is not a file: ${path}`);
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    // e.g. EACCES, or ERR_FS_FILE_TOO_LARGE for checkpoints past the runtime's buffer limit.
    throw new ImportError(`cannot read ${what} file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export async function importLlama2c(opts: Llama2cImportOptions): Promise<ImportResult> {
  const out = resolve(opts.out);
  const variants = opts.variants ?? DEFAULT_VARIANTS;
  const weightsBuf = await readInput(resolve(opts.weights), "--weights");
  const tokBuf = await readInput(resolve(opts.tokenizer), "--tokenizer");
  const header = parseLlama2cHeader(weightsBuf, opts.weights);
  if (opts.ifMissing && isCompleteModelDir(out, variants)) {
    return { dir: out, skipped: true, vocabSize: header.vocabSize, layers: header.nLayers };
  }
  if (!opts.force && (await stat(out).catch(() => null))) {
    throw new ImportError(`output ${out} already exists (use --force to replace it, or --if-missing to keep it)`);
  }
  const model = parseLlama2cModel(weightsBuf, opts.weights);
  const vocab = parseLlama2cTokenizer(tokBuf, header.vocabSize, opts.tokenizer);
  await writeModelDir(
    out,
    {
      weights: model.hf,
      tokenizer: llama2cToHfTokenizer(vocab),
      tokenizerConfig: llama2cTokenizerConfig(header.seqLen),
      variants,
      ...(opts.form ? { form: opts.form } : {}),
      ...(opts.accuracyLevel !== undefined ? { accuracyLevel: opts.accuracyLevel } : {}),
    },
    opts.force === true,
  );
  return { dir: out, skipped: false, vocabSize: header.vocabSize, layers: header.nLayers };
}
