/**
 * The commitment submitter with the SDK's real SuiGrpcClient against the local Sui test server
 * (test/support/sui-server): signature-verified execution, settlement rules, faults.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Ed25519Keypair } from "@mysten/sui/keypairs/ed25519";
import { Secp256k1Keypair } from "@mysten/sui/keypairs/secp256k1";
import { bcs } from "@mysten/sui/bcs";
import { fromBase64, toHex } from "@mysten/sui/utils";
import { blake2b } from "@noble/hashes/blake2.js";
import { createSuiClient } from "../../src/chain/client.ts";
import { SuiCommitmentSubmitter, type SubmitterOptions } from "../../src/chain/commitment/submitter.ts";
import type { CommitmentRequest, SignedTx } from "../../src/chain/types.ts";
import { startSuiServer, type SuiServer } from "../support/sui-server/index.ts";

const me = Ed25519Keypair.generate();
const other = Secp256k1Keypair.generate();
let server: SuiServer;
let base: Omit<SubmitterOptions, "keypair" | "nodeBadgeId">;
let badges: Record<string, string>;

/** The job store's outbox contract, kept in memory: every signed tx in the order recorded. */
class MemoryOutbox {
  txs: SignedTx[] = [];
  record(tx: SignedTx) {
    // Recording must precede execution: the server must not know this digest yet.
    expect(server.ledger.txs.has(tx.digest)).toBe(false);
    this.txs.push(tx);
  }
}

function submitter(kp: Ed25519Keypair | Secp256k1Keypair, extra: Partial<SubmitterOptions> = {}) {
  return new SuiCommitmentSubmitter({ ...base, keypair: kp, nodeBadgeId: badges[kp.toSuiAddress()]!, ...extra });
}

function req(ticketId: string, n = 1): CommitmentRequest {
  return { ticketId, inputTokens: 5n, outputTokens: 9n, merkleRoot: new Uint8Array(32).fill(n), leaf: new Uint8Array(32).fill(n + 100) };
}

const bcsPayment = (tx: SignedTx) => bcs.TransactionData.parse(fromBase64(tx.bytes)).V1!.gasData.payment.length;
const prompt = (nodes: number[]) => server.admin.injectPrompt({ nodes }).ticketId;

beforeAll(async () => {
  server = await startSuiServer({ nodes: [{ address: me.toSuiAddress(), smallId: 7 }, { address: other.toSuiAddress(), smallId: 8 }] });
  const info = server.admin.info();
  badges = Object.fromEntries(info.nodes.map((n) => [n.address, n.badgeId]));
  base = {
    client: createSuiClient({ network: "localnet", httpUrl: server.url }),
    packageId: info.packageId,
    atomaDbId: info.atomaDbId,
    gasBudget: 5_000_000n,
    requestTimeoutMs: 1500,
    backoffMs: 10,
  };
});
afterAll(() => server.stop());

