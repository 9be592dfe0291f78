import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { SuiGrpcClient } from "@mysten/sui/grpc";
import { toBase64 } from "@mysten/sui/utils";
import { EventFollower, type FollowerOptions } from "../../src/chain/follower.ts";
import type { CheckpointBatch } from "../../src/protocol/types.ts";
import { startSuiServer, type SuiServer } from "../support/sui-server/index.ts";

let server: SuiServer;
let client: SuiGrpcClient;

beforeAll(async () => {
  server = await startSuiServer({ seed: "follower" });
  client = new SuiGrpcClient({ network: "localnet", baseUrl: server.url });
});
afterAll(() => server.stop());
afterEach(() => server.admin.setFaults({ clear: true }));

/** What the job store does: persist batch + cursor together, dedupe on (txDigest, eventIndex). */
class MemoryStore {
  cursor: bigint | null = null;
  tickets: string[] = [];
  seen = new Set<string>();
  duplicates = 0;
  batches: CheckpointBatch[] = [];
  failNext = 0;
  handle = async (batch: CheckpointBatch) => {
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new Error("disk full");
    }
    if (this.cursor !== null && batch.checkpoint <= this.cursor) throw new Error(`cursor went backwards: ${batch.checkpoint} after ${this.cursor}`);
    for (const e of batch.events) {
      const key = `${e.origin.txDigest}:${e.origin.eventIndex}`;
      if (this.seen.has(key)) this.duplicates += 1;
      this.seen.add(key);
      if (e.event.kind === "Text2TextPromptEvent") this.tickets.push(e.event.ticketId);
    }
    this.batches.push(batch);
    this.cursor = batch.checkpoint;
  };
}

