/**
 * Typed Atoma on-chain values (spec atoma-protocol.md §4). Decoders in src/chain/events produce
 * these from BCS or JSON; u64 values are bigint, f32 parameters are numbers already decoded from
 * their u32 bit patterns (f32 precision preserved), IDs are 0x + 64 lowercase hex.
 */

export interface Text2TextPromptParams {
  maxTokens: bigint;
  model: string;
  prePromptTokens: number[];
  prependOutputWithInput: boolean;
  /** Raw prompt bytes (UTF-8 text, or a MessagePack InputSource on newer contracts). */
  prompt: Uint8Array;
  randomSeed: bigint;
  repeatLastN: bigint;
  repeatPenalty: number;
  shouldStreamOutput: boolean;
  temperature: number;
  topK: bigint;
  topP: number;
}

export interface Text2ImagePromptParams {
  guidanceScale: number;
  height: bigint;
  img2img: Uint8Array | null;
  img2imgStrength: number;
  model: string;
  nSteps: bigint;
  numSamples: bigint;
  outputDestination: Uint8Array;
  prompt: Uint8Array;
  randomSeed: bigint;
  uncondPrompt: Uint8Array;
  width: bigint;
}

export interface TimeoutInfo {
  timedOutCount: bigint;
  timeoutMs: bigint;
  startedInEpoch: bigint;
  startedAtEpochTimestampMs: bigint;
}

export type AtomaEvent =
  | { kind: "Text2TextPromptEvent"; ticketId: string; params: Text2TextPromptParams; chunksCount: bigint; nodes: bigint[]; outputDestination: Uint8Array }
  | { kind: "Text2ImagePromptEvent"; ticketId: string; params: Text2ImagePromptParams; chunksCount: bigint; nodes: bigint[]; outputDestination: Uint8Array }
  | { kind: "FirstSubmissionEvent"; ticketId: string; nodeId: bigint }
  | { kind: "DisputeEvent"; ticketId: string; timeout: TimeoutInfo | null }
  | { kind: "NewlySampledNodesEvent"; ticketId: string; newNodes: { nodeId: bigint; order: bigint }[] }
  | { kind: "SettledEvent"; ticketId: string; oracleNodeId: bigint | null }
  | { kind: "RetrySettlementEvent"; ticketId: string; howManyNodesInEchelon: bigint }
  | { kind: "NodeRegisteredEvent"; badgeId: string; nodeSmallId: bigint }
  | { kind: "NodeSubscribedToModelEvent"; nodeSmallId: bigint; modelName: string; echelonId: bigint }
  | { kind: "PublishedEvent"; db: string; managerBadge: string };

export type AtomaEventKind = AtomaEvent["kind"];

/** One original prompt event, kept so a later `NewlySampledNodesEvent` can be served (spec §5.4).
 * Here, not in jobs/, because chain/ finds such events and the job store indexes them. */
export type PromptEventRecord = Extract<AtomaEvent, { kind: "Text2TextPromptEvent" | "Text2ImagePromptEvent" }>;

/** Where an event came from on chain; (txDigest, eventIndex) identifies it uniquely. */
export interface EventOrigin {
  checkpoint: bigint;
  txDigest: string;
  eventIndex: number;
  /** Full normalised Move type. */
  eventType: string;
}

export interface ChainEvent {
  origin: EventOrigin;
  event: AtomaEvent;
}

/** The jobs one checkpoint contributes; persisted together with the cursor. */
export interface CheckpointBatch {
  checkpoint: bigint;
  events: ChainEvent[];
}
