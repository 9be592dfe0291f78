/**
 * Resampled leaves whose prompt the node never indexed (spec §5.4): real SQLite store, real ingest,
 * the real SDK client and prompt lookup against the local Sui test server.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { SuiGrpcClient } from "@mysten/sui/grpc";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jobView } from "../../src/api/views.ts";
import { decodeChainEvent } from "../../src/chain/events/decode.ts";
import { findPromptEvent } from "../../src/chain/prompt-lookup.ts";
import { ingest, type IngestStats } from "../../src/jobs/ingest.ts";
import { Resampler } from "../../src/jobs/resampler.ts";
import { SqliteJobStore } from "../../src/jobs/sqlite-store.ts";
import type { CheckpointBatch } from "../../src/protocol/types.ts";
import { newTicketId } from "../support/sui-server/events.ts";
import { startSuiServer, type SuiServer } from "../support/sui-server/index.ts";

const SMALL_ID = 7;
let server: SuiServer;
let client: SuiGrpcClient;
let dir: string;

beforeAll(async () => {
  server = await startSuiServer({ seed: "resampler" });
  client = new SuiGrpcClient({ network: "localnet", baseUrl: server.url });
  dir = mkdtempSync(join(tmpdir(), "atoma-resampler-"));
});
afterAll(() => {
  server.stop();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => server.admin.setFaults({ clear: true }));

let n = 0;
const openStore = (name = `s${n++}`) => new SqliteJobStore(join(dir, `${name}.sqlite`));
const ctx = (store: SqliteJobStore) => ({ smallId: BigInt(SMALL_ID), policy: "chunks_count" as const, hostedModels: new Set(["m"]), store });

/** The checkpoint the server sealed for `injected`, decoded as the follower would. */
function batchOf(checkpoint: bigint): CheckpointBatch {
  const cp = server.ledger.checkpoint(checkpoint)!;
  const pkg = server.ledger.packageId;
  const events = cp.txs.flatMap((tx) =>
    tx.events.map((e, i) => {
      const d = decodeChainEvent({ eventType: e.eventType, bcs: e.bcs }, pkg);
      if (!d.ok) throw new Error(d.message);
      return { origin: { checkpoint, txDigest: tx.digest, eventIndex: i, eventType: e.eventType }, event: d.event };
    }),
  );
  return { checkpoint, events };
}

function resampler(store: SqliteJobStore, o: { maxAttempts?: number; onJobs?: () => void } = {}) {
  return new Resampler(store, {
    ctx: ctx(store),
    lookup: (t, opts) => findPromptEvent(client, server.ledger.packageId, t, opts),
    maxAttempts: o.maxAttempts,
    onJobs: o.onJobs,
    backoff: { initialMs: 1, maxMs: 2 },
    requestTimeoutMs: 2000,
  });
}

