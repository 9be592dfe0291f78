/**
 * One API generation: queue place (admission), the model lock at normal priority, the engine's
 * token stream with stop sequences applied, and cancellation. The request's signal (client gone)
 * and the request_timeout both abort it: while queued it leaves the queue, while generating the
 * engine stops before its next forward pass and the lock passes to the next waiter at once.
 */
import type { NodeMetrics } from "../../log/metrics.ts";
import type { ModelSlot } from "../../jobs/scheduler.ts";
import { EngineError, type GenerateRequest, type TokenLogprob } from "../../engine/types.ts";
import { OpenAiError, invalid } from "./errors.ts";
import { StopFilter } from "./stop.ts";

export interface TokenInfo {
  token: number;
  /** The token's share of the output text (may be "" for part of a multi-byte character). */
  text: string;
  logprob: TokenLogprob;
}

export interface Piece {
  text: string;
  /** Tokens whose text is in this piece or held back before it (only with logprobs). */
  tokens: TokenInfo[];
}

export interface RunResult {
  text: string;
  promptTokens: number;
  completionTokens: number;
  finishReason: "stop" | "length";
  tokens: TokenInfo[];
}

export interface RunInput {
  slot: ModelSlot;
  model: string;
  request: Omit<GenerateRequest, "signal">;
  stop: readonly string[];
  /** The place taken in the model's admission queue (Admission.enter); left when this ends. */
  leave: (busyMs?: number) => void;
  metrics: NodeMetrics;
  timeoutMs: number;
  /** Aborts when the client goes away. */
  signal: AbortSignal;
}

/** The client went away; nothing is sent. */
export class ClientGone extends Error {
  override name = "ClientGone";
}

/** Prompt tokens as the engine will count them; refuses prompts that leave no room to generate. */
export function countPrompt(slot: ModelSlot, prompt: string, param: string): number {
  const n = slot.engine.tokenizer.encode(prompt).length;
  const ctx = slot.engine.info.contextLength;
  if (n >= ctx) {
    throw invalid(`${param}: the prompt is ${n} tokens; this model's context is ${ctx} tokens, which leaves no room for an answer`, param, "context_length_exceeded");
  }
  return n;
}

export async function runGeneration(input: RunInput, onPiece?: (p: Piece) => void): Promise<RunResult> {
  const { slot } = input;
  const timeout = AbortSignal.timeout(input.timeoutMs);
  const signal = AbortSignal.any([input.signal, timeout]);
  const gone = () =>
    input.signal.aborted ? new ClientGone("client disconnected") : new OpenAiError(504, `generation timed out after ${input.timeoutMs} ms (request_timeout)`, "server_error", null, "timeout");
  let busyFrom = 0;
  try {
    try {
      await slot.lock.acquire("normal", signal);
    } catch {
      throw gone();
    }
    busyFrom = performance.now();
    try {
      return await generate(input, signal, onPiece, gone);
    } finally {
      slot.lock.release();
    }
  } finally {
    input.leave(busyFrom ? performance.now() - busyFrom : undefined);
  }
}

async function generate(input: RunInput, signal: AbortSignal, onPiece: ((p: Piece) => void) | undefined, gone: () => Error): Promise<RunResult> {
  const { slot, model, metrics } = input;
  const filter = new StopFilter(input.stop);
  const all: TokenInfo[] = [];
  let pending: TokenInfo[] = [];
  let generated = 0;
  let stopped = false;
  const t0 = performance.now();
  const it = slot.engine.stream({ ...input.request, signal });
  let result;
  try {
    for (;;) {
      const r = await it.next();
      if (r.done) {
        result = r.value;
        break;
      }
      const chunk = r.value;
      if (!chunk.flush) generated++;
      if (chunk.logprob) {
        const info = { token: chunk.token, text: chunk.text, logprob: chunk.logprob };
        all.push(info);
        pending.push(info);
      }
      const out = filter.push(chunk.text);
      if (out.text || out.stopped) {
        onPiece?.({ text: out.text, tokens: pending });
        pending = [];
      }
      if (out.stopped) {
        stopped = true;
        break;
      }
    }
  } catch (e) {
    if (e instanceof EngineError) throw invalid(e.message);
    throw new OpenAiError(500, `generation failed: ${(e as Error).message}`, "server_error");
  } finally {
    // Stopped early: end the engine's generator so its cache and queue slot are freed now.
    if (!result) await it.return(undefined as never).catch(() => {});
  }
  if (result?.finishReason === "aborted") {
    // The work was done even though nobody reads it: count it.
    metrics.tokens.inc({ model, source: "openai" }, generated);
    throw gone();
  }
  if (!stopped) {
    const rest = filter.flush();
    if (rest || pending.length) onPiece?.({ text: rest, tokens: pending });
  }
  const completionTokens = result ? result.outputTokens : generated;
  metrics.tokens.inc({ model, source: "openai" }, completionTokens);
  metrics.generation.observe({ model }, (performance.now() - t0) / 1000);
  return {
    text: filter.output,
    promptTokens: result ? result.inputTokens : slot.engine.tokenizer.encode(input.request.prompt).length,
    completionTokens,
    finishReason: stopped || result?.finishReason === "eos" ? "stop" : "length",
    tokens: all,
  };
}