/** Polls `pred`; the limit is only a hang guard, far above what any wait here needs. */
async function until(what: string, pred: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

function start(store: MemoryStore, opts: Partial<FollowerOptions> = {}) {
  const ctl = new AbortController();
  const follower = new EventFollower({
    client,
    eventPackageId: server.ledger.packageId,
    progressIntervalMs: 0,
    pollIntervalMs: 20,
    backoff: { initialMs: 20, maxMs: 100 },
    ...opts,
  });
  const done = follower.run(store.cursor, store.handle, ctl.signal);
  return {
    done,
    stop: async () => {
      ctl.abort();
      await done;
    },
  };
}

const prompt = (text: string) => server.admin.injectPrompt({ nodes: [7, 3], prompt: text, temperature: 0.7, maxTokens: 9, seed: "18446744073709551615" }).ticketId;

describe("event follower (subscribe mode)", () => {
  test("starts at the tip, delivers injected prompt events decoded", async () => {
    server.admin.injectPrompt({ nodes: [1] }); // before the start: not ours to see
    const store = new MemoryStore();
    const f = start(store);
    await until("first cursor", () => store.cursor !== null);
    expect(store.cursor).toBe(server.ledger.tip.seq);
    const t = prompt("hello");
    await until("prompt", () => store.tickets.length === 1);
    const ev = store.batches.at(-1)!.events[0]!;
    expect(ev.event).toMatchObject({ kind: "Text2TextPromptEvent", ticketId: t, nodes: [7n, 3n], chunksCount: 2n });
    if (ev.event.kind !== "Text2TextPromptEvent") throw new Error("unreachable");
    expect(new TextDecoder().decode(ev.event.params.prompt)).toBe("hello");
    expect(ev.event.params.temperature).toBe(Math.fround(0.7));
    expect(ev.event.params.randomSeed).toBe(18446744073709551615n);
    expect(ev.origin).toMatchObject({ checkpoint: server.ledger.tip.seq, eventIndex: 0, eventType: `${server.ledger.packageId}::gate::Text2TextPromptEvent` });
    await f.stop();
  });

  test("restart with the saved cursor: nothing lost, nothing twice", async () => {
    const store = new MemoryStore();
    let f = start(store);
    await until("first cursor", () => store.cursor !== null);
    const before = [prompt("a"), prompt("b")];
    await until("a,b", () => store.tickets.length === 2);
    await f.stop();
    const missed = [prompt("c")];
    server.admin.advance(3);
    missed.push(prompt("d"), prompt("e"));
    f = start(store);
    await until("c,d,e replayed", () => store.tickets.length === 5);
    const live = prompt("f");
    await until("f live", () => store.tickets.length === 6);
    expect(store.tickets).toEqual([...before, ...missed, live]);
    expect(store.duplicates).toBe(0);
    await f.stop();
  });

  test("start checkpoint from config replays history", async () => {
    const first = server.ledger.tip.seq + 1n;
    const ts = [prompt("h1"), prompt("h2")];
    const store = new MemoryStore();
    const f = start(store, { startCheckpoint: first });
    await until("history", () => store.tickets.length === 2);
    expect(store.tickets).toEqual(ts);
    await f.stop();
  });

  test("stream dropped mid-way: reconnect and gap replay", async () => {
    const store = new MemoryStore();
    const f = start(store);
    await until("first cursor", () => store.cursor !== null);
    server.admin.setFaults({ dropStream: { method: "SubscribeCheckpoints", afterFrames: 2, count: 2 } });
    // The current stream is unaffected; force a reconnect by failing it once.
    await f.stop();
    const g = start(store);
    const ts: string[] = [];
    for (let i = 0; i < 8; i++) {
      ts.push(prompt(`drop${i}`));
      await Bun.sleep(15);
    }
    await until("all after drops", () => store.tickets.length === 8);
    expect(store.tickets).toEqual(ts);
    expect(store.duplicates).toBe(0);
    expect(server.admin.calls("SubscribeCheckpoints").length).toBeGreaterThanOrEqual(3);
    await g.stop();
  });

  test("UNAVAILABLE errors: backs off (no busy loop), then follows", async () => {
    server.admin.clearCalls();
    server.admin.setFaults({ error: { method: "SubscribeCheckpoints", status: "UNAVAILABLE", count: 3 } });
    const store = new MemoryStore();
    const t0 = Date.now();
    const f = start(store);
    await until("connected", () => store.cursor !== null);
    const elapsed = Date.now() - t0;
    expect(server.admin.calls("SubscribeCheckpoints").length).toBe(4);
    expect(elapsed).toBeGreaterThanOrEqual(10 + 20 + 40); // equal jitter: ≥ half of 20, 40, 80
    const t = prompt("after errors");
    await until("event", () => store.tickets.includes(t));
    await f.stop();
  });

  test("delayed responses and a failing store are survived", async () => {
    const store = new MemoryStore();
    store.cursor = server.ledger.tip.seq;
    const ts = [prompt("slow1"), prompt("slow2")];
    server.admin.setFaults({ delay: { method: "ListCheckpoints", ms: 300 } });
    store.failNext = 1;
    const f = start(store);
    await until("both", () => store.tickets.length === 2);
    expect(store.tickets).toEqual(ts);
    expect(store.duplicates).toBe(0);
    await f.stop();
  });

  test("filter rejected by the node: retries unfiltered and filters client-side", async () => {
    server.admin.setFaults({ rejectFilters: true });
    server.admin.clearCalls();
    server.admin.advance(1); // an unfiltered stream opens with the tip checkpoint: keep it empty
    const store = new MemoryStore();
    const f = start(store);
    await until("connected", () => store.cursor !== null);
    server.admin.injectEvents([{ type: `0x${"77".repeat(32)}::gate::Text2TextPromptEvent`, bcs: new Uint8Array([1, 2, 3]) }]);
    const t = prompt("unfiltered");
    await until("event", () => store.tickets.length === 1);
    expect(store.tickets).toEqual([t]);
    const subs = server.admin.calls("SubscribeCheckpoints") as { input: { filter?: unknown } }[];
    expect(subs[0]!.input.filter).toBeDefined();
    expect(subs.at(-1)!.input.filter).toBeUndefined();
    await f.stop();
  });

  test("unknown and malformed events are skipped, good ones in the same transaction kept", async () => {
    const store = new MemoryStore();
    const f = start(store);
    await until("connected", () => store.cursor !== null);
    const good = server.admin.injectPrompt({ nodes: [5], prompt: "ok" });
    const goodBcs = server.ledger.txs.get(good.txDigest)!.events[0]!.bcs;
    const at = server.admin.injectEvents([
      { type: "gate::FutureEvent", bcs: new Uint8Array([0]) },
      { type: "gate::Text2TextPromptEvent", bcs: toBase64(goodBcs.slice(0, 40)) },
      { type: "gate::Text2TextPromptEvent", bcs: goodBcs },
    ]);
    await until("both good copies", () => store.tickets.length === 2);
    const last = store.batches.at(-1)!;
    expect(last.checkpoint).toBe(at.checkpoint);
    expect(last.events.map((e) => e.origin.eventIndex)).toEqual([2]);
    await f.stop();
  });
});

describe("event follower (poll mode)", () => {
  test("ListEvents with short and empty pages: every event once, grouped by checkpoint", async () => {
    server.admin.setFaults({ scanLimit: 1 });
    const store = new MemoryStore();
    store.cursor = server.ledger.tip.seq;
    const ts: string[] = [];
    for (let i = 0; i < 4; i++) {
      server.admin.injectEvents([{ type: `0x${"66".repeat(32)}::other::Noise`, bcs: new Uint8Array([i]) }]);
      ts.push(...server.admin.injectPrompts([{ nodes: [1], prompt: `p${i}a` }, { nodes: [2], prompt: `p${i}b` }]).map((p) => p.ticketId));
    }
    server.admin.clearCalls();
    const f = start(store, { mode: "poll" });
    await until("all polled", () => store.tickets.length === 8);
    expect(store.tickets).toEqual(ts);
    expect(store.batches.every((b) => b.events.every((e) => e.origin.checkpoint === b.checkpoint))).toBe(true);
    // scanLimit 1 ⇒ the client had to follow short/empty pages.
    expect(server.admin.calls("ListEvents").length).toBeGreaterThan(8);
    const t = prompt("live poll");
    await until("live", () => store.tickets.includes(t));
    await until("cursor at tip", () => store.cursor === server.ledger.tip.seq);
    expect(store.duplicates).toBe(0);
    await f.stop();
  });

  test("no subscriptions on the node (UNIMPLEMENTED): falls back to polling", async () => {
    server.admin.setFaults({ unimplemented: ["SubscribeCheckpoints"] });
    server.admin.clearCalls();
    const store = new MemoryStore();
    store.cursor = server.ledger.tip.seq;
    const f = start(store);
    const t = prompt("fallback");
    await until("event", () => store.tickets.includes(t));
    const t2 = prompt("fallback, still polling");
    await until("second event", () => store.tickets.includes(t2));
    await f.stop();
    expect(store.tickets).toEqual([t, t2]);
    expect(store.duplicates).toBe(0);
    // It asked for a subscription, was refused, and got the events by polling.
    expect(server.admin.calls("SubscribeCheckpoints").length).toBeGreaterThanOrEqual(1);
    expect(server.admin.calls("ListEvents").length + server.admin.calls("ListCheckpoints").length).toBeGreaterThanOrEqual(2);
  });
});

describe("event follower (edge cases)", () => {
  test("no ListCheckpoints on the node: gap replayed with GetCheckpoint per number", async () => {
    const store = new MemoryStore();
    store.cursor = server.ledger.tip.seq;
    const ts = [prompt("g1"), prompt("g2")];
    server.admin.setFaults({ unimplemented: ["ListCheckpoints"] });
    server.admin.clearCalls();
    const f = start(store);
    await until("replayed", () => store.tickets.length === 2);
    expect(store.tickets).toEqual(ts);
    expect(server.admin.calls("GetCheckpoint").length).toBeGreaterThanOrEqual(2);
    await f.stop();
  });

  test("NewlySampledNodesEvent and settlement events arrive decoded", async () => {
    const store = new MemoryStore();
    store.cursor = server.ledger.tip.seq;
    const t = prompt("resample");
    server.admin.injectNewlySampled(t, [{ nodeId: 5, order: 1 }]);
    const kinds: string[] = [];
    const f = start(store);
    await until("both", () => store.batches.flatMap((b) => b.events).length === 2);
    for (const b of store.batches) for (const e of b.events) kinds.push(e.event.kind);
    expect(kinds).toEqual(["Text2TextPromptEvent", "NewlySampledNodesEvent"]);
    const ns = store.batches.flatMap((b) => b.events).find((e) => e.event.kind === "NewlySampledNodesEvent")!.event;
    expect(ns).toEqual({ kind: "NewlySampledNodesEvent", ticketId: t, newNodes: [{ nodeId: 5n, order: 1n }] });
    await f.stop();
  });

  test("cursor older than the node's history: skip ahead loudly, or fail when configured", async () => {
    const old = server.ledger.tip.seq;
    prompt("lost to pruning");
    server.admin.advance(2);
    const t = prompt("kept");
    server.admin.prune(server.ledger.tip.seq);
    const store = new MemoryStore();
    store.cursor = old;
    const f = start(store);
    await until("kept", () => store.tickets.length === 1);
    expect(store.tickets).toEqual([t]);
    await f.stop();
    const strict = new MemoryStore();
    strict.cursor = old;
    const g = start(strict, { onPruned: "fail" });
    await expect(g.done).rejects.toThrow(/older than the full node's history/);
  });

  test("abort during backoff returns promptly", async () => {
    server.admin.setFaults({ error: { method: "SubscribeCheckpoints", status: "UNAVAILABLE", count: 100 } });
    server.admin.clearCalls();
    const store = new MemoryStore();
    // A 10-minute backoff: waiting it out instead of returning on abort would lose the race below.
    const f = start(store, { backoff: { initialMs: 600_000, maxMs: 600_000 } });
    await until("first failure", () => server.admin.calls("SubscribeCheckpoints").length > 0);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const guard = new Promise<string>((r) => (timer = setTimeout(() => r("still waiting out the backoff"), 60_000)));
    expect(await Promise.race([f.stop().then(() => "returned"), guard])).toBe("returned");
    clearTimeout(timer);
  });

  test("poll mode restart: resumes from the checkpoint cursor without repeats", async () => {
    const store = new MemoryStore();
    store.cursor = server.ledger.tip.seq;
    let f = start(store, { mode: "poll" });
    const a = prompt("pa");
    await until("pa", () => store.tickets.length === 1);
    await f.stop();
    const b = [prompt("pb"), prompt("pc")];
    f = start(store, { mode: "poll" });
    await until("pb,pc", () => store.tickets.length === 3);
    expect(store.tickets).toEqual([a, ...b]);
    expect(store.duplicates).toBe(0);
    await f.stop();
  });
});

describe("event follower (watchdog)", () => {
  test("a silent subscription is reopened after streamIdleTimeoutMs, nothing lost", async () => {
    server.admin.clearCalls();
    const store = new MemoryStore();
    const f = start(store, { streamIdleTimeoutMs: 60 });
    await until("connected", () => store.cursor !== null);
    await until("reopened", () => server.admin.calls("SubscribeCheckpoints").length >= 3);
    const t = prompt("after idle");
    await until("event", () => store.tickets.includes(t));
    await f.stop();
    expect(store.tickets).toEqual([t]);
    expect(store.duplicates).toBe(0);
  });
});

describe("event follower (live chain)", () => {
  test("a chain sealing empty checkpoints every 5 ms: cursor keeps up, events still exactly once", async () => {
    const live = await startSuiServer({ seed: "live", checkpointIntervalMs: 5 });
    try {
      const c = new SuiGrpcClient({ network: "localnet", baseUrl: live.url });
      const store = new MemoryStore();
      const ctl = new AbortController();
      let tip = 0n;
      const done = new EventFollower({ client: c, eventPackageId: live.ledger.packageId, progressIntervalMs: 20, onTip: (t) => (tip = t) }).run(null, store.handle, ctl.signal);
      await until("cursor", () => store.cursor !== null);
      const ts = [live.admin.injectPrompt({ nodes: [1] }).ticketId, live.admin.injectPrompt({ nodes: [2] }).ticketId];
      await until("events", () => store.tickets.length === 2);
      // Enough empty checkpoints for the throttling check below to mean something (with only a
      // handful sealed, one batch per checkpoint could still pass for throttled, or fail by one).
      await until("the chain to seal 40 checkpoints", () => live.ledger.tip.seq >= 40n);
      await until("cursor near tip", () => store.cursor! >= live.ledger.tip.seq - 10n);
      expect(tip).toBeGreaterThanOrEqual(store.cursor!);
      ctl.abort();
      await done;
      expect(store.tickets).toEqual(ts);
      expect(store.batches.length).toBeLessThan(Number(live.ledger.tip.seq)); // empty checkpoints are throttled
    } finally {
      await live.stop();
    }
  });
});

describe("event follower (long gaps)", () => {
  test("a gap of 150 checkpoints is replayed page by page under a scan budget", async () => {
    const store = new MemoryStore();
    store.cursor = server.ledger.tip.seq;
    const ts: string[] = [];
    for (let i = 0; i < 15; i++) {
      server.admin.advance(9);
      ts.push(prompt(`gap${i}`));
    }
    server.admin.setFaults({ scanLimit: 7 });
    server.admin.clearCalls();
    const f = start(store);
    await until("all 15", () => store.tickets.length === 15);
    expect(store.tickets).toEqual(ts);
    expect(server.admin.calls("ListCheckpoints").length).toBeGreaterThan(3);
    await f.stop();
  });

  test("poll mode on a node that rejects filters: unfiltered ListEvents, filtered here", async () => {
    server.admin.setFaults({ rejectFilters: true });
    const store = new MemoryStore();
    store.cursor = server.ledger.tip.seq;
    server.admin.injectEvents([{ type: `0x${"44".repeat(32)}::gate::Text2TextPromptEvent`, bcs: new Uint8Array([9]) }]);
    const t = prompt("poll unfiltered");
    const f = start(store, { mode: "poll" });
    await until("event", () => store.tickets.length === 1);
    expect(store.tickets).toEqual([t]);
    await f.stop();
  });
});