describe("resampled prompts not in the local index", () => {
  test("looked up on chain: job at leaf index = order over the prompt's leaf count; idempotent", async () => {
    const store = openStore();
    const p = server.admin.injectPrompt({ prompt: "from before my cursor", model: "m", nodes: [3, 4, 5], maxTokens: 9, seed: 5 });
    server.admin.advance(3);
    const rs = server.admin.injectNewlySampled(p.ticketId, [{ nodeId: 4, order: 0 }, { nodeId: SMALL_ID, order: 2 }]);
    const stats: IngestStats = { notServable: 0, disputes: 0 };
    // The node started after the prompt: only the resample's checkpoint is ingested.
    expect(store.applyBatch(ingest(batchOf(rs.checkpoint), ctx(store), stats))).toBe(0);
    expect(stats.unresolved).toBe(1);
    expect(store.cursor()).toBe(rs.checkpoint);
    expect(store.dueResamples(Date.now(), 10)).toMatchObject([{ ticketId: p.ticketId, leafIndex: 2, attempts: 0 }]);

    let woke = 0;
    await resampler(store, { onJobs: () => woke++ }).round();
    const jobs = store.byTicket(p.ticketId);
    expect(jobs.map((j) => [j.leafIndex, j.numLeaves, j.model, j.state])).toEqual([[2, 3, "m", "received"]]);
    expect(jobs[0]!.origin).toEqual({ checkpoint: rs.checkpoint, txDigest: rs.txDigest, eventIndex: 0, eventType: `${server.ledger.packageId}::settlement::NewlySampledNodesEvent` });
    if (jobs[0]!.job.kind !== "text") throw new Error("kind");
    expect(new TextDecoder().decode(jobs[0]!.job.params.prompt)).toBe("from before my cursor");
    expect(jobs[0]!.job.params.maxTokens).toBe(9n);
    expect(woke).toBe(1);
    expect(store.hasResamples()).toBe(false);
    expect(store.findPrompt(p.ticketId)?.ticketId).toBe(p.ticketId); // indexed now

    // The same resample redelivered, and a later one for the same leaf: no duplicate job, no new row.
    expect(store.applyBatch(ingest(batchOf(rs.checkpoint), ctx(store)))).toBe(0);
    const again = server.admin.injectNewlySampled(p.ticketId, [{ nodeId: SMALL_ID, order: 2 }]);
    expect(store.applyBatch(ingest(batchOf(again.checkpoint), ctx(store)))).toBe(0);
    expect(store.hasResamples()).toBe(false);
    expect(store.byTicket(p.ticketId)).toHaveLength(1);
    store.close();
  });

  test("prompt nowhere on chain: retried with backoff, then failed jobs with the reason", async () => {
    const store = openStore();
    const ticketId = newTicketId("lost");
    const rs = server.admin.injectNewlySampled(ticketId, [{ nodeId: SMALL_ID, order: 1 }, { nodeId: SMALL_ID, order: 3 }]);
    store.applyBatch(ingest(batchOf(rs.checkpoint), ctx(store)));
    const r = resampler(store, { maxAttempts: 3 });
    await r.round();
    const [row] = store.dueResamples(Date.now() + 60_000, 10);
    expect(row).toMatchObject({ attempts: 1 });
    expect(row!.lastError).toContain("original prompt event not found on chain");
    expect(store.byTicket(ticketId)).toEqual([]);
    for (let i = 0; i < 5 && store.hasResamples(); i++) {
      await Bun.sleep(10);
      await r.round();
    }
    const failed = store.list({ state: "failed", ticketId });
    expect(failed.map((j) => j.leafIndex).sort()).toEqual([1, 3]);
    expect(failed[0]!.error).toMatch(/^NewlySampledNodesEvent for this node: original prompt event not found on chain \(\d+ page\(s\) of prompt events scanned, whole history\); gave up after 3 attempt\(s\)$/);
    // What `atoma-node jobs list --json` / JSON-RPC `jobs` show for it.
    expect(jobView(failed[0]!)).toMatchObject({ ticket_id: ticketId, state: "failed", model: "", num_leaves: 0, event_tx: rs.txDigest, error: failed[0]!.error });
    expect(store.hasResamples()).toBe(false);
    expect(store.claimNext("")).toBeNull(); // failed rows are never picked up by a worker
    store.close();
  });

  test("RPC errors are retried; a restart picks pending rows up again", async () => {
    const name = "restart";
    let store = openStore(name);
    const p = server.admin.injectPrompt({ prompt: "survives restarts", model: "m", nodes: [1] });
    const rs = server.admin.injectNewlySampled(p.ticketId, [{ nodeId: SMALL_ID, order: 0 }]);
    store.applyBatch(ingest(batchOf(rs.checkpoint), ctx(store)));
    server.admin.setFaults({ error: { method: "ListEvents", status: "UNAVAILABLE", message: "node is syncing" } });
    await resampler(store).round();
    expect(store.dueResamples(Date.now() + 60_000, 10)[0]!.lastError).toContain("prompt lookup failed: node is syncing");
    store.close(); // crash/restart

    store = openStore(name);
    expect(store.hasResamples()).toBe(true);
    const ctl = new AbortController();
    const loop = resampler(store).run(ctl.signal);
    const deadline = Date.now() + 5000;
    while (store.hasResamples() && Date.now() < deadline) await Bun.sleep(20);
    ctl.abort();
    await loop;
    expect(store.byTicket(p.ticketId).map((j) => [j.leafIndex, j.numLeaves, j.state])).toEqual([[0, 1, "received"]]);
    store.close();
  });
});
