/**
 * Typed decoding of Atoma events from BCS (canonical) or from their JSON rendering, dispatching on
 * the normalised Move type `<eventPackageId>::<module>::<Name>`. Never throws: unknown types and
 * malformed payloads come back as `{ ok: false }` so one bad event can never stop the follower.
 */
import type { BcsType } from "@mysten/bcs";
import { normalizeStructTag, normalizeSuiAddress } from "@mysten/sui/utils";
import { u32BitsToF32, f32ToU32Bits } from "../../protocol/floats.ts";
import type { AtomaEvent } from "../../protocol/types.ts";
import { rawFromJson } from "./json.ts";
import { EVENT_NAMES, EVENT_SCHEMAS, type EventName } from "./schemas.ts";
import { log as rootLog } from "../../log/logger.ts";

const log = rootLog.withTag("events");

export type DecodeResult =
  | { ok: true; event: AtomaEvent }
  | { ok: false; reason: "unknown" | "malformed"; message: string };

/** An event as the SDK delivers it (core `Event`, checkpoint event, or listEvents entry). */
export interface RawChainEvent {
  eventType: string;
  bcs?: Uint8Array | null;
  json?: unknown;
  /** For log lines only (e.g. `<txDigest>:<eventIndex>`). */
  id?: string;
}

/** Full normalised type of an Atoma event, e.g. `0x…::gate::Text2TextPromptEvent`. */
export function eventTypeOf(eventPackageId: string, name: EventName): string {
  return `${normalizeSuiAddress(eventPackageId)}::${EVENT_SCHEMAS[name].module}::${name}`;
}

/** The Atoma event name a Move type denotes, or null when it is not one of ours. */
export function eventNameOf(eventType: string, eventPackageId: string): EventName | null {
  let tag: string;
  try {
    tag = normalizeStructTag(eventType);
  } catch {
    return null;
  }
  const pkg = normalizeSuiAddress(eventPackageId);
  for (const name of EVENT_NAMES) {
    if (tag === `${pkg}::${EVENT_SCHEMAS[name].module}::${name}`) return name;
  }
  return null;
}

export function isEventName(name: string): name is EventName {
  return (EVENT_NAMES as string[]).includes(name);
}

/** Parses BCS requiring the payload to be exactly the canonical encoding of the value: trailing
 * bytes mean a layout mismatch (wrong type or contract version), which `parse` alone ignores. */
function parseExact(name: EventName, bytes: Uint8Array): Record<string, unknown> {
  // Copy into a fresh buffer: BcsReader reads from the underlying ArrayBuffer, so a subarray input
  // would let a truncated payload silently read the neighbouring bytes instead of failing.
  const own = bytes.slice();
  const schema = EVENT_SCHEMAS[name].schema as unknown as BcsType<Record<string, unknown>, unknown>;
  const value = schema.parse(own);
  const canonical = schema.serialize(value).toBytes();
  if (canonical.length < own.length) throw new Error(`${own.length - canonical.length} trailing byte(s) after ${name}`);
  if (!canonical.every((b, i) => b === own[i])) throw new Error(`non-canonical BCS encoding of ${name}`);
  return value;
}

type Raw = Record<string, any>;

const big = (v: string | number): bigint => BigInt(v);
const f32 = (bits: number): number => u32BitsToF32(bits);

