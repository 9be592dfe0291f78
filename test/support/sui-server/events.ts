/**
 * Encodes the Atoma events the fake emits, with the project's own BCS schemas
 * (src/chain/events/schemas.ts) — the same bytes the Move contract would produce. Admin requests
 * use a friendly JSON form (floats as numbers, u64 as number or decimal string, bytes as hex/base64).
 */
import { fromBase64, fromHex, normalizeSuiAddress, toHex } from "@mysten/sui/utils";
import { blake2b } from "@noble/hashes/blake2.js";
import * as S from "../../../src/chain/events/schemas.ts";
import { f32ToU32Bits } from "../../../src/protocol/floats.ts";

/** MessagePack of the string "Firebase" (the reference's default output destination). */
export const FIREBASE_DESTINATION = Uint8Array.from([0xa8, ...new TextEncoder().encode("Firebase")]);

export interface PromptInput {
  ticketId?: string;
  prompt?: string;
  /** Raw prompt bytes (hex `0x…` or base64), instead of `prompt` text. */
  promptBytes?: string;
  model?: string;
  maxTokens?: number | string;
  temperature?: number;
  topK?: number | string;
  topP?: number;
  repeatPenalty?: number;
  repeatLastN?: number | string;
  seed?: number | string;
  prePromptTokens?: number[];
  prependOutputWithInput?: boolean;
  shouldStreamOutput?: boolean;
  nodes: (number | string)[];
  chunksCount?: number | string;
  /** hex `0x…` or base64; default MessagePack "Firebase". */
  outputDestination?: string;
}

let ticketCounter = 0;

/** Decodes `0x…` hex or base64 into bytes. */
export function bytesArg(v: string, what: string): Uint8Array {
  try {
    return v.startsWith("0x") ? fromHex(v.slice(2)) : fromBase64(v);
  } catch {
    throw new Error(`${what}: expected 0x-hex or base64 bytes, got ${JSON.stringify(v).slice(0, 40)}`);
  }
}

function u64(v: number | string | undefined, dflt: bigint, what: string): bigint {
  if (v === undefined) return dflt;
  const s = String(v);
  if (!/^[0-9]+$/.test(s) || BigInt(s) >= 1n << 64n) throw new Error(`${what}: expected a u64, got ${JSON.stringify(v)}`);
  return BigInt(s);
}

/** A fresh, unique ticket id (tests may also pass their own). */
export function newTicketId(seed: string): string {
  ticketCounter += 1;
  return normalizeSuiAddress(toHex(blake2b(new TextEncoder().encode(`ticket/${seed}/${Date.now()}/${ticketCounter}`), { dkLen: 32 })));
}

export interface EncodedPrompt {
  ticketId: string;
  nodes: bigint[];
  chunksCount: bigint;
  bcs: Uint8Array;
}

export function encodeTextPrompt(p: PromptInput, seed: string): EncodedPrompt {
  if (!Array.isArray(p.nodes) || p.nodes.length === 0) throw new Error("nodes: expected a non-empty array of small ids");
  const nodes = p.nodes.map((n, i) => u64(n, 0n, `nodes[${i}]`));
  const ticketId = normalizeSuiAddress(p.ticketId ?? newTicketId(seed));
  const chunksCount = u64(p.chunksCount, BigInt(nodes.length), "chunksCount");
  const prompt = p.promptBytes !== undefined ? bytesArg(p.promptBytes, "promptBytes") : new TextEncoder().encode(p.prompt ?? "hi");
  const bcs = S.Text2TextPromptEvent.serialize({
    ticket_id: ticketId,
    params: {
      max_tokens: u64(p.maxTokens, 16n, "maxTokens"),
      model: p.model ?? "llama_tiny_llama_1_1b_chat",
      pre_prompt_tokens: p.prePromptTokens ?? [],
      prepend_output_with_input: p.prependOutputWithInput ?? false,
      prompt,
      random_seed: u64(p.seed, 42n, "seed"),
      repeat_last_n: u64(p.repeatLastN, 64n, "repeatLastN"),
      repeat_penalty: f32ToU32Bits(p.repeatPenalty ?? 1.1),
      should_stream_output: p.shouldStreamOutput ?? false,
      temperature: f32ToU32Bits(p.temperature ?? 0),
      top_k: u64(p.topK, 40n, "topK"),
      top_p: f32ToU32Bits(p.topP ?? 0.9),
    },
    chunks_count: chunksCount,
    nodes: nodes.map((inner) => ({ inner })),
    output_destination: p.outputDestination !== undefined ? bytesArg(p.outputDestination, "outputDestination") : FIREBASE_DESTINATION,
  }).toBytes();
  return { ticketId, nodes, chunksCount, bcs };
}

