/**
 * A copy of a converted model folder as converters wrote it before `num_logits_to_keep` existed
 * (src/convert/lm-head.ts): the input is replaced by a constant 0, so every graph returns the
 * logits of every position again and declares no such input. Tests and benchmarks use it as the
 * "old folder" (feature detection) and as the before-side of the long-prompt measurement.
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { onnx } from "onnx-proto";

/** Writes `${dir}-old` (config, tokenizer and every onnx/ graph rewritten); returns its path. */
export function preKeepFolder(dir: string): string {
  const out = `${dir}-old`;
  mkdirSync(join(out, "onnx"), { recursive: true });
  for (const f of readdirSync(dir)) if (f !== "onnx") copyFileSync(join(dir, f), join(out, f));
  for (const f of readdirSync(join(dir, "onnx"))) {
    if (!f.endsWith(".onnx")) throw new Error(`preKeepFolder: ${f} (external data) is not supported`);
    const m = onnx.ModelProto.decode(readFileSync(join(dir, "onnx", f)));
    const g = m.graph!;
    g.input = (g.input ?? []).filter((i) => i.name !== "num_logits_to_keep");
    (g.initializer ??= []).push({ name: "num_logits_to_keep", dims: [], dataType: onnx.TensorProto.DataType.INT64, rawData: new Uint8Array(8) });
    writeFileSync(join(out, "onnx", f), onnx.ModelProto.encode(m).finish());
  }
  return out;
}
