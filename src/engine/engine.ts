/**
 * Public entry of the text engine: `loadTextEngine` returns a `TextEngine` (src/engine/types.ts)
 * backed by transformers.js + ONNX Runtime; `availableBackends` reports which devices work here.
 */
import { drainGeneration } from "./drain.ts";
import { availableBackends, parseDevice } from "./backends.ts";
import { BatchDecoder, batchable, DEFAULT_MAX_BATCH, type DecoderSession } from "./batching.ts";
import { decodeRowsFor, type DecodeRowsDecision } from "./invariance-probe.ts";
import { DecodeRow, streamRow } from "./decode-row.ts";
import type { TensorCtor } from "./kv-batch.ts";
import { loadOrtNode } from "./runtime/ort-native.ts";
import { parseDtype } from "./dtype.ts";
import { generateTokens } from "./generation.ts";
import { defaultThreads, loadOpenedModelDir, openModelDir, RECURRENT_TYPES, type LoadedModel } from "./loader.ts";
import { loadRecurrentEngine } from "./recurrent.ts";
import { engineLog } from "./log.ts";
import {
  EngineError,
  type GenerateRequest,
  type GenerationChunk,
  type GenerationResult,
  type LoadOptions,
  type EngineTokenizer,
  type ModelInfo,
  type TextEngine,
} from "./types.ts";

export { availableBackends };

class OnnxTextEngine implements TextEngine {
  /** Unbatched graphs (wasm, foreign graph layouts) run one generation at a time. */
  private queue: Promise<void> = Promise.resolve();
  private disposed = false;

  constructor(
    readonly info: ModelInfo,
    private readonly m: LoadedModel,
    /** Concurrent generations decoded together (src/engine/batching.ts); null = one at a time. */
    private readonly batcher: BatchDecoder | null,
  ) {}

  /** Batch occupancy so far (tests, benchmarks); null when this model decodes one at a time. */
  get batchStats(): BatchDecoder["stats"] | null {
    return this.batcher ? { ...this.batcher.stats } : null;
  }

  get tokenizer(): EngineTokenizer {
    return this.m.tokenizer as unknown as EngineTokenizer;
  }

  generate(req: GenerateRequest, onChunk?: (chunk: GenerationChunk) => void): Promise<GenerationResult> {
    return drainGeneration(this.stream(req), onChunk);
  }

  async *stream(req: GenerateRequest): AsyncGenerator<GenerationChunk, GenerationResult, void> {
    if (this.disposed) throw new EngineError(`model ${this.info.id} has been unloaded`);
    if (this.batcher) return yield* this.batched(req);
    const previous = this.queue;
    let release!: () => void;
    this.queue = new Promise((r) => (release = r));
    try {
      await previous;
      return yield* generateTokens(this.m, req);
    } finally {
      release();
    }
  }

  private async *batched(req: GenerateRequest): AsyncGenerator<GenerationChunk, GenerationResult, void> {
    const row = new DecodeRow(this.m, req); // validates before anything is queued
    this.batcher!.submit(row);
    return yield* streamRow(row);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.queue;
    await this.batcher?.idle();
    this.batcher?.close();
    this.m.session?.release();
    await this.m.model?.dispose?.();
  }
}

