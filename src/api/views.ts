/** Plain-JSON views of store records for the API and the `jobs` CLI (u64 as strings, bytes as hex). */
import type { JobRecord } from "../jobs/types.ts";
import { destinationJson } from "../publish/metadata.ts";
import { toJsonValue } from "../protocol/render.ts";

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function jobView(j: JobRecord): Record<string, unknown> {
  const { prompt, ...rest } = j.job.params as unknown as { prompt: Uint8Array } & Record<string, unknown>;
  // Decoded once when the job was stored (jobs/job-row.ts): listings never re-decode chain bytes.
  return {
    ticket_id: j.ticketId,
    leaf_index: j.leafIndex,
    num_leaves: j.numLeaves,
    model: j.model,
    kind: j.job.kind,
    state: j.state,
    error: j.error,
    attempts: j.attempts,
    tx_attempts: j.txAttempts,
    prompt: j.promptText,
    params: toJsonValue(rest),
    output: j.outputText,
    images: j.images,
    // The retention rule deleted the PNGs then (the sizes above stay): …/images/<k>.png is 410.
    images_pruned_at: iso(j.imagesPrunedAtMs),
    note: j.note,
    tokens: j.tokens,
    input_tokens: j.inputTokens,
    output_tokens: j.outputTokens,
    commitment_root: j.rootHex,
    leaf_hash: j.leafHex,
    tx_digest: j.txDigest,
    first_submission: j.firstSubmission,
    published_at: iso(j.publishedAtMs),
    publish_error: j.publishError,
    output_destination: destinationJson(j.destination),
    generation_ms: j.generationMs,
    checkpoint: j.origin.checkpoint.toString(),
    event_tx: j.origin.txDigest,
    received_at: iso(j.receivedAtMs),
    generated_at: iso(j.generatedAtMs),
    tx_sent_at: iso(j.txSentAtMs),
    committed_at: iso(j.committedAtMs),
    updated_at: iso(j.updatedAtMs),
  };
}
