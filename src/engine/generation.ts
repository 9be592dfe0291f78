/**
 * The decode loop. We drive the model's forward pass ourselves (transformers.js `model(inputs)`,
 * which fills position_ids and the empty KV cache) and pick every token with our own Sampler, so
 * output depends only on logits + params + seed. Context policy (documented in README):
 * the input (pre-prompt ‖ prompt) is left-truncated only when it alone exceeds context − 1, and
 * generation then stops at the context length, i.e. max_tokens is clamped to what fits.
 */
import { IncrementalDecoder } from "./detokenizer.ts";
import type { LoadedModel, ModelBasics } from "./loader.ts";
import { engineLog } from "./log.ts";
import { fromFloat16Bits } from "./models/float16.ts";
import { checkPrompt } from "./prompt.ts";
import { Sampler } from "./sampler.ts";
import { oneLineError } from "../log/one-line.ts";
import {
  EngineError,
  type FinishReason,
  type GenerateRequest,
  type GenerationChunk,
  type GenerationResult,
} from "./types.ts";

/** Prepared input: the token sequence the model sees, and how much was dropped to fit. */
export function prepareInput(m: ModelBasics, req: GenerateRequest): { input: number[]; truncated: number } {
  if (typeof req !== "object" || req === null || typeof req.params !== "object" || req.params === null) {
    throw new EngineError("generate request must be an object with prompt and params");
  }
  const pre = req.prePromptTokens ?? [];
  const prompt = checkPrompt(req.prompt, Array.isArray(pre) && pre.length > 0);
  const limit = m.vocabSize > 0 ? m.vocabSize : Number.MAX_SAFE_INTEGER;
  for (const [i, t] of pre.entries()) {
    if (!Number.isInteger(t) || t < 0 || t >= limit) {
      throw new EngineError(`pre_prompt_tokens[${i}] = ${t} is not a token id of this model (0 … ${limit - 1})`);
    }
  }
  const input = [...pre, ...m.tokenizer.encode(prompt)];
  if (input.length === 0) throw new EngineError("prompt encodes to no tokens and there are no pre_prompt_tokens");
  const keep = m.contextLength - 1;
  if (input.length <= keep) return { input, truncated: 0 };
  const truncated = input.length - keep;
  engineLog.warn(`input of ${input.length} tokens exceeds the context (${m.contextLength}); dropped the first ${truncated}`);
  return { input: input.slice(truncated), truncated };
}

function ones(m: LoadedModel, n: number): unknown {
  return new m.Tensor("int64", new BigInt64Array(n).fill(1n), [1, n]);
}

/**
 * `num_logits_to_keep` = 1: only the last position's logits are used. A plain forward call
 * (m.model(inputs)) would otherwise feed 0 (all positions) to graphs that have the input; graphs
 * without it never see the key (transformers.js picks the session's own inputs).
 */
function keepLast(m: LoadedModel): unknown {
  return new m.Tensor("int64", BigInt64Array.of(1n), []);
}

