import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TransactionError } from "@mysten/sui/client";
import { GrpcTypes, SuiGrpcClient } from "@mysten/sui/grpc";
import { startSuiServer, type SuiServer } from "../support/sui-server/index.ts";

let server: SuiServer;
let text: SuiGrpcClient;
let binary: SuiGrpcClient;
let pkg: string;

beforeAll(async () => {
  server = await startSuiServer({ seed: "streams" });
  text = new SuiGrpcClient({ network: "localnet", baseUrl: server.url });
  binary = new SuiGrpcClient({ network: "localnet", baseUrl: server.url, format: "binary" });
  pkg = server.ledger.packageId;
});
afterAll(() => server.stop());

const noise = () => server.admin.injectEvents([{ type: `0x${"55".repeat(32)}::x::Noise`, bcs: new Uint8Array([1]) }]);

describe("Sui test server wire behaviour", () => {
  test("binary and text gRPC-web both work, protocol header is logged", async () => {
    const a = await text.ledgerService.getServiceInfo({}).response;
    const b = await binary.ledgerService.getServiceInfo({}).response;
    expect(a).toEqual(b);
    const call = server.admin.calls("GetServiceInfo").at(-1)!;
    expect(call.headers["x-sui-client-protocol-version"]).toBeDefined();
    expect(call.headers["content-type"]).toContain("application/grpc-web");
  });

  test("listEvents: pages of `limit`, short/empty pages with hasNextPage under a scan budget", async () => {
    const first = server.ledger.tip.seq + 1n;
    for (let i = 0; i < 3; i++) {
      noise();
      noise();
      server.admin.injectPrompt({ nodes: [1], prompt: `e${i}` });
    }
    const collect = async (c: SuiGrpcClient) => {
      const got: string[] = [];
      let after: string | null = null;
      let pages = 0;
      let empty = 0;
      for (;;) {
        const page = await c.listEvents({ filter: { eventType: `${pkg}::gate` }, limit: 2, ...(after ? { after } : {}) });
        pages += 1;
        if (page.events.length === 0) empty += 1;
        got.push(...page.events.filter((e) => BigInt(e.checkpoint!) >= first).map((e) => e.transactionDigest));
        if (!page.hasNextPage) break;
        after = page.endCursor ?? after;
      }
      return { got, pages, empty };
    };
    const plain = await collect(text);
    server.admin.setFaults({ scanLimit: 1 });
    const budget = await collect(binary);
    server.admin.setFaults({ clear: true });
    expect(plain.got.length).toBe(3);
    expect(budget.got).toEqual(plain.got);
    expect(budget.empty).toBeGreaterThan(0); // empty pages with hasNextPage: true
    expect(budget.pages).toBeGreaterThan(plain.pages);
  });

  test("subscribeCheckpoints: filtered stream opens progress-only, cursor on every frame", async () => {
    const ctl = new AbortController();
    const call = text.subscriptionService.subscribeCheckpoints(
      { readMask: { paths: ["sequence_number", "transactions.events"] }, filter: { terms: [{ literals: [{ negated: false, predicate: { oneofKind: "eventType", eventType: { eventType: `${pkg}::gate` } } }] }] } },
      { abort: ctl.signal },
    );
    const frames: GrpcTypes.SubscribeCheckpointsResponse[] = [];
    const reading = (async () => {
      for await (const f of call.responses) {
        frames.push(f);
        if (frames.length === 1) noise();
        if (frames.length === 2) server.admin.injectPrompt({ nodes: [1] });
        if (frames.length === 3) ctl.abort();
      }
    })();
    const err = await reading.catch((e) => e);
    expect(err.code).toBe("CANCELLED");
    expect(frames[0]!.checkpoint).toBeUndefined();
    expect(frames[1]!.checkpoint).toBeUndefined(); // noise only: progress
    expect(frames[2]!.checkpoint!.transactions[0]!.events!.events[0]!.eventType).toBe(`${pkg}::gate::Text2TextPromptEvent`);
    expect(frames.map((f) => f.cursor)).toEqual([frames[0]!.cursor!, frames[0]!.cursor! + 1n, frames[0]!.cursor! + 2n]);
  });

  test("listCheckpoints: start inclusive, end exclusive, item limit then checkpoint bound", async () => {
    const start = server.ledger.tip.seq + 1n;
    server.admin.advance(60);
    const seen: bigint[] = [];
    const reasons: number[] = [];
    let after: Uint8Array | undefined;
    for (let i = 0; i < 3; i++) {
      for await (const f of text.ledgerService.listCheckpoints({ startCheckpoint: start, endCheckpoint: start + 55n, options: { limit: 100, after } }).responses) {
        if (f.checkpoint) seen.push(f.checkpoint.sequenceNumber!);
        if (f.watermark?.cursor) after = f.watermark.cursor;
        if (f.end) reasons.push(f.end.reason!);
      }
      if (reasons.at(-1) === GrpcTypes.QueryEndReason.CHECKPOINT_BOUND) break;
    }
    expect(reasons).toEqual([GrpcTypes.QueryEndReason.ITEM_LIMIT, GrpcTypes.QueryEndReason.CHECKPOINT_BOUND]);
    expect(seen).toEqual(Array.from({ length: 55 }, (_, i) => start + BigInt(i)));
  });

  test("getCheckpoint by number, digest and latest; missing → NOT_FOUND", async () => {
    const tip = server.ledger.tip;
    const bySeq = await text.ledgerService.getCheckpoint({ checkpointId: { oneofKind: "sequenceNumber", sequenceNumber: tip.seq } }).response;
    const byDigest = await text.ledgerService.getCheckpoint({ checkpointId: { oneofKind: "digest", digest: tip.digest } }).response;
    const latest = await text.ledgerService.getCheckpoint({ checkpointId: { oneofKind: undefined } }).response;
    expect(bySeq.checkpoint!.digest).toBe(tip.digest);
    expect(byDigest.checkpoint!.sequenceNumber).toBe(tip.seq);
    expect(latest.checkpoint!.sequenceNumber).toBe(tip.seq);
    const err = await text.ledgerService.getCheckpoint({ checkpointId: { oneofKind: "sequenceNumber", sequenceNumber: tip.seq + 100n } }).response.catch((e) => e);
    expect(err.code).toBe("NOT_FOUND");
    const tx = await text.getTransaction({ digest: "11111111111111111111111111111111" }).catch((e) => e);
    expect(tx).toBeInstanceOf(TransactionError);
  });

  test("injected transactions are readable by digest with their events", async () => {
    const p = server.admin.injectPrompt({ nodes: [3] });
    const res = await text.waitForTransaction({ digest: p.txDigest, include: { events: true } });
    expect(res.Transaction!.events![0]!.eventType).toBe(`${pkg}::gate::Text2TextPromptEvent`);
    expect(res.Transaction!.checkpoint).toBe(String(p.checkpoint));
  });

  test("admin HTTP: info, raw events, advance, faults validation, unknown endpoint", async () => {
    const info = (await (await fetch(`${server.url}/admin/info`)).json()) as { packageId: string };
    expect(info.packageId).toBe(pkg);
    const ev = await fetch(`${server.url}/admin/events`, { method: "POST", body: JSON.stringify({ events: [{ type: "settlement::SettledEvent", bcs: `0x${"ab".repeat(32)}00` }] }) });
    expect(ev.status).toBe(200);
    const adv = (await (await fetch(`${server.url}/admin/advance`, { method: "POST", body: JSON.stringify({ count: 2 }) })).json()) as { tip: string };
    expect(BigInt(adv.tip)).toBe(server.ledger.tip.seq);
    const bad = await fetch(`${server.url}/admin/faults`, { method: "POST", body: JSON.stringify({ error: { method: "GetEpoch", status: "NOPE" } }) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toContain("unknown gRPC status");
    const badJson = await fetch(`${server.url}/admin/prompt`, { method: "POST", body: "{" });
    expect(badJson.status).toBe(400);
    expect((await fetch(`${server.url}/admin/nope`)).status).toBe(404);
    expect((await fetch(`${server.url}/sui.rpc.v2.LedgerService/GetEpoch`, { method: "POST", body: "x" })).status).toBe(415);
  });
});

describe("Sui test server deadlines", () => {
  test("grpc-timeout is honoured like a real server: a lost execute response ends in DEADLINE_EXCEEDED", async () => {
    const { Ed25519Keypair } = await import("@mysten/sui/keypairs/ed25519");
    const { Transaction } = await import("@mysten/sui/transactions");
    const kp = new Ed25519Keypair();
    const { badgeId } = server.admin.addNode({ address: kp.toSuiAddress(), smallId: 77 });
    const ticket = server.admin.injectPrompt({ nodes: [77] }).ticketId;
    const info = server.admin.info();
    const tx = new Transaction();
    tx.moveCall({
      target: `${info.packageId}::settlement::submit_commitment`,
      arguments: [tx.object(info.atomaDbId), tx.object(badgeId), tx.pure.id(ticket), tx.pure.u64(1), tx.pure.u64(1), tx.pure.vector("u8", new Uint8Array(32)), tx.pure.vector("u8", new Uint8Array(32)), tx.object.random()],
    });
    tx.setSender(kp.toSuiAddress());
    const bytes = await tx.build({ client: text });
    const { signature } = await kp.signTransaction(bytes);
    // Held for 10 minutes: only the 150 ms deadline can end the call before the 60 s hang guard.
    server.admin.setFaults({ executeTimeout: { mode: "hang", hangMs: 600_000 } });
    const impatient = new SuiGrpcClient({ network: "localnet", baseUrl: server.url, timeout: 150 });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const guard = new Promise<{ code: string }>((r) => (timer = setTimeout(() => r({ code: "still held after 60 s" }), 60_000)));
    const err = await Promise.race([impatient.executeTransaction({ transaction: bytes, signatures: [signature] }).catch((e) => e), guard]);
    clearTimeout(timer);
    expect(err.code).toBe("DEADLINE_EXCEEDED");
    expect(server.admin.commitments(ticket).length).toBe(1); // it did execute
  });
});

describe("Sui test server read masks", () => {
  test("responses carry only the requested fields, or the documented defaults", async () => {
    const db = server.admin.info().atomaDbId;
    const bare = (await text.ledgerService.getObject({ objectId: db }).response).object!;
    expect(bare.objectId).toBe(db);
    expect(bare.version).toBeDefined();
    expect(bare.owner).toBeUndefined();
    const owned = (await text.ledgerService.getObject({ objectId: db, readMask: { paths: ["owner"] } }).response).object!;
    expect(owned.owner!.kind).toBe(GrpcTypes.Owner_OwnerKind.SHARED);
    expect(owned.objectId).toBeUndefined();

    const p = server.admin.injectPrompt({ nodes: [1] });
    const tx = (await text.ledgerService.getTransaction({ digest: p.txDigest }).response).transaction!;
    expect(tx.digest).toBe(p.txDigest);
    expect(tx.events).toBeUndefined();
    const withEvents = (await text.ledgerService.getTransaction({ digest: p.txDigest, readMask: { paths: ["events.events.event_type"] } }).response).transaction!;
    expect(withEvents.events!.events[0]!.eventType).toBe(`${pkg}::gate::Text2TextPromptEvent`);
    expect(withEvents.events!.events[0]!.contents).toBeUndefined();

    const cp = (await text.ledgerService.getCheckpoint({ checkpointId: { oneofKind: "sequenceNumber", sequenceNumber: p.checkpoint } }).response).checkpoint!;
    expect(cp.sequenceNumber).toBe(p.checkpoint);
    expect(cp.transactions).toEqual([]);
  });
});
