/**
 * Converts the JSON rendering of Atoma events (JSON-RPC `parsedJson`, spec atoma-protocol.md §3.2 /
 * §4.5) into exactly the shape `schema.parse()` yields from BCS, so one mapping (decode.ts) serves
 * both forms. Every value is validated; errors name the offending field path.
 */
import { isValidSuiAddress, normalizeSuiAddress } from "@mysten/sui/utils";
import type { EventName } from "./schemas.ts";

type Raw = Record<string, unknown>;

export class JsonShapeError extends Error {}

function fail(path: string, expected: string, got: unknown): never {
  const shown = got === undefined ? "nothing" : JSON.stringify(got)?.slice(0, 40);
  throw new JsonShapeError(`${path}: expected ${expected}, got ${shown}`);
}

const U64_MAX = (1n << 64n) - 1n;

/** u64 → decimal string (as BCS parse returns). JSON-RPC sends strings; small numbers are accepted. */
function u64(v: unknown, path: string): string {
  if (typeof v === "string" && /^[0-9]+$/.test(v) && BigInt(v) <= U64_MAX) return BigInt(v).toString();
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return String(v);
  return fail(path, "a u64 (decimal string)", v);
}

function u32(v: unknown, path: string): number {
  if (typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff) return v;
  return fail(path, "a u32 number (f32 bit pattern)", v);
}

function bool(v: unknown, path: string): boolean {
  return typeof v === "boolean" ? v : fail(path, "a boolean", v);
}

function id(v: unknown, path: string): string {
  if (typeof v === "string" && /^0x[0-9a-fA-F]{1,64}$/.test(v) && isValidSuiAddress(normalizeSuiAddress(v))) {
    return normalizeSuiAddress(v);
  }
  return fail(path, "an object ID (0x + up to 64 hex digits)", v);
}

function ascii(v: unknown, path: string): string {
  return typeof v === "string" && /^[\x00-\x7f]*$/.test(v) ? v : fail(path, "an ASCII string", v);
}

/** vector<u8>: number array; `string::String`-era fields (prompts) may also arrive as a string. */
function bytes(v: unknown, path: string, allowString = false): Uint8Array {
  if (allowString && typeof v === "string") return new TextEncoder().encode(v);
  if (Array.isArray(v) && v.every((b) => typeof b === "number" && Number.isInteger(b) && b >= 0 && b <= 255)) {
    return Uint8Array.from(v as number[]);
  }
  return fail(path, allowString ? "a string or an array of bytes" : "an array of bytes (0..255)", v);
}

function obj(v: unknown, path: string): Raw {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Raw) : fail(path, "an object", v);
}

function arr(v: unknown, path: string): unknown[] {
  return Array.isArray(v) ? v : fail(path, "an array", v);
}

/** Option<T>: null (or absent) or the bare inner value. */
function option<T>(v: unknown, path: string, inner: (x: unknown, p: string) => T): T | null {
  return v === null || v === undefined ? null : inner(v, path);
}

function smallId(v: unknown, path: string): { inner: string } {
  return { inner: u64(obj(v, path).inner, `${path}.inner`) };
}

function textParams(v: unknown, p: string): Raw {
  const o = obj(v, p);
  return {
    max_tokens: u64(o.max_tokens, `${p}.max_tokens`),
    model: ascii(o.model, `${p}.model`),
    pre_prompt_tokens: arr(o.pre_prompt_tokens, `${p}.pre_prompt_tokens`).map((t, i) => u32(t, `${p}.pre_prompt_tokens[${i}]`)),
    prepend_output_with_input: bool(o.prepend_output_with_input, `${p}.prepend_output_with_input`),
    prompt: bytes(o.prompt, `${p}.prompt`, true),
    random_seed: u64(o.random_seed, `${p}.random_seed`),
    repeat_last_n: u64(o.repeat_last_n, `${p}.repeat_last_n`),
    repeat_penalty: u32(o.repeat_penalty, `${p}.repeat_penalty`),
    should_stream_output: bool(o.should_stream_output, `${p}.should_stream_output`),
    temperature: u32(o.temperature, `${p}.temperature`),
    top_k: u64(o.top_k, `${p}.top_k`),
    top_p: u32(o.top_p, `${p}.top_p`),
  };
}

