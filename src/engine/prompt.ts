/**
 * Prompt checks. The engine takes JS strings; turning chain prompt bytes into text (MessagePack
 * InputSource or UTF-8 with U+FFFD replacement) happens once, in protocol/msgpack.ts promptText.
 */
import { EngineError } from "./types.ts";

/** The engine refuses prompts it cannot tokenise meaningfully. An empty prompt is fine when
 * pre-prompt tokens carry the input (chain jobs allow that); prepareInput still rejects an input
 * that ends up with no tokens at all. */
export function checkPrompt(prompt: unknown, hasPrePromptTokens = false): string {
  if (typeof prompt !== "string") throw new EngineError(`prompt must be a string, got ${typeof prompt}`);
  if (prompt.length === 0 && !hasPrePromptTokens) throw new EngineError("prompt is empty: expected at least one character (or pre_prompt_tokens)");
  return prompt;
}
