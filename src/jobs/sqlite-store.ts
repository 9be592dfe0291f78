/**
 * `JobStore` on embedded SQLite (bun:sqlite, WAL). Commits use `synchronous = NORMAL` (durable
 * against a process crash; an fsync per commit would block the event loop ~3 ms each), except the
 * outbox write, which is `FULL` (why: src/jobs/outbox-store.ts).
 */
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { SignedTx } from "../chain/types.ts";
import { decodeValue, encodeValue } from "./codec.ts";
import { IMAGE_SCHEMA, ImageRows, migrateImageColumns } from "./image-store.ts";
import { INSERT_JOB, insertValues, migrateDecodedColumns, type Row, toRecord } from "./job-row.ts";
import { OUTBOX_SCHEMA, OutboxRows } from "./outbox-store.ts";
import { RESAMPLE_SCHEMA, ResampleRows } from "./resample-store.ts";
import {
  JOB_STATES,
  type GeneratedOutput,
  type JobFilter,
  type JobRecord,
  type JobState,
  type JobStore,
  type NewJob,
  type PendingResample,
  type StoreBatch,
  type StoredImage,
  type TxResult,
} from "./types.ts";
import type { PromptEventRecord } from "../protocol/types.ts";

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
  prompt_text TEXT, destination TEXT,
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
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

/** Processed-event ids are only needed while a checkpoint can still be redelivered (≥ cursor). */
const PROCESSED_KEEP_CHECKPOINTS = 10_000n;

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
  private readonly outbox: OutboxRows;
  private readonly imageRows: ImageRows;

  constructor(readonly path: string, opts: SqliteStoreOptions = {}) {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path, { create: true });
    this.db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;");
    this.db.exec(SCHEMA + OUTBOX_SCHEMA + RESAMPLE_SCHEMA + IMAGE_SCHEMA);
    migrateDecodedColumns(this.db);
    migrateImageColumns(this.db);
    this.maxGenAttempts = opts.maxGenerationAttempts ?? 5;
    this.now = opts.now ?? Date.now;
    this.resamples = new ResampleRows(this.db, this.now);
    this.outbox = new OutboxRows(this.db, this.now);
    this.imageRows = new ImageRows(this.db);
  }

  cursor(): bigint | null {
    const r = this.db.query("SELECT value FROM meta WHERE key = 'cursor'").get() as Row | null;
    return r ? BigInt(String(r.value)) : null;
  }

  applyBatch(batch: StoreBatch): number {
    const now = this.now();
    const isDone = this.db.query("SELECT 1 FROM processed_events WHERE tx_digest = ? AND event_index = ?");
    const markDone = this.db.query("INSERT INTO processed_events (tx_digest, event_index, checkpoint) VALUES (?, ?, ?)");
    const insertJob = this.db.query(INSERT_JOB);
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
          const res = insertJob.run(...insertValues(j, now));
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
    const sizes = o.images ? JSON.stringify(o.images.map(({ width, height }) => ({ width, height }))) : null;
    this.db.transaction(() => {
      const changed = this.db
        .query(
          `UPDATE jobs SET state = 'generated', output_text = ?, tokens = ?, input_tokens = ?, output_tokens = ?,
             root_hex = ?, leaf_hex = ?, generation_ms = ?, generated_at = ?, updated_at = ?, error = NULL,
             images = ?, note = ?
           WHERE id = ? AND state = 'running'`,
        )
        .run(o.text, o.tokens ? JSON.stringify(o.tokens) : null, o.inputTokens, o.outputTokens, o.rootHex, o.leafHex,
          o.generationMs, now, now, sizes, o.note ?? null, id).changes;
      if (changed === 1 && o.images) this.imageRows.put(id, o.images);
    }).immediate();
  }

  images(id: number): StoredImage[] {
    return this.imageRows.get(id);
  }

  pruneImages(doneBeforeMs: number, limit: number): number {
    return this.imageRows.prune(doneBeforeMs, this.now(), limit);
  }

  markFailed(id: number, reason: string): void {
    this.db.query("UPDATE jobs SET state = 'failed', error = ?, updated_at = ? WHERE id = ?").run(reason, this.now(), id);
  }

  takeSubmittable(limit: number, nowMs: number): JobRecord[] {
    return this.outbox.takeSubmittable(limit, nowMs);
  }

  pendingTransactions(nowMs: number): { tx: SignedTx; jobs: JobRecord[] }[] {
    return this.outbox.pendingTransactions(nowMs);
  }

  hasPendingTransactions(): boolean {
    return this.outbox.hasPendingTransactions();
  }

  recordTx(tx: SignedTx, jobIds: number[], nowMs: number): void {
    this.outbox.recordTx(tx, jobIds, nowMs);
  }

  applyTxResult(id: number, result: TxResult, nowMs: number): void {
    this.outbox.applyTxResult(id, result, nowMs);
  }

  unpublished(limit: number): JobRecord[] {
    return this.outbox.unpublished(limit);
  }

  markPublished(id: number, nowMs: number, error?: string): void {
    this.outbox.markPublished(id, nowMs, error);
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
      this.outbox.pruneHistory(now);
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

  /** Ticket ids starting with `prefix` and ending with `suffix` (lowercase hex with 0x), at most `limit`. */
  ticketsMatching(prefix: string, suffix: string, limit = 5): string[] {
    const rows = this.db
      .query("SELECT DISTINCT ticket_id FROM jobs WHERE substr(ticket_id, 1, ?1) = ?2 AND (?3 = '' OR substr(ticket_id, -length(?3)) = ?3) ORDER BY ticket_id LIMIT ?4")
      .all(prefix.length, prefix, suffix, limit) as { ticket_id: string }[];
    return rows.map((r) => r.ticket_id);
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
