/**
 * Tensors under Hugging Face names + config.json → a transformers.js model folder: config.json
 * (the source config plus `transformers.js_config`), the tokenizer and generation files, and
 * onnx/model*.onnx per requested variant. Every graph is first built dry (names and shapes only),
 * so a bad checkpoint fails before anything is written; the folder is then assembled under a hidden
 * temporary sibling and renamed into place, so no reader ever sees a half-written model and an
 * interrupted conversion leaves only a temporary folder, removed by the next run.
 */
import { existsSync, readdirSync } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { GraphBuilder } from "../engine/models/onnx-graph.ts";
import { ChunkedExternalData, DEFAULT_MAX_CHUNK_BYTES } from "./external-data.ts";
import type { HfConfig } from "./families/common.ts";
import { familyOf } from "./support.ts";
import { GraphOps, VARIANT_FILES, type AccuracyLevel, type GraphForm, type Variant } from "./ops.ts";
import { ConvertError, Weights, type TensorSource } from "./tensors.ts";
import type { QMatrix } from "../engine/models/quantize-nbits.ts";
import { GRAPH_FORM_KEY } from "../engine/kv-batch.ts";

export interface Progress {
  variant: Variant;
  tensorsDone: number;
  tensorsTotal: number;
  bytesDone: number;
  bytesTotal: number;
}

export interface FolderContents {
  config: HfConfig;
  source: TensorSource;
  /** Files copied verbatim beside config.json (tokenizer.json, tokenizer_config.json, …). */
  files: Record<string, Uint8Array | string>;
  variants: readonly Variant[];
  /** Graph form of every variant; default DEFAULT_GRAPH_FORM where the family has it, else standard. */
  form?: GraphForm;
  /** MatMulNBits accuracy_level of quantised variants (default: defaultAccuracyLevel per variant). */
  accuracyLevel?: AccuracyLevel;
  onProgress?: (p: Progress) => void;
  /** fp32 weight bytes above which initializers go to external data files (default 64 MiB). */
  externalAboveBytes?: number;
  maxChunkBytes?: number;
  /** Replace an existing `out`. */
  replace?: boolean;
  /** Per quantised linear layer (see Weights.onQuantized), e.g. to log the requantisation error. */
  onQuantized?: (variant: Variant, name: string, q: QMatrix, from: Float32Array | undefined) => void;
}

export const DEFAULT_EXTERNAL_ABOVE_BYTES = 64 * 1024 * 1024;
/** The form a conversion writes unless asked otherwise (docs/convert.md, "Graph forms"). */
export const DEFAULT_GRAPH_FORM: GraphForm = "fused";
/** config.json key naming the graph form; the engine's batched loop lays out the KV cache by it. */
export { GRAPH_FORM_KEY };
const GC_AFTER_BYTES = 1 << 20;

export interface FolderResult {
  dir: string;
  modelType: string;
  variants: Variant[];
  /** Graph form of decoder graphs (absent for other model kinds, e.g. CLIP text encoders). */
  form?: GraphForm;
  /** External data chunk count per ONNX file that has any. */
  externalChunks: Record<string, number>;
  bytesRead: number;
}

/** Hidden siblings a conversion assembles in; leftovers of killed runs are removed. */
export const tmpPrefix = (out: string) => `.${basename(out)}.converting-`;

export async function removeStale(out: string): Promise<void> {
  const parent = dirname(out);
  if (!existsSync(parent)) return;
  for (const name of readdirSync(parent)) {
    if (!name.startsWith(tmpPrefix(out))) continue;
    const pid = Number(name.slice(tmpPrefix(out).length).split("-")[0]);
    let alive = false;
    try { alive = pid > 0 && pid !== process.pid && process.kill(pid, 0); } catch { alive = false; }
    if (!alive) await rm(join(parent, name), { recursive: true, force: true });
  }
}

