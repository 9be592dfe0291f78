/**
 * `AtomaOutputMetadata` (spec §8.6): the JSON the first submitter publishes with an output, field
 * names exactly as the reference's serde structs. Output destinations are rendered as serde JSON
 * of the Rust enum (`"Firebase"`, `{"Gateway":{"gateway_user_id":…}}`, `{"Ipfs":{"request_id":…}}`).
 */
import { fromHex } from "@mysten/bcs";
import type { OutputDestination } from "../protocol/msgpack.ts";
import type { JobRecord } from "../jobs/types.ts";

export interface AtomaOutputMetadata {
  node_public_key: string;
  ticket_id: string;
  num_input_tokens: number;
  num_output_tokens: number;
  time_to_generate: number;
  commitment_root_hash: number[];
  num_sampled_nodes: number;
  index_of_node: number;
  leaf_hash: number[];
  transaction_base_58: string;
  output_destination: unknown;
  output_type: "Text" | "Image";
  tokens?: number[];
}

/** serde JSON of the destination enum; null when the bytes were empty or undecodable (§6.2). */
export function destinationJson(d: OutputDestination): unknown {
  switch (d.kind) {
    case "Firebase":
      return d.requestId === undefined ? "Firebase" : { Firebase: { request_id: d.requestId } };
    case "Ipfs":
      return { Ipfs: { request_id: d.requestId } };
    case "Supabase":
      return { Supabase: { request_id: d.requestId } };
    case "Gateway":
      return { Gateway: { gateway_user_id: d.gatewayUserId } };
    case "nowhere":
      return null;
  }
}

/** Hex as stored by the scheduler → the byte array (`Vec<u8>` JSON) the metadata carries. */
const bytesOfHex = (h: string | null) => [...fromHex(h ?? "")];

export function outputMetadata(job: JobRecord, nodeAddress: string): AtomaOutputMetadata {
  const meta: AtomaOutputMetadata = {
    node_public_key: nodeAddress,
    ticket_id: job.ticketId.replace(/^0x/, ""),
    num_input_tokens: job.inputTokens ?? 0,
    num_output_tokens: job.outputTokens ?? 0,
    time_to_generate: (job.generationMs ?? 0) / 1000,
    commitment_root_hash: bytesOfHex(job.rootHex),
    num_sampled_nodes: job.numLeaves,
    index_of_node: job.leafIndex,
    leaf_hash: bytesOfHex(job.leafHex),
    transaction_base_58: job.txDigest ?? "",
    output_destination: destinationJson(job.destination),
    output_type: job.job.kind === "text" ? "Text" : "Image",
  };
  if (job.tokens) meta.tokens = job.tokens;
  return meta;
}
