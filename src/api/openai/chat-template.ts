/**
 * Chat messages → prompt text with the model's own template (`chat_template` in
 * tokenizer_config.json, rendered by transformers.js through @huggingface/jinja).
 *
 * A model without a template (base models such as stories260K) gets FALLBACK_TEMPLATE: one
 * "role: content" line per message and a final "assistant:" — plain text any model can continue,
 * instead of refusing chat outright (vLLM refuses; llama.cpp guesses ChatML, whose special tokens a
 * base model has never seen). `/v1/models` says which one a model uses (`chat_template`).
 *
 * The rendered text then goes through the same tokenisation as every prompt (`encode` adds BOS
 * where the tokenizer does), so a template's own leading `bos_token` is dropped: BOS once, and the
 * same prompt string sent over JSON-RPC gives the same tokens.
 */
import type { EngineTokenizer } from "../../engine/types.ts";
import type { ChatMessage } from "./params.ts";
import { OpenAiError } from "./errors.ts";

export const FALLBACK_TEMPLATE =
  "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}";

export function hasOwnTemplate(t: EngineTokenizer): boolean {
  const v = t.chat_template;
  return (typeof v === "string" && v.length > 0) || (v !== null && typeof v === "object");
}

export function renderChat(t: EngineTokenizer, messages: ChatMessage[]): string {
  let text: string;
  try {
    text = t.apply_chat_template(messages, {
      tokenize: false,
      add_generation_prompt: true,
      ...(hasOwnTemplate(t) ? {} : { chat_template: FALLBACK_TEMPLATE }),
    });
  } catch (e) {
    // Templates raise for conversations they do not allow (e.g. roles not alternating).
    throw new OpenAiError(400, `messages: the model's chat template refused them: ${(e as Error).message.split("\n")[0]}`, "invalid_request_error", "messages");
  }
  const bos = t.bos_token;
  if (bos && text.startsWith(bos) && t.encode("", { add_special_tokens: true }).length > 0) text = text.slice(bos.length);
  return text;
}
