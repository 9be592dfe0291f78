/**
 * Test-only model layouts for the engine tests. `tinyFp16Dir()` generates (seeded, once per
 * process) a random-weight fp16 Llama with a 32k vocabulary, a 2048-token context and its weights
 * in an external data file, through the product writer (src/engine/models/model-dir.ts): the fp16
 * KV-cache and large-vocabulary paths, with nothing read from outside the repository. Its
 * tokenizer is byte-fallback BPE with whole pieces for some multi-byte characters (ö, ü, ß, 世, 界)
 * next to byte tokens for others (🙂), as a Llama-2 tokenizer has. Also builds deliberately broken
 * directories for the bad-input tests.
 */
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeModelDir } from "../../src/engine/models/model-dir.ts";
import { llama2cToHfTokenizer, llama2cTokenizerConfig, type Llama2cVocab } from "../../src/engine/models/tokenizer-llama2c.ts";
import { randomLlama, syntheticVocab } from "../support/random-llama.ts";

const made: string[] = [];

/** The shape of the fp16 fixture (what `ModelInfo` reports for it). */
export const TINY_SHAPE = { hiddenSize: 16, intermediateSize: 64, numLayers: 2, numHeads: 1, numKvHeads: 1, headDim: 16, vocabSize: 32000, maxPositions: 2048, tied: false } as const;

/** Pieces a Llama-2 tokenizer has whole: multi-byte characters and merges across them. */
const MULTIBYTE_PIECES = ["ö", "ü", "ß", "世", "界", "世界", "Gr", "üß", "Grüß", "e,", " w", "ör", " wör", "ld", "Hello", " end"];

function fixtureVocab(): Llama2cVocab {
  const v = syntheticVocab(TINY_SHAPE.vocabSize);
  // Replace the first unused filler pieces; scores stay in id order (earlier = merged first).
  let at = v.pieces.findIndex((p) => p.startsWith("<extra_"));
  for (const p of MULTIBYTE_PIECES) v.pieces[at++] = p;
  return v;
}

let fp16: Promise<string> | undefined;

/** A generated fp16 random Llama in transformers.js layout (onnx/model_fp16.onnx + onnx/model_fp16.onnx_data). */
export function tinyFp16Dir(): Promise<string> {
  fp16 ??= (async () => {
    const dir = join(tempDir("atoma-tiny-fp16-"), "model");
    const weights = randomLlama(TINY_SHAPE, 16);
    await writeModelDir(dir, {
      weights,
      tokenizer: llama2cToHfTokenizer(fixtureVocab()),
      tokenizerConfig: llama2cTokenizerConfig(weights.config.maxPositions),
      variants: ["fp16"],
      externalDataAboveBytes: 0,
    });
    return dir;
  })();
  return fp16;
}

export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}

/** A writable copy of a model directory (small models only) for corrupting one file. */
export function copyDir(src: string): string {
  const d = tempDir("atoma-model-copy-");
  cpSync(src, d, { recursive: true, dereference: true });
  return d;
}

export function cleanupTempDirs(): void {
  fp16 = undefined;
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}