export async function loadTextEngine(opts: LoadOptions): Promise<TextEngine> {
  const device = parseDevice(String(opts.device));
  const dtype = parseDtype(String(opts.dtype));
  if (opts.threads !== undefined && (!Number.isInteger(opts.threads) || opts.threads < 1)) {
    throw new EngineError(`threads must be an integer ≥ 1, got ${opts.threads}`);
  }
  const t0 = performance.now();
  const opened = await openModelDir({ ...opts, device, dtype });
  if (RECURRENT_TYPES.has(opened.modelType)) {
    const e = await loadRecurrentEngine({ ...opts, device, dtype }, opened);
    engineLog.debug(`loaded ${opts.id} (${opened.modelType}, ${opened.loadedDtype}, ${device}, recurrent) in ${Math.round(performance.now() - t0)} ms`);
    return e;
  }
  const m = await loadOpenedModelDir({ ...opts, device, dtype }, opened);
  // The sampling worker only beside a one-thread session (sampler-pool.ts, "when").
  const oneThread = (opts.threads ?? defaultThreads(device, m.file)) === 1;
  const made = await makeBatcher(m, device, opts.maxBatch, opts.id, oneThread);
  const batcher = made?.batcher ?? null;
  const info: ModelInfo = {
    id: opts.id,
    dir: opts.dir,
    device,
    dtype,
    loadedDtype: m.loadedDtype,
    modelType: m.modelType,
    contextLength: m.contextLength,
    vocabSize: m.vocabSize,
    maxBatch: batcher ? (opts.maxBatch ?? DEFAULT_MAX_BATCH) : 1,
    ...(made ? { decodeRows: made.rows } : {}),
  };
  const engine = new OnnxTextEngine(info, m, batcher);
  if (batcher && m.session && defaultThreads(device, m.file) === 1) await warmUp(engine, batcher);
  engineLog.debug(`loaded ${opts.id} (${m.modelType}, ${m.loadedDtype}, ${device}) in ${Math.round(performance.now() - t0)} ms`);
  return engine;
}

/** Decode steps a small model runs once at load (see warmUp). */
export const WARM_UP_STEPS = 64;

/**
 * A fresh process decoded its first generation at 1.4–1.7× the CPU time per token of its second
 * (stories260K: the JIT compiling the loop, sampler and detokenizer, ONNX Runtime's first runs);
 * after WARM_UP_STEPS throwaway steps at load it was 1.2–1.3× (docs/performance.md). Only for
 * models small enough that this costs milliseconds (the one-thread size rule of defaultThreads).
 * The throwaway row has its own sampler and cache, so nothing of it reaches later rows.
 */
async function warmUp(engine: OnnxTextEngine, batcher: BatchDecoder): Promise<void> {
  const params = { maxTokens: WARM_UP_STEPS, temperature: 1, topK: 40, topP: 0.95, repeatPenalty: 1.1, repeatLastN: 64, seed: 1n };
  await engine.generate({ prompt: "a", params });
  Object.assign(batcher.stats, { steps: 0, rows: 0, maxRows: 0, idleRows: 0, prefills: 0, prefillRows: 0, pooledRows: 0 });
}

async function makeBatcher(m: LoadedModel, device: string, maxBatch: number | undefined, id: string, samplingWorker: boolean): Promise<{ batcher: BatchDecoder; rows: DecodeRowsDecision } | null> {
  if (maxBatch !== undefined && (!Number.isInteger(maxBatch) || maxBatch < 1)) throw new EngineError(`max_batch must be an integer ≥ 1, got ${maxBatch}`);
  // onnxruntime-web (wasm) tensors are another class; graphs from elsewhere may want other inputs.
  const session = (m.session ?? m.model?.sessions?.model) as DecoderSession | undefined;
  if (device === "wasm" || !session || !batchable(session)) {
    engineLog.debug(`model ${m.modelType}: decoding one generation at a time (${device === "wasm" ? "wasm backend" : "graph inputs are not the converter's decoder contract"})`);
    return null;
  }
  const ort = await loadOrtNode();
  const rowsMax = maxBatch ?? DEFAULT_MAX_BATCH;
  const make = (minRows: number, jointPrefill: boolean) => new BatchDecoder(session, ort.Tensor as unknown as TensorCtor, { maxBatch: rowsMax, minRows, leftAligned: m.graphForm === "fused", jointPrefill, samplingWorker });
  const rows = await decodeRowsFor(m, id, rowsMax, make);
  return { batcher: make(rows.min, rows.jointPrefill), rows };
}
