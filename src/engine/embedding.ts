/**
 * Embedding models (BERT-style encoders exported for transformers.js feature extraction): text →
 * one vector, the mean of the last hidden state over the input's tokens, L2-normalised — what
 * sentence-transformers' mean pooling + Normalize gives. Inputs are embedded one at a time, so no
 * padding enters the mean and the same text gives the same vector in any batch.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { requireDevice, transformersFor, parseDevice } from "./backends.ts";
import { chooseVariant, parseDtype } from "./dtype.ts";
import { deviceOptions } from "./loader.ts";
import { oneLineError } from "../log/one-line.ts";
import { EngineError, type EngineTokenizer, type LoadOptions } from "./types.ts";

export interface EmbeddingInfo {
  id: string;
  dir: string;
  modelType: string;
  /** Vector length (hidden size). */
  dimensions: number;
  /** Longest input in tokens (max_position_embeddings). */
  contextLength: number;
}

export interface EmbeddingEngine {
  readonly info: EmbeddingInfo;
  readonly tokenizer: EngineTokenizer;
  /** The normalised embedding of `text` and its token count. */
  embed(text: string): Promise<{ vector: Float32Array; tokens: number }>;
  dispose(): Promise<void>;
}

const CAUSAL = /(ForCausalLM|LMHeadModel|ForConditionalGeneration)$/;

/** A directory whose config.json declares an encoder (no causal-LM architecture) is an embedding model. */
export function isEmbeddingModelDir(dir: string): boolean {
  const path = join(resolve(dir), "config.json");
  if (!existsSync(path)) return false;
  try {
    const c = JSON.parse(readFileSync(path, "utf8")) as { architectures?: unknown; model_type?: unknown };
    const archs = Array.isArray(c.architectures) ? c.architectures.filter((a): a is string => typeof a === "string") : [];
    return archs.length > 0 && archs.every((a) => !CAUSAL.test(a)) && archs.some((a) => /Model$|ForMaskedLM$/.test(a));
  } catch {
    return false;
  }
}

export async function loadEmbeddingEngine(opts: LoadOptions): Promise<EmbeddingEngine> {
  const device = parseDevice(String(opts.device));
  const dtype = parseDtype(String(opts.dtype));
  const dir = resolve(opts.dir);
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
  } catch (e) {
    throw new EngineError(`${join(dir, "config.json")}: ${oneLineError(e)}`);
  }
  const variant = chooseVariant(dir, dtype);
  await requireDevice(device, opts.threads);
  const tjs = await transformersFor(device, opts.threads);
  let tokenizer: EngineTokenizer;
  let model: any;
  try {
    tokenizer = (await tjs.AutoTokenizer.from_pretrained(dir, { local_files_only: true })) as unknown as EngineTokenizer;
    model = await tjs.AutoModel.from_pretrained(dir, { local_files_only: true, dtype: variant.tjs, ...deviceOptions(device, opts.threads, dir) } as never);
  } catch (e) {
    throw new EngineError(`cannot load the embedding model in ${dir}: ${oneLineError(e)}`);
  }
  const outputs: string[] = model.sessions?.model?.outputNames ?? [];
  if (!outputs.includes("last_hidden_state")) {
    await model.dispose?.();
    throw new EngineError(`${variant.file} has no last_hidden_state output (has ${outputs.join(", ")}); expected a feature-extraction encoder`);
  }
  const dimensions = Number(config.hidden_size) || 0;
  const contextLength = Number(config.max_position_embeddings) || 512;
  const info: EmbeddingInfo = { id: opts.id, dir, modelType: String(config.model_type ?? "unknown"), dimensions, contextLength };
  const Tensor = tjs.Tensor as unknown as new (type: string, data: BigInt64Array, dims: number[]) => unknown;
  // One session: inputs run one at a time (as text generation does).
  let queue: Promise<unknown> = Promise.resolve();
  return {
    info,
    tokenizer,
    embed(text: string) {
      const run = queue.then(async () => {
        const ids = tokenizer.encode(text);
        if (ids.length === 0) throw new EngineError("input encodes to no tokens");
        if (ids.length > contextLength) throw new EngineError(`input is ${ids.length} tokens; this model takes at most ${contextLength}`);
        const n = ids.length;
        const t = (data: BigInt64Array) => new Tensor("int64", data, [1, n]);
        const out = await model({ input_ids: t(BigInt64Array.from(ids, BigInt)), attention_mask: t(new BigInt64Array(n).fill(1n)), token_type_ids: t(new BigInt64Array(n)) });
        const h = out.last_hidden_state as { data: Float32Array; dims: number[] };
        const d = h.dims[2]!;
        const sum = new Float64Array(d);
        for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) sum[j]! += h.data[i * d + j]!;
        let norm = 0;
        for (let j = 0; j < d; j++) norm += (sum[j]! / n) ** 2;
        norm = Math.sqrt(norm) || 1;
        return { vector: Float32Array.from(sum, (s) => s / n / norm), tokens: n };
      });
      queue = run.catch(() => {});
      return run;
    },
    async dispose() {
      await queue;
      await model.dispose?.();
    },
  };
}