/** Maps the raw snake_case value (BCS parse shape) to the typed AtomaEvent. */
function toEvent(name: EventName, r: Raw): AtomaEvent {
  switch (name) {
    case "Text2TextPromptEvent": {
      const p = r.params;
      return {
        kind: name,
        ticketId: r.ticket_id,
        params: {
          maxTokens: big(p.max_tokens),
          model: p.model,
          prePromptTokens: [...p.pre_prompt_tokens],
          prependOutputWithInput: p.prepend_output_with_input,
          prompt: p.prompt,
          randomSeed: big(p.random_seed),
          repeatLastN: big(p.repeat_last_n),
          repeatPenalty: f32(p.repeat_penalty),
          shouldStreamOutput: p.should_stream_output,
          temperature: f32(p.temperature),
          topK: big(p.top_k),
          topP: f32(p.top_p),
        },
        chunksCount: big(r.chunks_count),
        nodes: r.nodes.map((n: Raw) => big(n.inner)),
        outputDestination: r.output_destination,
      };
    }
    case "Text2ImagePromptEvent": {
      const p = r.params;
      return {
        kind: name,
        ticketId: r.ticket_id,
        params: {
          guidanceScale: f32(p.guidance_scale),
          height: big(p.height),
          img2img: p.img2img ?? null,
          img2imgStrength: f32(p.img2img_strength),
          model: p.model,
          nSteps: big(p.n_steps),
          numSamples: big(p.num_samples),
          outputDestination: p.output_destination,
          prompt: p.prompt,
          randomSeed: big(p.random_seed),
          uncondPrompt: p.uncond_prompt,
          width: big(p.width),
        },
        chunksCount: big(r.chunks_count),
        nodes: r.nodes.map((n: Raw) => big(n.inner)),
        outputDestination: r.output_destination,
      };
    }
    case "FirstSubmissionEvent":
      return { kind: name, ticketId: r.ticket_id, nodeId: big(r.node_id.inner) };
    case "DisputeEvent": {
      const t = r.timeout;
      return {
        kind: name,
        ticketId: r.ticket_id,
        timeout: t
          ? {
              timedOutCount: big(t.timed_out_count),
              timeoutMs: big(t.timeout_ms),
              startedInEpoch: big(t.started_in_epoch),
              startedAtEpochTimestampMs: big(t.started_at_epoch_timestamp_ms),
            }
          : null,
      };
    }
    case "NewlySampledNodesEvent":
      return {
        kind: name,
        ticketId: r.ticket_id,
        newNodes: r.new_nodes.map((n: Raw) => ({ nodeId: big(n.node_id.inner), order: big(n.order) })),
      };
    case "SettledEvent":
      return { kind: name, ticketId: r.ticket_id, oracleNodeId: r.oracle_node_id ? big(r.oracle_node_id.inner) : null };
    case "RetrySettlementEvent":
      return { kind: name, ticketId: r.ticket_id, howManyNodesInEchelon: big(r.how_many_nodes_in_echelon) };
    case "NodeRegisteredEvent":
      return { kind: name, badgeId: r.badge_id, nodeSmallId: big(r.node_small_id.inner) };
    case "NodeSubscribedToModelEvent":
      return { kind: name, nodeSmallId: big(r.node_small_id.inner), modelName: r.model_name, echelonId: big(r.echelon_id.id) };
    case "PublishedEvent":
      return { kind: name, db: r.db, managerBadge: r.manager_badge };
  }
}

function malformed(name: string, form: string, e: unknown, id?: string): DecodeResult {
  const message = `malformed ${name} (${form})${id ? ` ${id}` : ""}: ${(e as Error).message ?? String(e)}`;
  return { ok: false, reason: "malformed", message };
}

/** Decodes the BCS payload of the named event. */
export function decodeEventBcs(name: EventName, bytes: Uint8Array, id?: string): DecodeResult {
  try {
    return { ok: true, event: toEvent(name, parseExact(name, bytes)) };
  } catch (e) {
    return malformed(name, "bcs", e, id);
  }
}

/** Decodes the JSON rendering (JSON-RPC parsedJson; object or JSON text) of the named event. */
export function decodeEventJson(name: EventName, json: unknown, id?: string): DecodeResult {
  try {
    const value = typeof json === "string" ? JSON.parse(json) : json;
    return { ok: true, event: toEvent(name, rawFromJson(name, value)) };
  } catch (e) {
    return malformed(name, "json", e, id);
  }
}

/** Dispatches a chain event on its type; prefers BCS, falls back to JSON when no BCS is present.
 * Unknown types are logged at debug, malformed payloads at warn (with the event id). */
