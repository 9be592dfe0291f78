/** `POST /v1/completions` (legacy): OpenAI's text_completion shape, streamed or not. */
import type { EngineTokenizer } from "../../engine/types.ts";
import { usage, type Meta } from "./chat.ts";
import type { Piece, RunResult, TokenInfo } from "./run.ts";

/** Legacy logprobs: parallel arrays; `text_offset` counts UTF-16 units from `start`. */
export function completionLogprobs(tokenizer: EngineTokenizer, tokens: TokenInfo[], asked: boolean, start = 0) {
  if (!asked) return null;
  let offset = start;
  const text_offset: number[] = [];
  for (const t of tokens) {
    text_offset.push(offset);
    offset += t.text.length;
  }
  return {
    tokens: tokens.map((t) => t.text),
    token_logprobs: tokens.map((t) => t.logprob.logprob),
    top_logprobs: tokens.map((t) => Object.fromEntries(t.logprob.top.map((a) => [a.token === t.token ? t.text : tokenizer.decode([a.token]), a.logprob]))),
    text_offset,
  };
}

const head = (m: Meta) => ({ id: m.id, object: "text_completion", created: m.created, model: m.model, system_fingerprint: m.fingerprint });

export function completion(m: Meta, r: RunResult, tokenizer: EngineTokenizer, logprobs: boolean) {
  return { ...head(m), choices: [{ index: 0, text: r.text, logprobs: completionLogprobs(tokenizer, r.tokens, logprobs), finish_reason: r.finishReason }], usage: usage(r) };
}

export function completionChunks(m: Meta, tokenizer: EngineTokenizer, logprobs: boolean, includeUsage: boolean) {
  const extra = includeUsage ? { usage: null } : {};
  let offset = 0;
  return {
    piece: (p: Piece) => {
      const lp = completionLogprobs(tokenizer, p.tokens, logprobs, offset);
      offset += p.tokens.reduce((n, t) => n + t.text.length, 0);
      return { ...head(m), choices: [{ index: 0, text: p.text, logprobs: lp, finish_reason: null }], ...extra };
    },
    finish: (r: RunResult) => ({ ...head(m), choices: [{ index: 0, text: "", logprobs: null, finish_reason: r.finishReason }], ...extra }),
    usage: (r: RunResult) => ({ ...head(m), choices: [], usage: usage(r) }),
  };
}
