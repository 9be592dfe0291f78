/**
 * Off-chain payloads carried in `vector<u8>` fields (spec atoma-protocol.md §6): rmp-serde's compact
 * MessagePack form of `OutputDestination` and `InputSource`. Decoding never throws — an undecodable
 * destination only means "nowhere to publish", and an undecodable prompt falls back to UTF-8 text.
 * Anyone who pays for a prompt controls these bytes, so decoding is bounded by their own length
 * (msgpack-scan.ts) before the library allocates anything.
 */
import { decode } from "@msgpack/msgpack";
import { scanMsgpack } from "./msgpack-scan.ts";

export type OutputDestination =
  | { kind: "Firebase"; requestId?: string }
  | { kind: "Ipfs"; requestId: string }
  | { kind: "Gateway"; gatewayUserId: string }
  | { kind: "Supabase"; requestId: string }
  | { kind: "nowhere"; reason: string };

export type InputSource =
  | { kind: "Raw"; prompt: string }
  | { kind: "Firebase"; requestId: string }
  | { kind: "Supabase"; requestId: string }
  | { kind: "Ipfs"; cid: string; format: "Image" | "Text" };

/** The prompt as the node should read it: a decoded InputSource, or legacy plain UTF-8 text.
 * Text that is not valid UTF-8 is still text (U+FFFD replacement, identical on every node) and
 * carries `invalid` saying so; `{ invalid }` alone only when `input_source` was required. */
export type PromptInput = { source: InputSource } | { text: string; invalid?: string } | { invalid: string };

type Variant = { name: string; body: unknown };

function tryDecode(bytes: Uint8Array): { ok: true; value: unknown } | { ok: false; reason: string } {
  const bad = scanMsgpack(bytes);
  if (bad) return { ok: false, reason: `not MessagePack (${bad})` };
  // The scan already proved every length fits; the library's own limits say the same, in case.
  const n = bytes.length;
  try {
    return { ok: true, value: decode(bytes, { maxStrLength: n, maxBinLength: n, maxArrayLength: n, maxMapLength: n, maxExtLength: n }) };
  } catch (e) {
    return { ok: false, reason: `not MessagePack (${(e as Error).message})` };
  }
}

/** rmp-serde enum: a bare string (unit variant) or a one-entry map { variant: body }. */
function variantOf(value: unknown): Variant | null {
  if (typeof value === "string") return { name: value, body: null };
  if (value instanceof Map) {
    if (value.size !== 1) return null;
    const [[k, v]] = [...value.entries()];
    return typeof k === "string" ? { name: k, body: v } : null;
  }
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const keys = Object.keys(value);
    if (keys.length !== 1) return null;
    return { name: keys[0]!, body: (value as Record<string, unknown>)[keys[0]!] };
  }
  return null;
}

/** Struct body: array of fields in declaration order (compact) or a map keyed by field name. */
function field(body: unknown, index: number, name: string): unknown {
  if (Array.isArray(body)) return body[index];
  if (body !== null && typeof body === "object") return (body as Record<string, unknown>)[name];
  return undefined;
}

function stringField(body: unknown, index: number, name: string): string | null {
  const v = field(body, index, name);
  return typeof v === "string" ? v : null;
}

/** Unit variant name, also accepted as a one-entry map with a nil/empty body. */
function unitName(value: unknown): string | null {
  const v = variantOf(value);
  return v && (v.body === null || v.body === undefined || (Array.isArray(v.body) && v.body.length === 0)) ? v.name : null;
}

