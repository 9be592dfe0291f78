/**
 * A TextEngine whose generations run on remote OpenAI-compatible servers. Retries: a failed
 * attempt (connection refused or lost, timeout, stall, 5xx, garbled stream) is tried again on
 * another upstream with backoff, but only while nothing of it has reached the caller: a streaming
 * caller (`stream`, `generate` with onChunk) gets no retry once its first piece was delivered; a
 * buffered caller (`generate` without onChunk: chain jobs) may be retried until the upstream
 * completes, since a partial output was never seen by anyone and the same seed asks for the same
 * text. A completed generation is never re-run. Requests the upstream refuses (4xx) are not retried.
 */
import { drainGeneration } from "../drain.ts";
import { log } from "../../log/logger.ts";
import { oneLineError } from "../../log/one-line.ts";
import { EngineError, type EngineTokenizer, type GenerateRequest, type GenerationChunk, type GenerationResult, type ModelInfo, type TextEngine } from "../types.ts";
import { streamCompletion, UpstreamError, type CompletionEnd } from "./client.ts";
import { rpcGenerate } from "./atoma-rpc.ts";
import { quirksOf, seedAsI64, toJsonBody, type KindQuirks } from "./kinds.ts";
import type { PooledUpstream, UpstreamPool } from "./pool.ts";
import type { RemoteEngineConfig } from "./types.ts";

/** Marks chunks of remote generations: OpenAI text streams carry text, not token ids. */
export const NO_TOKEN_ID = -1;

export interface RemoteParts {
  info: ModelInfo;
  cfg: RemoteEngineConfig;
  pool: UpstreamPool;
  tokenizer: EngineTokenizer | undefined;
  /** Stops the health loop. */
  stopHealth: () => void;
}

export class RemoteTextEngine implements TextEngine {
  readonly info: ModelInfo;
  private readonly q: KindQuirks;
  private disposed = false;
  private warnedCounts = false;
  /** Attempts that failed and were retried, by all requests (for tests and metrics). */
  retried = 0;
  /** Generations whose upstream token counts disagreed with the local tokenizer. */
  countMismatches = 0;

  constructor(private readonly p: RemoteParts) {
    this.info = p.info;
    this.q = quirksOf(p.cfg.kind);
  }

  get pool(): UpstreamPool {
    return this.p.pool;
  }

  /** The configured local tokenizer; without one, every use says how to configure it. */
  get tokenizer(): EngineTokenizer {
    return this.p.tokenizer ?? missingTokenizer(this.info.id, this.q.kind);
  }

  generate(req: GenerateRequest, onChunk?: (chunk: GenerationChunk) => void): Promise<GenerationResult> {
    return drainGeneration(this.run(req, onChunk !== undefined), onChunk);
  }

  stream(req: GenerateRequest): AsyncGenerator<GenerationChunk, GenerationResult, void> {
    return this.run(req, true);
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    this.p.stopHealth();
  }

  /** The /v1/completions body, and the locally counted input tokens where a tokenizer exists. */
  private body(req: GenerateRequest): { body: string; inputIds: number[] | undefined } {
    const pre = req.prePromptTokens ?? [];
    const tok = this.p.tokenizer;
    const inputIds = tok ? [...pre, ...tok.encode(req.prompt)] : undefined;
    let prompt: string | number[] = req.prompt;
    if (pre.length > 0) {
      if (!this.q.tokenPrompts) throw new EngineError(`pre_prompt_tokens cannot be sent to a ${this.q.kind} upstream (it takes text prompts only)`);
      if (!inputIds) throw new EngineError(`pre_prompt_tokens need a local tokenizer for model ${this.info.id} (set tokenizer = "<model dir>" in its models entry)`);
      prompt = inputIds;
    }
    const body = {
      model: this.p.cfg.servedModel,
      prompt,
      max_tokens: req.params.maxTokens,
      stream: true,
      stream_options: { include_usage: true },
      ...this.q.sampling(req.params),
    };
    return { body: toJsonBody(body), inputIds };
  }

