/**
 * SQLite side of commitment submission: picking generated jobs for a transaction, the outbox of
 * signed transactions, their outcomes and the publication of first submissions. The outbox write
 * is `synchronous = FULL` (the rest of the store runs at `NORMAL`): the row of a signed transaction
 * must survive power loss, or the node could sign a different transaction over the same owned
 * object versions (equivocation locks the badge). WAL frames are sequential, so that fsync also
 * makes every earlier commit durable — nothing a sent transaction depends on can be lost.
 */
import type { Database } from "bun:sqlite";
import type { SignedTx } from "../chain/types.ts";
import { type Row, toRecord } from "./job-row.ts";
import type { JobRecord, TxResult } from "./types.ts";

export const OUTBOX_SCHEMA = `
CREATE TABLE IF NOT EXISTS outbox (
  digest TEXT PRIMARY KEY, bytes TEXT NOT NULL, signatures TEXT NOT NULL, ticket_ids TEXT NOT NULL, created_at INTEGER NOT NULL
);
`;

export class OutboxRows {
  constructor(
    private readonly db: Database,
    private readonly now: () => number,
  ) {}

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
        const fail = this.db.query("UPDATE jobs SET state = 'failed', error = ?, updated_at = ? WHERE id = ?");
        for (const j of jobs) fail.run(`outbox row for transaction ${digest} is missing`, this.now(), j.id);
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

  /** Inside the caller's transaction (recover). */
  pruneHistory(now: number): void {
    // Outbox rows no live job refers to are history; keep them a day for forensics.
    this.db
      .query(
        `DELETE FROM outbox WHERE created_at < ? AND digest NOT IN
           (SELECT tx_digest FROM jobs WHERE state = 'generated' AND tx_digest IS NOT NULL)`,
      )
      .run(now - 86_400_000);
  }
}
