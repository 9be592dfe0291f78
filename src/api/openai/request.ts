/**
 * What the chat and completions routes share: the hosted model (404 otherwise), the sampling
 * params run through `toGenerateRequest` exactly as JSON-RPC and chain jobs are, and the prompt's
 * token count.
 */
import { toGenerateRequest } from "../../jobs/params.ts";
import type { ModelSlot } from "../../jobs/scheduler.ts";
import type { GenerateRequest } from "../../engine/types.ts";
import { OpenAiError, invalid } from "./errors.ts";
import { parseSampling, type Sampling } from "./params.ts";
import { countPrompt } from "./run.ts";

export interface Prepared {
  slot: ModelSlot;
  sampling: Sampling;
  request: Omit<GenerateRequest, "signal">;
  promptTokens: number;
}

export function hostedModel<T = ModelSlot>(models: ReadonlyMap<string, T>, name: string): T {
  const slot = models.get(name);
  if (!slot) {
    throw new OpenAiError(404, `The model '${name}' does not exist or is not hosted here (hosted: ${[...models.keys()].join(", ") || "none"})`, "invalid_request_error", "model", "model_not_found");
  }
  return slot;
}

export function prepare(slot: ModelSlot, model: string, body: Record<string, unknown>, kind: "chat" | "completion", prompt: string, promptParam: string): Prepared {
  const sampling = parseSampling(body, slot.engine.info.contextLength, kind);
  const v = toGenerateRequest({ ...sampling.params, model, prompt: new TextEncoder().encode(prompt) });
  if (!v.ok) throw invalid(v.reason);
  const promptTokens = countPrompt(slot, v.request.prompt, promptParam);
  const { signal: _none, ...request } = v.request;
  return { slot, sampling, request: sampling.logprobs === undefined ? request : { ...request, logprobs: sampling.logprobs }, promptTokens };
}

export const newId = (prefix: string) => `${prefix}-${crypto.randomUUID().replaceAll("-", "")}`;
export const nowSeconds = () => Math.floor(Date.now() / 1000);
