/** Maps a row of the `jobs` table to a `JobRecord` (shared by the store and its outbox side). */
import type { Database } from "bun:sqlite";
import { decodeOutputDestination, promptText, type OutputDestination } from "../protocol/msgpack.ts";
import { decodeValue, encodeValue } from "./codec.ts";
import type { JobParams, JobRecord, JobState, NewJob } from "./types.ts";

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
    promptText: (r.prompt_text as string | null) ?? null,
    destination: r.destination ? (JSON.parse(String(r.destination)) as OutputDestination) : { kind: "nowhere", reason: "not decoded" },
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
    images: r.images ? (JSON.parse(String(r.images)) as { width: number; height: number }[]) : null,
    imagesPrunedAtMs: num(r.images_pruned_at),
    note: (r.note as string | null) ?? null,
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

/**
 * The decoded forms of a job's hostile bytes (prompt, output destination), computed ONCE when the
 * job is stored: chain users control these bytes, and re-decoding them for every `jobs` listing
 * let a few crafted prompts stall the API. Values for the `prompt_text` and `destination` columns.
 */
export function decodedColumns(j: Pick<NewJob, "job" | "outputDestination">): [promptText: string | null, destination: string] {
  const p = promptText(j.job.params.prompt);
  return ["text" in p ? p.text : null, JSON.stringify(decodeOutputDestination(j.outputDestination))];
}

/** Stores made before the decoded columns existed: add them and decode each old row once. */
export function migrateDecodedColumns(db: Database): void {
  const cols = new Set((db.query("PRAGMA table_info(jobs)").all() as Row[]).map((c) => String(c.name)));
  if (!cols.has("prompt_text")) db.exec("ALTER TABLE jobs ADD COLUMN prompt_text TEXT");
  if (!cols.has("destination")) db.exec("ALTER TABLE jobs ADD COLUMN destination TEXT");
  const todo = db.query("SELECT id, params, output_destination FROM jobs WHERE destination IS NULL").all() as Row[];
  if (todo.length === 0) return;
  const set = db.query("UPDATE jobs SET prompt_text = ?, destination = ? WHERE id = ?");
  db.transaction(() => {
    for (const r of todo) {
      set.run(...decodedColumns({ job: decodeValue<JobParams>(String(r.params)), outputDestination: new Uint8Array(r.output_destination as Uint8Array) }), Number(r.id));
    }
  }).immediate();
}

/** The one INSERT of a new job (ingest and resample resolution); existing (ticket, leaf) rows win. */
export const INSERT_JOB = `INSERT INTO jobs (ticket_id, leaf_index, num_leaves, model, params, output_destination, checkpoint,
    origin_tx, origin_event_index, event_type, state, error, received_at, updated_at, prompt_text, destination)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (ticket_id, leaf_index) DO NOTHING`;

export function insertValues(j: NewJob, now: number): (string | number | bigint | null | Uint8Array)[] {
  return [
    j.ticketId, j.leafIndex, j.numLeaves, j.model, encodeValue(j.job), j.outputDestination, j.origin.checkpoint,
    j.origin.txDigest, j.origin.eventIndex, j.origin.eventType, j.state ?? "received", j.error ?? null, now, now,
    ...decodedColumns(j),
  ];
}
