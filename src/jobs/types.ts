/**
 * The durable job store boundary. SQLite (sqlite-store.ts) is the default; a server database can
 * replace it by implementing `JobStore`. The store is the node's only queue: workers and the
 * submitter pull from it, so memory stays bounded however many prompts arrive.
 */
import type { EventOrigin, PromptEventRecord, Text2ImagePromptParams, Text2TextPromptParams } from "../protocol/types.ts";
import type { OutputDestination } from "../protocol/msgpack.ts";
import type { SignedTx } from "../chain/types.ts";

/**
 * received → running → generated → committed | failed; not_servable is decided at ingest.
 * `generated` with a `txDigest` means a signed transaction was recorded and may have been sent.
 */
export type JobState = "received" | "running" | "generated" | "committed" | "failed" | "not_servable";
export const JOB_STATES: readonly JobState[] = ["received", "running", "generated", "committed", "failed", "not_servable"];

export type JobParams =
  | { kind: "text"; params: Text2TextPromptParams }
  | { kind: "image"; params: Text2ImagePromptParams };

/** A job as the ingest step creates it (one per (ticket, leaf index) this node must serve). */
export interface NewJob {
  ticketId: string;
  leafIndex: number;
  numLeaves: number;
  model: string;
  job: JobParams;
  outputDestination: Uint8Array;
  origin: EventOrigin;
  /** Default `received`; ingest may record `not_servable`/`failed` directly with a reason. */
  state?: "received" | "not_servable" | "failed";
  error?: string;
}

export interface JobRecord extends Omit<NewJob, "state" | "error"> {
  id: number;
  /** The prompt as text (InputSource::Raw or UTF-8), decoded once when the job was stored; null
   * when it is not text (another InputSource). Listings show this, never re-decoding the bytes. */
  promptText: string | null;
  /** `outputDestination` decoded once when the job was stored. */
  destination: OutputDestination;
  state: JobState;
  error: string | null;
  /** Generation attempts (claims). */
  attempts: number;
  /** Commitment submission attempts. */
  txAttempts: number;
  /** Generated text; null for image jobs (their PNGs: JobStore.images). */
  outputText: string | null;
  /** Image jobs: the generated images' sizes, in order (the last one is committed); else null. */
  images: { width: number; height: number }[] | null;
  /** When the retention rule deleted this job's PNGs (the sizes above stay); null while stored. */
  imagesPrunedAtMs: number | null;
  /** Something the operator should know about a job that succeeded (a truncated CLIP prompt). */
  note: string | null;
  /** Full token sequence (pre-prompt ‖ prompt ‖ generated), kept when the chat flag is set. */
  tokens: number[] | null;
  inputTokens: number | null;
  outputTokens: number | null;
  rootHex: string | null;
  leafHex: string | null;
  /** Digest of the signed commitment transaction (outbox row), once recorded. */
  txDigest: string | null;
  /** This node's transaction carried `FirstSubmissionEvent`: it publishes the output. */
  firstSubmission: boolean;
  publishedAtMs: number | null;
  publishError: string | null;
  generationMs: number | null;
  receivedAtMs: number;
  startedAtMs: number | null;
  generatedAtMs: number | null;
  txSentAtMs: number | null;
  committedAtMs: number | null;
  updatedAtMs: number;
  /** Earliest time the submitter may try again (backoff). */
  nextAttemptAtMs: number;
}

/** What one chain event contributes; applied only if (txDigest, eventIndex) was not processed yet. */
export interface EventEffects {
  origin: EventOrigin;
  jobs: NewJob[];
  /** Prompt events to index by ticket id. */
  prompts: PromptEventRecord[];
  /** Tickets settled: their prompt index entries can go. */
  settled: string[];
  /** Tickets with a `DisputeEvent`: noted on their jobs for operators (spec §13 #2: never fatal). */
  disputed?: string[];
  /** `NewlySampledNodesEvent` leaves for this node whose prompt is not indexed: the resampler looks
   * the prompt up on chain later (spec §5.4), off the follower's path (§13 #18). */
  unresolved?: { ticketId: string; leafIndex: number }[];
}

/** A durable "serve leaf `leafIndex` of `ticketId` once its prompt is found" row. */
export interface PendingResample {
  ticketId: string;
  leafIndex: number;
  /** The `NewlySampledNodesEvent` that asked for it. */
  origin: EventOrigin;
  /** Failed lookups so far. */
  attempts: number;
  lastError: string | null;
}

