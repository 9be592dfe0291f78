/**
 * SQLite side of image outputs: the PNGs of a generated image job live in `job_images`, written in
 * the same transaction that moves the job to `generated` (so a restart never finds a generated
 * job without its images, nor images of a job that will run again). The jobs table carries the
 * images' sizes (`images`, JSON) for listings and a `note` column for what the operator should
 * know about a job that still succeeded (a prompt truncated to CLIP's 77 tokens). PNGs of jobs the
 * node is done with are deleted after a retention time (`prune`, run by image-retention.ts);
 * `images_pruned_at` says when.
 */
import type { Database } from "bun:sqlite";
import type { StoredImage } from "./types.ts";

export const IMAGE_SCHEMA = `
CREATE TABLE IF NOT EXISTS job_images (
  job_id INTEGER NOT NULL, idx INTEGER NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL, png BLOB NOT NULL,
  PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;
`;

/** Stores made before image jobs were served (or before retention) lack these columns. */
export function migrateImageColumns(db: Database): void {
  const cols = new Set((db.query("PRAGMA table_info(jobs)").all() as { name: string }[]).map((c) => c.name));
  if (!cols.has("images")) db.exec("ALTER TABLE jobs ADD COLUMN images TEXT");
  if (!cols.has("note")) db.exec("ALTER TABLE jobs ADD COLUMN note TEXT");
  if (!cols.has("images_pruned_at")) db.exec("ALTER TABLE jobs ADD COLUMN images_pruned_at INTEGER");
  // The retention scan (prune) reads only jobs whose PNGs are still stored.
  db.exec("CREATE INDEX IF NOT EXISTS jobs_images_kept ON jobs (state, id) WHERE images IS NOT NULL AND images_pruned_at IS NULL");
}

/**
 * Jobs whose PNGs the node no longer needs, done before `?1`: committed without being first
 * (nothing to publish) since committed_at; committed first and published since published_at, or
 * whose webhook was given up on (publish_error, never retried: outbox-store.ts `unpublished`)
 * since then; failed since its last update. `generated` jobs — not yet committed — and first
 * submissions still waiting to be published never match.
 */
const DONE_BEFORE = `images IS NOT NULL AND images_pruned_at IS NULL AND (
    (state = 'committed' AND first_submission = 0 AND committed_at < ?1)
    OR (state = 'committed' AND first_submission = 1 AND published_at IS NOT NULL AND published_at < ?1)
    OR (state = 'committed' AND first_submission = 1 AND published_at IS NULL AND publish_error IS NOT NULL AND updated_at < ?1)
    OR (state = 'failed' AND updated_at < ?1))`;

export class ImageRows {
  constructor(private readonly db: Database) {}

  /** Inside the caller's transaction: replaces any images of `jobId` (a job generated again). */
  put(jobId: number, images: { width: number; height: number; png: Uint8Array }[]): void {
    this.db.query("DELETE FROM job_images WHERE job_id = ?").run(jobId);
    const ins = this.db.query("INSERT INTO job_images (job_id, idx, width, height, png) VALUES (?, ?, ?, ?, ?)");
    images.forEach((img, i) => ins.run(jobId, i, img.width, img.height, img.png));
  }

  /**
   * Retention: deletes the PNGs of at most `limit` jobs done before `doneBeforeMs` (DONE_BEFORE)
   * and stamps them `images_pruned_at = nowMs`, in one transaction; returns how many jobs. The
   * image sizes stay on the job, so its view still says what there was.
   */
  prune(doneBeforeMs: number, nowMs: number, limit: number): number {
    return this.db.transaction(() => {
      const ids = (this.db.query(`SELECT id FROM jobs WHERE ${DONE_BEFORE} ORDER BY id LIMIT ?2`).all(doneBeforeMs, limit) as { id: number }[]).map((r) => r.id);
      const del = this.db.query("DELETE FROM job_images WHERE job_id = ?");
      const mark = this.db.query("UPDATE jobs SET images_pruned_at = ? WHERE id = ?");
      for (const id of ids) {
        del.run(id);
        mark.run(nowMs, id);
      }
      return ids.length;
    }).immediate();
  }

  get(jobId: number): StoredImage[] {
    const rows = this.db.query("SELECT idx, width, height, png FROM job_images WHERE job_id = ? ORDER BY idx").all(jobId) as { idx: number; width: number; height: number; png: Uint8Array }[];
    return rows.map((r) => ({ index: r.idx, width: r.width, height: r.height, png: new Uint8Array(r.png) }));
  }
}