function imageParams(v: unknown, p: string): Raw {
  const o = obj(v, p);
  return {
    guidance_scale: u32(o.guidance_scale, `${p}.guidance_scale`),
    height: u64(o.height, `${p}.height`),
    img2img: option(o.img2img, `${p}.img2img`, (x, q) => bytes(x, q, true)),
    img2img_strength: u32(o.img2img_strength, `${p}.img2img_strength`),
    model: ascii(o.model, `${p}.model`),
    n_steps: u64(o.n_steps, `${p}.n_steps`),
    num_samples: u64(o.num_samples, `${p}.num_samples`),
    output_destination: bytes(o.output_destination, `${p}.output_destination`),
    prompt: bytes(o.prompt, `${p}.prompt`, true),
    random_seed: u64(o.random_seed, `${p}.random_seed`),
    uncond_prompt: bytes(o.uncond_prompt, `${p}.uncond_prompt`, true),
    width: u64(o.width, `${p}.width`),
  };
}

function promptEvent(o: Raw, params: (v: unknown, p: string) => Raw): Raw {
  return {
    ticket_id: id(o.ticket_id, "ticket_id"),
    params: params(o.params, "params"),
    chunks_count: u64(o.chunks_count, "chunks_count"),
    nodes: arr(o.nodes, "nodes").map((n, i) => smallId(n, `nodes[${i}]`)),
    output_destination: bytes(o.output_destination, "output_destination"),
  };
}

function timeoutInfo(v: unknown, p: string): Raw {
  const o = obj(v, p);
  return {
    timed_out_count: u64(o.timed_out_count, `${p}.timed_out_count`),
    timeout_ms: u64(o.timeout_ms, `${p}.timeout_ms`),
    started_in_epoch: u64(o.started_in_epoch, `${p}.started_in_epoch`),
    started_at_epoch_timestamp_ms: u64(o.started_at_epoch_timestamp_ms, `${p}.started_at_epoch_timestamp_ms`),
  };
}

/** JSON rendering → the raw (BCS-parse-shaped) value of event `name`. Throws JsonShapeError. */
export function rawFromJson(name: EventName, json: unknown): Raw {
  const o = obj(json, "event");
  switch (name) {
    case "Text2TextPromptEvent":
      return promptEvent(o, textParams);
    case "Text2ImagePromptEvent":
      return promptEvent(o, imageParams);
    case "FirstSubmissionEvent":
      return { ticket_id: id(o.ticket_id, "ticket_id"), node_id: smallId(o.node_id, "node_id") };
    case "DisputeEvent":
      return { ticket_id: id(o.ticket_id, "ticket_id"), timeout: option(o.timeout, "timeout", timeoutInfo) };
    case "NewlySampledNodesEvent":
      return {
        ticket_id: id(o.ticket_id, "ticket_id"),
        new_nodes: arr(o.new_nodes, "new_nodes").map((n, i) => {
          const e = obj(n, `new_nodes[${i}]`);
          return { node_id: smallId(e.node_id, `new_nodes[${i}].node_id`), order: u64(e.order, `new_nodes[${i}].order`) };
        }),
      };
    case "SettledEvent":
      return { ticket_id: id(o.ticket_id, "ticket_id"), oracle_node_id: option(o.oracle_node_id, "oracle_node_id", smallId) };
    case "RetrySettlementEvent":
      return { ticket_id: id(o.ticket_id, "ticket_id"), how_many_nodes_in_echelon: u64(o.how_many_nodes_in_echelon, "how_many_nodes_in_echelon") };
    case "NodeRegisteredEvent":
      return { badge_id: id(o.badge_id, "badge_id"), node_small_id: smallId(o.node_small_id, "node_small_id") };
    case "NodeSubscribedToModelEvent": {
      const echelon = obj(o.echelon_id, "echelon_id");
      return {
        node_small_id: smallId(o.node_small_id, "node_small_id"),
        model_name: ascii(o.model_name, "model_name"),
        echelon_id: { id: u64(echelon.id, "echelon_id.id") },
      };
    }
    case "PublishedEvent":
      return { db: id(o.db, "db"), manager_badge: id(o.manager_badge, "manager_badge") };
  }
}
