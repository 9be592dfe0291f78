/**
 * `atoma-node models import gguf <file.gguf> --out <dir> [--dtypes q4,…] [--tokenizer <dir>]` and
 * `atoma-node models import ggml <file.bin> --tokenizer <dir> --out <dir> [--gqa 8]`: llama.cpp
 * model files → transformers.js folder (src/convert/import-llama-cpp.ts). Progress and the
 * conversion log (requantization error, tokenizer check) on stderr; bad input prints one line and
 * exits 2.
 */
import { defineCommand } from "citty";
import { conversionProgress, formatBytes } from "../conversion-progress.ts";
import { fail } from "../fail.ts";

const common = {
  out: { type: "string", description: "Output directory (transformers.js layout)" },
  dtypes: { type: "string", description: "ONNX variants: comma list of f32, f16, q8, q4, q4f16, or all (default: the file's own precision: q4 for 4/5/6-bit files, q8 for Q8_0, f16 for F16/BF16)" },
  force: { type: "boolean", description: "Replace an existing --out", default: false },
} as const;

type Run = (o: { out: string; dtypes?: import("../../convert/ops.ts").Variant[]; force: boolean; log: (l: string) => void; onProgress: (p: import("../../convert/write-folder.ts").Progress) => void }) =>
  Promise<import("../../convert/import-llama-cpp.ts").LlamaCppImportResult>;

async function runImport(file: string | undefined, args: { out?: string; dtypes?: string; force?: boolean }, kind: string, go: Run): Promise<void> {
  if (!file) fail(`missing <file>: the ${kind} model file to import`);
  if (!args.out) fail("missing --out <dir>");
  const { ConvertError, parseDtypeList } = await import("../../convert/index.ts");
  try {
    const dtypes = args.dtypes ? parseDtypeList(args.dtypes) : undefined;
    const progress = conversionProgress();
    const r = await go({
      out: args.out,
      ...(dtypes ? { dtypes } : {}),
      force: args.force === true,
      log: progress.log,
      onProgress: progress.onProgress,
    });
    progress.done();
    const types = Object.entries(r.sourceTypes).map(([t, n]) => `${n} ${t}`).join(", ");
    process.stderr.write(
      `imported ${r.format.toUpperCase()} ${r.modelType} (${types} tensors, ${formatBytes(r.dataBytes)}) to ${r.dir} (${r.variants.join(", ")}) ` +
      `in ${r.seconds.toFixed(1)} s, ${(r.dataBytes / (1 << 20) / r.seconds).toFixed(1)} MiB/s; tokenizer from ${r.tokenizerSource}\n`,
    );
  } catch (e) {
    if (e instanceof ConvertError) fail(e.message);
    const err = e as NodeJS.ErrnoException;
    if (err?.code) fail(`cannot import into ${args.out}: ${err.code} (${err.syscall ?? "fs"} ${err.path ?? ""})`);
    throw e;
  }
}

function positiveNumber(raw: string | undefined, flag: string, integer: boolean): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) fail(`${flag} ${JSON.stringify(raw)}: expected a positive ${integer ? "integer" : "number"}`);
  return n;
}

const gguf = defineCommand({
  meta: { name: "gguf", description: "Import a GGUF model file (Llama, Mistral, Mixtral; F32 … Q6_K tensors) with the tokenizer in its metadata" },
  args: {
    file: { type: "positional", description: "The .gguf file", required: false },
    ...common,
    tokenizer: { type: "string", description: "Use this Hugging Face tokenizer folder (tokenizer.json …) instead of the file's tokenizer.ggml.* metadata" },
  },
  async run({ args }) {
    await runImport(args.file, args, "GGUF", async (o) => {
      const { importGguf } = await import("../../convert/import-llama-cpp.ts");
      return importGguf({ file: args.file!, ...o, ...(args.tokenizer ? { tokenizer: args.tokenizer } : {}) });
    });
  },
});

const ggml = defineCommand({
  meta: { name: "ggml", description: "Import a GGML ggjt v3 model file (llama.cpp before GGUF, e.g. *.ggmlv3.q4_0.bin) with a Hugging Face tokenizer folder" },
  args: {
    file: { type: "positional", description: "The ggjt v3 .bin file", required: false },
    ...common,
    tokenizer: { type: "string", description: "Hugging Face tokenizer folder (tokenizer.json …) of the model (required: ggjt files carry only a bare vocabulary)" },
    gqa: { type: "string", description: "Query heads per KV head (8 for Llama-2-70B); checked against the file's K shape" },
    "rms-eps": { type: "string", description: "RMSNorm epsilon (not stored in ggjt files; default 1e-5, Llama 2's)" },
    context: { type: "string", description: "Context length (not stored in ggjt files; default 4096, Llama 2's)" },
  },
  async run({ args }) {
    if (args.file && !args.tokenizer) fail("missing --tokenizer <dir>: a ggjt file carries no usable tokenizer; give the model's Hugging Face tokenizer folder");
    const gqa = positiveNumber(args.gqa, "--gqa", true), eps = positiveNumber(args["rms-eps"], "--rms-eps", false), ctx = positiveNumber(args.context, "--context", true);
    await runImport(args.file, args, "GGML", async (o) => {
      const { importGgml } = await import("../../convert/import-llama-cpp.ts");
      return importGgml({
        file: args.file!, tokenizer: args.tokenizer!, ...o,
        ...(gqa !== undefined ? { gqa } : {}), ...(eps !== undefined ? { rmsNormEps: eps } : {}), ...(ctx !== undefined ? { contextLength: ctx } : {}),
      });
    });
  },
});

export const llamaCppImports = { gguf, ggml };
