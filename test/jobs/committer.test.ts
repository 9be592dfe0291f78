/**
 * The serial commitment loop with the real Sui submitter against the local Sui test server:
 * batching, outbox-before-send, in-doubt transactions resolved by resume (never a second
 * transaction), contract aborts mapped to done / failed, and publication of first submissions.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { Ed25519Keypair } from "@mysten/sui/keypairs/ed25519";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSuiClient } from "../../src/chain/client.ts";
import { SuiCommitmentSubmitter } from "../../src/chain/commitment/submitter.ts";
import { toHex } from "@mysten/bcs";
import { commitText } from "../../src/commitment/merkle.ts";
import { Committer } from "../../src/jobs/committer.ts";
import { SqliteJobStore } from "../../src/jobs/sqlite-store.ts";
import type { NewJob } from "../../src/jobs/types.ts";
import { Publisher } from "../../src/publish/publisher.ts";
import { startSuiServer, type SuiServer } from "../support/sui-server/index.ts";

const key = new Ed25519Keypair();
let server: SuiServer;
let submitter: SuiCommitmentSubmitter;
let store: SqliteJobStore;
let dir: string;
let cp = 0;

beforeAll(async () => {
  server = await startSuiServer({ nodes: [{ address: key.toSuiAddress(), smallId: 1 }, { address: new Ed25519Keypair().toSuiAddress(), smallId: 2 }] });
  submitter = makeSubmitter();
});

/** A submitter as a (re)started node builds it: no memory of earlier transactions. */
function makeSubmitter(): SuiCommitmentSubmitter {
  const info = server.admin.info();
  return new SuiCommitmentSubmitter({
    client: createSuiClient({ network: "localnet", httpUrl: server.url, requestTimeoutMs: 2000 }),
    keypair: key,
    packageId: info.packageId,
    atomaDbId: info.atomaDbId,
    nodeBadgeId: info.nodes[0]!.badgeId,
    gasBudget: 5_000_000n,
    requestTimeoutMs: 2000,
    backoffMs: 10,
  });
}
afterAll(async () => {
  await server.stop();
  store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = mkdtempSync(join(tmpdir(), "atoma-committer-"));
  store = new SqliteJobStore(join(dir, "jobs.sqlite"));
  server.admin.setFaults({ clear: true });
});

/** Opens tickets on the test server and stores generated jobs for them (as the workers would). */
function generatedJobs(texts: string[], nodes: number[] = [1]): string[] {
  const injected = server.admin.injectPrompts(texts.map((t) => ({ prompt: t, model: "m", nodes })));
  const index = nodes.indexOf(1);
  const jobs: NewJob[] = injected.map((p) => ({
    ticketId: p.ticketId, leafIndex: Math.max(index, 0), numLeaves: nodes.length, model: "m", outputDestination: new Uint8Array(),
    origin: { checkpoint: p.checkpoint, txDigest: p.txDigest, eventIndex: p.eventIndex, eventType: "gate::Text2TextPromptEvent" },
    job: { kind: "text", params: { maxTokens: 4n, model: "m", prePromptTokens: [], prependOutputWithInput: false, prompt: new Uint8Array([104]), randomSeed: 0n, repeatLastN: 1n, repeatPenalty: 1, shouldStreamOutput: false, temperature: 0, topK: 0n, topP: 1 } },
  }));
  store.applyBatch({ checkpoint: BigInt(++cp), events: [{ origin: { ...jobs[0]!.origin, txDigest: `local-${cp}` }, jobs, prompts: [], settled: [] }] });
  texts.forEach((text, i) => {
    const j = store.claimNext("m")!;
    const c = commitText(text, nodes.length, Math.max(index, 0));
    store.markGenerated(j.id, { text, tokens: null, inputTokens: 1 + i, outputTokens: text.length, rootHex: toHex(c.root), leafHex: toHex(c.leaf), generationMs: 1 });
  });
  return injected.map((p) => p.ticketId);
}

