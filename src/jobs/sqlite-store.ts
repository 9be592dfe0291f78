/**
 * `JobStore` on embedded SQLite (bun:sqlite, WAL). Commits use `synchronous = NORMAL` (durable
 * against a process crash; an fsync per commit would block the event loop ~3 ms each), except the
 * outbox write, which is `FULL`: the row of a signed transaction must survive power loss, or the
 * node could sign a different transaction over the same owned object versions (equivocation locks
 * the badge). WAL frames are sequential, so that fsync also makes every earlier commit durable —
 * nothing a sent transaction depends on can be lost.
 */
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { SignedTx } from "../chain/types.ts";
import { decodeValue, encodeValue } from "./codec.ts";
import { RESAMPLE_SCHEMA, ResampleRows } from "./resample-store.ts";
import {
  JOB_STATES,
  type GeneratedOutput,
  type JobFilter,
  type JobParams,
  type JobRecord,
  type JobState,
  type JobStore,
  type NewJob,
  type PendingResample,
  type PromptEventRecord,
  type StoreBatch,
  type TxResult,
} from "./types.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ticket_id TEXT NOT NULL, leaf_index INTEGER NOT NULL, num_leaves INTEGER NOT NULL,
  model TEXT NOT NULL, params TEXT NOT NULL, output_destination BLOB NOT NULL,
  checkpoint INTEGER NOT NULL, origin_tx TEXT NOT NULL, origin_event_index INTEGER NOT NULL, event_type TEXT NOT NULL,
  state TEXT NOT NULL, error TEXT, attempts INTEGER NOT NULL DEFAULT 0, tx_attempts INTEGER NOT NULL DEFAULT 0,
  output_text TEXT, tokens TEXT, input_tokens INTEGER, output_tokens INTEGER, root_hex TEXT, leaf_hex TEXT,
  tx_digest TEXT, first_submission INTEGER NOT NULL DEFAULT 0, published_at INTEGER, publish_error TEXT,
  generation_ms REAL, received_at INTEGER NOT NULL, started_at INTEGER, generated_at INTEGER, tx_sent_at INTEGER,
  committed_at INTEGER, updated_at INTEGER NOT NULL, next_attempt_at INTEGER NOT NULL DEFAULT 0,
  UNIQUE (ticket_id, leaf_index)
);
CREATE INDEX IF NOT EXISTS jobs_state_model ON jobs (state, model, id);
CREATE INDEX IF NOT EXISTS jobs_tx ON jobs (tx_digest);
CREATE TABLE IF NOT EXISTS processed_events (
  tx_digest TEXT NOT NULL, event_index INTEGER NOT NULL, checkpoint INTEGER NOT NULL,
  PRIMARY KEY (tx_digest, event_index)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS processed_checkpoint ON processed_events (checkpoint);
CREATE TABLE IF NOT EXISTS prompts (ticket_id TEXT PRIMARY KEY, event TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
  digest TEXT PRIMARY KEY, bytes TEXT NOT NULL, signatures TEXT NOT NULL, ticket_ids TEXT NOT NULL, created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

/** Processed-event ids are only needed while a checkpoint can still be redelivered (≥ cursor). */
const PROCESSED_KEEP_CHECKPOINTS = 10_000n;

type Row = Record<string, unknown>;

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function toRecord(r: Row): JobRecord {
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

export interface SqliteStoreOptions {
  /** A job interrupted this many times while generating is failed instead of retried (crash loop guard). */
  maxGenerationAttempts?: number;
  now?: () => number;
}

export class SqliteJobStore implements JobStore {
  readonly db: Database;
  private readonly maxGenAttempts: number;
  private readonly now: () => number;
  private readonly resamples: ResampleRows;

  constructor(readonly path: string, opts: SqliteStoreOptions = {}) {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path, { create: true });
    this.db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;");
    this.db.exec(SCHEMA + RESAMPLE_SCHEMA);
    this.maxGenAttempts = opts.maxGenerationAttempts ?? 5;
    this.now = opts.now ?? Date.now;
    this.resamples = new ResampleRows(this.db, this.now);
  }

  cursor(): bigint | null {
    const r = this.db.query("SELECT value FROM meta WHERE key = 'cursor'").get() as Row | null;
    return r ? BigInt(String(r.value)) : null;
  }

  applyBatch(batch: StoreBatch): number {
    const now = this.now();
    const isDone = this.db.query("SELECT 1 FROM processed_events WHERE tx_digest = ? AND event_index = ?");
    const markDone = this.db.query("INSERT INTO processed_events (tx_digest, event_index, checkpoint) VALUES (?, ?, ?)");
    const insertJob = this.db.query(
      `INSERT INTO jobs (ticket_id, leaf_index, num_leaves, model, params, output_destination, checkpoint,
         origin_tx, origin_event_index, event_type, state, error, received_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (ticket_id, leaf_index) DO NOTHING`,
    );
    const insertPrompt = this.db.query("INSERT INTO prompts (ticket_id, event, created_at) VALUES (?, ?, ?) ON CONFLICT (ticket_id) DO NOTHING");
    const dropPrompt = this.db.query("DELETE FROM prompts WHERE ticket_id = ?");
    const noteDispute = this.db.query(
      "UPDATE jobs SET error = COALESCE(error || '; ', '') || ?1, updated_at = ?2 WHERE ticket_id = ?3",
    );
    const apply = this.db.transaction((): number => {
      let created = 0;
      for (const ev of batch.events) {
        const { txDigest, eventIndex, checkpoint } = ev.origin;
        if (isDone.get(txDigest, eventIndex)) continue;
        markDone.run(txDigest, eventIndex, checkpoint);
        for (const p of ev.prompts) insertPrompt.run(p.ticketId, encodeValue(p), now);
        for (const t of ev.settled) dropPrompt.run(t);
        for (const t of ev.disputed ?? []) noteDispute.run(`DisputeEvent at checkpoint ${checkpoint}`, now, t);
        for (const j of ev.jobs) {
          const res = insertJob.run(
            j.ticketId, j.leafIndex, j.numLeaves, j.model, encodeValue(j.job), j.outputDestination, j.origin.checkpoint,
            j.origin.txDigest, j.origin.eventIndex, j.origin.eventType, j.state ?? "received", j.error ?? null, now, now,
          );
          created += res.changes;
        }
        for (const u of ev.unresolved ?? []) this.resamples.add(u.ticketId, u.leafIndex, ev.origin);
      }
      const prev = this.cursor();
      if (prev === null || batch.checkpoint > prev) {
        this.db.query("INSERT OR REPLACE INTO meta (key, value) VALUES ('cursor', ?)").run(batch.checkpoint.toString());
      }
      if (batch.checkpoint > PROCESSED_KEEP_CHECKPOINTS) {
        this.db.query("DELETE FROM processed_events WHERE checkpoint < ?").run(batch.checkpoint - PROCESSED_KEEP_CHECKPOINTS);
      }
      return created;
    });
    return apply.immediate();
  }

  isProcessed(txDigest: string, eventIndex: number): boolean {
    return this.db.query("SELECT 1 FROM processed_events WHERE tx_digest = ? AND event_index = ?").get(txDigest, eventIndex) !== null;
  }

  findPrompt(ticketId: string): PromptEventRecord | null {
    const r = this.db.query("SELECT event FROM prompts WHERE ticket_id = ?").get(ticketId) as Row | null;
    return r ? decodeValue<PromptEventRecord>(String(r.event)) : null;
  }

  prunePrompts(olderThanMs: number): number {
    return this.db.query("DELETE FROM prompts WHERE created_at < ?").run(olderThanMs).changes;
  }

  dueResamples(nowMs: number, limit: number): PendingResample[] {
    return this.resamples.due(nowMs, limit);
  }

  hasResamples(): boolean {
    return this.resamples.any();
  }

  resolveResamples(ticketId: string, prompt: PromptEventRecord, jobs: NewJob[]): number {
    return this.resamples.resolve(ticketId, prompt, jobs);
  }

  deferResamples(ticketId: string, reason: string, nextAttemptAtMs: number): void {
    this.resamples.defer(ticketId, reason, nextAttemptAtMs);
  }

  failResamples(ticketId: string, reason: string): number {
    return this.resamples.fail(ticketId, reason);
  }

  claimNext(model: string): JobRecord | null {
    const now = this.now();
    const r = this.db
      .query(
        `UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = ?, updated_at = ?
         WHERE id = (SELECT id FROM jobs WHERE state = 'received' AND model = ? ORDER BY id LIMIT 1)
         RETURNING *`,
      )
      .get(now, now, model) as Row | null;
    return r ? toRecord(r) : null;
  }

  release(id: number): void {
    this.db
      .query("UPDATE jobs SET state = 'received', attempts = MAX(attempts - 1, 0), updated_at = ? WHERE id = ? AND state = 'running'")
      .run(this.now(), id);
  }

  markGenerated(id: number, o: GeneratedOutput): void {
    const now = this.now();
    this.db
      .query(
        `UPDATE jobs SET state = 'generated', output_text = ?, tokens = ?, input_tokens = ?, output_tokens = ?,
           root_hex = ?, leaf_hex = ?, generation_ms = ?, generated_at = ?, updated_at = ?, error = NULL
         WHERE id = ? AND state = 'running'`,
      )
      .run(o.text, o.tokens ? JSON.stringify(o.tokens) : null, o.inputTokens, o.outputTokens, o.rootHex, o.leafHex,
        o.generationMs, now, now, id);
  }

  markFailed(id: number, reason: string): void {
    this.db.query("UPDATE jobs SET state = 'failed', error = ?, updated_at = ? WHERE id = ?").run(reason, this.now(), id);
  }

  takeSubmittable(limit: number, nowMs: number): JobRecord[] {
    const rows = this.db
      .query(
        `SELECT * FROM jobs WHERE state = 'generated' AND tx_digest IS NULL AND next_attempt_at <= ?
         ORDER BY id LIMIT ?`,
      )
      .all(nowMs, limit * 2) as Row[];
    // One PTB cannot hold two commitments of the same ticket (the second would abort the first).
    const seen = new Set<string>();
    const out: JobRecord[] = [];
    for (const r of rows) {
      const j = toRecord(r);
      if (seen.has(j.ticketId)) continue;
      seen.add(j.ticketId);
      out.push(j);
      if (out.length >= limit) break;
    }
    return out;
  }

  pendingTransactions(nowMs: number): { tx: SignedTx; jobs: JobRecord[] }[] {
    const digests = this.db
      .query(
        `SELECT DISTINCT tx_digest FROM jobs WHERE state = 'generated' AND tx_digest IS NOT NULL AND next_attempt_at <= ?
         ORDER BY id`,
      )
      .all(nowMs) as Row[];
    const out: { tx: SignedTx; jobs: JobRecord[] }[] = [];
    for (const d of digests) {
      const digest = String(d.tx_digest);
      const o = this.db.query("SELECT * FROM outbox WHERE digest = ?").get(digest) as Row | null;
      const jobs = (this.db.query("SELECT * FROM jobs WHERE tx_digest = ? AND state = 'generated' ORDER BY id").all(digest) as Row[]).map(toRecord);
      if (!o) {
        // Cannot happen (recordTx writes both in one transaction); fail loudly rather than rebuild blindly.
        for (const j of jobs) this.markFailed(j.id, `outbox row for transaction ${digest} is missing`);
        continue;
      }
      out.push({
        tx: { digest, bytes: String(o.bytes), signatures: JSON.parse(String(o.signatures)), ticketIds: JSON.parse(String(o.ticket_ids)) },
        jobs,
      });
    }
    return out;
  }

  hasPendingTransactions(): boolean {
    return this.db.query("SELECT 1 FROM jobs WHERE state = 'generated' AND tx_digest IS NOT NULL LIMIT 1").get() !== null;
  }

  recordTx(tx: SignedTx, jobIds: number[], nowMs: number): void {
    const put = this.db.transaction(() => {
      this.db
        .query("INSERT OR REPLACE INTO outbox (digest, bytes, signatures, ticket_ids, created_at) VALUES (?, ?, ?, ?, ?)")
        .run(tx.digest, tx.bytes, JSON.stringify(tx.signatures), JSON.stringify(tx.ticketIds), nowMs);
      const upd = this.db.query(
        "UPDATE jobs SET tx_digest = ?, tx_sent_at = ?, tx_attempts = tx_attempts + 1, updated_at = ? WHERE id = ?",
      );
      for (const id of jobIds) upd.run(tx.digest, nowMs, nowMs, id);
    });
    this.db.exec("PRAGMA synchronous = FULL");
    try {
      put.immediate();
    } finally {
      this.db.exec("PRAGMA synchronous = NORMAL");
    }
  }

  applyTxResult(id: number, result: TxResult, nowMs: number): void {
    switch (result.kind) {
      case "committed":
        this.db
          .query(
            `UPDATE jobs SET state = 'committed', tx_digest = COALESCE(?, tx_digest), first_submission = ?, committed_at = ?,
               updated_at = ?, error = ? WHERE id = ?`,
          )
          .run(result.digest, result.firstSubmission ? 1 : 0, nowMs, nowMs, result.note ?? null, id);
        return;
      case "retry":
        this.db
          .query(
            `UPDATE jobs SET tx_digest = CASE WHEN ? THEN tx_digest ELSE NULL END, next_attempt_at = ?, error = ?,
               tx_attempts = tx_attempts + ?, updated_at = ? WHERE id = ?`,
          )
          .run(result.keepTx ? 1 : 0, result.nextAttemptAtMs, result.reason, result.bumpAttempts ? 1 : 0, nowMs, id);
        return;
      case "failed":
        this.db.query("UPDATE jobs SET state = 'failed', error = ?, updated_at = ? WHERE id = ?").run(result.reason, nowMs, id);
        return;
    }
  }

  unpublished(limit: number): JobRecord[] {
    return (
      this.db
        .query(
          `SELECT * FROM jobs WHERE state = 'committed' AND first_submission = 1 AND published_at IS NULL
           AND publish_error IS NULL ORDER BY id LIMIT ?`,
        )
        .all(limit) as Row[]
    ).map(toRecord);
  }

  markPublished(id: number, nowMs: number, error?: string): void {
    this.db
      .query("UPDATE jobs SET published_at = ?, publish_error = ?, updated_at = ? WHERE id = ?")
      .run(error === undefined ? nowMs : null, error ?? null, nowMs, id);
  }

  recover(): number {
    const now = this.now();
    const tx = this.db.transaction(() => {
      const failed = this.db
        .query(
          `UPDATE jobs SET state = 'failed', updated_at = ?,
             error = 'generation was interrupted ' || attempts || ' times (crash loop guard)'
           WHERE state = 'running' AND attempts >= ?`,
        )
        .run(now, this.maxGenAttempts).changes;
      const back = this.db.query("UPDATE jobs SET state = 'received', updated_at = ? WHERE state = 'running'").run(now).changes;
      this.db.query("UPDATE jobs SET next_attempt_at = 0 WHERE state = 'generated' AND next_attempt_at > 0").run();
      // Outbox rows no live job refers to are history; keep them a day for forensics.
      this.db
        .query(
          `DELETE FROM outbox WHERE created_at < ? AND digest NOT IN
             (SELECT tx_digest FROM jobs WHERE state = 'generated' AND tx_digest IS NOT NULL)`,
        )
        .run(now - 86_400_000);
      return back + failed;
    });
    return tx.immediate();
  }

  get(id: number): JobRecord | null {
    const r = this.db.query("SELECT * FROM jobs WHERE id = ?").get(id) as Row | null;
    return r ? toRecord(r) : null;
  }

  byTicket(ticketId: string): JobRecord[] {
    return (this.db.query("SELECT * FROM jobs WHERE ticket_id = ? ORDER BY leaf_index").all(ticketId) as Row[]).map(toRecord);
  }

  list(filter: JobFilter): JobRecord[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.state) (where.push("state = ?"), args.push(filter.state));
    if (filter.ticketId) (where.push("ticket_id = ?"), args.push(filter.ticketId));
    const sql = `SELECT * FROM jobs ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY id DESC LIMIT ?`;
    args.push(Math.max(1, Math.min(filter.limit ?? 100, 10_000)));
    return (this.db.query(sql).all(...args) as Row[]).map(toRecord);
  }

  countByState(): Record<JobState, number> {
    const out = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    for (const r of this.db.query("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state").all() as Row[]) {
      out[r.state as JobState] = Number(r.n);
    }
    return out;
  }

  close(): void {
    this.db.close();
  }
}
