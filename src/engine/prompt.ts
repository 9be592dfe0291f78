/**
 * Prompt text handling. The engine takes JS strings; on-chain prompts arrive as bytes, and a
 * prompt that is not valid UTF-8 must still produce the same text on every node, so invalid
 * sequences are replaced by U+FFFD with the WHATWG decoder (deterministic, never throws).
 */
import { EngineError } from "./types.ts";

export function decodePromptBytes(bytes: Uint8Array): string {
  return new TextDecoder("utf-8", { fatal: false, ignoreBOM: true }).decode(bytes);
}

/** The engine refuses prompts it cannot tokenise meaningfully. An empty prompt is fine when
 * pre-prompt tokens carry the input (chain jobs allow that); prepareInput still rejects an input
 * that ends up with no tokens at all. */
export function checkPrompt(prompt: unknown, hasPrePromptTokens = false): string {
  if (typeof prompt !== "string") throw new EngineError(`prompt must be a string, got ${typeof prompt}`);
  if (prompt.length === 0 && !hasPrePromptTokens) throw new EngineError("prompt is empty: expected at least one character (or pre_prompt_tokens)");
  return prompt;
}
