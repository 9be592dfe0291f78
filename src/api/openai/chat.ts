/** `POST /v1/chat/completions`: OpenAI's chat.completion / chat.completion.chunk shapes. */
import type { EngineTokenizer } from "../../engine/types.ts";
import { renderChat } from "./chat-template.ts";
import type { Piece, RunResult, TokenInfo } from "./run.ts";

const enc = new TextEncoder();

function entry(tokenizer: EngineTokenizer, t: TokenInfo) {
  return {
    token: t.text,
    logprob: t.logprob.logprob,
    bytes: [...enc.encode(t.text)],
    top_logprobs: t.logprob.top.map((a) => {
      const text = a.token === t.token ? t.text : tokenizer.decode([a.token]);
      return { token: text, logprob: a.logprob, bytes: [...enc.encode(text)] };
    }),
  };
}

export function chatLogprobs(tokenizer: EngineTokenizer, tokens: TokenInfo[], asked: boolean) {
  return asked ? { content: tokens.map((t) => entry(tokenizer, t)), refusal: null } : null;
}

export { renderChat };

export interface Meta {
  id: string;
  created: number;
  model: string;
  fingerprint: string;
}

const head = (m: Meta, object: string) => ({ id: m.id, object, created: m.created, model: m.model, system_fingerprint: m.fingerprint });
const usage = (r: { promptTokens: number; completionTokens: number }) => ({
  prompt_tokens: r.promptTokens,
  completion_tokens: r.completionTokens,
  total_tokens: r.promptTokens + r.completionTokens,
});

export function chatCompletion(m: Meta, r: RunResult, tokenizer: EngineTokenizer, logprobs: boolean) {
  return {
    ...head(m, "chat.completion"),
    choices: [{ index: 0, message: { role: "assistant", content: r.text, refusal: null }, logprobs: chatLogprobs(tokenizer, r.tokens, logprobs), finish_reason: r.finishReason }],
    usage: usage(r),
  };
}

/** Chunk builders for one streamed chat answer; with include_usage every chunk carries `usage: null`. */
export function chatChunks(m: Meta, tokenizer: EngineTokenizer, logprobs: boolean, includeUsage: boolean) {
  const chunk = (choices: unknown[], extra: Record<string, unknown> = includeUsage ? { usage: null } : {}) => ({ ...head(m, "chat.completion.chunk"), choices, ...extra });
  return {
    role: () => chunk([{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }]),
    piece: (p: Piece) => chunk([{ index: 0, delta: { content: p.text }, logprobs: chatLogprobs(tokenizer, p.tokens, logprobs), finish_reason: null }]),
    finish: (r: RunResult) => chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: r.finishReason }]),
    usage: (r: RunResult) => chunk([], { usage: usage(r) }),
  };
}

export { usage };