describe("submit_commitment against the local Sui server", () => {
  test("accepted; first submitter sees FirstSubmissionEvent, second does not", async () => {
    const ticket = prompt([8, 7]);
    const outbox = new MemoryOutbox();
    const [a] = await submitter(other).submit([req(ticket)], outbox);
    expect(a).toMatchObject({ status: "committed", firstSubmission: true });
    const [b] = await submitter(me).submit([req(ticket)], outbox);
    expect(b).toMatchObject({ status: "committed", firstSubmission: false });
    expect(outbox.txs.map((t) => t.digest)).toEqual([(a as any).digest, (b as any).digest]);
    const recs = server.admin.commitments(ticket);
    expect(recs.map((r) => [r.nodeSmallId, r.first, r.root, r.leaf, r.inputTokens, r.outputTokens])).toEqual([
      [8n, true, toHex(new Uint8Array(32).fill(1)), toHex(new Uint8Array(32).fill(101)), 5n, 9n],
      [7n, false, toHex(new Uint8Array(32).fill(1)), toHex(new Uint8Array(32).fill(101)), 5n, 9n],
    ].map(([id, first, root, leaf, i, o]) => [id, first, expect.stringContaining(root as string), expect.stringContaining(leaf as string), i, o]));
  });

  test("committing the same ticket twice → done (abort 312012201)", async () => {
    const ticket = prompt([7, 8]); // two nodes: the ticket stays open after our commit
    const s = submitter(me);
    expect((await s.submit([req(ticket)], new MemoryOutbox()))[0]).toMatchObject({ status: "committed" });
    const [again] = await s.submit([req(ticket)], new MemoryOutbox());
    expect(again).toMatchObject({ status: "done", reason: expect.stringContaining("312012201") });
    expect(server.admin.commitments(ticket).length).toBe(1);
  });

  test("not selected → failed not_awaiting (abort 312012200); settled ticket → failed ticket_gone", async () => {
    const [o] = await submitter(me).submit([req(prompt([8]))], new MemoryOutbox());
    expect(o).toMatchObject({ status: "failed", kind: "not_awaiting" });
    // Our commit completes and settles it (a one-leaf root: blake2b256 of the stored leaf, as
    // try_to_settle checks); the ticket object is removed.
    const settled = prompt([7]);
    const leaf = new Uint8Array(32).fill(101);
    const one = { ...req(settled), leaf, merkleRoot: blake2b(leaf, { dkLen: 32 }) };
    expect((await submitter(me).submit([one], new MemoryOutbox()))[0]).toMatchObject({ status: "committed" });
    expect((await submitter(me).submit([one], new MemoryOutbox()))[0]).toMatchObject({ status: "failed", kind: "ticket_gone" });
  });

  test("resending identical bytes has no double effect", async () => {
    const ticket = prompt([7]);
    const s = submitter(me);
    const outbox = new MemoryOutbox();
    const [first] = await s.submit([req(ticket)], outbox);
    const before = server.ledger.txs.size;
    const again = await s.resume(outbox.txs[0]!);
    expect(again).toEqual([first!]);
    expect(server.ledger.txs.size).toBe(before);
    expect(server.admin.commitments(ticket).length).toBe(1);
  });

  test("a transaction signed by another key is refused by the server; resume says rebuild", async () => {
    const s = submitter(me);
    const ticket = prompt([7]);
    let captured: SignedTx | undefined;
    server.admin.setFaults({ error: { method: "ExecuteTransaction", status: "UNAVAILABLE", count: 3 } });
    await s.submit([req(ticket)], { record: (tx: SignedTx) => void (captured = tx) });
    server.admin.setFaults({ clear: true });
    const forged = { ...captured!, signatures: [(await other.signTransaction(fromBase64(captured!.bytes))).signature] };
    const [o] = await submitter(me).resume(forged);
    expect(o).toMatchObject({ status: "retry", reason: expect.stringMatching(/rejected/) });
    expect(server.admin.commitments(ticket).length).toBe(0);
    // The genuine bytes still go through (s holds them in doubt and resolves them first).
    expect((await s.submit([req(prompt([7]))], new MemoryOutbox()))[0]).toMatchObject({ status: "committed" });
    expect(server.admin.commitments(ticket).length).toBe(1);
  });

  test("stale badge/gas refs (another process used them) → refreshed and committed", async () => {
    const stale = submitter(me);
    await stale.submit([req(prompt([7]))], new MemoryOutbox()); // caches refs
    await submitter(me).submit([req(prompt([7]))], new MemoryOutbox()); // advances them behind its back
    const ticket = prompt([7]);
    const sends = server.admin.calls("ExecuteTransaction").length;
    const [o] = await stale.submit([req(ticket)], new MemoryOutbox());
    expect(o).toMatchObject({ status: "committed" });
    expect(server.admin.calls("ExecuteTransaction").length - sends).toBe(2); // rejected stale, then fresh
    expect(server.admin.commitments(ticket).length).toBe(1);
  });

  test("reference gas price raised (new epoch) → price re-read, committed", async () => {
    const s = submitter(me);
    await s.submit([req(prompt([7]))], new MemoryOutbox()); // caches the price
    const rgp = server.ledger.referenceGasPrice;
    server.ledger.referenceGasPrice = rgp * 2n;
    try {
      const outbox = new MemoryOutbox();
      const [o] = await s.submit([req(prompt([7]))], outbox);
      expect(o).toMatchObject({ status: "committed" });
      expect(bcs.TransactionData.parse(fromBase64(outbox.txs.at(-1)!.bytes)).V1!.gasData.price).toBe(String(rgp * 2n));
    } finally {
      server.ledger.referenceGasPrice = rgp;
    }
  });

  test("misconfigured object ids → failed with a message naming the config key, nothing sent", async () => {
    const outbox = new MemoryOutbox();
    const [noBadge] = await submitter(me, { nodeBadgeId: `0x${"e".repeat(64)}` }).submit([req(prompt([7]))], outbox);
    expect(noBadge).toMatchObject({ status: "failed", kind: "other", reason: expect.stringContaining("client.node_badge_id") });
    const [notMine] = await submitter(me, { nodeBadgeId: badges[other.toSuiAddress()]! }).submit([req(prompt([7]))], outbox);
    expect(notMine).toMatchObject({ status: "failed", reason: expect.stringContaining("is not owned by the signer") });
    const [noDb] = await submitter(me, { atomaDbId: `0x${"d".repeat(64)}` }).submit([req(prompt([7]))], outbox);
    expect(noDb).toMatchObject({ status: "failed", reason: expect.stringContaining("client.atoma_db_id") });
    expect(outbox.txs.length).toBe(0);
  });

  test("full node down while reading objects → retry, nothing sent", async () => {
    const s = new SuiCommitmentSubmitter({ ...base, client: createSuiClient({ network: "localnet", httpUrl: "http://127.0.0.1:9" }), keypair: me, nodeBadgeId: badges[me.toSuiAddress()]! });
    const outbox = new MemoryOutbox();
    const [o] = await s.submit([req(prompt([7]))], outbox);
    expect(o).toMatchObject({ status: "retry", kind: "unavailable" });
    expect(outbox.txs.length).toBe(0);
  });

  test("budget below the execution cost → failed insufficient_gas once (no re-burning)", async () => {
    const outbox = new MemoryOutbox();
    const [o] = await submitter(me, { gasBudget: 1000n }).submit([req(prompt([7, 8]))], outbox);
    expect(o).toMatchObject({ status: "failed", kind: "insufficient_gas", reason: expect.stringContaining("client.gas_budget") });
    expect(outbox.txs.length).toBe(1);
  });

  test("gas coins too small for the budget → failed insufficient_gas, nothing sent", async () => {
    const poor = Ed25519Keypair.generate();
    const { badgeId } = server.admin.addNode({ address: poor.toSuiAddress(), smallId: 21, gasCoins: 2, gasBalance: 1_000_000n });
    const s = new SuiCommitmentSubmitter({ ...base, keypair: poor, nodeBadgeId: badgeId });
    const outbox = new MemoryOutbox();
    const [o] = await s.submit([req(prompt([21]))], outbox);
    expect(o).toMatchObject({ status: "failed", kind: "insufficient_gas" });
    expect(outbox.txs.length).toBe(0);
    // Two coins of 1 000 000 MIST merge to cover a budget neither covers alone.
    const rich = new SuiCommitmentSubmitter({ ...base, gasBudget: 1_500_000n, keypair: poor, nodeBadgeId: badgeId });
    const [ok] = await rich.submit([req(prompt([21]))], outbox);
    expect(ok).toMatchObject({ status: "committed" });
    expect(bcsPayment(outbox.txs[0]!)).toBe(2);
    // The cached pool follows the effects: the smashed coin is gone, the gas coin's balance is exact.
    const cached = rich.objects.coins!;
    expect(cached.length).toBe(1);
    const onChain = server.ledger.get(cached[0]!.objectId)!;
    expect([cached[0]!.version, cached[0]!.balance]).toEqual([String(onChain.version), onChain.balance!]);
  });

  test("response lost after execution (hang past request_timeout) → found by digest, no resend", async () => {
    const ticket = prompt([7]);
    server.admin.setFaults({ executeTimeout: { mode: "hang", hangMs: 10_000 } });
    const outbox = new MemoryOutbox();
    const [o] = await submitter(me).submit([req(ticket)], outbox);
    expect(o).toMatchObject({ status: "committed", digest: outbox.txs[0]!.digest, firstSubmission: true });
    expect(outbox.txs.length).toBe(1);
    expect(server.admin.commitments(ticket).length).toBe(1);
  });

  test("held before validators until the client gives up → dropped unexecuted; the resend executes it once", async () => {
    const ticket = prompt([7]);
    server.admin.clearCalls();
    server.admin.setFaults({ holdExecute: { count: 1, ms: 600_000 } });
    const outbox = new MemoryOutbox();
    const [o] = await submitter(me).submit([req(ticket)], outbox); // the first send times out after 1.5 s
    expect(o).toMatchObject({ status: "committed", digest: outbox.txs[0]!.digest });
    expect(outbox.txs.length).toBe(1);
    const sends = server.admin.calls("ExecuteTransaction");
    expect(sends.length).toBe(2);
    expect(sends[0]!.input).toEqual(sends[1]!.input); // the same signed bytes
    expect(server.admin.commitments(ticket).length).toBe(1);
  });

  test("DEADLINE_EXCEEDED after execution and UNAVAILABLE before it → resolved with the same bytes", async () => {
    const s = submitter(me);
    const t1 = prompt([7]);
    server.admin.setFaults({ executeTimeout: { mode: "error" } });
    const o1 = new MemoryOutbox();
    expect((await s.submit([req(t1)], o1))[0]).toMatchObject({ status: "committed", digest: o1.txs[0]!.digest });

    const t2 = prompt([7]);
    server.admin.setFaults({ error: { method: "ExecuteTransaction", status: "UNAVAILABLE", count: 1 } });
    const o2 = new MemoryOutbox();
    expect((await s.submit([req(t2)], o2))[0]).toMatchObject({ status: "committed", digest: o2.txs[0]!.digest });
    expect(o2.txs.length).toBe(1);
  });

  test("outcome stays unknown → retry; nothing new is built until the earlier tx is resolved", async () => {
    const s = submitter(me, { sendAttempts: 2 });
    const t1 = prompt([7]);
    server.admin.setFaults({ error: { method: "ExecuteTransaction", status: "UNAVAILABLE", count: 2 } });
    const o1 = new MemoryOutbox();
    const [u] = await s.submit([req(t1)], o1);
    expect(u).toMatchObject({ status: "retry", kind: "unavailable" });
    expect(server.admin.commitments(t1).length).toBe(0);

    // Next submission first resends the in-doubt bytes (executing them), then builds on fresh versions.
    const t2 = prompt([7]);
    const o2 = new MemoryOutbox();
    expect((await s.submit([req(t2)], o2))[0]).toMatchObject({ status: "committed" });
    expect(server.admin.commitments(t1).length).toBe(1);
    expect(server.admin.commitments(t1)[0]!.txDigest).toBe(o1.txs[0]!.digest);
    // The job store later resumes t1 from its outbox and learns it committed.
    expect((await s.resume(o1.txs[0]!))[0]).toMatchObject({ status: "committed", digest: o1.txs[0]!.digest });
  });

  test("a batch of several commitments: one transaction per call (Random restriction), all committed", async () => {
    const tickets = [prompt([7]), prompt([7]), prompt([7])];
    const outbox = new MemoryOutbox();
    const outs = await submitter(me).submit(tickets.map((t) => req(t)), outbox);
    expect(outs.map((o) => o.status)).toEqual(["committed", "committed", "committed"]);
    expect(new Set(outbox.txs.map((t) => t.digest)).size).toBe(3);
    for (const tx of outbox.txs) expect(tx.ticketIds).toHaveLength(1);
  });
});

