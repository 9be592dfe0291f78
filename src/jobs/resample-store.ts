/**
 * SQLite side of unresolved resamples (spec §5.4): a `NewlySampledNodesEvent` leaf for this node
 * whose original prompt was never indexed here. The row is written in the ingest transaction (so
 * the cursor never moves past an unserved leaf) and removed in the transaction that creates its job
 * or its failed job — crash-safe and idempotent with the jobs' UNIQUE (ticket_id, leaf_index).
 */
import type { Database } from "bun:sqlite";
import { encodeValue } from "./codec.ts";
import { INSERT_JOB, insertValues } from "./job-row.ts";
import type { EventOrigin, PromptEventRecord } from "../protocol/types.ts";
import type { JobParams, NewJob, PendingResample } from "./types.ts";

export const RESAMPLE_SCHEMA = `
CREATE TABLE IF NOT EXISTS resamples (
  ticket_id TEXT NOT NULL, leaf_index INTEGER NOT NULL,
  checkpoint INTEGER NOT NULL, origin_tx TEXT NOT NULL, origin_event_index INTEGER NOT NULL, event_type TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, next_attempt_at INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL,
  PRIMARY KEY (ticket_id, leaf_index)
);
CREATE INDEX IF NOT EXISTS resamples_due ON resamples (next_attempt_at);
`;

type Row = Record<string, unknown>;


/** A failed job for a prompt nobody could find: the jobs table needs params, none are known. */
const UNKNOWN_PARAMS: JobParams = {
  kind: "text",
  params: { maxTokens: 0n, model: "", prePromptTokens: [], prependOutputWithInput: false, prompt: new Uint8Array(), randomSeed: 0n, repeatLastN: 0n, repeatPenalty: 1, shouldStreamOutput: false, temperature: 0, topK: 0n, topP: 1 },
};

const toPending = (r: Row): PendingResample => ({
  ticketId: String(r.ticket_id),
  leafIndex: Number(r.leaf_index),
  origin: { checkpoint: BigInt(r.checkpoint as number), txDigest: String(r.origin_tx), eventIndex: Number(r.origin_event_index), eventType: String(r.event_type) },
  attempts: Number(r.attempts),
  lastError: (r.last_error as string | null) ?? null,
});

export class ResampleRows {
  constructor(
    private readonly db: Database,
    private readonly now: () => number,
  ) {}

  /** Inside the caller's transaction (applyBatch). A leaf that already has a job needs nothing. */
  add(ticketId: string, leafIndex: number, origin: EventOrigin): void {
    if (this.db.query("SELECT 1 FROM jobs WHERE ticket_id = ? AND leaf_index = ?").get(ticketId, leafIndex)) return;
    this.db
      .query(
        `INSERT INTO resamples (ticket_id, leaf_index, checkpoint, origin_tx, origin_event_index, event_type, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ticket_id, leaf_index) DO NOTHING`,
      )
      .run(ticketId, leafIndex, origin.checkpoint, origin.txDigest, origin.eventIndex, origin.eventType, this.now());
  }

  due(nowMs: number, limit: number): PendingResample[] {
    return (this.db.query("SELECT * FROM resamples WHERE next_attempt_at <= ? ORDER BY created_at, ticket_id, leaf_index LIMIT ?").all(nowMs, limit) as Row[]).map(toPending);
  }

  any(): boolean {
    return this.db.query("SELECT 1 FROM resamples LIMIT 1").get() !== null;
  }

  resolve(ticketId: string, prompt: PromptEventRecord, jobs: NewJob[]): number {
    const now = this.now();
    const insertJob = this.db.query(INSERT_JOB);
    return this.db
      .transaction((): number => {
        this.db.query("INSERT INTO prompts (ticket_id, event, created_at) VALUES (?, ?, ?) ON CONFLICT (ticket_id) DO NOTHING").run(prompt.ticketId, encodeValue(prompt), now);
        let created = 0;
        for (const j of jobs) {
          created += insertJob.run(...insertValues(j, now)).changes;
        }
        this.db.query("DELETE FROM resamples WHERE ticket_id = ?").run(ticketId);
        return created;
      })
      .immediate();
  }

  defer(ticketId: string, reason: string, nextAttemptAtMs: number): void {
    this.db.query("UPDATE resamples SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE ticket_id = ?").run(reason, nextAttemptAtMs, ticketId);
  }

  fail(ticketId: string, reason: string): number {
    const now = this.now();
    const insertJob = this.db.query(INSERT_JOB);
    return this.db
      .transaction((): number => {
        let created = 0;
        for (const r of this.db.query("SELECT * FROM resamples WHERE ticket_id = ?").all(ticketId) as Row[]) {
          const p = toPending(r);
          const job: NewJob = {
            ticketId: p.ticketId, leafIndex: p.leafIndex, numLeaves: 0, model: "", job: UNKNOWN_PARAMS,
            outputDestination: new Uint8Array(), origin: p.origin, state: "failed", error: reason,
          };
          created += insertJob.run(...insertValues(job, now)).changes;
        }
        this.db.query("DELETE FROM resamples WHERE ticket_id = ?").run(ticketId);
        return created;
      })
      .immediate();
  }
}