export function decodeOutputDestination(bytes: Uint8Array): OutputDestination {
  if (bytes.length === 0) return { kind: "nowhere", reason: "empty output_destination" };
  const decoded = tryDecode(bytes);
  if (!decoded.ok) return { kind: "nowhere", reason: decoded.reason };
  const v = variantOf(decoded.value);
  if (!v) return { kind: "nowhere", reason: "not an OutputDestination enum value" };
  const unit = v.body === null || v.body === undefined;
  switch (v.name) {
    case "Firebase": {
      // Mid-2024 contracts: unit variant; September 2024: { request_id }.
      if (unit) return { kind: "Firebase" };
      const requestId = stringField(v.body, 0, "request_id");
      return requestId === null ? bad(v.name, "request_id") : { kind: "Firebase", requestId };
    }
    case "Ipfs":
    case "Supabase": {
      const requestId = stringField(v.body, 0, "request_id");
      return requestId === null ? bad(v.name, "request_id") : { kind: v.name, requestId };
    }
    case "Gateway": {
      const gatewayUserId = stringField(v.body, 0, "gateway_user_id");
      return gatewayUserId === null ? bad(v.name, "gateway_user_id") : { kind: "Gateway", gatewayUserId };
    }
    default:
      return { kind: "nowhere", reason: `unknown OutputDestination variant ${JSON.stringify(v.name)}` };
  }
}

function bad(variant: string, fieldName: string): OutputDestination {
  return { kind: "nowhere", reason: `OutputDestination::${variant} lacks a string ${fieldName}` };
}

/** Decodes a MessagePack `InputSource`; null when the bytes are not one. */
export function decodeInputSource(bytes: Uint8Array): InputSource | null {
  if (bytes.length === 0) return null;
  const decoded = tryDecode(bytes);
  if (!decoded.ok) return null;
  const v = variantOf(decoded.value);
  if (!v) return null;
  switch (v.name) {
    case "Raw": {
      const prompt = stringField(v.body, 0, "prompt");
      return prompt === null ? null : { kind: "Raw", prompt };
    }
    case "Firebase":
    case "Supabase": {
      const requestId = stringField(v.body, 0, "request_id");
      return requestId === null ? null : { kind: v.name, requestId };
    }
    case "Ipfs": {
      const cid = stringField(v.body, 0, "cid");
      const format = unitName(field(v.body, 1, "format"));
      return cid !== null && (format === "Image" || format === "Text") ? { kind: "Ipfs", cid, format } : null;
    }
    default:
      return null;
  }
}

// Both decoders strip a leading UTF-8 BOM (ignoreBOM: false), so "\uFEFFhi" and "hi" are the same
// prompt whether or not the bytes are valid UTF-8 elsewhere.
const utf8 = new TextDecoder("utf-8", { fatal: true });
const lossy = new TextDecoder("utf-8", { fatal: false });

/** How prompt bytes are read: `auto` tries MessagePack InputSource (contracts from 2024-08-27) then
 * UTF-8 text; `text` / `input_source` pin one contract generation (spec §6.3 recommends a setting
 * over guessing where both readings are plausible). */
export type PromptEncoding = "auto" | "text" | "input_source";

/** Prompt bytes → InputSource or legacy UTF-8 text (spec §6.3). Never throws. */
export function decodePrompt(bytes: Uint8Array, encoding: PromptEncoding = "auto"): PromptInput {
  if (encoding !== "text") {
    const source = decodeInputSource(bytes);
    if (source) return { source };
    if (encoding === "input_source") return { invalid: "prompt is not a MessagePack InputSource" };
  }
  try {
    return { text: utf8.decode(bytes) };
  } catch {
    return { text: lossy.decode(bytes), invalid: "prompt is neither a MessagePack InputSource nor UTF-8 text (decoded with U+FFFD replacement)" };
  }
}

/**
 * The prompt text a job runs on (spec §6.3): `InputSource::Raw` or plain text (invalid UTF-8 with
 * U+FFFD replacement, so every node of the echelon reads the same text). Firebase/IPFS/Supabase
 * sources need services this node does not use.
 */
export function promptText(bytes: Uint8Array, encoding: PromptEncoding = "auto"): { text: string } | { error: string } {
  const p = decodePrompt(bytes, encoding);
  if ("text" in p) return { text: p.text };
  if (!("source" in p)) return { error: p.invalid };
  if (p.source.kind === "Raw") return { text: p.source.prompt };
  return { error: `prompt InputSource::${p.source.kind} is not supported (only Raw prompts or plain text)` };
}
