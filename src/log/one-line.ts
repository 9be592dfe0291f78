/**
 * Error text for one-line messages (CLI errors, logs, JSON fields): the first non-empty line, the
 * human part of an ONNX Runtime check failure, registered secrets masked, optionally capped.
 */
import { redactText } from "./redact.ts";

export function oneLineError(e: unknown, max?: number): string {
  const msg = e instanceof Error ? e.message : String(e);
  let line = msg.split("\n").find((l) => l.trim() !== "")?.trim() ?? "unknown error";
  // ONNX Runtime prefixes the useful sentence with `<source>.cc:<line> <function> <check> was false.`
  const i = line.lastIndexOf(" was false. ");
  if (i >= 0 && /\.cc:\d+/.test(line.slice(0, i))) line = line.slice(i + 12).trim();
  line = redactText(line);
  return max !== undefined && line.length > max ? `${line.slice(0, max - 3)}...` : line;
}
