/** Hostile prompt / destination bytes are decoded once, when a job is stored (issue 8, defect 1). */
import { Database } from "bun:sqlite";
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteJobStore } from "../../src/jobs/sqlite-store.ts";
import { encodeValue } from "../../src/jobs/codec.ts";
import { jobView } from "../../src/api/views.ts";

const dir = mkdtempSync(join(tmpdir(), "atoma-decoded-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const T = "0x" + "ab".repeat(32);
const origin = { checkpoint: 1n, txDigest: "T", eventIndex: 0, eventType: "x::gate::Text2TextPromptEvent" };
const params = (prompt: Uint8Array) => ({ maxTokens: 8n, model: "m", prePromptTokens: [], prependOutputWithInput: false, prompt, randomSeed: 7n, repeatLastN: 64n, repeatPenalty: 1, shouldStreamOutput: false, temperature: 0, topK: 0n, topP: 1 });
const FIREBASE = Uint8Array.from([0xa8, ...new TextEncoder().encode("Firebase")]);
const RAW_HI = Uint8Array.from([0x81, 0xa3, 0x52, 0x61, 0x77, 0x91, 0xa2, 0x68, 0x69]);

test("a stored job carries its decoded prompt and destination; listings read them", () => {
  const s = new SqliteJobStore(join(dir, "new.sqlite"));
  s.applyBatch({ checkpoint: 1n, events: [{ origin, prompts: [], settled: [], jobs: [{ ticketId: T, leafIndex: 0, numLeaves: 1, model: "m", job: { kind: "text", params: params(RAW_HI) }, outputDestination: FIREBASE, origin }] }] });
  const row = s.db.query("SELECT prompt_text, destination FROM jobs").get() as Record<string, unknown>;
  expect(row).toEqual({ prompt_text: "hi", destination: JSON.stringify({ kind: "Firebase" }) });
  expect(jobView(s.list({})[0]!)).toMatchObject({ prompt: "hi", output_destination: "Firebase" });
  s.close();
});

test("a store written before the decoded columns existed is migrated once on open", () => {
  const path = join(dir, "old.sqlite");
  const db = new Database(path, { create: true });
  // The jobs table as it was before issue 8 (no prompt_text / destination).
  db.exec(`CREATE TABLE jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ticket_id TEXT NOT NULL, leaf_index INTEGER NOT NULL, num_leaves INTEGER NOT NULL,
  model TEXT NOT NULL, params TEXT NOT NULL, output_destination BLOB NOT NULL,
  checkpoint INTEGER NOT NULL, origin_tx TEXT NOT NULL, origin_event_index INTEGER NOT NULL, event_type TEXT NOT NULL,
  state TEXT NOT NULL, error TEXT, attempts INTEGER NOT NULL DEFAULT 0, tx_attempts INTEGER NOT NULL DEFAULT 0,
  output_text TEXT, tokens TEXT, input_tokens INTEGER, output_tokens INTEGER, root_hex TEXT, leaf_hex TEXT,
  tx_digest TEXT, first_submission INTEGER NOT NULL DEFAULT 0, published_at INTEGER, publish_error TEXT,
  generation_ms REAL, received_at INTEGER NOT NULL, started_at INTEGER, generated_at INTEGER, tx_sent_at INTEGER,
  committed_at INTEGER, updated_at INTEGER NOT NULL, next_attempt_at INTEGER NOT NULL DEFAULT 0,
  UNIQUE (ticket_id, leaf_index))`);
  const bomb = Uint8Array.from([0xdd, 0x07, 0xff, 0xff, 0xff]);
  db.query(`INSERT INTO jobs (ticket_id, leaf_index, num_leaves, model, params, output_destination, checkpoint, origin_tx, origin_event_index, event_type, state, received_at, updated_at)
    VALUES (?, 0, 1, 'm', ?, ?, 1, 'T', 0, 'e', 'received', 0, 0)`).run(T, encodeValue({ kind: "text", params: params(bomb) }), bomb);
  db.close();
  const s = new SqliteJobStore(path);
  const j = s.list({})[0]!;
  expect(j.promptText).toBe("\uFFFD\u0007\uFFFD\uFFFD\uFFFD");
  expect(j.destination).toMatchObject({ kind: "nowhere", reason: expect.stringContaining("134217727") });
  s.close();
});
