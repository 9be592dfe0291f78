/** Maps a row of the `jobs` table to a `JobRecord` (shared by the store and its outbox side). */
import { decodeValue } from "./codec.ts";
import type { JobParams, JobRecord, JobState } from "./types.ts";

export type Row = Record<string, unknown>;

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export function toRecord(r: Row): JobRecord {
  return {
    id: Number(r.id),
    ticketId: String(r.ticket_id),
    leafIndex: Number(r.leaf_index),
    numLeaves: Number(r.num_leaves),
    model: String(r.model),
    job: decodeValue<JobParams>(String(r.params)),
    outputDestination: new Uint8Array(r.output_destination as Uint8Array),
    origin: {
      checkpoint: BigInt(r.checkpoint as number),
      txDigest: String(r.origin_tx),
      eventIndex: Number(r.origin_event_index),
      eventType: String(r.event_type),
    },
    state: r.state as JobState,
    error: (r.error as string | null) ?? null,
    attempts: Number(r.attempts),
    txAttempts: Number(r.tx_attempts),
    outputText: (r.output_text as string | null) ?? null,
    tokens: r.tokens ? (JSON.parse(String(r.tokens)) as number[]) : null,
    inputTokens: num(r.input_tokens),
    outputTokens: num(r.output_tokens),
    rootHex: (r.root_hex as string | null) ?? null,
    leafHex: (r.leaf_hex as string | null) ?? null,
    txDigest: (r.tx_digest as string | null) ?? null,
    firstSubmission: Number(r.first_submission) === 1,
    publishedAtMs: num(r.published_at),
    publishError: (r.publish_error as string | null) ?? null,
    generationMs: num(r.generation_ms),
    receivedAtMs: Number(r.received_at),
    startedAtMs: num(r.started_at),
    generatedAtMs: num(r.generated_at),
    txSentAtMs: num(r.tx_sent_at),
    committedAtMs: num(r.committed_at),
    updatedAtMs: Number(r.updated_at),
    nextAttemptAtMs: Number(r.next_attempt_at),
  };
}
