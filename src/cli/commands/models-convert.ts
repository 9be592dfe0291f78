/**
 * `atoma-node models convert <hf-folder> --out <dir> [--dtypes f16,q4] [--graph fused] [--accuracy-level 4] [--force]`: a Hugging Face
 * checkpoint (config.json + safetensors + tokenizer.json) → transformers.js folder the engine
 * loads. Progress (tensors, bytes, ETA) on stderr; bad input prints one line and exits 2.
 */
import { defineCommand } from "citty";
import { conversionProgress } from "../conversion-progress.ts";
import { fail } from "../fail.ts";

export default defineCommand({
  meta: { name: "convert", description: "Convert a Hugging Face safetensors checkpoint into the transformers.js/ONNX layout" },
  args: {
    src: { type: "positional", description: "Hugging Face model folder (config.json, *.safetensors, tokenizer.json)", required: false },
    out: { type: "string", description: "Output directory (transformers.js layout)" },
    dtypes: { type: "string", description: "ONNX variants: comma list of f32, f16, q8, q4, q4f16, or all (default: f16,q4 for 16-bit checkpoints, f32,q4 for fp32)" },
    graph: { type: "string", description: "Graph form: standard (opset-17 ops) or fused (ONNX Runtime GroupQueryAttention etc.; docs/convert.md); default: the converter's" },
    "accuracy-level": { type: "string", description: "MatMulNBits accuracy_level of q8/q4/q4f16: 4 = int8 compute (default for q8, q4: fast, one decode row batch-invariant on CPU), 0 = float compute (default for q4f16)" },
    force: { type: "boolean", description: "Replace an existing --out", default: false },
  },
  async run({ args }) {
    if (!args.src) fail("missing <hf-folder>: the Hugging Face model folder to convert");
    if (!args.out) fail("missing --out <dir>");
    const { convertCheckpoint, ConvertError, parseAccuracyLevel, parseDtypeList, parseGraphForm } = await import("../../convert/index.ts");
    try {
      const dtypes = args.dtypes ? parseDtypeList(args.dtypes) : undefined;
      const form = args.graph ? parseGraphForm(args.graph) : undefined;
      const level = args["accuracy-level"] !== undefined ? parseAccuracyLevel(String(args["accuracy-level"])) : undefined;
      const started = performance.now();
      const progress = conversionProgress();
      const r = await convertCheckpoint({
        src: args.src,
        out: args.out,
        ...(dtypes ? { dtypes } : {}),
        ...(form ? { form } : {}),
        ...(level !== undefined ? { accuracyLevel: level } : {}),
        force: args.force,
        onProgress: progress.onProgress,
      });
      progress.done();
      const ms = Math.round(performance.now() - started);
      process.stderr.write(`converted ${r.modelType} checkpoint to ${r.dir} (${r.variants.join(", ")}) in ${ms} ms${r.form ? `, ${r.form} graph form` : ""}\n`);
    } catch (e) {
      if (e instanceof ConvertError) fail(e.message);
      const err = e as NodeJS.ErrnoException;
      if (err?.code) fail(`cannot convert into ${args.out}: ${err.code} (${err.syscall ?? "fs"} ${err.path ?? ""})`);
      throw e;
    }
  },
});
