/**
 * Public entry of the text engine: `loadTextEngine` returns a `TextEngine` (src/engine/types.ts)
 * backed by transformers.js + ONNX Runtime; `availableBackends` reports which devices work here.
 */
import { availableBackends, parseDevice } from "./backends.ts";
import { parseDtype } from "./dtype.ts";
import { generateTokens } from "./generation.ts";
import { loadModelDir, type LoadedModel } from "./loader.ts";
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
  /** Generations run one at a time: a session's threads are already shared by all requests. */
  private queue: Promise<void> = Promise.resolve();
  private disposed = false;

  constructor(
    readonly info: ModelInfo,
    private readonly m: LoadedModel,
  ) {}

  get tokenizer(): EngineTokenizer {
    return this.m.tokenizer as unknown as EngineTokenizer;
  }

  async generate(req: GenerateRequest, onChunk?: (chunk: GenerationChunk) => void): Promise<GenerationResult> {
    const it = this.stream(req);
    try {
      for (;;) {
        const r = await it.next();
        if (r.done) return r.value;
        onChunk?.(r.value);
      }
    } catch (e) {
      // A throwing onChunk leaves the generator suspended: finish it so its lock and cache are freed.
      await it.return(undefined as never).catch(() => {});
      throw e;
    }
  }

  async *stream(req: GenerateRequest): AsyncGenerator<GenerationChunk, GenerationResult, void> {
    if (this.disposed) throw new EngineError(`model ${this.info.id} has been unloaded`);
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

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.queue;
    await this.m.model.dispose?.();
  }
}

export async function loadTextEngine(opts: LoadOptions): Promise<TextEngine> {
  const device = parseDevice(String(opts.device));
  const dtype = parseDtype(String(opts.dtype));
  if (opts.threads !== undefined && (!Number.isInteger(opts.threads) || opts.threads < 1)) {
    throw new EngineError(`threads must be an integer ≥ 1, got ${opts.threads}`);
  }
  const t0 = performance.now();
  const m = await loadModelDir({ ...opts, device, dtype });
  const info: ModelInfo = {
    id: opts.id,
    dir: opts.dir,
    device,
    dtype,
    loadedDtype: m.loadedDtype,
    modelType: m.modelType,
    contextLength: m.contextLength,
    vocabSize: m.vocabSize,
  };
  engineLog.debug(`loaded ${opts.id} (${m.modelType}, ${m.loadedDtype}, ${device}) in ${Math.round(performance.now() - t0)} ms`);
  return new OnnxTextEngine(info, m);
}