  private async *run(req: GenerateRequest, live: boolean): AsyncGenerator<GenerationChunk, GenerationResult, void> {
    if (this.disposed) throw new EngineError(`model ${this.info.id} has been unloaded`);
    const t0 = performance.now();
    if (typeof req !== "object" || req === null || typeof req.params !== "object" || req.params === null) {
      throw new EngineError("generate request must be an object with prompt and params");
    }
    if (typeof req.prompt !== "string") throw new EngineError("prompt must be a string");
    const pre = req.prePromptTokens ?? [];
    // atoma: JSON-RPC generate for everything but streams it can carry exactly (see atoma-rpc.ts).
    const i64 = seedAsI64(req.params.seed);
    const viaRpc = this.q.kind === "atoma" && (!live || pre.length > 0 || i64 > BigInt(Number.MAX_SAFE_INTEGER) || i64 < BigInt(Number.MIN_SAFE_INTEGER));
    const { body, inputIds } = viaRpc ? { body: "", inputIds: this.p.tokenizer ? [...pre, ...this.p.tokenizer.encode(req.prompt)] : undefined } : this.body(req);
    const { cfg, pool } = this.p;
    const tried = new Set<PooledUpstream>();
    let last = "";
    const attempts = cfg.retries + 1;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (attempt > 1) {
        // 200 ms, 400 ms, 800 ms … (capped): long enough for a restarted server, short next to a job.
        await sleep(Math.min(200 * 2 ** (attempt - 2), 5000), req.signal);
      }
      if (req.signal?.aborted) return aborted(t0, "");
      // Every upstream out (breakers open, health checks failing): wait for one to come back, up to
      // timeout_ms, without spending attempts, so a short outage delays jobs instead of failing them.
      const waitUntil = performance.now() + cfg.timeoutMs;
      let up = await pool.acquire(tried, req.signal);
      while (!up && !req.signal?.aborted && performance.now() < waitUntil) {
        await sleep(100, req.signal);
        up = await pool.acquire(tried, req.signal);
      }
      if (!up) {
        if (req.signal?.aborted) return aborted(t0, "");
        throw new EngineError(`${this.info.id}: no upstream available for ${cfg.timeoutMs} ms (${pool.upstreams.map((u) => `${u.display}: ${u.lastError ?? "out"}`).join("; ")})`);
      }
      let outcome: "ok" | "failed" | "neutral" = "neutral";
      let why = "";
      let delivered = false;
      const pieces: string[] = [];
      let tFirst = 0;
      let events = 0;
      try {
        const ro = { apiKey: cfg.apiKey, timeoutMs: cfg.timeoutMs, stallTimeoutMs: cfg.stallTimeoutMs, signal: req.signal };
        if (viaRpc) {
          const r = await rpcGenerate(up, cfg.servedModel, req.prompt, pre, req.params, ro);
          tFirst = performance.now();
          if (live && r.text) yield { token: NO_TOKEN_ID, text: r.text };
          outcome = "ok";
          return this.result(t0, tFirst, r.text, r.end, inputIds, 1, req, r.tokens);
        }
        const it = streamCompletion(up, body, ro);
        let end: CompletionEnd;
        for (;;) {
          const r = await it.next();
          if (r.done) {
            end = r.value;
            break;
          }
          if (events++ === 0) tFirst = performance.now();
          pieces.push(r.value);
          if (live) {
            delivered = true;
            yield { token: NO_TOKEN_ID, text: r.value };
          }
        }
        outcome = "ok";
        return this.result(t0, tFirst, pieces.join(""), end, inputIds, events, req);
      } catch (e) {
        if (req.signal?.aborted) return aborted(t0, pieces.join(""));
        if (!(e instanceof UpstreamError)) throw e;
        outcome = e.retryable ? "failed" : "neutral";
        why = e.message;
        if (!e.retryable) throw new EngineError(`${this.info.id}: ${e.message}`);
        if (delivered) throw new EngineError(`${this.info.id}: ${e.message} (after streaming had begun; not retried)`);
        tried.add(up);
        last = e.message;
        this.retried++;
        if (attempt < attempts) log.warn(`model ${this.info.id}: ${e.message}; retrying (attempt ${attempt + 1} of ${attempts})`);
      } finally {
        pool.release(up, outcome, why);
      }
    }
    throw new EngineError(`${this.info.id}: gave up after ${attempts} attempt(s): ${oneLineError(last, 300)}`);
  }

  private result(t0: number, tFirst: number, text: string, end: CompletionEnd, inputIds: number[] | undefined, events: number, req: GenerateRequest, upstreamTokens?: number[]): GenerationResult {
    const tok = this.p.tokenizer;
    const outIds = tok ? tok.encode(text, { add_special_tokens: false }) : undefined;
    const u = end.usage;
    if (u && inputIds && outIds) this.checkCounts(u, inputIds.length, outIds.length);
    if (!u && !this.warnedCounts) {
      this.warnedCounts = true;
      log.warn(`model ${this.info.id}: the upstream reported no usage; token counts come from ${tok ? "the local tokenizer" : "the number of stream events"}`);
    }
    const inputTokens = u?.promptTokens ?? inputIds?.length ?? (req.prePromptTokens?.length ?? 0);
    const outputTokens = u?.completionTokens ?? outIds?.length ?? events;
    const endT = performance.now();
    return {
      text,
      // Real ids where the upstream returns them (atoma JSON-RPC); else the local re-encoding of the text.
      tokens: upstreamTokens ?? (inputIds && outIds ? [...inputIds, ...outIds] : []),
      inputTokens,
      outputTokens,
      finishReason: end.finishReason,
      truncatedTokens: 0,
      timeToFirstTokenMs: events > 0 ? tFirst - t0 : 0,
      tokensPerSecond: outputTokens > 1 && endT > tFirst && events > 0 ? ((outputTokens - 1) * 1000) / (endT - tFirst) : 0,
      totalMs: endT - t0,
    };
  }

  /** Upstream counts vs the local tokenizer. Output counts may differ legitimately by re-tokenisation; inputs should not. */
  private checkCounts(u: NonNullable<CompletionEnd["usage"]>, localIn: number, localOut: number): void {
    if (u.promptTokens === localIn && Math.abs(u.completionTokens - localOut) <= Math.max(1, Math.ceil(localOut * 0.05))) return;
    this.countMismatches++;
    const line = `model ${this.info.id}: upstream token counts (prompt ${u.promptTokens}, completion ${u.completionTokens}) differ from the local tokenizer (prompt ${localIn}, completion ${localOut}); is the tokenizer the served model's?`;
    if (!this.warnedCounts) log.warn(line);
    else log.debug(line);
    this.warnedCounts = true;
  }
}

function missingTokenizer(id: string, kind: string): EngineTokenizer {
  const refuse = (): never => {
    throw new EngineError(`model ${id} runs on a remote ${kind} engine without a local tokenizer; set tokenizer = "<model folder>" in its models entry`);
  };
  return { encode: refuse, decode: refuse, apply_chat_template: refuse, chat_template: null, bos_token: null };
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

function aborted(t0: number, text: string): GenerationResult {
  return { text, tokens: [], inputTokens: 0, outputTokens: 0, finishReason: "aborted", truncatedTokens: 0, timeToFirstTokenMs: 0, tokensPerSecond: 0, totalMs: performance.now() - t0 };
}