describe("batched PTB (server without the Random restriction)", () => {
  let relaxed: SuiServer;
  beforeAll(async () => {
    relaxed = await startSuiServer({ seed: "relaxed", enforceRandomRestriction: false, nodes: [{ address: me.toSuiAddress(), smallId: 7 }] });
  });
  afterAll(() => relaxed.stop());

  test("one aborting call: that ticket settles, the rest retried without it", async () => {
    const info = relaxed.admin.info();
    const s = new SuiCommitmentSubmitter({
      ...base, client: createSuiClient({ network: "localnet", httpUrl: relaxed.url }), packageId: info.packageId,
      atomaDbId: info.atomaDbId, keypair: me, nodeBadgeId: info.nodes[0]!.badgeId, randomRestriction: false,
    });
    const [t1, t2, t3, t4] = [[7], [7, 8], [7], [8]].map((nodes) => relaxed.admin.injectPrompt({ nodes }).ticketId);
    await s.submit([req(t2!)], new MemoryOutboxFor(relaxed));
    const outbox = new MemoryOutboxFor(relaxed);
    const outs = await s.submit([req(t1!), req(t2!), req(t3!), req(t4!)], outbox);
    expect(outs.map((o) => o.status)).toEqual(["committed", "done", "committed", "failed"]);
    expect(outs[3]).toMatchObject({ kind: "not_awaiting" });
    // 1st PTB aborted at t2, 2nd at t4 (index 2 after removing t2), 3rd commits t1 + t3 together.
    expect(outbox.txs.map((t) => t.ticketIds.length)).toEqual([4, 3, 2]);
    expect(outs[0]).toMatchObject({ digest: outbox.txs[2]!.digest, firstSubmission: true });
    expect(relaxed.admin.commitments(t1!).length + relaxed.admin.commitments(t3!).length).toBe(2);
  });

  test("batches of up to 3 requests each go out as one PTB", async () => {
    const info = relaxed.admin.info();
    const s = new SuiCommitmentSubmitter({
      ...base, client: createSuiClient({ network: "localnet", httpUrl: relaxed.url }), packageId: info.packageId,
      atomaDbId: info.atomaDbId, keypair: me, nodeBadgeId: info.nodes[0]!.badgeId, randomRestriction: false,
    });
    const outbox = new MemoryOutboxFor(relaxed);
    const tickets = Array.from({ length: 5 }, () => relaxed.admin.injectPrompt({ nodes: [7, 8] }).ticketId);
    const outs = [...(await s.submit(tickets.slice(0, 3).map((t) => req(t)), outbox)), ...(await s.submit(tickets.slice(3).map((t) => req(t)), outbox))];
    expect(outs.map((o) => o.status)).toEqual(["committed", "committed", "committed", "committed", "committed"]);
    expect(outbox.txs.map((t) => t.ticketIds.length)).toEqual([3, 2]);
  });

  class MemoryOutboxFor {
    txs: SignedTx[] = [];
    constructor(private readonly srv: SuiServer) {}
    record(tx: SignedTx) {
      expect(this.srv.ledger.txs.has(tx.digest)).toBe(false);
      this.txs.push(tx);
    }
  }
});