export function decodeChainEvent(raw: RawChainEvent, eventPackageId: string): DecodeResult {
  const name = eventNameOf(raw.eventType, eventPackageId);
  if (!name) {
    log.debug(`skipping event of unknown type ${raw.eventType}${raw.id ? ` (${raw.id})` : ""}`);
    return { ok: false, reason: "unknown", message: `unknown event type ${raw.eventType}` };
  }
  const result =
    raw.bcs && raw.bcs.length > 0
      ? decodeEventBcs(name, raw.bcs, raw.id)
      : raw.json !== undefined && raw.json !== null
        ? decodeEventJson(name, raw.json, raw.id)
        : malformed(name, "bcs", new Error("event carries neither BCS nor JSON"), raw.id);
  if (!result.ok) log.warn(`${result.message}; skipped`);
  return result;
}

/** Typed event → its BCS bytes, exactly as the Move contract emits them (used by the local test
 * server and fixtures). */
export function encodeEventBcs(event: AtomaEvent): Uint8Array {
  const schema = EVENT_SCHEMAS[event.kind].schema as { serialize(v: unknown): { toBytes(): Uint8Array } };
  return schema.serialize(toRaw(event)).toBytes();
}

const sid = (v: bigint) => ({ inner: v });
const bits = (v: number) => f32ToU32Bits(v);

function toRaw(e: AtomaEvent): Raw {
  switch (e.kind) {
    case "Text2TextPromptEvent": {
      const p = e.params;
      return {
        ticket_id: e.ticketId,
        params: {
          max_tokens: p.maxTokens, model: p.model, pre_prompt_tokens: p.prePromptTokens,
          prepend_output_with_input: p.prependOutputWithInput, prompt: p.prompt, random_seed: p.randomSeed,
          repeat_last_n: p.repeatLastN, repeat_penalty: bits(p.repeatPenalty), should_stream_output: p.shouldStreamOutput,
          temperature: bits(p.temperature), top_k: p.topK, top_p: bits(p.topP),
        },
        chunks_count: e.chunksCount,
        nodes: e.nodes.map(sid),
        output_destination: e.outputDestination,
      };
    }
    case "Text2ImagePromptEvent": {
      const p = e.params;
      return {
        ticket_id: e.ticketId,
        params: {
          guidance_scale: bits(p.guidanceScale), height: p.height, img2img: p.img2img,
          img2img_strength: bits(p.img2imgStrength), model: p.model, n_steps: p.nSteps, num_samples: p.numSamples,
          output_destination: p.outputDestination, prompt: p.prompt, random_seed: p.randomSeed,
          uncond_prompt: p.uncondPrompt, width: p.width,
        },
        chunks_count: e.chunksCount,
        nodes: e.nodes.map(sid),
        output_destination: e.outputDestination,
      };
    }
    case "FirstSubmissionEvent":
      return { ticket_id: e.ticketId, node_id: sid(e.nodeId) };
    case "DisputeEvent":
      return {
        ticket_id: e.ticketId,
        timeout: e.timeout && {
          timed_out_count: e.timeout.timedOutCount, timeout_ms: e.timeout.timeoutMs,
          started_in_epoch: e.timeout.startedInEpoch, started_at_epoch_timestamp_ms: e.timeout.startedAtEpochTimestampMs,
        },
      };
    case "NewlySampledNodesEvent":
      return { ticket_id: e.ticketId, new_nodes: e.newNodes.map((n) => ({ node_id: sid(n.nodeId), order: n.order })) };
    case "SettledEvent":
      return { ticket_id: e.ticketId, oracle_node_id: e.oracleNodeId === null ? null : sid(e.oracleNodeId) };
    case "RetrySettlementEvent":
      return { ticket_id: e.ticketId, how_many_nodes_in_echelon: e.howManyNodesInEchelon };
    case "NodeRegisteredEvent":
      return { badge_id: e.badgeId, node_small_id: sid(e.nodeSmallId) };
    case "NodeSubscribedToModelEvent":
      return { node_small_id: sid(e.nodeSmallId), model_name: e.modelName, echelon_id: { id: e.echelonId } };
    case "PublishedEvent":
      return { db: e.db, manager_badge: e.managerBadge };
  }
}
