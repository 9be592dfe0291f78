/**
 * Prompt text handling. The engine takes JS strings; on-chain prompts arrive as bytes, and a
 * prompt that is not valid UTF-8 must still produce the same text on every node, so invalid
 * sequences are replaced by U+FFFD with the WHATWG decoder (deterministic, never throws).
 */
import { EngineError } from "./types.ts";

export function decodePromptBytes(bytes: Uint8Array): string {
  return new TextDecoder("utf-8", { fatal: false, ignoreBOM: true }).decode(bytes);
}

/** The engine refuses prompts it cannot tokenise meaningfully. */
export function checkPrompt(prompt: unknown): string {
  if (typeof prompt !== "string") throw new EngineError(`prompt must be a string, got ${typeof prompt}`);
  if (prompt.length === 0) throw new EngineError("prompt is empty: expected at least one character");
  return prompt;
}
