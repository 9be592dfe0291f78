/**
 * Loads a transformers.js-layout model directory (config.json, tokenizer.json,
 * tokenizer_config.json, optional generation_config.json, onnx/model*.onnx) and checks everything
 * we can before handing it to transformers.js, so a bad directory yields one clear EngineError
 * instead of a stack trace from deep inside the runtime.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { chooseVariant } from "./dtype.ts";
import { oneLineError } from "../log/one-line.ts";
import { requireDevice, transformersFor } from "./backends.ts";
import { engineLog } from "./log.ts";
import { batchable } from "./batching.ts";
import { openNativeSession, type NativeSession } from "./native-session.ts";
import { GRAPH_FORM_KEY } from "./kv-batch.ts";
import { graphFormOf } from "./graph-form.ts";
import { EngineError, type Device, type LoadOptions } from "./types.ts";

/** What a decode loop needs from any model, whatever runs its graph (decode-row.ts, generation.ts). */
export interface ModelBasics {
  tokenizer: Tokenizer;
  modelType: string;
  loadedDtype: string;
  eosIds: ReadonlySet<number>;
  contextLength: number;
  vocabSize: number;
}

/** A checked model directory with its tokenizer, before any graph is loaded. */
export interface OpenedModelDir extends ModelBasics {
  dir: string;
  config: Record<string, unknown>;
  /** The ONNX file chosen for the requested dtype. */
  file: string;
}

/**
 * model_types whose graphs carry recurrent state instead of a KV cache (src/convert/families/mamba.ts):
 * transformers.js 4.3.1 has no class for them, so src/engine/recurrent.ts runs their sessions.
 */
export const RECURRENT_TYPES: ReadonlySet<string> = new Set(["mamba"]);

/** What the decode loop needs from a loaded model; transformers.js objects stay behind this. */
export interface LoadedModel extends ModelBasics {
  /** The graph's form, read from the ONNX file (graph-form.ts): "fused" (GroupQueryAttention) lays
   * the KV cache out left-aligned. */
  graphForm: "standard" | "fused";
  /** transformers.js model (`model(inputs)` → `logits`, `present.*`); null when `session` is set. */
  // biome-ignore lint: transformers.js model classes are untyped JS
  model: any;
  /** Our own session on a converter-layout decoder graph (cpu), driven by the batched loop. */
  session: NativeSession | null;
  /** The ONNX file loaded. */
  file: string;
  /** Tensor constructor of the bound runtime (int64 inputs). */
  Tensor: new (type: "int64", data: BigInt64Array, dims: number[]) => unknown;
  DynamicCache: new () => { update(entries: Record<string, unknown>): void; dispose(): Promise<void> };
}

export interface Tokenizer {
  encode(text: string, opts?: { add_special_tokens?: boolean }): number[];
  decode(ids: number[], opts?: { skip_special_tokens?: boolean }): string;
  eos_token_id?: number | null;
}

/**
 * model_types transformers.js 4.3.1 has no class for, whose converted graphs (src/convert) keep the
 * KV-cache contract of a class it has: loaded through that class, still reported as themselves.
 */
export const CLASS_ALIASES: Record<string, string> = { mixtral: "mistral" };