/** `gate::Text2ImagePromptEvent` params in the friendly form (spec §4.2, §7.3). */
export interface ImagePromptInput {
  ticketId?: string;
  prompt?: string;
  /** Raw prompt bytes (hex `0x…` or base64), instead of `prompt` text. */
  promptBytes?: string;
  uncondPrompt?: string;
  model?: string;
  width?: number | string;
  height?: number | string;
  nSteps?: number | string;
  guidanceScale?: number;
  numSamples?: number | string;
  seed?: number | string;
  /** The img2img payload (hex `0x…` or base64); absent = none. */
  img2img?: string;
  img2imgStrength?: number;
  nodes: (number | string)[];
  chunksCount?: number | string;
  outputDestination?: string;
}

export function encodeImagePrompt(p: ImagePromptInput, seed: string): EncodedPrompt {
  if (!Array.isArray(p.nodes) || p.nodes.length === 0) throw new Error("nodes: expected a non-empty array of small ids");
  const nodes = p.nodes.map((n, i) => u64(n, 0n, `nodes[${i}]`));
  const ticketId = normalizeSuiAddress(p.ticketId ?? newTicketId(seed));
  const chunksCount = u64(p.chunksCount, BigInt(nodes.length), "chunksCount");
  const enc = new TextEncoder();
  const destination = p.outputDestination !== undefined ? bytesArg(p.outputDestination, "outputDestination") : FIREBASE_DESTINATION;
  const bcs = S.Text2ImagePromptEvent.serialize({
    ticket_id: ticketId,
    params: {
      guidance_scale: f32ToU32Bits(p.guidanceScale ?? 7.5),
      height: u64(p.height, 512n, "height"),
      img2img: p.img2img !== undefined ? bytesArg(p.img2img, "img2img") : null,
      img2img_strength: f32ToU32Bits(p.img2imgStrength ?? 0.8),
      model: p.model ?? "stable_diffusion_v1-5",
      n_steps: u64(p.nSteps, 30n, "nSteps"),
      num_samples: u64(p.numSamples, 1n, "numSamples"),
      output_destination: destination,
      prompt: p.promptBytes !== undefined ? bytesArg(p.promptBytes, "promptBytes") : enc.encode(p.prompt ?? "a cat"),
      random_seed: u64(p.seed, 42n, "seed"),
      uncond_prompt: enc.encode(p.uncondPrompt ?? ""),
      width: u64(p.width, 512n, "width"),
    },
    chunks_count: chunksCount,
    nodes: nodes.map((inner) => ({ inner })),
    output_destination: destination,
  }).toBytes();
  return { ticketId, nodes, chunksCount, bcs };
}

export function encodeNewlySampled(ticketId: string, newNodes: { nodeId: number | string; order: number | string }[]): Uint8Array {
  return S.NewlySampledNodesEvent.serialize({
    ticket_id: normalizeSuiAddress(ticketId),
    new_nodes: newNodes.map((n, i) => ({ node_id: { inner: u64(n.nodeId, 0n, `newNodes[${i}].nodeId`) }, order: u64(n.order, 0n, `newNodes[${i}].order`) })),
  }).toBytes();
}

export const encodeFirstSubmission = (ticketId: string, nodeId: bigint) =>
  S.FirstSubmissionEvent.serialize({ ticket_id: ticketId, node_id: { inner: nodeId } }).toBytes();
export const encodeDispute = (ticketId: string) => S.DisputeEvent.serialize({ ticket_id: ticketId, timeout: null }).toBytes();
export const encodeRetrySettlement = (ticketId: string, howMany: bigint) =>
  S.RetrySettlementEvent.serialize({ ticket_id: ticketId, how_many_nodes_in_echelon: howMany }).toBytes();
export const encodeSettled = (ticketId: string) => S.SettledEvent.serialize({ ticket_id: ticketId, oracle_node_id: null }).toBytes();
