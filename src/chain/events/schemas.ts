/**
 * BCS schemas of the Atoma Move structs and events (spec atoma-protocol.md §4). Field order is the
 * Move *declaration* order — BCS has no field tags, so any reordering silently corrupts decoding.
 * Field names mirror Move (snake_case) so these schemas also serve to encode events (the local
 * test server emits them) exactly as the contract would.
 */
import { bcs } from "@mysten/sui/bcs";

/** Move `ID` / `address`: 32 raw bytes, rendered as normalised 0x + 64 hex. */
const ID = bcs.Address;

/** Move `std::ascii::String`: same bytes as `vector<u8>`, but every byte must be < 0x80. */
export const AsciiString = bcs.string({ name: "ascii::String" }).transform({
  output: (s: string) => {
    if (!/^[\x00-\x7f]*$/.test(s)) throw new Error("ascii::String holds a non-ASCII byte");
    return s;
  },
  validate: (s: string) => {
    if (!/^[\x00-\x7f]*$/.test(s)) throw new Error("ascii::String must hold only ASCII characters");
  },
});

/** `vector<u8>` (also the layout of `string::String` prompts in older contracts, spec §3.1). */
const Bytes = bcs.byteVector().transform({
  input: (v: Uint8Array | number[]) => Uint8Array.from(v),
  // Copy: the reader returns a view into the (possibly larger) input buffer.
  output: (v: Uint8Array) => v.slice(),
});

/** f32 parameters stored as their u32 bit pattern (spec §3.3); decoded in decode.ts. */
const F32Bits = bcs.u32();

export const SmallId = bcs.struct("SmallId", { inner: bcs.u64() });
export const EchelonId = bcs.struct("EchelonId", { id: bcs.u64() });

export const MapNodeToChunk = bcs.struct("MapNodeToChunk", { node_id: SmallId, order: bcs.u64() });

export const TimeoutInfo = bcs.struct("TimeoutInfo", {
  timed_out_count: bcs.u64(),
  timeout_ms: bcs.u64(),
  started_in_epoch: bcs.u64(),
  started_at_epoch_timestamp_ms: bcs.u64(),
});

/** Fields are alphabetical in Move (spec §4.2). */
export const Text2TextPromptParams = bcs.struct("Text2TextPromptParams", {
  max_tokens: bcs.u64(),
  model: AsciiString,
  pre_prompt_tokens: bcs.vector(bcs.u32()),
  prepend_output_with_input: bcs.bool(),
  prompt: Bytes,
  random_seed: bcs.u64(),
  repeat_last_n: bcs.u64(),
  repeat_penalty: F32Bits,
  should_stream_output: bcs.bool(),
  temperature: F32Bits,
  top_k: bcs.u64(),
  top_p: F32Bits,
});

/** Note: the struct has `img2img` before `img2img_strength` even though the constructor does not. */
export const Text2ImagePromptParams = bcs.struct("Text2ImagePromptParams", {
  guidance_scale: F32Bits,
  height: bcs.u64(),
  img2img: bcs.option(Bytes),
  img2img_strength: F32Bits,
  model: AsciiString,
  n_steps: bcs.u64(),
  num_samples: bcs.u64(),
  output_destination: Bytes,
  prompt: Bytes,
  random_seed: bcs.u64(),
  uncond_prompt: Bytes,
  width: bcs.u64(),
});

export const Text2TextPromptEvent = bcs.struct("Text2TextPromptEvent", {
  ticket_id: ID,
  params: Text2TextPromptParams,
  chunks_count: bcs.u64(),
  nodes: bcs.vector(SmallId),
  output_destination: Bytes,
});

export const Text2ImagePromptEvent = bcs.struct("Text2ImagePromptEvent", {
  ticket_id: ID,
  params: Text2ImagePromptParams,
  chunks_count: bcs.u64(),
  nodes: bcs.vector(SmallId),
  output_destination: Bytes,
});

export const FirstSubmissionEvent = bcs.struct("FirstSubmissionEvent", { ticket_id: ID, node_id: SmallId });
export const DisputeEvent = bcs.struct("DisputeEvent", { ticket_id: ID, timeout: bcs.option(TimeoutInfo) });
export const NewlySampledNodesEvent = bcs.struct("NewlySampledNodesEvent", {
  ticket_id: ID,
  new_nodes: bcs.vector(MapNodeToChunk),
});
export const SettledEvent = bcs.struct("SettledEvent", { ticket_id: ID, oracle_node_id: bcs.option(SmallId) });
export const RetrySettlementEvent = bcs.struct("RetrySettlementEvent", {
  ticket_id: ID,
  how_many_nodes_in_echelon: bcs.u64(),
});
export const NodeRegisteredEvent = bcs.struct("NodeRegisteredEvent", { badge_id: ID, node_small_id: SmallId });
export const NodeSubscribedToModelEvent = bcs.struct("NodeSubscribedToModelEvent", {
  node_small_id: SmallId,
  model_name: AsciiString,
  echelon_id: EchelonId,
});
export const PublishedEvent = bcs.struct("PublishedEvent", { db: ID, manager_badge: ID });

/** Every event the node understands: Move module and BCS schema, keyed by struct name. */
export const EVENT_SCHEMAS = {
  Text2TextPromptEvent: { module: "gate", schema: Text2TextPromptEvent },
  Text2ImagePromptEvent: { module: "gate", schema: Text2ImagePromptEvent },
  FirstSubmissionEvent: { module: "settlement", schema: FirstSubmissionEvent },
  DisputeEvent: { module: "settlement", schema: DisputeEvent },
  NewlySampledNodesEvent: { module: "settlement", schema: NewlySampledNodesEvent },
  SettledEvent: { module: "settlement", schema: SettledEvent },
  RetrySettlementEvent: { module: "settlement", schema: RetrySettlementEvent },
  NodeRegisteredEvent: { module: "db", schema: NodeRegisteredEvent },
  NodeSubscribedToModelEvent: { module: "db", schema: NodeSubscribedToModelEvent },
  PublishedEvent: { module: "db", schema: PublishedEvent },
} as const;

export type EventName = keyof typeof EVENT_SCHEMAS;
export const EVENT_NAMES = Object.keys(EVENT_SCHEMAS) as EventName[];
