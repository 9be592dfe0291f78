/**
 * JSON request params → chain-shaped `Text2TextPromptParams`, so the API runs prompts through the
 * exact path on-chain jobs take (f32 rounding included). Floats are real JSON numbers here (not
 * u32 bit patterns, spec §11); u64 values are accepted as integers or decimal strings. Messages
 * quote bad values with `showValue` (short, escaped, as sent): params come from anyone who can
 * reach the port.
 */
import type { Text2TextPromptParams } from "../protocol/types.ts";
import { parseU64 } from "../protocol/u64.ts";
import { DEFAULT_SAMPLING_PARAMS as D } from "../engine/sampler.ts";
import { showValue } from "../log/show-value.ts";

export class ParamError extends Error {
  override name = "ParamError";
}

type Obj = Record<string, unknown>;

function u64(o: Obj, key: string, dflt: bigint): bigint {
  const v = o[key];
  if (v === undefined || v === null) return dflt;
  const parsed = parseU64(v);
  if (parsed !== null) return parsed;
  throw new ParamError(`params.${key}: expected a u64 (non-negative integer or decimal string), got ${showValue(v)}`);
}

function f32(o: Obj, key: string, dflt: number): number {
  const v = o[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== "number" || !Number.isFinite(v)) throw new ParamError(`params.${key}: expected a finite number, got ${showValue(v)}`);
  return Math.fround(v);
}

function bool(o: Obj, key: string): boolean {
  const v = o[key];
  if (v === undefined || v === null) return false;
  if (typeof v !== "boolean") throw new ParamError(`params.${key}: expected true or false, got ${showValue(v)}`);
  return v;
}

function prompt(o: Obj): Uint8Array {
  const v = o.prompt;
  if (typeof v === "string") return new TextEncoder().encode(v);
  if (Array.isArray(v) && v.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) return Uint8Array.from(v as number[]);
  throw new ParamError(`params.prompt: expected a string (or an array of bytes), got ${showValue(v)}`);
}

function tokens(o: Obj): number[] {
  const v = o.pre_prompt_tokens;
  if (v === undefined || v === null) return [];
  if (Array.isArray(v) && v.every((t) => Number.isInteger(t) && t >= 0 && t <= 0xffff_ffff)) return v as number[];
  throw new ParamError("params.pre_prompt_tokens: expected an array of u32 token ids");
}

/** `defaultModel` is used when `model` is absent and the node hosts exactly one model. */
export function parseTextParams(raw: unknown, defaultModel: string | undefined): Text2TextPromptParams {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new ParamError("params: expected an object");
  const o = raw as Obj;
  const model = o.model ?? defaultModel;
  if (typeof model !== "string" || model === "") throw new ParamError("params.model: expected the name of a hosted model");
  return {
    prompt: prompt(o),
    model,
    maxTokens: u64(o, "max_tokens", BigInt(D.maxTokens)),
    temperature: f32(o, "temperature", D.temperature),
    randomSeed: u64(o, "random_seed", D.seed),
    repeatPenalty: f32(o, "repeat_penalty", D.repeatPenalty),
    repeatLastN: u64(o, "repeat_last_n", BigInt(D.repeatLastN)),
    topK: u64(o, "top_k", BigInt(D.topK)),
    topP: f32(o, "top_p", D.topP),
    prePromptTokens: tokens(o),
    prependOutputWithInput: bool(o, "chat") || bool(o, "prepend_output_with_input"),
    shouldStreamOutput: bool(o, "should_stream_output"),
  };
}
