/** Image outputs in the SQLite store: PNGs written with the `generated` state in one transaction,
 * kept across reopen, never attached to a job that is not running; stores from before image jobs
 * gain the columns. */
import { Database } from "bun:sqlite";
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteJobStore } from "../../src/jobs/sqlite-store.ts";
import type { NewJob } from "../../src/jobs/types.ts";
import type { Text2ImagePromptParams } from "../../src/protocol/types.ts";

const dir = mkdtempSync(join(tmpdir(), "atoma-image-store-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const params: Text2ImagePromptParams = {
  guidanceScale: 7.5, height: 16n, width: 16n, img2img: null, img2imgStrength: 0, model: "sd", nSteps: 3n, numSamples: 2n,
  outputDestination: new Uint8Array(), prompt: new TextEncoder().encode("a cat"), randomSeed: 1n, uncondPrompt: new Uint8Array(),
};
const job = (t: number): NewJob => ({
  ticketId: "0x" + t.toString(16).padStart(64, "0"), leafIndex: 0, numLeaves: 1, model: "sd", job: { kind: "image", params },
  outputDestination: new Uint8Array(), origin: { checkpoint: 1n, txDigest: "tx", eventIndex: t, eventType: "0x1::gate::Text2ImagePromptEvent" },
});
const out = (note?: string) => ({
  text: null, tokens: null, inputTokens: 0, outputTokens: 2, rootHex: "aa", leafHex: "bb", generationMs: 5,
  images: [{ width: 16, height: 16, png: Uint8Array.of(1, 2, 3) }, { width: 16, height: 8, png: Uint8Array.of(4, 5) }],
  ...(note ? { note } : {}),
});

test("markGenerated stores the PNGs with the state; reopen keeps them; a non-running job gets none", () => {
  const path = join(dir, "a.sqlite");
  let s = new SqliteJobStore(path);
  s.applyBatch({ checkpoint: 1n, events: [{ origin: job(1).origin, jobs: [job(1), job(2)], prompts: [], settled: [] }] });
  const j = s.claimNext("sd")!;
  s.markGenerated(j.id, out("prompt truncated"));
  const other = s.byTicket(job(2).ticketId)[0]!; // still received: not running, so nothing is written
  s.markGenerated(other.id, out());
  s.close();
  s = new SqliteJobStore(path);
  const g = s.get(j.id)!;
  expect([g.state, g.outputText, g.images, g.note, g.outputTokens]).toEqual(["generated", null, [{ width: 16, height: 16 }, { width: 16, height: 8 }], "prompt truncated", 2]);
  expect(s.images(j.id)).toEqual([{ index: 0, width: 16, height: 16, png: Uint8Array.of(1, 2, 3) }, { index: 1, width: 16, height: 8, png: Uint8Array.of(4, 5) }]);
  expect([s.get(other.id)!.state, s.get(other.id)!.images, s.images(other.id)]).toEqual(["received", null, []]);
  s.close();
});

test("a store written before image jobs gains the images and note columns", () => {
  const path = join(dir, "old.sqlite");
  new SqliteJobStore(path).close();
  const db = new Database(path);
  db.exec("DROP INDEX jobs_images_kept; ALTER TABLE jobs DROP COLUMN images_pruned_at; ALTER TABLE jobs DROP COLUMN images; ALTER TABLE jobs DROP COLUMN note; DROP TABLE job_images;");
  db.close();
  const s = new SqliteJobStore(path);
  s.applyBatch({ checkpoint: 1n, events: [{ origin: job(3).origin, jobs: [job(3)], prompts: [], settled: [] }] });
  const j = s.claimNext("sd")!;
  s.markGenerated(j.id, out());
  expect(s.images(j.id)).toHaveLength(2);
  expect(s.get(j.id)!.note).toBeNull();
  s.close();
});