export interface StoreBatch {
  checkpoint: bigint;
  events: EventEffects[];
}

export interface GeneratedOutput {
  /** null for image jobs. */
  text: string | null;
  tokens: number[] | null;
  inputTokens: number;
  outputTokens: number;
  rootHex: string;
  leafHex: string;
  generationMs: number;
  /** Image jobs: every image as PNG, stored in the same transaction as the state change. */
  images?: { width: number; height: number; png: Uint8Array }[];
  note?: string;
}

export interface StoredImage {
  index: number;
  width: number;
  height: number;
  png: Uint8Array;
}

export type TxResult =
  | { kind: "committed"; digest: string | null; firstSubmission: boolean; note?: string }
  | { kind: "retry"; reason: string; keepTx: boolean; nextAttemptAtMs: number; /** count a resume as an attempt */ bumpAttempts?: boolean }
  | { kind: "failed"; reason: string };

export interface JobFilter {
  state?: JobState;
  ticketId?: string;
  limit?: number;
}

export interface JobStore {
  /** Last fully processed checkpoint, or null. */
  cursor(): bigint | null;
  /** Records the jobs, processed-event ids, prompt index entries and the cursor in ONE transaction.
   * Events already processed are skipped. Returns the number of new jobs. */
  applyBatch(batch: StoreBatch): number;
  isProcessed(txDigest: string, eventIndex: number): boolean;
  findPrompt(ticketId: string): PromptEventRecord | null;
  /** Drops prompt index entries older than `olderThanMs` (epoch ms). */
  prunePrompts(olderThanMs: number): number;

  /** Unresolved resamples due for a lookup (`next_attempt_at <= nowMs`), oldest first. */
  dueResamples(nowMs: number, limit: number): PendingResample[];
  /** Whether any unresolved resample is waiting (due or not). */
  hasResamples(): boolean;
  /** One transaction: index `prompt`, insert `jobs` (existing (ticket, leaf) rows win) and drop the
   * ticket's unresolved rows. Returns the number of new jobs. */
  resolveResamples(ticketId: string, prompt: PromptEventRecord, jobs: NewJob[]): number;
  /** A lookup failed: count it and retry the ticket's rows at `nextAttemptAtMs`. */
  deferResamples(ticketId: string, reason: string, nextAttemptAtMs: number): void;
  /** Give up: one transaction turns the ticket's rows into `failed` jobs with `reason` (visible in
   * `jobs list`; the prompt is unknown, so model is empty and params are placeholders). */
  failResamples(ticketId: string, reason: string): number;

  /** Atomically moves the oldest `received` job of `model` to `running`. */
  claimNext(model: string): JobRecord | null;
  /** Puts a running job back (shutdown while generating). */
  release(id: number): void;
  markGenerated(id: number, out: GeneratedOutput): void;
  /** The PNGs of a generated image job, in order; [] for text jobs and pruned images. */
  images(id: number): StoredImage[];
  /** Retention: deletes the PNGs of at most `limit` image jobs the node is done with (committed
   * and, if first, published; or failed) since before `doneBeforeMs`. Returns how many jobs. */
  pruneImages(doneBeforeMs: number, limit: number): number;
  markFailed(id: number, reason: string): void;

  /** `generated` jobs with no recorded transaction, due now, distinct tickets, oldest first. */
  takeSubmittable(limit: number, nowMs: number): JobRecord[];
  /** Recorded transactions whose outcome is not known yet (due now). */
  pendingTransactions(nowMs: number): { tx: SignedTx; jobs: JobRecord[] }[];
  /** Whether any recorded transaction is still unresolved (due or not). */
  hasPendingTransactions(): boolean;
  /** Outbox: persist signed bytes and link the jobs BEFORE the transaction is sent. */
  recordTx(tx: SignedTx, jobIds: number[], nowMs: number): void;
  applyTxResult(id: number, result: TxResult, nowMs: number): void;

  /** Committed first-submission jobs whose output has not been published yet. */
  unpublished(limit: number): JobRecord[];
  markPublished(id: number, nowMs: number, error?: string): void;

  /** Crash recovery: `running` jobs (no output stored) go back to `received`; backoffs of
   * `generated` jobs are reset (a new process retries at once). Returns how many jobs were reset. */
  recover(): number;

  get(id: number): JobRecord | null;
  byTicket(ticketId: string): JobRecord[];
  list(filter: JobFilter): JobRecord[];
  countByState(): Record<JobState, number>;
  close(): void;
}
