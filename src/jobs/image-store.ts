/**
 * SQLite side of image outputs: the PNGs of a generated image job live in `job_images`, written in
 * the same transaction that moves the job to `generated` (so a restart never finds a generated
 * job without its images, nor images of a job that will run again). The jobs table carries the
 * images' sizes (`images`, JSON) for listings and a `note` column for what the operator should
 * know about a job that still succeeded (a prompt truncated to CLIP's 77 tokens).
 */
import type { Database } from "bun:sqlite";
import type { StoredImage } from "./types.ts";

export const IMAGE_SCHEMA = `
CREATE TABLE IF NOT EXISTS job_images (
  job_id INTEGER NOT NULL, idx INTEGER NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL, png BLOB NOT NULL,
  PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;
`;

/** Stores made before image jobs were served lack the two columns. */
export function migrateImageColumns(db: Database): void {
  const cols = new Set((db.query("PRAGMA table_info(jobs)").all() as { name: string }[]).map((c) => c.name));
  if (!cols.has("images")) db.exec("ALTER TABLE jobs ADD COLUMN images TEXT");
  if (!cols.has("note")) db.exec("ALTER TABLE jobs ADD COLUMN note TEXT");
}

export class ImageRows {
  constructor(private readonly db: Database) {}

  /** Inside the caller's transaction: replaces any images of `jobId` (a job generated again). */
  put(jobId: number, images: { width: number; height: number; png: Uint8Array }[]): void {
    this.db.query("DELETE FROM job_images WHERE job_id = ?").run(jobId);
    const ins = this.db.query("INSERT INTO job_images (job_id, idx, width, height, png) VALUES (?, ?, ?, ?, ?)");
    images.forEach((img, i) => ins.run(jobId, i, img.width, img.height, img.png));
  }

  get(jobId: number): StoredImage[] {
    const rows = this.db.query("SELECT idx, width, height, png FROM job_images WHERE job_id = ? ORDER BY idx").all(jobId) as { idx: number; width: number; height: number; png: Uint8Array }[];
    return rows.map((r) => ({ index: r.idx, width: r.width, height: r.height, png: new Uint8Array(r.png) }));
  }
}