/** Polls `cond` every 10 ms; the limit is only a hang guard (a stuck loop fails instead of hanging). */
async function until(what: string, cond: () => boolean, guardMs = 30_000): Promise<void> {
  const deadline = Date.now() + guardMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out (hang guard ${guardMs} ms) waiting for ${what}`);
    await Bun.sleep(10);
  }
}

/** The real store, counting calls to `method` (instrumentation only; every call is delegated). */
function counting(target: SqliteJobStore, method: keyof SqliteJobStore): { store: SqliteJobStore; calls: () => number } {
  let n = 0;
  const store = new Proxy(target, {
    get(t, prop, recv) {
      const v = Reflect.get(t, prop, recv);
      if (typeof v !== "function") return v;
      return prop === method ? (...args: unknown[]) => (n++, v.apply(t, args)) : v.bind(t);
    },
  });
  return { store, calls: () => n };
}

const ours = (t: string) => server.admin.commitments(t).filter((c) => c.nodeSmallId === 1n);

describe("Committer", () => {
  test("a batch of maxBatchSize; each recorded transaction linked to exactly its tickets", async () => {
    const tickets = generatedJobs(["a", "bb", "ccc", "dddd", "eeeee"]);
    const c = new Committer(store, submitter, { maxBatchSize: 4 });
    expect(await c.submitFresh()).toBe(true);
    expect(await c.submitFresh()).toBe(true);
    expect(await c.submitFresh()).toBe(false);
    const jobs = tickets.map((t) => store.byTicket(t)[0]!);
    expect(jobs.map((j) => j.state)).toEqual(Array(5).fill("committed"));
    // Sui forbids Move calls after a Random-using one, so the submitter sends one transaction per
    // commitment; every job must point at the transaction that carried its own ticket.
    expect(new Set(jobs.map((j) => j.txDigest)).size).toBe(5);
    for (const [i, t] of tickets.entries()) {
      const [rec] = ours(t);
      expect(rec!.txDigest).toBe(jobs[i]!.txDigest!);
      expect(rec!.root).toBe(jobs[i]!.rootHex!);
      expect(rec!.outputTokens).toBe(BigInt(jobs[i]!.outputTokens!));
      expect(rec!.first).toBe(true);
      expect(jobs[i]!.firstSubmission).toBe(true);
    }
  });

  test("lost responses: the job keeps its signed tx; resume settles it without a second transaction", async () => {
    const [t] = generatedJobs(["lost"]);
    server.admin.setFaults({ executeTimeout: { count: 10, mode: "error" } });
    server.admin.setFaults({ error: { method: "GetTransaction", status: "UNAVAILABLE", count: 10 } });
    const c = new Committer(store, submitter, { maxBatchSize: 4, backoffBaseMs: 1 });
    await c.submitFresh();
    const j = store.byTicket(t!)[0]!;
    expect(j.state).toBe("generated");
    expect(j.txDigest).not.toBeNull();
    expect(j.error).toMatch(/timeout|unavailable/);
    expect(ours(t!)).toHaveLength(1); // it executed; only the answer was lost
    server.admin.setFaults({ clear: true });
    // A fresh committer (as after a restart) finds the recorded transaction and resumes it.
    await until("the recorded transaction's 1 ms backoff to pass", () => store.pendingTransactions(Date.now()).length === 1);
    const again = new Committer(store, submitter, { maxBatchSize: 4 });
    expect(await again.resumePending()).toBe(true);
    const done = store.byTicket(t!)[0]!;
    expect(done).toMatchObject({ state: "committed", txDigest: j.txDigest, firstSubmission: true });
    expect(ours(t!)).toHaveLength(1);
  });

  test("nothing new is signed while a recorded transaction is unresolved", async () => {
    const [t1] = generatedJobs(["first"]);
    server.admin.setFaults({ executeTimeout: { count: 100, mode: "error" } });
    server.admin.setFaults({ error: { method: "GetTransaction", status: "UNAVAILABLE", count: 1000 } });
    const c = new Committer(store, submitter, { maxBatchSize: 4, backoffBaseMs: 5000 });
    await c.submitFresh(); // t1's transaction is now in doubt, with a long backoff
    expect(store.hasPendingTransactions()).toBe(true);
    const [t2] = generatedJobs(["second"]);
    // A fresh submitter (as after a restart) has no in-memory doubt: the store alone must hold it back.
    const executes = server.admin.calls("ExecuteTransaction").length;
    const rounds = counting(store, "pendingTransactions");
    const restarted = new Committer(rounds.store, makeSubmitter(), { maxBatchSize: 4, backoffBaseMs: 5000, pollMs: 5 });
    const ctl = new AbortController();
    const run = restarted.run(ctl.signal);
    // Each loop round starts with pendingTransactions(); by the 4th, three rounds have made (and
    // carried out) their decision whether to sign t2.
    await until("three committer rounds", () => rounds.calls() >= 4);
    expect(store.byTicket(t2!)[0]!.txDigest).toBeNull(); // not signed: t1's tx may still land
    expect(server.admin.calls("ExecuteTransaction").length).toBe(executes);
    ctl.abort();
    await run;
    server.admin.setFaults({ clear: true });
    // A restart resets backoffs: the pending transaction is resolved first, then t2 goes out.
    store.recover();
    const ctl2 = new AbortController();
    const run2 = new Committer(store, makeSubmitter(), { maxBatchSize: 4 }).run(ctl2.signal);
    await until("t2 committed", () => store.byTicket(t2!)[0]!.state === "committed");
    ctl2.abort();
    await run2;
    expect(store.byTicket(t1!)[0]!.state).toBe("committed");
    expect(ours(t1!)).toHaveLength(1);
    expect(ours(t2!)).toHaveLength(1);
  });

  test("contract aborts: already committed → committed (not first); not awaiting → failed", async () => {
    const [dup] = generatedJobs(["dup"], [1, 2]); // two nodes: the ticket stays open after our commit
    const c = new Committer(store, submitter, { maxBatchSize: 4 });
    await c.submitFresh();
    // A second leaf job for the same ticket: the contract answers EAlreadyCommitted.
    const first = store.byTicket(dup!)[0]!;
    store.applyBatch({ checkpoint: BigInt(++cp), events: [{ origin: { ...first.origin, txDigest: `dup-${cp}` }, prompts: [], settled: [], jobs: [{ ticketId: first.ticketId, model: first.model, job: first.job, outputDestination: first.outputDestination, origin: first.origin, leafIndex: 1, numLeaves: 2 }] }] });
    const j2 = store.claimNext("m")!;
    store.markGenerated(j2.id, { text: "dup", tokens: null, inputTokens: 1, outputTokens: 3, rootHex: first.rootHex!, leafHex: first.leafHex!, generationMs: 1 });
    const [notMine] = generatedJobs(["nope"], [2]);
    await c.submitFresh();
    expect(store.get(j2.id)).toMatchObject({ state: "committed", firstSubmission: false });
    expect(store.get(j2.id)!.error).toContain("already committed");
    expect(store.get(j2.id)!.error).toContain("not published");
    expect(store.byTicket(notMine!)[0]).toMatchObject({ state: "failed" });
    expect(store.byTicket(notMine!)[0]!.error).toContain("not_awaiting");
    expect(ours(dup!)).toHaveLength(1);
    expect(ours(notMine!)).toHaveLength(0);
  });

  test("publisher posts first submissions to the webhook, retrying a failing endpoint", async () => {
    const got: any[] = [];
    let calls = 0;
    const hook = Bun.serve({ port: 0, fetch: async (r) => (calls++ < 2 ? new Response("no", { status: 500 }) : (got.push(await r.json()), new Response("ok"))) });
    try {
      const [t] = generatedJobs(["published text"]);
      await new Committer(store, submitter, { maxBatchSize: 4 }).submitFresh();
      const ctl = new AbortController();
      const p = new Publisher(store, { webhookUrl: `http://127.0.0.1:${hook.port}/`, nodeAddress: key.toSuiAddress(), backoffMs: 5 });
      const run = p.run(ctl.signal);
      // The webhook sees the body before the publisher sees the answer and marks the job: wait for both.
      await until("the output received and the job marked published", () => got.length > 0 && store.byTicket(t!)[0]!.publishedAtMs !== null);
      ctl.abort();
      await run;
      expect(got[0].data).toBe("published text");
      expect(got[0].metadata.ticket_id).toBe(t!.slice(2));
      expect(got[0].metadata.node_public_key).toBe(key.toSuiAddress());
      expect(store.byTicket(t!)[0]!.publishedAtMs).not.toBeNull();
      expect(store.unpublished(10)).toEqual([]);
    } finally {
      hook.stop(true);
    }
  });

  test("a store error does not end the publisher loop: it backs off, retries and publishes", async () => {
    const [t] = generatedJobs(["after the outage"]);
    await new Committer(store, submitter, { maxBatchSize: 4 }).submitFresh();
    // The real store, with its first two `unpublished` queries failing as a locked/corrupt database would.
    let calls = 0;
    const flaky = new Proxy(store, {
      get(target, prop, recv) {
        if (prop === "unpublished") {
          return (limit: number) => {
            if (++calls <= 2) throw new Error("database is locked");
            return target.unpublished(limit);
          };
        }
        const v = Reflect.get(target, prop, recv);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    const ctl = new AbortController();
    let settled = false;
    const run = new Publisher(flaky, { webhookUrl: undefined, nodeAddress: key.toSuiAddress() })
      .run(ctl.signal)
      .finally(() => (settled = true));
    // Two backoffs (≤ 0.5 s + ≤ 1 s) come before the retry that succeeds.
    await until("publication or the loop ending", () => settled || store.byTicket(t!)[0]!.publishedAtMs !== null);
    expect({ settled, calls: calls >= 3 }).toEqual({ settled: false, calls: true }); // still running, retried after both errors
    expect(store.byTicket(t!)[0]!.publishedAtMs).not.toBeNull();
    ctl.abort();
    await expect(run).resolves.toBeUndefined(); // the un-awaited run() never rejects
  });

  test("a webhook's retry backoff is not cut short by wake()", async () => {
    const times: number[] = [];
    const hook = Bun.serve({ port: 0, fetch: () => (times.push(Date.now()), new Response("no", { status: 500 })) });
    try {
      generatedJobs(["waking"]);
      await new Committer(store, submitter, { maxBatchSize: 4 }).submitFresh();
      const ctl = new AbortController();
      const p = new Publisher(store, { webhookUrl: `http://127.0.0.1:${hook.port}/`, nodeAddress: key.toSuiAddress(), backoffMs: 300, attempts: 2 });
      const run = p.run(ctl.signal);
      await until("the first webhook attempt", () => times.length > 0);
      for (let i = 0; i < 10; i++) (p.wake(), await Bun.sleep(10));
      await until("the second webhook attempt", () => times.length >= 2);
      ctl.abort();
      await run;
      expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(250);
    } finally {
      hook.stop(true);
    }
  });
});
