/**
 * Chain prompt params → engine request, with the validation spec §13 asks for (bad params fail the
 * job with a reason, never the node). Shared by workers and the JSON-RPC `generate` method.
 */
import type { GenerateRequest, SamplingParams } from "../engine/types.ts";
import { promptText } from "../protocol/msgpack.ts";
import type { Text2TextPromptParams } from "../protocol/types.ts";

/** Upper bounds for "absurd sizes": far above any context window, low enough to keep memory sane. */
export const LIMITS = {
  maxTokens: 1 << 20,
  promptBytes: 1 << 20,
  prePromptTokens: 1 << 20,
  repeatLastN: 1 << 24,
} as const;

export type Validated = { ok: true; request: GenerateRequest } | { ok: false; reason: string };

function finiteF32(name: string, v: number): string | null {
  return Number.isFinite(v) ? null : `${name} is ${v}; expected a finite number`;
}

export function toGenerateRequest(p: Text2TextPromptParams, signal?: AbortSignal): Validated {
  // Size first: never decode (MessagePack, UTF-8) an absurdly large prompt just to reject it.
  if (p.prompt.length > LIMITS.promptBytes) return { ok: false, reason: `prompt is ${p.prompt.length} bytes; at most ${LIMITS.promptBytes} accepted` };
  const prompt = promptText(p.prompt);
  if ("error" in prompt) return { ok: false, reason: prompt.error };
  if (prompt.text.length === 0 && p.prePromptTokens.length === 0) return { ok: false, reason: "prompt is empty" };
  if (p.maxTokens === 0n) return { ok: false, reason: "max_tokens is 0; expected at least 1" };
  if (p.maxTokens > BigInt(LIMITS.maxTokens)) return { ok: false, reason: `max_tokens ${p.maxTokens} is absurd; at most ${LIMITS.maxTokens}` };
  if (p.repeatLastN > BigInt(LIMITS.repeatLastN)) return { ok: false, reason: `repeat_last_n ${p.repeatLastN} is absurd; at most ${LIMITS.repeatLastN}` };
  if (p.prePromptTokens.length > LIMITS.prePromptTokens) return { ok: false, reason: `${p.prePromptTokens.length} pre_prompt_tokens; at most ${LIMITS.prePromptTokens}` };
  for (const [name, v] of [["temperature", p.temperature], ["top_p", p.topP], ["repeat_penalty", p.repeatPenalty]] as const) {
    const bad = finiteF32(name, v);
    if (bad) return { ok: false, reason: bad };
  }
  if (p.repeatPenalty <= 0) return { ok: false, reason: `repeat_penalty ${p.repeatPenalty} must be positive` };
  if (p.prePromptTokens.some((t) => !Number.isInteger(t) || t < 0)) return { ok: false, reason: "pre_prompt_tokens must be non-negative integers" };
  const params: SamplingParams = {
    maxTokens: Number(p.maxTokens),
    temperature: p.temperature,
    // top_k beyond any vocabulary is the same as "keep all"; clamp so the Number is exact.
    topK: p.topK > 0xffff_ffffn ? 0 : Number(p.topK),
    topP: p.topP,
    repeatPenalty: p.repeatPenalty,
    repeatLastN: Number(p.repeatLastN),
    seed: p.randomSeed,
  };
  return { ok: true, request: { prompt: prompt.text, params, prePromptTokens: p.prePromptTokens, signal } };
}
