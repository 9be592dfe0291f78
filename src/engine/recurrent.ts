/**
 * The TextEngine of recurrent models (model_type mamba): transformers.js 4.3.1 has no class for
 * them, so the converted graph (src/convert/families/mamba.ts: input_ids + per-layer conv/ssm
 * states → logits + present states) runs in an onnxruntime-node session driven by our own loop
 * (recurrent-batch.ts). Tokenizer, stop tokens, prompt preparation, sampling, seeding, logprobs,
 * abort and streaming are the Llama path's own (loader.ts openModelDir, decode-row.ts, sampler.ts).
 */
import { DEFAULT_MAX_BATCH, type DecoderSession } from "./batching.ts";
import { decodeRowsFor } from "./invariance-probe.ts";
import { DecodeRow, streamRow } from "./decode-row.ts";
import { drainGeneration } from "./drain.ts";
import type { TensorCtor } from "./kv-batch.ts";
import { defaultThreads, type OpenedModelDir } from "./loader.ts";
import { loadOrtNode } from "./runtime/ort-native.ts";
import { RecurrentDecoder, recurrentStates } from "./recurrent-batch.ts";
import { oneLineError } from "../log/one-line.ts";
import {
  EngineError,
  type Device,
  type EngineTokenizer,
  type GenerateRequest,
  type GenerationChunk,
  type GenerationResult,
  type LoadOptions,
  type ModelInfo,
  type TextEngine,
} from "./types.ts";

class RecurrentTextEngine implements TextEngine {
  private disposed = false;

  constructor(
    readonly info: ModelInfo,
    private readonly m: OpenedModelDir,
    private readonly session: DecoderSession & { release(): Promise<void> },
    private readonly decoder: RecurrentDecoder,
  ) {}

  /** Batch occupancy so far (tests, benchmarks). */
  get batchStats(): { steps: number; rows: number; maxRows: number; idleRows: number } {
    return { ...this.decoder.stats };
  }

  get tokenizer(): EngineTokenizer {
    return this.m.tokenizer as unknown as EngineTokenizer;
  }

  generate(req: GenerateRequest, onChunk?: (chunk: GenerationChunk) => void): Promise<GenerationResult> {
    return drainGeneration(this.stream(req), onChunk);
  }

  async *stream(req: GenerateRequest): AsyncGenerator<GenerationChunk, GenerationResult, void> {
    if (this.disposed) throw new EngineError(`model ${this.info.id} has been unloaded`);
    const row = new DecodeRow(this.m, req); // validates before anything is queued
    this.decoder.submit(row);
    return yield* streamRow(row);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.decoder.idle();
    await this.session.release();
  }
}

/** `opened` is the checked directory (loader.ts openModelDir) of a RECURRENT_TYPES model. */
export async function loadRecurrentEngine(opts: LoadOptions & { device: Device }, opened: OpenedModelDir): Promise<TextEngine> {
  const { device } = opts;
  if (device === "wasm") throw new EngineError(`model ${opts.id} (${opened.modelType}) runs on onnxruntime-node (cpu, cuda, webgpu); the wasm backend is not supported for recurrent models`);
  if (opts.maxBatch !== undefined && (!Number.isInteger(opts.maxBatch) || opts.maxBatch < 1)) throw new EngineError(`max_batch must be an integer ≥ 1, got ${opts.maxBatch}`);
  const ort = await loadOrtNode();
  const threads = opts.threads ?? defaultThreads(device, opened.file);
  let session: DecoderSession & { release(): Promise<void> };
  try {
    session = (await ort.InferenceSession.create(opened.file, {
      executionProviders: [device],
      ...(threads ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {}),
    })) as unknown as typeof session;
  } catch (e) {
    throw new EngineError(`cannot load ${opened.file} on ${device}: ${oneLineError(e)}`);
  }
  const states = recurrentStates(session);
  if (typeof states === "string") {
    await session.release();
    throw new EngineError(`${opened.file} is not a recurrent (${opened.modelType}) language model graph: ${states}`);
  }
  const maxBatch = opts.maxBatch ?? DEFAULT_MAX_BATCH;
  const make = (minRows: number) => new RecurrentDecoder(session, ort.Tensor as unknown as TensorCtor, states, { maxBatch, minRows });
  // The recurrent loop prefills one prompt at a time (its state has no padding semantics).
  const rows = await decodeRowsFor(opened, opts.id, maxBatch, make, false);
  const decoder = make(rows.min);
  const info: ModelInfo = {
    id: opts.id, dir: opts.dir, device, dtype: opts.dtype, loadedDtype: opened.loadedDtype, modelType: opened.modelType,
    contextLength: opened.contextLength, vocabSize: opened.vocabSize, maxBatch, decodeRows: rows,
  };
  return new RecurrentTextEngine(info, opened, session, decoder);
}
