/**
 * BCS schemas of the Atoma Move structs and events (spec atoma-protocol.md §4). Field order is the
 * Move *declaration* order — BCS has no field tags, so any reordering silently corrupts decoding.
 * Field names mirror Move (snake_case) so these schemas also serve to encode events (the local
 * test server emits them) exactly as the contract would.
 */
import { BcsType, type BcsReader } from "@mysten/bcs";
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

/** Bytes the reader has not consumed yet. BcsReader keeps its position in fields TypeScript calls
 * private; should a future version rename them, Infinity keeps the element-by-element bound below. */
function remaining(reader: BcsReader): number {
  const r = reader as unknown as { dataView?: DataView; bytePosition?: number };
  return r.dataView && typeof r.bytePosition === "number" ? r.dataView.byteLength - r.bytePosition : Infinity;
}

/**
 * `vector<T>` whose reader never trusts the length prefix: `bcs.vector` allocates `new Array(length)`
 * first, so an 83-byte event claiming 2^27−1 `pre_prompt_tokens` took 1 GB before failing. Here a
 * length that the remaining bytes cannot hold (each element takes at least `minBytes`) is rejected
 * before anything is allocated, and elements are appended as they are read. Encoding is unchanged.
 */
export function boundedVector<T, I>(type: BcsType<T, I>, minBytes: number) {
  const plain = bcs.vector(type);
  return new BcsType<T[], Iterable<I> & { length: number }>({
    name: plain.name,
    read: (reader) => {
      const length = reader.readULEB();
      const left = remaining(reader);
      if (length * minBytes > left) throw new RangeError(`${plain.name} claims ${length} elements but only ${left} byte(s) remain`);
      const out: T[] = [];
      for (let i = 0; i < length; i++) out.push(type.read(reader));
      return out;
    },
    write: (value, writer) => plain.write(value, writer),
    validate: (value) => plain.validate(value),
  });
}

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
  pre_prompt_tokens: boundedVector(bcs.u32(), 4),
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
  nodes: boundedVector(SmallId, 8),
  output_destination: Bytes,
});

export const Text2ImagePromptEvent = bcs.struct("Text2ImagePromptEvent", {
  ticket_id: ID,
  params: Text2ImagePromptParams,
  chunks_count: bcs.u64(),
  nodes: boundedVector(SmallId, 8),
  output_destination: Bytes,
});

export const FirstSubmissionEvent = bcs.struct("FirstSubmissionEvent", { ticket_id: ID, node_id: SmallId });
export const DisputeEvent = bcs.struct("DisputeEvent", { ticket_id: ID, timeout: bcs.option(TimeoutInfo) });
export const NewlySampledNodesEvent = bcs.struct("NewlySampledNodesEvent", {
  ticket_id: ID,
  new_nodes: boundedVector(MapNodeToChunk, 16),
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
