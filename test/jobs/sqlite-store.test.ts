import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteJobStore } from "../../src/jobs/sqlite-store.ts";
import type { EventEffects, NewJob } from "../../src/jobs/types.ts";
import type { PromptEventRecord } from "../../src/protocol/types.ts";
import type { EventOrigin, Text2TextPromptParams } from "../../src/protocol/types.ts";

const dirs: string[] = [];
function tmpStore(): { path: string; open: () => SqliteJobStore } {
  const dir = mkdtempSync(join(tmpdir(), "atoma-store-"));
  dirs.push(dir);
  const path = join(dir, "jobs.sqlite");
  return { path, open: () => new SqliteJobStore(path) };
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const ticket = (n: number) => "0x" + n.toString(16).padStart(64, "0");
const params = (prompt: string): Text2TextPromptParams => ({
  maxTokens: 16n, model: "m1", prePromptTokens: [1, 2], prependOutputWithInput: false,
  prompt: new TextEncoder().encode(prompt), randomSeed: 18446744073709551615n, repeatLastN: 64n,
  repeatPenalty: Math.fround(1.1), shouldStreamOutput: false, temperature: Math.fround(0.7), topK: 40n, topP: Math.fround(0.9),
});
const origin = (cp: number, tx: string, i: number): EventOrigin => ({ checkpoint: BigInt(cp), txDigest: tx, eventIndex: i, eventType: "0x1::gate::Text2TextPromptEvent" });
function promptEffect(cp: number, tx: string, i: number, t: number, model = "m1"): EventEffects {
  const o = origin(cp, tx, i);
  const p = params(`prompt ${t}`);
  const job: NewJob = { ticketId: ticket(t), leafIndex: 0, numLeaves: 1, model, job: { kind: "text", params: p }, outputDestination: new Uint8Array([0xa8, 1, 2]), origin: o };
  const rec: PromptEventRecord = { kind: "Text2TextPromptEvent", ticketId: ticket(t), params: p, chunksCount: 1n, nodes: [7n], outputDestination: new Uint8Array() };
  return { origin: o, jobs: [job], prompts: [rec], settled: [] };
}

describe("SqliteJobStore", () => {
  test("batch records jobs + cursor; values round-trip exactly (u64 as text, bytes, f32)", () => {
    const s = tmpStore().open();
    expect(s.cursor()).toBeNull();
    expect(s.applyBatch({ checkpoint: 5n, events: [promptEffect(5, "txA", 0, 1), promptEffect(5, "txA", 1, 2)] })).toBe(2);
    expect(s.cursor()).toBe(5n);
    const [j] = s.byTicket(ticket(1));
    expect(j!.state).toBe("received");
    expect(j!.job.kind).toBe("text");
    const p = j!.job.params as Text2TextPromptParams;
    expect(p.randomSeed).toBe(18446744073709551615n);
    expect(p.temperature).toBe(Math.fround(0.7));
    expect(new TextDecoder().decode(p.prompt)).toBe("prompt 1");
    expect([...j!.outputDestination]).toEqual([0xa8, 1, 2]);
    expect(j!.origin).toEqual(origin(5, "txA", 0));
    expect(s.findPrompt(ticket(2))?.nodes).toEqual([7n]);
    s.close();
  });

  test("an event seen twice (replayed checkpoint) creates no second job", () => {
    const s = tmpStore().open();
    s.applyBatch({ checkpoint: 5n, events: [promptEffect(5, "txA", 0, 1)] });
    expect(s.applyBatch({ checkpoint: 5n, events: [promptEffect(5, "txA", 0, 1), promptEffect(5, "txA", 1, 2)] })).toBe(1);
    expect(s.list({}).length).toBe(2);
    expect(s.isProcessed("txA", 0)).toBe(true);
    expect(s.isProcessed("txB", 0)).toBe(false);
    s.close();
  });

  test("a failing batch leaves neither jobs nor cursor behind (one transaction)", () => {
    const s = tmpStore().open();
    s.applyBatch({ checkpoint: 1n, events: [promptEffect(1, "tx0", 0, 9)] });
    const bad = promptEffect(2, "txB", 1, 3);
    (bad.jobs[0] as { model: unknown }).model = null; // NOT NULL violation mid-batch
    expect(() => s.applyBatch({ checkpoint: 2n, events: [promptEffect(2, "txB", 0, 2), bad] })).toThrow();
    expect(s.cursor()).toBe(1n);
    expect(s.byTicket(ticket(2))).toEqual([]);
    expect(s.isProcessed("txB", 0)).toBe(false);
    s.close();
  });

  test("state survives reopen; recover() sends running jobs back to received", () => {
    const t = tmpStore();
    const s = t.open();
    s.applyBatch({ checkpoint: 3n, events: [promptEffect(3, "tx", 0, 1), promptEffect(3, "tx", 1, 2)] });
    const claimed = s.claimNext("m1")!;
    expect(claimed.ticketId).toBe(ticket(1));
    expect(claimed.state).toBe("running");
    expect(claimed.attempts).toBe(1);
    s.close(); // simulated crash: the running row stays running on disk
    const s2 = t.open();
    expect(s2.cursor()).toBe(3n);
    expect(s2.countByState().running).toBe(1);
    expect(s2.recover()).toBe(1);
    expect(s2.countByState()).toMatchObject({ received: 2, running: 0 });
    expect(s2.claimNext("m1")!.ticketId).toBe(ticket(1)); // FIFO order kept
    s2.close();
  });

  test("crash loop guard: a job interrupted too often is failed", () => {
    const t = tmpStore();
    const s = new SqliteJobStore(t.path, { maxGenerationAttempts: 2 });
    s.applyBatch({ checkpoint: 1n, events: [promptEffect(1, "tx", 0, 1)] });
    s.claimNext("m1");
    s.recover();
    s.claimNext("m1");
    s.recover();
    const [j] = s.byTicket(ticket(1));
    expect(j!.state).toBe("failed");
    expect(j!.error).toContain("interrupted 2 times");
    s.close();
  });

  test("claims are per model; unknown model jobs are never claimed", () => {
    const s = tmpStore().open();
    s.applyBatch({ checkpoint: 1n, events: [promptEffect(1, "tx", 0, 1, "a"), promptEffect(1, "tx", 1, 2, "b")] });
    expect(s.claimNext("b")!.ticketId).toBe(ticket(2));
    expect(s.claimNext("b")).toBeNull();
    expect(s.claimNext("zzz")).toBeNull();
    s.close();
  });

  test("outbox: signed tx recorded before send, pending after restart, committed with first-submission", () => {
    const t = tmpStore();
    const s = t.open();
    s.applyBatch({ checkpoint: 1n, events: [promptEffect(1, "tx", 0, 1), promptEffect(1, "tx", 1, 2)] });
    for (const _ of [1, 2]) {
      const j = s.claimNext("m1")!;
      s.markGenerated(j.id, { text: "out", tokens: null, inputTokens: 3, outputTokens: 1, rootHex: "aa", leafHex: "bb", generationMs: 5 });
    }
    const batch = s.takeSubmittable(10, Date.now());
    expect(batch.map((j) => j.ticketId)).toEqual([ticket(1), ticket(2)]);
    const tx = { digest: "D1", bytes: "Ynl0ZXM=", signatures: ["c2ln"], ticketIds: batch.map((j) => j.ticketId) };
    s.recordTx(tx, batch.map((j) => j.id), 1000);
    expect(s.takeSubmittable(10, Date.now())).toEqual([]);
    s.close();
    const s2 = t.open();
    const pending = s2.pendingTransactions(Date.now());
    expect(pending).toHaveLength(1);
    expect(pending[0]!.tx).toEqual(tx);
    expect(pending[0]!.jobs.map((j) => j.txAttempts)).toEqual([1, 1]);
    s2.applyTxResult(pending[0]!.jobs[0]!.id, { kind: "committed", digest: "D1", firstSubmission: true }, 2000);
    s2.applyTxResult(pending[0]!.jobs[1]!.id, { kind: "retry", reason: "stale", keepTx: false, nextAttemptAtMs: 5000 }, 2000);
    expect(s2.pendingTransactions(Date.now())).toEqual([]);
    expect(s2.takeSubmittable(10, 4999)).toEqual([]);
    expect(s2.takeSubmittable(10, 5000).map((j) => j.ticketId)).toEqual([ticket(2)]);
    const [c] = s2.byTicket(ticket(1));
    expect(c).toMatchObject({ state: "committed", firstSubmission: true, txDigest: "D1", committedAtMs: 2000, txSentAtMs: 1000 });
    expect(s2.unpublished(10).map((j) => j.id)).toEqual([c!.id]);
    s2.markPublished(c!.id, 3000);
    expect(s2.unpublished(10)).toEqual([]);
    s2.close();
  });

  test("takeSubmittable never puts two leaves of one ticket in a batch", () => {
    const s = tmpStore().open();
    const e = promptEffect(1, "tx", 0, 1);
    e.jobs.push({ ...e.jobs[0]!, leafIndex: 1, numLeaves: 2 });
    s.applyBatch({ checkpoint: 1n, events: [e] });
    for (const _ of [1, 2]) {
      const j = s.claimNext("m1")!;
      s.markGenerated(j.id, { text: "", tokens: null, inputTokens: 1, outputTokens: 0, rootHex: "aa", leafHex: "bb", generationMs: 1 });
    }
    expect(s.takeSubmittable(10, Date.now())).toHaveLength(1);
    s.close();
  });

  test("prompt index: settled tickets and old entries are dropped", () => {
    const s = tmpStore().open();
    s.applyBatch({ checkpoint: 1n, events: [promptEffect(1, "tx", 0, 1), promptEffect(1, "tx", 1, 2)] });
    s.applyBatch({ checkpoint: 2n, events: [{ origin: origin(2, "tx2", 0), jobs: [], prompts: [], settled: [ticket(1)] }] });
    expect(s.findPrompt(ticket(1))).toBeNull();
    expect(s.findPrompt(ticket(2))).not.toBeNull();
    expect(s.prunePrompts(Date.now() + 1)).toBe(1);
    expect(s.findPrompt(ticket(2))).toBeNull();
    s.close();
  });

  test("list filters by state, newest first", () => {
    const s = tmpStore().open();
    s.applyBatch({ checkpoint: 1n, events: [1, 2, 3].map((t, i) => promptEffect(1, "tx", i, t)) });
    s.markFailed(s.claimNext("m1")!.id, "boom");
    expect(s.list({ state: "failed" }).map((j) => j.error)).toEqual(["boom"]);
    expect(s.list({ limit: 2 }).map((j) => j.ticketId)).toEqual([ticket(3), ticket(2)]);
    s.close();
  });
});

describe("codec", () => {
  test("u64, bytes and non-finite f32 values round-trip exactly", async () => {
    const { decodeValue, encodeValue } = await import("../../src/jobs/codec.ts");
    const v = { a: 2n ** 64n - 1n, b: new Uint8Array([0, 255]), c: NaN, d: -Infinity, e: -0, f: Math.fround(0.1), g: [1n, "x"] };
    const back = decodeValue<typeof v>(encodeValue(v));
    expect(back.a).toBe(v.a);
    expect([...back.b]).toEqual([0, 255]);
    expect(back.c).toBeNaN();
    expect(back.d).toBe(-Infinity);
    expect(Object.is(back.e, -0)).toBe(true);
    expect(back.f).toBe(v.f);
    expect(back.g).toEqual([1n, "x"]);
  });
});

test("recover() resets submission backoffs so a restarted node retries at once", () => {
  const dir = mkdtempSync(join(tmpdir(), "atoma-store-"));
  try {
    const s = new SqliteJobStore(join(dir, "jobs.sqlite"));
    s.applyBatch({ checkpoint: 1n, events: [promptEffect(1, "tx", 0, 1)] });
    const j = s.claimNext("m1")!;
    s.markGenerated(j.id, { text: "x", tokens: null, inputTokens: 1, outputTokens: 1, rootHex: "aa", leafHex: "bb", generationMs: 1 });
    s.recordTx({ digest: "D", bytes: "", signatures: [], ticketIds: [j.ticketId] }, [j.id], 1);
    s.applyTxResult(j.id, { kind: "retry", reason: "timeout", keepTx: true, nextAttemptAtMs: Date.now() + 60_000, bumpAttempts: true }, 2);
    expect(s.hasPendingTransactions()).toBe(true);
    expect(s.pendingTransactions(Date.now())).toEqual([]);
    expect(s.get(j.id)!.txAttempts).toBe(2);
    s.recover();
    expect(s.pendingTransactions(Date.now()).map((p) => p.tx.digest)).toEqual(["D"]);
    s.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a DisputeEvent is noted on the ticket's jobs", () => {
  const dir = mkdtempSync(join(tmpdir(), "atoma-store-"));
  try {
    const s = new SqliteJobStore(join(dir, "jobs.sqlite"));
    s.applyBatch({ checkpoint: 1n, events: [promptEffect(1, "tx", 0, 1)] });
    s.applyBatch({ checkpoint: 9n, events: [{ origin: origin(9, "d", 0), jobs: [], prompts: [], settled: [], disputed: [ticket(1)] }] });
    expect(s.byTicket(ticket(1))[0]!.error).toBe("DisputeEvent at checkpoint 9");
    s.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
