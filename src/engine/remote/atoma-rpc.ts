/**
 * The `atoma` kind's second path: another atoma-node's JSON-RPC `generate` method. It takes the
 * chain's u64 seed exactly (as a decimal string; the OpenAI API's JSON-number seeds stop at ±2^53),
 * accepts pre_prompt_tokens, and returns the real token ids, so buffered generations (chain jobs)
 * use it; streaming callers use /v1/completions while the seed fits. One request, no stream: the
 * request timeout covers the whole generation.
 */
import { oneLineError } from "../../log/one-line.ts";
import type { SamplingParams } from "../types.ts";
import { errorMessage, headers, UpstreamError, type CompletionEnd, type RequestOptions, type Upstream } from "./client.ts";

export interface RpcResult {
  text: string;
  end: CompletionEnd;
  /** pre_prompt_tokens ‖ prompt ‖ generated, as the upstream's engine saw them. */
  tokens: number[];
}

const RPC_INVALID_PARAMS = -32602;

export async function rpcGenerate(up: Upstream, model: string, prompt: string, pre: number[], p: SamplingParams, o: RequestOptions): Promise<RpcResult> {
  const params = {
    model,
    prompt,
    pre_prompt_tokens: pre,
    max_tokens: String(p.maxTokens),
    temperature: p.temperature,
    top_k: String(p.topK),
    top_p: p.topP,
    repeat_penalty: p.repeatPenalty,
    repeat_last_n: String(p.repeatLastN),
    random_seed: p.seed.toString(),
    prepend_output_with_input: true,
  };
  const signal = o.signal ? AbortSignal.any([o.signal, AbortSignal.timeout(o.timeoutMs)]) : AbortSignal.timeout(o.timeoutMs);
  let res: Response;
  let text: string;
  try {
    res = await fetch(up.base, { method: "POST", headers: headers(o.apiKey, true), body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "generate", params }), signal });
    text = await res.text();
  } catch (e) {
    if (o.signal?.aborted) throw e;
    const timedOut = (e as Error).name === "TimeoutError";
    throw new UpstreamError(`${up.display}: ${timedOut ? `no answer within ${o.timeoutMs} ms` : `JSON-RPC generate: ${oneLineError(e, 200)}`}`, true);
  }
  if (!res.ok) throw new UpstreamError(`${up.display}: HTTP ${res.status}: ${errorMessage(text)}`, res.status >= 500 || res.status === 429, res.status);
  let body: { result?: Record<string, unknown>; error?: { code?: number; message?: string } };
  try {
    body = JSON.parse(text);
  } catch {
    throw new UpstreamError(`${up.display}: JSON-RPC answer is not JSON: ${JSON.stringify(text.slice(0, 60))}`, true);
  }
  if (body.error) {
    throw new UpstreamError(`${up.display}: JSON-RPC error ${body.error.code}: ${body.error.message}`, body.error.code !== RPC_INVALID_PARAMS);
  }
  const r = body.result;
  const ints = (v: unknown) => Array.isArray(v) && v.every((t) => Number.isSafeInteger(t));
  if (!r || typeof r.text !== "string" || !Number.isSafeInteger(r.input_tokens) || !Number.isSafeInteger(r.output_tokens) || !ints(r.tokens)) {
    throw new UpstreamError(`${up.display}: JSON-RPC generate answered without text, token counts and tokens`, true);
  }
  const finish = r.finish_reason === "eos" ? "eos" : r.finish_reason === "length" ? "length" : undefined;
  if (!finish) throw new UpstreamError(`${up.display}: generation ended with finish_reason ${JSON.stringify(r.finish_reason)}`, true);
  return {
    text: r.text,
    end: { finishReason: finish, usage: { promptTokens: r.input_tokens as number, completionTokens: r.output_tokens as number } },
    tokens: r.tokens as number[],
  };
}
