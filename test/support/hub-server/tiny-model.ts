/**
 * A tiny random-weight Llama in transformers.js ONNX layout (config.json, tokenizer.json,
 * onnx/model.onnx, …), written by the project's own model writer, for hub-server repos.
 * Seeded: every run builds the same bytes. Built once per process.
 */
import { randomLlama, writeRandomLlamaDir } from "../random-llama.ts";

let dir: Promise<string> | undefined;

export function tinyOnnxModelDir(): Promise<string> {
  dir ??= writeRandomLlamaDir(
    randomLlama({ hiddenSize: 32, intermediateSize: 64, numLayers: 1, numHeads: 2, numKvHeads: 1, headDim: 16, vocabSize: 300, tied: false, maxPositions: 64 }, 42),
    ["fp32"],
  );
  return dir;
}