function readJson(dir: string, name: string, required: boolean): Record<string, unknown> | null {
  const path = join(dir, name);
  if (!existsSync(path)) {
    if (required) throw new EngineError(`model directory ${dir} is missing ${name}`);
    return null;
  }
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new EngineError(`${path} is not valid JSON: ${oneLineError(e)}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new EngineError(`${path} must contain a JSON object`);
  }
  return value as Record<string, unknown>;
}

function idList(v: unknown): number[] {
  const arr = Array.isArray(v) ? v : [v];
  return arr.filter((x): x is number => Number.isInteger(x) && (x as number) >= 0);
}

function positiveInt(v: unknown): number | undefined {
  return Number.isInteger(v) && (v as number) > 0 ? (v as number) : undefined;
}

/**
 * Checks a model directory (config, tokenizer files, the dtype's ONNX file, the device) and loads
 * its tokenizer, stop tokens and context length — everything but the graph.
 */
export async function openModelDir(opts: LoadOptions): Promise<OpenedModelDir> {
  const { device } = opts;
  // Absolute: transformers.js treats a relative `org/name`-looking path as a hub id under its own
  // model folder, not as a directory relative to the working directory.
  const dir = resolve(opts.dir);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new EngineError(`model directory ${dir} does not exist (expected a transformers.js layout: config.json, tokenizer.json, onnx/model*.onnx)`);
  }
  const config = readJson(dir, "config.json", true)!;
  if (typeof config.model_type !== "string") throw new EngineError(`${join(dir, "config.json")} has no "model_type" string`);
  const genConfig = readJson(dir, "generation_config.json", false);
  readJson(dir, "tokenizer.json", true);
  const tokConfig = readJson(dir, "tokenizer_config.json", true)!;
  const variant = chooseVariant(dir, opts.dtype);
  if (variant.warning) engineLog.warn(variant.warning);

  await requireDevice(device, opts.threads);
  const tjs = await transformersFor(device, opts.threads);
  let tokenizer: Tokenizer;
  try {
    tokenizer = (await tjs.AutoTokenizer.from_pretrained(dir, { local_files_only: true })) as unknown as Tokenizer;
  } catch (e) {
    throw new EngineError(`cannot load the tokenizer of ${dir}: ${oneLineError(e)}`);
  }
  const eosIds = new Set([
    ...idList(genConfig?.eos_token_id ?? config.eos_token_id),
    ...idList(tokenizer.eos_token_id),
  ]);
  if (eosIds.size === 0) engineLog.warn(`model ${dir} declares no EOS token; generation stops only at max_tokens or the context length`);
  const contextLength =
    positiveInt(config.max_position_embeddings) ?? positiveInt(config.n_positions) ?? positiveInt(tokConfig.model_max_length) ?? 2048;
  const vocabSize = positiveInt(config.vocab_size) ?? 0;
  return { dir, config, file: variant.file, tokenizer, modelType: config.model_type, loadedDtype: variant.tjs, eosIds, contextLength, vocabSize };
}

export async function loadModelDir(opts: LoadOptions): Promise<LoadedModel> {
  return loadOpenedModelDir(opts, await openModelDir(opts));
}

/** Loads the graph of an opened directory through transformers.js's model class for its model_type. */
export async function loadOpenedModelDir(opts: LoadOptions, opened: OpenedModelDir): Promise<LoadedModel> {
  const { device } = opts;
  const { dir, config } = opened;
  const variant = { tjs: opened.loadedDtype, file: opened.file };
  const threads = opts.threads ?? defaultThreads(device, variant.file);
  // The converters' decoder graphs run through the batched loop on a session of our own (no
  // transformers.js model object, no per-step wrapping: native-session.ts); anything else, and the
  // GPU devices, through transformers.js as before.
  const session = device === "cpu" ? await nativeDecoder(variant.file, threads, modelBytes(variant.file) < SMALL_MODEL_BYTES) : null;
  const tjs = await transformersFor(device, opts.threads);
  let model: any = null;
  if (!session) {
    try {
      const alias = CLASS_ALIASES[opened.modelType];
      model = await tjs.AutoModelForCausalLM.from_pretrained(dir, {
        local_files_only: true,
        // transformers.js reads the model class (and KV-cache shapes) from this config.
        ...(alias ? { config: { ...config, model_type: alias } } : {}),
        dtype: variant.tjs,
        ...deviceOptions(device, threads, dir),
      } as never);
    } catch (e) {
      throw new EngineError(`cannot load ${variant.file} on ${device}: ${oneLineError(e)}`);
    }
    const inputs: string[] = model.sessions?.model?.inputNames ?? [];
    const outputs: string[] = model.sessions?.model?.outputNames ?? [];
    if (!inputs.includes("input_ids") || !outputs.includes("logits")) {
      await model.dispose?.();
      throw new EngineError(`${variant.file} is not a decoder-only language model graph (needs input_ids → logits; has ${inputs.join(", ")} → ${outputs.join(", ")})`);
    }
  }

  // From the graph, not only config.json: a GQA graph exported by another tool records no form.
  const form = graphFormOf(variant.file, config[GRAPH_FORM_KEY]);
  if (form.scanned) engineLog.debug(`graph form ${form.form}: ${form.because}`);
  else engineLog.warn(`graph form ${form.form}: ${form.because}`);
  return {
    ...opened,
    model,
    session,
    graphForm: form.form,
    Tensor: tjs.Tensor as never,
    DynamicCache: tjs.DynamicCache as never,
  };
}

/** Weights below this run on one intra-op thread by default (see defaultThreads). */
export const SMALL_MODEL_BYTES = 64 * 1024 * 1024;

/**
 * Thread count by model size when the operator sets none: a small model's matrices are too small to
 * split, so ONNX Runtime's thread pool hand-offs cost more than they save (stories260K decodes ~2.5×
 * faster on one thread than on the default pool, docs/performance.md). Larger models keep the
 * runtime's default (one thread per core).
 */
export function defaultThreads(device: Device, file: string): number | undefined {
  if (device !== "cpu") return undefined;
  return modelBytes(file) < SMALL_MODEL_BYTES ? 1 : undefined;
}

/** Bytes of an ONNX file and its external-data files. */
function modelBytes(file: string): number {
  const onnxDir = join(file, "..");
  const base = file.slice(onnxDir.length + 1);
  let bytes = 0;
  for (const f of readdirSync(onnxDir)) if (f === base || f.startsWith(`${base}_data`) || f.startsWith(`${base}.data`)) bytes += statSync(join(onnxDir, f)).size;
  return bytes;
}

/**
 * The graph on a native session when it has the batched loop's decoder contract, else null (the
 * caller loads it through transformers.js). A file ONNX Runtime refuses is reported here.
 */
async function nativeDecoder(file: string, threads: number | undefined, small: boolean): Promise<NativeSession | null> {
  let session: NativeSession;
  // A small model's step allocates a few hundred small intermediate tensors: straight from malloc
  // they cost 2–4 % less per step than through ONNX Runtime's BFC arena (stories260K, interleaved
  // runs; docs/performance.md). Larger models keep the arena, whose blocks spare them big mallocs.
  const arena = small ? { enableCpuMemArena: false } : {};
  try {
    session = await openNativeSession(file, { ...sessionOptions("cpu", threads), ...arena, logSeverityLevel: 3 });
  } catch (e) {
    throw new EngineError(`cannot load ${file} on cpu: ${oneLineError(e)}`);
  }
  if (batchable(session)) return session;
  session.release();
  return null;
}

function sessionOptions(device: Device, threads: number | undefined): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  // A decoder sees a new input shape at every step (the cache grows by one slot), and ONNX
  // Runtime's memory pattern is planned and cached per shape: in a fresh process every step paid
  // for a plan it never reused, and the cache grew with every length seen (docs/performance.md).
  if (device === "cpu") o.enableMemPattern = false;
  if (threads && device !== "wasm") {
    o.intraOpNumThreads = threads;
    o.interOpNumThreads = 1;
  }
  return o;
}

export function deviceOptions(device: Device, threads: number | undefined, dir: string): Record<string, unknown> {
  const session_options = sessionOptions(device, threads);
  if (device === "wasm") {
    // With onnxruntime-web injected transformers knows no device names (runtime-notes §4.2).
    session_options.executionProviders = ["wasm"];
    // onnxruntime-web cannot open external-data files named inside the graph (e.g. model.onnx.data)
    // by itself; hand it their bytes under the recorded names.
    session_options.externalData = externalDataFiles(dir);
    return { device: { model: "" }, session_options };
  }
  return { device, session_options };
}

/** Non-.onnx files in onnx/ (external weights), keyed by the file name graphs record. */
function externalDataFiles(dir: string): { path: string; data: Uint8Array }[] {
  const onnxDir = join(dir, "onnx");
  return readdirSync(onnxDir)
    .filter((f) => !f.endsWith(".onnx") && /\.(data|onnx_data(_\d+)?)$/.test(f))
    .map((f) => ({ path: f, data: new Uint8Array(readFileSync(join(onnxDir, f))) }));
}