export async function writeConvertedFolder(out: string, c: FolderContents): Promise<FolderResult> {
  if (c.variants.length === 0) throw new ConvertError("no ONNX variant requested");
  const family = familyOf(c.config);
  const plan = family.plan(c.config);
  const noFused = plan.fusedUnsupported === undefined ? `${plan.modelType} has only the standard graph form` : plan.fusedUnsupported;
  if (c.form === "fused" && noFused) throw new ConvertError(`--graph fused: ${noFused}`);
  const form: GraphForm = c.form ?? (noFused ? "standard" : DEFAULT_GRAPH_FORM);
  // Dry pass: every tensor every graph needs exists with the shape the config implies.
  const total = { tensors: 0, bytes: 0 };
  let fp32Bytes = 0;
  for (const v of c.variants) {
    const probe = new Weights(c.source);
    plan.write(new GraphOps(new GraphBuilder(), probe, v, true, form));
    total.tensors += probe.checks;
    total.bytes += probe.checkedBytes;
    fp32Bytes = Math.max(fp32Bytes, probe.checkedBytes);
  }
  if (existsSync(out) && !c.replace) throw new ConvertError(`output ${out} already exists (use --force to replace it)`);
  const external = fp32Bytes > (c.externalAboveBytes ?? DEFAULT_EXTERNAL_ABOVE_BYTES);

  await mkdir(dirname(out), { recursive: true });
  await removeStale(out);
  const tmp = join(dirname(out), `${tmpPrefix(out)}${process.pid}-${Date.now()}`);
  await mkdir(join(tmp, "onnx"), { recursive: true });
  const externalChunks: Record<string, number> = {};
  let tensorsDone = 0, bytesDone = 0, lastBytes = 0;
  try {
    for (const v of c.variants) {
      const file = VARIANT_FILES[v];
      const sink = external ? new ChunkedExternalData(join(tmp, "onnx"), file, c.maxChunkBytes ?? DEFAULT_MAX_CHUNK_BYTES) : undefined;
      try {
        const weights = new Weights(c.source, (_, bytes) => {
          tensorsDone++;
          bytesDone += bytes;
          // The previous tensor's arrays are garbage now, but they live outside the JS heap's
          // accounting, so the collector would let several pile up: collect before holding the next.
          if (lastBytes >= GC_AFTER_BYTES) Bun.gc(true);
          lastBytes = bytes;
          c.onProgress?.({ variant: v, tensorsDone, tensorsTotal: total.tensors, bytesDone, bytesTotal: total.bytes });
        });
        if (c.onQuantized) weights.onQuantized = (name, q, from) => c.onQuantized!(v, name, q, from);
        const g = new GraphBuilder(sink);
        const ops = new GraphOps(g, weights, v, false, form);
        ops.accuracyLevel = c.accuracyLevel;
        plan.write(ops);
        await writeFile(join(tmp, "onnx", file), g.encode(plan.modelType, "atoma-node").model);
      } finally {
        sink?.close();
      }
      if (sink?.chunks) externalChunks[file] = sink.chunks;
    }
    const json = (x: unknown) => JSON.stringify(x, null, 2) + "\n";
    const { "transformers.js_config": _old, [GRAPH_FORM_KEY]: _form, ...config } = plan.config ?? c.config;
    const tjsConfig = {
      dtype: c.variants.includes("fp32") ? "fp32" : c.variants[0],
      // Per-file chunk counts: transformers.js then loads `<file>_data`, `<file>_data_1`, … itself.
      ...(Object.keys(externalChunks).length ? { use_external_data_format: externalChunks } : {}),
    };
    await writeFile(join(tmp, "config.json"), json({ ...config, [GRAPH_FORM_KEY]: form, "transformers.js_config": tjsConfig }));
    for (const [name, data] of Object.entries(c.files)) await writeFile(join(tmp, name), data);
    await publishFolder(tmp, out, c.replace);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return { dir: out, modelType: plan.modelType, variants: [...c.variants], form, externalChunks, bytesRead: bytesDone };
}

/** Moves a finished temp folder into place: an existing output is replaced only when asked. */
export async function publishFolder(tmp: string, out: string, replace: boolean | undefined): Promise<void> {
  if (existsSync(out)) {
    if (!replace) throw new ConvertError(`output ${out} already exists (use --force to replace it)`);
    await rm(out, { recursive: true, force: true });
  }
  await rename(tmp, out);
}
