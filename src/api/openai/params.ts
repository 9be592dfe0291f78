/**
 * OpenAI request bodies → the chain-shaped `Text2TextPromptParams` JSON-RPC and on-chain jobs use,
 * so every route samples through the same path (f32 rounding included) and the same model, params
 * and seed give the same bytes whichever way they arrive. Knobs other servers accept are mapped:
 * `top_k` (vLLM −1/0 and llama.cpp 0 = off), `repetition_penalty` (vLLM: over the whole sequence)
 * and `repeat_penalty` + `repeat_last_n` (llama.cpp: over the last n tokens, −1 = the context).
 * Unknown fields are ignored (clients send extras); known ones we cannot honour are refused.
 */
import { showValue } from "../../log/show-value.ts";
import { randomBytes } from "node:crypto";
import type { Text2TextPromptParams } from "../../protocol/types.ts";
import { invalid, unsupported } from "./errors.ts";

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === "object" && !Array.isArray(v);
const given = (o: Obj, k: string) => o[k] !== undefined && o[k] !== null;

export interface Sampling {
  /** Everything but the prompt, in chain form. */
  params: Omit<Text2TextPromptParams, "prompt" | "model">;
  /** True when the caller set max_tokens / max_completion_tokens (else: up to the context). */
  maxTokensGiven: boolean;
  stop: string[];
  stream: boolean;
  includeUsage: boolean;
  /** Top alternatives per token, or undefined when logprobs were not asked for. */
  logprobs: number | undefined;
}

export function body(raw: unknown): Obj {
  if (!isObj(raw)) throw invalid("request body: expected a JSON object");
  return raw;
}

export function modelName(o: Obj): string {
  if (typeof o.model !== "string" || o.model === "") throw invalid("model: expected the name of a hosted model (GET /v1/models lists them)", "model");
  return o.model;
}

function num(o: Obj, k: string, min: number, max: number, dflt: number, exclusiveMin = false): number {
  if (!given(o, k)) return dflt;
  const v = o[k];
  if (typeof v !== "number" || !Number.isFinite(v) || v > max || (exclusiveMin ? v <= min : v < min)) {
    throw invalid(`${k}: expected a number in ${exclusiveMin ? "(" : "["}${min}, ${max}], got ${showValue(v)}`, k);
  }
  return v;
}

function int(o: Obj, k: string, min: number, max: number): number | undefined {
  if (!given(o, k)) return undefined;
  const v = o[k];
  if (!Number.isSafeInteger(v) || (v as number) < min || (v as number) > max) throw invalid(`${k}: expected an integer in [${min}, ${max}], got ${showValue(v)}`, k);
  return v as number;
}

function bool(o: Obj, k: string): boolean {
  if (!given(o, k)) return false;
  if (typeof o[k] !== "boolean") throw invalid(`${k}: expected true or false, got ${showValue(o[k])}`, k);
  return o[k] as boolean;
}

function stopList(o: Obj): string[] {
  const v = o.stop;
  if (v === undefined || v === null) return [];
  const list = typeof v === "string" ? [v] : v;
  if (!Array.isArray(list) || list.length > 4 || !list.every((s) => typeof s === "string" && s.length > 0)) {
    throw invalid("stop: expected a non-empty string or an array of at most 4 non-empty strings", "stop");
  }
  return list as string[];
}

/** OpenAI seeds are signed 64-bit; the sampler's seed is a u64 with the same bits. Absent → random. */
function seed(o: Obj): bigint {
  if (!given(o, "seed")) return randomBytes(8).readBigUInt64LE();
  const v = o.seed;
  if (!Number.isSafeInteger(v)) throw invalid(`seed: expected an integer, got ${showValue(v)}`, "seed");
  return BigInt.asUintN(64, BigInt(v as number));
}

function refuseUnsupported(o: Obj): void {
  if (given(o, "n") && o.n !== 1) throw invalid(`n: only n = 1 is supported (one choice per request), got ${showValue(o.n)}`, "n", "unsupported_value");
  if (given(o, "best_of") && o.best_of !== 1) throw unsupported("best_of", "best_of other than 1");
  for (const k of ["frequency_penalty", "presence_penalty"]) {
    if (given(o, k) && o[k] !== 0) throw unsupported(k, `a non-zero ${k} (use repetition_penalty or repeat_penalty)`);
  }
  if (given(o, "logit_bias") && !(isObj(o.logit_bias) && Object.keys(o.logit_bias).length === 0)) throw unsupported("logit_bias", "logit_bias");
  if (Array.isArray(o.tools) && o.tools.length > 0) throw unsupported("tools", "tool calling");
  if (given(o, "response_format") && !(isObj(o.response_format) && o.response_format.type === "text")) throw unsupported("response_format", "a response_format other than text");
}

/**
 * `contextLength` is the model's: it is the default max_tokens (generation stops at the context),
 * and what `repetition_penalty` and `repeat_last_n = -1` cover.
 */
