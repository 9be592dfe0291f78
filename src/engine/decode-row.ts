/**
 * One generation inside the batched decoder: its input, sampler, seed, stop rule and max_tokens,
 * the text decoder, and the queue of chunks its consumer reads. The batching loop feeds it one
 * logits row per step (`accept`); the row never sees the other rows of its batch, so its output is
 * whatever the logits are — batching.ts makes those identical to a run alone.
 */
import { IncrementalDecoder } from "./detokenizer.ts";
import { tokenLogprobs, prepareInput } from "./generation.ts";
import type { ModelBasics } from "./loader.ts";
import { Sampler, type LogitsRow } from "./sampler.ts";
import type { Prepared } from "./sampler-pool.ts";
import type { FinishReason, GenerateRequest, GenerationChunk, GenerationResult } from "./types.ts";

export class DecodeRow {
  readonly input: number[];
  readonly truncated: number;
  readonly tokens: number[];
  private readonly sampler: Sampler;
  private readonly decoder: IncrementalDecoder;
  private readonly maxNew: number;
  private readonly pieces: string[] = [];
  private readonly t0 = performance.now();
  private tFirst = 0;
  private tLast = 0;
  private steps = 0;
  generated = 0;
  /** Slots of this row in its batch's KV cache that are padding (left of its real tokens). */
  pad = 0;
  /** Pieces not yet read by the consumer. */
  readonly queue: GenerationChunk[] = [];
  result: GenerationResult | null = null;
  error: unknown = null;
  /** Set when the consumer went away (stopped iterating): the loop drops the row. */
  cancelled = false;
  private waiter: (() => void) | null = null;

  constructor(
    private readonly m: ModelBasics,
    readonly req: GenerateRequest,
  ) {
    const { input, truncated } = prepareInput(m, req);
    this.input = input;
    this.truncated = truncated;
    this.sampler = new Sampler(req.params);
    this.maxNew = Math.min(req.params.maxTokens, m.contextLength - input.length);
    this.tokens = input.slice();
    this.decoder = new IncrementalDecoder(m.tokenizer, this.tokens, input.length);
  }

  get done(): boolean {
    return this.result !== null || this.error !== null;
  }

  /** Tokens whose keys/values are in the cache (the input plus every fed-back token). */
  get cached(): number {
    return this.tokens.length - 1;
  }

  /** The token the next step feeds. */
  get last(): number {
    return this.tokens[this.tokens.length - 1]!;
  }

  /** True when the row must not run another forward pass (aborted, cancelled, or at its limit). */
  shouldStop(): boolean {
    if (this.done) return true;
    if (this.cancelled || this.req.signal?.aborted) {
      this.finish("aborted");
      return true;
    }
    if (this.generated >= this.maxNew) {
      this.finish("length");
      return true;
    }
    return false;
  }

  /**
   * Samples the next token from this row's logits (`prepared`: its sampling steps before the draw
   * already ran on the sampling worker, sampler-pool.ts); false when the row finished.
   */
  accept(row: LogitsRow, prepared?: Prepared): boolean {
    const logprob = this.req.logprobs === undefined ? undefined : tokenLogprobs(row, this.req.logprobs);
    const token = prepared ? this.sampler.drawPrepared(prepared.kind, prepared.count, prepared.scratch) : this.sampler.next(row, this.tokens);
    this.tLast = performance.now();
    if (this.steps++ === 0) this.tFirst = this.tLast;
    if (this.m.eosIds.has(token)) {
      this.finish("eos");
      return false;
    }
    this.tokens.push(token);
    this.generated++;
    const text = this.decoder.step();
    this.pieces.push(text);
    this.push(logprob ? { token, text, logprob: { logprob: logprob.of(token), top: logprob.top } } : { token, text });
    return !this.shouldStop();
  }

  fail(e: unknown): void {
    if (this.done) return;
    this.error = e;
    this.wake();
  }

  private finish(reason: FinishReason): void {
    const rest = this.decoder.flush();
    if (rest) {
      this.pieces.push(rest);
      // Held-back bytes that never became a valid character; attributed to the last token.
      this.push({ token: this.tokens[this.tokens.length - 1]!, text: rest, flush: true });
    }
    const steps = this.steps;
    this.result = {
      text: this.pieces.join(""),
      tokens: this.tokens,
      inputTokens: this.input.length,
      outputTokens: this.generated,
      finishReason: reason,
      truncatedTokens: this.truncated,
      timeToFirstTokenMs: steps > 0 ? this.tFirst - this.t0 : 0,
      tokensPerSecond: steps > 1 && this.tLast > this.tFirst ? ((steps - 1) * 1000) / (this.tLast - this.tFirst) : 0,
      totalMs: performance.now() - this.t0,
    };
    this.wake();
  }

  private push(c: GenerationChunk): void {
    this.queue.push(c);
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  /** Resolves when there is something new to read. */
  wait(): Promise<void> {
    if (this.queue.length || this.done) return Promise.resolve();
    return new Promise((r) => (this.waiter = r));
  }
}

/**
 * The consumer side of a row handed to a batching loop: yields its pieces as they arrive and
 * returns its result; a consumer that stops early marks the row cancelled, so the loop drops it
 * before its next step. Shared by every batched engine (engine.ts, recurrent.ts).
 */
export async function* streamRow(row: DecodeRow): AsyncGenerator<GenerationChunk, GenerationResult, void> {
  try {
    for (;;) {
      while (row.queue.length) yield row.queue.shift()!;
      if (row.error) throw row.error;
      if (row.result) return row.result;
      await row.wait();
    }
  } finally {
    if (!row.done) row.cancelled = true;
  }
}