export async function* generateTokens(
  m: LoadedModel,
  req: GenerateRequest,
): AsyncGenerator<GenerationChunk, GenerationResult, void> {
  const t0 = performance.now();
  const { input, truncated } = prepareInput(m, req);
  const sampler = new Sampler(req.params);
  const maxNew = Math.min(req.params.maxTokens, m.contextLength - input.length);
  const tokens = input.slice();
  const decoder = new IncrementalDecoder(m.tokenizer, tokens, input.length);
  const cache = new m.DynamicCache();
  const pieces: string[] = [];
  let finishReason: FinishReason = "length";
  let tFirst = 0;
  let tLast = 0;
  let generated = 0;
  /** Sampled tokens including a final EOS: each one cost a forward pass. */
  let steps = 0;
  let ids = new m.Tensor("int64", BigInt64Array.from(input, BigInt), [1, input.length]);
  const keep = keepLast(m);
  try {
    while (generated < maxNew) {
      if (req.signal?.aborted) {
        finishReason = "aborted";
        break;
      }
      let out: Record<string, any>;
      try {
        out = await m.model({ input_ids: ids, attention_mask: ones(m, tokens.length), past_key_values: cache, num_logits_to_keep: keep });
      } catch (e) {
        throw new EngineError(`inference failed at token ${generated}: ${oneLineError(e)}`);
      }
      const logits = out.logits;
      const [, seq, vocab] = logits.dims as number[];
      // Only the last position matters; a view avoids copying the [seq, vocab] block.
      const row = lastRow(logits.data, logits.type, seq!, vocab!);
      const next: Record<string, unknown> = {};
      for (const name in out) if (name.startsWith("present")) next[name.replace("present", "past_key_values")] = out[name];
      cache.update(next);
      // Before sampling: the sampler reuses its buffer, but `row` is the model's own output.
      const logprob = req.logprobs === undefined ? undefined : tokenLogprobs(row, req.logprobs);
      const token = sampler.next(row, tokens);
      tLast = performance.now();
      if (steps++ === 0) tFirst = tLast;
      if (m.eosIds.has(token)) {
        finishReason = "eos";
        break;
      }
      tokens.push(token);
      generated++;
      const text = decoder.step();
      pieces.push(text);
      if (logprob) yield { token, text, logprob: { logprob: logprob.of(token), top: logprob.top } };
      else yield { token, text };
      ids = new m.Tensor("int64", BigInt64Array.of(BigInt(token)), [1, 1]);
    }
  } finally {
    await cache.dispose();
  }
  const rest = decoder.flush();
  if (rest) {
    pieces.push(rest);
    // Held-back bytes that never became a valid character; attributed to the last token.
    yield { token: tokens[tokens.length - 1]!, text: rest, flush: true };
  }
  const end = performance.now();
  return {
    text: pieces.join(""),
    tokens,
    inputTokens: input.length,
    outputTokens: generated,
    finishReason,
    truncatedTokens: truncated,
    timeToFirstTokenMs: steps > 0 ? tFirst - t0 : 0,
    tokensPerSecond: steps > 1 && tLast > tFirst ? ((steps - 1) * 1000) / (tLast - tFirst) : 0,
    totalMs: end - t0,
  };
}

/** Log-softmax of one logits row (f64, NaN → −∞) and its `n` most likely ids. */
export function tokenLogprobs(row: ArrayLike<number>, n: number): { of(id: number): number; top: { token: number; logprob: number }[] } {
  let m = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > m) m = row[i]!;
  let s = 0;
  for (let i = 0; i < row.length; i++) {
    const v = row[i]!;
    if (v === v) s += Math.exp(v - m);
  }
  const logZ = m + Math.log(s);
  const lp = (id: number) => (row[id]! === row[id]! ? row[id]! - logZ : -Infinity);
  // Top n by a bounded insertion list: n is small (≤ 20), the vocabulary large.
  const best: number[] = [];
  for (let i = 0; i < row.length && n > 0; i++) {
    const v = row[i]!;
    if (v !== v) continue;
    if (best.length === n && v <= row[best[n - 1]!]!) continue;
    let j = best.length < n ? best.length : n - 1;
    while (j > 0 && row[best[j - 1]!]! < v) j--;
    best.splice(j, 0, i);
    if (best.length > n) best.pop();
  }
  return { of: lp, top: best.map((id) => ({ token: id, logprob: lp(id) })) };
}

/**
 * The last position's logits without copying the [seq, vocab] block. fp16 logits arrive as a
 * Float16Array under Bun, but as raw half-float bits in a Uint16Array where the runtime lacks
 * Float16Array (Node 20); those are widened exactly.
 */
function lastRow(data: ArrayLike<number> & { subarray(a: number, b: number): ArrayLike<number> }, type: string, seq: number, vocab: number): ArrayLike<number> {
  const row = data.subarray((seq - 1) * vocab, seq * vocab);
  if (type !== "float16" || !(row instanceof Uint16Array)) return row;
  const out = new Float32Array(vocab);
  for (let i = 0; i < vocab; i++) out[i] = fromFloat16Bits(row[i]!);
  return out;
}

/** Logits of batch row `b` at position `at` ([batch, seq, vocab] tensor), widened if fp16 bits. */
export function logitsRow(logits: { data: unknown; dims: readonly number[]; type: string }, b: number, at: number): ArrayLike<number> {
  const [, seq, vocab] = logits.dims as [number, number, number];
  const data = logits.data as ArrayLike<number> & { subarray(a: number, b: number): ArrayLike<number> };
  const start = (b * seq + at) * vocab;
  return lastRow(data.subarray(start, start + vocab) as never, logits.type, 1, vocab);
}
