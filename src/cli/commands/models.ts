/**
 * `atoma-node models import llama2c --weights <model.bin> --tokenizer <tokenizer.bin> --out <dir>`
 * writes a transformers.js-layout directory (fp32 + q4 ONNX). Bad input prints one line and exits 2.
 */
import { defineCommand } from "citty";
import { fail } from "../fail.ts";
import { hubCommands } from "./models-hub.ts";
import { llamaCppImports } from "./models-import-llama-cpp.ts";


const llama2c = defineCommand({
  meta: { name: "llama2c", description: "Import a llama2.c legacy checkpoint and its tokenizer.bin" },
  args: {
    weights: { type: "string", description: "llama2.c model file (e.g. stories260K.bin)" },
    tokenizer: { type: "string", description: "llama2.c tokenizer file (e.g. tok512.bin)" },
    out: { type: "string", description: "Output directory (transformers.js layout)" },
    "if-missing": { type: "boolean", description: "Do nothing when --out already holds a complete import", default: false },
    force: { type: "boolean", description: "Replace an existing --out", default: false },
    dtypes: { type: "string", description: "ONNX variants to write: comma list of f32, f16, q8, q4, q4f16, or all", default: "f32,q4" },
    graph: { type: "string", description: "Graph form: standard or fused (docs/convert.md); default: the converter's" },
  },
  async run({ args }) {
    for (const name of ["weights", "tokenizer", "out"] as const) {
      if (!args[name]) fail(`missing --${name} <path>`);
    }
    // Loaded lazily so `models --help` stays instant.
    const { importLlama2c, ImportError, parseDtypeList, parseGraphForm } = await import("../../engine/models/import.ts");
    const { ModelFormatError } = await import("../../engine/models/llama2c.ts");
    const { TokenizerFormatError } = await import("../../engine/models/tokenizer-llama2c.ts");
    try {
      const started = performance.now();
      const variants = parseDtypeList(args.dtypes ?? "f32,q4");
      const r = await importLlama2c({
        variants,
        ...(args.graph ? { form: parseGraphForm(args.graph) } : {}),
        weights: args.weights!,
        tokenizer: args.tokenizer!,
        out: args.out!,
        ifMissing: args["if-missing"],
        force: args.force,
      });
      const ms = Math.round(performance.now() - started);
      process.stderr.write(
        r.skipped
          ? `${r.dir} already holds a complete import; kept it\n`
          : `imported ${r.layers}-layer llama2.c model (vocab ${r.vocabSize}) to ${r.dir} (${variants.join(", ")}) in ${ms} ms\n`,
      );
    } catch (e) {
      if (e instanceof ImportError || e instanceof ModelFormatError || e instanceof TokenizerFormatError) fail(e.message);
      const err = e as NodeJS.ErrnoException;
      if (err?.code) fail(`cannot write the model directory ${args.out}: ${err.code} (${err.syscall ?? "fs"} ${err.path ?? ""})`);
      throw e;
    }
  },
});

export default defineCommand({
  meta: { name: "models", description: "List, pull and import models" },
  subCommands: {
    ...hubCommands,
    import: defineCommand({
      meta: { name: "import", description: "Convert a model into the transformers.js/ONNX layout" },
      subCommands: { llama2c, ...llamaCppImports },
    }),
    convert: () => import("./models-convert.ts").then((m) => m.default),
  },
});
