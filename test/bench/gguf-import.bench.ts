/**
 * `bun run bench:gguf [--shape 512x1536x4x32000] [--types Q4_0,Q8_0,Q4_K,Q6_K,F16]`
 *
 * 1. Import throughput: for each ggml type, a random-weight GGUF of that shape (hidden × FFN ×
 *    layers × vocab) is written, then (a) read and dequantized tensor by tensor (the baseline: what
 *    any importer has to do) and (b) imported by `importGguf` into its default variant (q4 for 4–6
 *    bit files, q8 for Q8_0, fp16 for F16). Prints MB/s of tensor data and the ratio import ÷
 *    dequantize from the same run.
 * 2. Logit error of each requantized type: one small model (the tests' shape) in every source type,
 *    imported into fp32, fp16, q8 and q4; max |logit − reference| over 8 positions, where the
 *    reference is the float64 forward pass on the file's dequantized weights (so 0 means lossless
 *    import) and relative to the reference logits' RMS.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { AutoModelForCausalLM, env, Tensor } from "@huggingface/transformers";
import { importGguf } from "../../src/convert/import-llama-cpp.ts";
import type { Variant } from "../../src/convert/ops.ts";
import { openGguf } from "../../src/convert/readers/gguf.ts";
import { fromFloat16Bits } from "../../src/engine/models/float16.ts";
import type { RefType } from "../support/ggml-reference.ts";
import { llamaTokenizerMetadata, writeLlamaGguf } from "../support/gguf-llama.ts";
import { randomLlama } from "../support/random-llama.ts";
import { ReferenceLlama } from "../support/reference-llama.ts";

env.allowRemoteModels = false;
const { values: a } = parseArgs({
  options: {
    shape: { type: "string", default: "512x1536x4x32000" },
    types: { type: "string", default: "Q4_0,Q8_0,Q4_K,Q6_K,F16" },
    "no-errors": { type: "boolean", default: false },
  },
});
const root = mkdtempSync(join(tmpdir(), "atoma-bench-gguf-"));
const [D, I, L, V] = a.shape!.split("x").map(Number) as [number, number, number, number];
const MB = 1 << 20;

console.log(`## Import throughput (shape ${a.shape}, ${process.platform}/${process.arch}, bun ${Bun.version})\n`);
console.log("| type | tensor data | dequantize only | import → variant | import ÷ dequantize |");
console.log("|---|---|---|---|---|");
const weights = randomLlama({ hiddenSize: D, intermediateSize: I, numLayers: L, numHeads: D / 64, numKvHeads: D / 128, headDim: 64, vocabSize: V, tied: false }, 1);
for (const type of a.types!.split(",") as RefType[]) {
  const file = join(root, `${type}.gguf`);
  writeLlamaGguf(file, weights, { typeOf: () => type, extraMetadata: llamaTokenizerMetadata(Math.max(V, 300)) });
  let t = performance.now();
  const m = await openGguf(file);
  for (const n of m.source.names()) m.source.read(n);
  m.source.close();
  const deq = (performance.now() - t) / 1000;
  t = performance.now();
  const r = await importGguf({ file, out: join(root, `${type}-out`) });
  const imp = (performance.now() - t) / 1000;
  const mb = m.dataBytes / MB;
  console.log(`| ${type} | ${mb.toFixed(1)} MiB | ${(mb / deq).toFixed(1)} MiB/s | ${(mb / imp).toFixed(1)} MiB/s (${r.variants.join(",")}, ${imp.toFixed(1)} s) | ${(imp / deq).toFixed(2)} |`);
  rmSync(join(root, `${type}-out`), { recursive: true, force: true });
  rmSync(file);
}

if (!a["no-errors"]) {
  const SHAPE = { hiddenSize: 256, intermediateSize: 512, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 64, vocabSize: 320, tied: false };
  const small = randomLlama(SHAPE, 21);
  const PROMPT = [1, 290, 300, 261, 270, 311, 5, 299];
  const variants: Variant[] = ["fp32", "fp16", "q8", "q4"];
  console.log(`\n## Logit error per source type and variant (hidden 256, 2 layers, vocab 320; per cell: max |Δlogit| over ${PROMPT.length} positions vs the float64 reference on the dequantized weights / RMS Δlogit relative to the logits' RMS; "exact" = the file's blocks taken as they are)\n`);
  console.log(`| source | ${variants.join(" | ")} |`);
  console.log(`|---|${variants.map(() => "---").join("|")}|`);
  for (const type of ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K", "F16"] as RefType[]) {
    const file = join(root, `err-${type}.gguf`);
    const w = writeLlamaGguf(file, small, { typeOf: () => type, extraMetadata: llamaTokenizerMetadata(SHAPE.vocabSize) });
    const ref = new ReferenceLlama(w.weights, "half");
    const rows = PROMPT.map((tok) => ref.step(tok));
    let sq = 0;
    for (const row of rows) for (const v of row) sq += v * v;
    const rms = Math.sqrt(sq / (rows.length * SHAPE.vocabSize));
    const out = join(root, `err-${type}`);
    const r = await importGguf({ file, out, dtypes: variants });
    const cells: string[] = [];
    for (const v of variants) {
      const lm = await AutoModelForCausalLM.from_pretrained(out, { dtype: v, device: "cpu" });
      const input_ids = new Tensor("int64", BigInt64Array.from(PROMPT.map(BigInt)), [1, PROMPT.length]);
      const attention_mask = new Tensor("int64", new BigInt64Array(PROMPT.length).fill(1n), [1, PROMPT.length]);
      const logits = ((await lm({ input_ids, attention_mask })) as { logits: { data: Float32Array | Uint16Array } }).logits;
      await lm.dispose();
      // fp16 graphs return fp16 logits (bits in a Uint16Array, or a native Float16Array).
      const data = logits.data instanceof Uint16Array ? Float32Array.from(logits.data, fromFloat16Bits) : Float32Array.from(logits.data as ArrayLike<number>);
      let err = 0, errSq = 0;
      rows.forEach((row, i) => row.forEach((x, j) => { const d = Math.abs(data[i * SHAPE.vocabSize + j]! - x); err = Math.max(err, d); errSq += d * d; }));
      const relRms = Math.sqrt(errSq / (rows.length * SHAPE.vocabSize)) / rms;
      const exact = r.quantization.find((q) => q.variant === v)?.exact ? " exact" : "";
      cells.push(`${err.toExponential(1)} / ${(100 * relRms).toFixed(2)} %${exact}`);
    }
    console.log(`| ${type} | ${cells.join(" | ")} |`);
  }
}
rmSync(root, { recursive: true, force: true });