export function parseSampling(o: Obj, contextLength: number, kind: "chat" | "completion"): Sampling {
  refuseUnsupported(o);
  const maxGiven = given(o, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  const maxTokens = int(o, maxGiven, 1, 1 << 20);
  const topK = int(o, "top_k", -1, 0xffff_ffff) ?? 0;
  let repeatPenalty = 1;
  let repeatLastN = 64;
  if (given(o, "repetition_penalty")) {
    repeatPenalty = num(o, "repetition_penalty", 0, 100, 1, true);
    repeatLastN = contextLength;
  }
  if (given(o, "repeat_penalty")) {
    const rp = num(o, "repeat_penalty", 0, 100, 1, true);
    if (given(o, "repetition_penalty") && Math.fround(rp) !== Math.fround(repeatPenalty)) {
      throw invalid("repeat_penalty and repetition_penalty disagree; give one of them", "repeat_penalty");
    }
    repeatPenalty = rp;
    const n = int(o, "repeat_last_n", -1, 1 << 24) ?? 64;
    repeatLastN = n === -1 ? contextLength : n;
  }
  const stream = bool(o, "stream");
  if (given(o, "stream_options") && !stream) throw invalid("stream_options: only allowed when stream is true", "stream_options");
  if (given(o, "stream_options") && !isObj(o.stream_options)) throw invalid("stream_options: expected an object", "stream_options");
  const includeUsage = stream && isObj(o.stream_options) && bool(o.stream_options, "include_usage");
  let logprobs: number | undefined;
  if (kind === "chat") {
    const top = int(o, "top_logprobs", 0, 20);
    if (top !== undefined && !bool(o, "logprobs")) throw invalid("top_logprobs: requires logprobs = true", "top_logprobs");
    logprobs = bool(o, "logprobs") ? (top ?? 0) : undefined;
  } else {
    // Legacy completions: `logprobs` is the number of alternatives (0..5).
    logprobs = int(o, "logprobs", 0, 5);
  }
  return {
    params: {
      maxTokens: BigInt(maxTokens ?? contextLength),
      temperature: Math.fround(num(o, "temperature", 0, 2, 1)),
      randomSeed: seed(o),
      repeatPenalty: Math.fround(repeatPenalty),
      repeatLastN: BigInt(repeatLastN),
      topK: BigInt(topK < 0 ? 0 : topK),
      topP: Math.fround(num(o, "top_p", 0, 1, 1, true)),
      prePromptTokens: [],
      prependOutputWithInput: false,
      shouldStreamOutput: false,
    },
    maxTokensGiven: maxTokens !== undefined,
    stop: stopList(o),
    stream,
    includeUsage,
    logprobs,
  };
}

export interface ChatMessage {
  role: string;
  content: string;
}

const ROLES = new Set(["system", "developer", "user", "assistant", "tool"]);

/** Text messages only; `developer` is rendered as `system` (what templates know). */
export function parseMessages(o: Obj): ChatMessage[] {
  const v = o.messages;
  if (!Array.isArray(v) || v.length === 0) throw invalid("messages: expected a non-empty array of {role, content}", "messages");
  return v.map((m, i) => {
    const where = `messages[${i}]`;
    if (!isObj(m) || typeof m.role !== "string" || !ROLES.has(m.role)) {
      throw invalid(`${where}.role: expected one of ${[...ROLES].join(", ")}`, `${where}.role`);
    }
    let content: string;
    if (typeof m.content === "string") content = m.content;
    else if (m.content === null || m.content === undefined) content = "";
    else if (Array.isArray(m.content)) {
      content = m.content
        .map((part, j) => {
          if (!isObj(part) || part.type !== "text" || typeof part.text !== "string") {
            throw invalid(`${where}.content[${j}]: only {"type": "text", "text": …} parts are supported`, `${where}.content`);
          }
          return part.text;
        })
        .join("");
    } else throw invalid(`${where}.content: expected a string or an array of text parts`, `${where}.content`);
    return { role: m.role === "developer" ? "system" : m.role, content };
  });
}

/** Legacy completions prompt: a string, or an array holding exactly one string. Token-id prompts
 * are refused: the engine takes text, as chain prompts are text. */
export function parsePrompt(o: Obj): string {
  const v = o.prompt;
  if (typeof v === "string" && v.length > 0) return v;
  if (Array.isArray(v) && v.length === 1 && typeof v[0] === "string" && v[0].length > 0) return v[0];
  if (Array.isArray(v) && v.length > 1) throw invalid("prompt: one prompt per request (n = 1); got an array of several", "prompt", "unsupported_value");
  throw invalid("prompt: expected a non-empty string", "prompt");
}

export function refuseCompletionExtras(o: Obj): void {
  if (bool(o, "echo")) throw unsupported("echo", "echo");
  if (given(o, "suffix")) throw unsupported("suffix", "suffix (insertion)");
}
