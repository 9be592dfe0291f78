import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { bcs } from "@mysten/sui/bcs";
import { RpcError, SuiGrpcClient } from "@mysten/sui/grpc";
import { Ed25519Keypair } from "@mysten/sui/keypairs/ed25519";
import { Secp256k1Keypair } from "@mysten/sui/keypairs/secp256k1";
import { Transaction } from "@mysten/sui/transactions";
import { toHex } from "@mysten/sui/utils";
import { blake2b } from "@noble/hashes/blake2.js";
import * as S from "../../src/chain/events/schemas.ts";
import { encodeTextPrompt } from "../support/sui-server/events.ts";
import { startSuiServer, type SuiServer } from "../support/sui-server/index.ts";

const node = Ed25519Keypair.deriveKeypair("test test test test test test test test test test test junk");
const other = new Secp256k1Keypair();
let server: SuiServer;
let client: SuiGrpcClient;

beforeAll(async () => {
  server = await startSuiServer({ nodes: [{ address: node.toSuiAddress(), smallId: 7 }, { address: other.toSuiAddress(), smallId: 2, gasCoins: 1, gasBalance: 1_000n }] });
  client = new SuiGrpcClient({ network: "localnet", baseUrl: server.url });
});
afterAll(() => server.stop());
afterEach(() => server.admin.setFaults({ clear: true }));

interface Refs {
  badge: { objectId: string; version: string; digest: string };
  gas: { objectId: string; version: string; digest: string };
}

async function refs(kp: Ed25519Keypair | Secp256k1Keypair, smallId: bigint): Promise<Refs> {
  const badgeId = server.ledger.badges.get(smallId)!;
  const { object } = await client.getObject({ objectId: badgeId });
  const { objects } = await client.listCoins({ owner: kp.toSuiAddress() });
  return { badge: { objectId: object.objectId, version: object.version, digest: object.digest }, gas: objects[0]! };
}

function commitTx(kp: Ed25519Keypair | Secp256k1Keypair, r: Refs, ticketId: string, root: Uint8Array, leaf: Uint8Array, budget = 5_000_000n) {
  const info = server.admin.info();
  const tx = new Transaction();
  tx.moveCall({
    target: `${info.packageId}::settlement::submit_commitment`,
    arguments: [
      tx.sharedObjectRef({ objectId: info.atomaDbId, initialSharedVersion: info.atomaDbInitialSharedVersion.toString(), mutable: true }),
      tx.objectRef(r.badge),
      tx.pure.id(ticketId),
      tx.pure.u64(5),
      tx.pure.u64(16),
      tx.pure.vector("u8", root),
      tx.pure.vector("u8", leaf),
      tx.sharedObjectRef({ objectId: "0x8", initialSharedVersion: info.randomInitialSharedVersion.toString(), mutable: false }),
    ],
  });
  tx.setSender(kp.toSuiAddress());
  tx.setGasPrice(1000);
  tx.setGasBudget(budget);
  tx.setGasPayment([r.gas]);
  return tx;
}

async function send(kp: Ed25519Keypair | Secp256k1Keypair, tx: Transaction) {
  const bytes = await tx.build();
  const { signature } = await kp.signTransaction(bytes);
  const result = await client.executeTransaction({ transaction: bytes, signatures: [signature], include: { effects: true, events: true } });
  return { bytes, signature, result };
}

describe("Sui test server", () => {
  test("spec §4.4 BCS vector: 152 bytes from the friendly prompt form", () => {
    const e = encodeTextPrompt(
      { ticketId: `0x${"11".repeat(32)}`, maxTokens: 16, model: "llama_tiny_llama_1_1b_chat", prompt: "hi", seed: 42, repeatLastN: 64, repeatPenalty: 1.1, temperature: 0.7, topK: 40, topP: 0.9, nodes: [7, 2, 9], chunksCount: 3 },
      "x",
    );
    expect(e.bcs.length).toBe(152);
    expect(toHex(e.bcs)).toBe(
      "11".repeat(32) + "1000000000000000" + "1a" + toHex(new TextEncoder().encode("llama_tiny_llama_1_1b_chat")) + "00" + "00" + "026869" +
        "2a00000000000000" + "4000000000000000" + "cdcc8c3f" + "00" + "3333333f" + "2800000000000000" + "6666663f" + "0300000000000000" +
        "03" + "0700000000000000" + "0200000000000000" + "0900000000000000" + "09a84669726562617365",
    );
  });

  test("reads: chain id, gas price, objects, coins, balance", async () => {
    const info = server.admin.info();
    expect((await client.core.getChainIdentifier()).chainIdentifier).toBe(info.chainId);
    expect((await client.getReferenceGasPrice()).referenceGasPrice).toBe("1000");
    const { object } = await client.getObject({ objectId: info.atomaDbId });
    expect(object.owner).toEqual({ $kind: "Shared", Shared: { initialSharedVersion: info.atomaDbInitialSharedVersion.toString() } });
    const badge = await client.getObject({ objectId: server.ledger.badges.get(7n)! });
    expect(badge.object.type).toBe(`${info.packageId}::db::NodeBadge`);
    const coins = await client.listCoins({ owner: node.toSuiAddress() });
    expect(coins.objects.length).toBe(4);
    const bal = await client.getBalance({ owner: node.toSuiAddress() });
    expect(bal.balance.balance).toBe(String(4n * 10_000_000_000n));
    const missing = await client.core.getObjects({ objectIds: [`0x${"99".repeat(32)}`] });
    expect(missing.objects[0]).toBeInstanceOf(Error);
  });

  test("commitment: accepted, signature verified, first submission, versions bumped, arguments recorded", async () => {
    const [p] = server.admin.injectPrompts([{ nodes: [7, 2], prompt: "hello" }]);
    const r = await refs(node, 7n);
    const root = new Uint8Array(32).fill(1);
    const leaf = new Uint8Array(32).fill(2);
    const { result, bytes, signature } = await send(node, commitTx(node, r, p!.ticketId, root, leaf));
    expect(result.$kind).toBe("Transaction");
    const t = result.Transaction!;
    expect(t.events!.map((e) => e.eventType)).toEqual([`${server.admin.info().packageId}::settlement::FirstSubmissionEvent`]);
    expect(S.FirstSubmissionEvent.parse(t.events![0]!.bcs)).toEqual({ ticket_id: p!.ticketId, node_id: { inner: "7" } });
    const badgeChange = t.effects!.changedObjects.find((c) => c.objectId === r.badge.objectId)!;
    expect(BigInt(badgeChange.outputVersion!)).toBeGreaterThan(BigInt(r.badge.version));
    expect(t.effects!.gasObject!.objectId).toBe(r.gas.objectId);
    const [c] = server.admin.commitments(p!.ticketId);
    expect(c).toMatchObject({ nodeSmallId: 7n, root: toHex(root), leaf: toHex(leaf), inputTokens: 5n, outputTokens: 16n, first: true, txDigest: t.digest });
    // Same bytes again: same digest, stored result, no second commitment.
    const again = await client.executeTransaction({ transaction: bytes, signatures: [signature], include: { effects: true, events: true } });
    expect(again.Transaction!.digest).toBe(t.digest);
    expect(server.admin.commitments(p!.ticketId).length).toBe(1);
    // Looked up by digest, with the transaction's structure: its arguments decode back to what was sent.
    const looked = await client.getTransaction({ digest: t.digest, include: { events: true, transaction: true, bcs: true, balanceChanges: true } });
    const lt = looked.Transaction!;
    expect(lt.events!.length).toBe(1);
    expect(lt.bcs).toEqual(bytes);
    expect(lt.balanceChanges).toEqual([{ coinType: "0x2::sui::SUI", address: node.toSuiAddress(), amount: "-1000000" }]);
    const call = (lt.transaction!.commands[0] as { MoveCall?: { package: string; module: string; function: string; arguments: unknown[] } }).MoveCall!;
    expect(`${call.package}::${call.module}::${call.function}`).toBe(`${server.admin.info().packageId}::settlement::submit_commitment`);
    const pure = (i: number) => Buffer.from((lt.transaction!.inputs[(call.arguments[i] as { Input: number }).Input] as { Pure: { bytes: string } }).Pure.bytes, "base64");
    expect(bcs.Address.parse(pure(2))).toBe(p!.ticketId);
    expect(bcs.u64().parse(pure(3))).toBe("5");
    expect(bcs.u64().parse(pure(4))).toBe("16");
    expect(Uint8Array.from(bcs.byteVector().parse(pure(5)))).toEqual(root);
    expect(Uint8Array.from(bcs.byteVector().parse(pure(6)))).toEqual(leaf);
    expect(lt.transaction!.inputs[7]).toMatchObject({ Object: { SharedObject: { mutable: false } } });
  });

  test("stale object version → FAILED_PRECONDITION with Sui's message", async () => {
    const [p] = server.admin.injectPrompts([{ nodes: [7] }]);
    const r = await refs(node, 7n);
    await send(node, commitTx(node, r, p!.ticketId, new Uint8Array(32), new Uint8Array(32)));
    const err = await send(node, commitTx(node, r, p!.ticketId, new Uint8Array(32).fill(9), new Uint8Array(32))).catch((e) => e);
    expect(err).toBeInstanceOf(RpcError);
    expect(err.code).toBe("FAILED_PRECONDITION");
    expect(err.message).toMatch(/^Object ID 0x[0-9a-f]{64} Version 0x[0-9a-f]+ Digest \w+ is not available for consumption, current version: 0x[0-9a-f]+$/);
  });

  test("same node twice → MoveAbort 312012201, gas charged, versions bumped", async () => {
    const [p] = server.admin.injectPrompts([{ nodes: [7, 9] }]);
    await send(node, commitTx(node, await refs(node, 7n), p!.ticketId, new Uint8Array(32), new Uint8Array(32)));
    const r = await refs(node, 7n);
    const { result } = await send(node, commitTx(node, r, p!.ticketId, new Uint8Array(32), new Uint8Array(32)));
    expect(result.$kind).toBe("FailedTransaction");
    const err = result.FailedTransaction!.effects!.status.error!;
    expect(err.$kind).toBe("MoveAbort");
    if (err.$kind !== "MoveAbort") throw new Error("unreachable");
    expect(err.MoveAbort.abortCode).toBe("312012201");
    expect(err.MoveAbort.location).toMatchObject({ module: "settlement", functionName: "submit_commitment" });
    const after = await refs(node, 7n);
    expect(BigInt(after.badge.version)).toBeGreaterThan(BigInt(r.badge.version));
  });

  test("node not sampled → MoveAbort 312012200; unknown ticket → dynamic_field abort 1", async () => {
    const [p] = server.admin.injectPrompts([{ nodes: [9] }]);
    const a = await send(node, commitTx(node, await refs(node, 7n), p!.ticketId, new Uint8Array(32), new Uint8Array(32)));
    expect(a.result.FailedTransaction?.effects?.status.error).toMatchObject({ $kind: "MoveAbort", MoveAbort: { abortCode: "312012200" } });
    const b = await send(node, commitTx(node, await refs(node, 7n), `0x${"42".repeat(32)}`, new Uint8Array(32), new Uint8Array(32)));
    expect(b.result.FailedTransaction?.effects?.status.error).toMatchObject({ $kind: "MoveAbort", MoveAbort: { abortCode: "1", location: { module: "dynamic_field" } } });
  });

  test("two nodes: second commit with another root → DisputeEvent; all committed → SettledEvent", async () => {
    const [p] = server.admin.injectPrompts([{ nodes: [7, 2] }]);
    // give node 2 enough gas
    const richOther = server.admin.addNode({ address: other.toSuiAddress(), smallId: 3, gasCoins: 1 });
    expect(richOther.gasCoins.length).toBe(1);
    await send(node, commitTx(node, await refs(node, 7n), p!.ticketId, new Uint8Array(32).fill(1), new Uint8Array(32)));
    const r2 = await refs(other, 2n);
    const rich = (await client.listCoins({ owner: other.toSuiAddress() })).objects.find((c) => BigInt(c.balance) > 5_000_000n)!;
    const { result } = await send(other, commitTx(other, { ...r2, gas: rich }, p!.ticketId, new Uint8Array(32).fill(2), new Uint8Array(32)));
    expect(result.Transaction!.events!.map((e) => e.eventType.split("::").pop())).toEqual(["DisputeEvent"]);
    // Settlement checks the root against blake2b256 of the stored leaves (two zero leaves here).
    const root = blake2b(new Uint8Array(64), { dkLen: 32 });
    const [q] = server.admin.injectPrompts([{ nodes: [7, 2] }]);
    await send(node, commitTx(node, await refs(node, 7n), q!.ticketId, root, new Uint8Array(32)));
    const r3 = await refs(other, 2n);
    const rich2 = (await client.listCoins({ owner: other.toSuiAddress() })).objects.find((c) => BigInt(c.balance) > 5_000_000n)!;
    const settled = await send(other, commitTx(other, { ...r3, gas: rich2 }, q!.ticketId, root, new Uint8Array(32)));
    expect(settled.result.Transaction!.events!.map((e) => e.eventType.split("::").pop())).toEqual(["SettledEvent"]);
  });

  test("bad signature → INVALID_ARGUMENT; wrong signer → INVALID_ARGUMENT", async () => {
    const [p] = server.admin.injectPrompts([{ nodes: [7] }]);
    const bytes = await commitTx(node, await refs(node, 7n), p!.ticketId, new Uint8Array(32), new Uint8Array(32)).build();
    const { signature } = await node.signTransaction(bytes);
    const tampered = Uint8Array.from(bytes);
    tampered[tampered.length - 1] ^= 1; // gas budget byte: different transaction, same signature
    const e1 = await client.executeTransaction({ transaction: tampered, signatures: [signature] }).catch((e) => e);
    expect(e1.code).toBe("INVALID_ARGUMENT");
    const { signature: wrong } = await other.signTransaction(bytes);
    const e2 = await client.executeTransaction({ transaction: bytes, signatures: [wrong] }).catch((e) => e);
    expect(e2.code).toBe("INVALID_ARGUMENT");
    expect(server.admin.commitments(p!.ticketId)).toEqual([]);
  });

  test("argument checks: wrong function, wrong arity, wrong pure bytes, mutable Random, batch after Random", async () => {
    const info = server.admin.info();
    const r = await refs(node, 7n);
    const tx = new Transaction();
    tx.moveCall({ target: `${info.packageId}::settlement::submit_commitment`, arguments: [tx.pure.u64(1)] });
    tx.setSender(node.toSuiAddress());
    tx.setGasPrice(1000);
    tx.setGasBudget(5_000_000);
    tx.setGasPayment([r.gas]);
    const arity = await send(node, tx);
    expect(arity.result.FailedTransaction!.status.error!.message).toMatch(/Expected 8 arguments/);

    const [p] = server.admin.injectPrompts([{ nodes: [7] }]);
    const r2 = await refs(node, 7n);
    const bad = commitTx(node, r2, p!.ticketId, new Uint8Array(32), new Uint8Array(32));
    const data = bad.getData();
    (data.inputs[3] as { Pure: { bytes: string } }).Pure.bytes = Buffer.from([1, 2, 3]).toString("base64");
    const badArg = await send(node, Transaction.from(bcs.TransactionData.serialize({ V1: { ...bcs.TransactionData.parse(await bad.build()).V1!, kind: { ProgrammableTransaction: { inputs: data.inputs as never, commands: data.commands as never } } } }).toBytes()));
    expect(badArg.result.FailedTransaction!.status.error).toMatchObject({ $kind: "CommandArgumentError", CommandArgumentError: { argument: 3, name: "InvalidBcsBytes" } });

    const r3 = await refs(node, 7n);
    const batch = commitTx(node, r3, p!.ticketId, new Uint8Array(32), new Uint8Array(32));
    batch.moveCall({ target: `${info.packageId}::settlement::submit_commitment`, arguments: [batch.object(info.atomaDbId), batch.object(r3.badge.objectId), batch.pure.id(p!.ticketId), batch.pure.u64(1), batch.pure.u64(1), batch.pure.vector("u8", new Uint8Array(32)), batch.pure.vector("u8", new Uint8Array(32)), batch.object("0x8")] });
    const rejected = await send(node, batch).catch((e) => e);
    expect(rejected.code).toBe("INVALID_ARGUMENT");
    expect(rejected.message).toContain("Commands following a command with Random");
  });

  test("equivocation: a transaction that locked the badge/coin blocks any other one until the epoch ends", async () => {
    const [p] = server.admin.injectPrompts([{ nodes: [7] }]);
    const r = await refs(node, 7n);
    server.admin.setFaults({ equivocationLock: { count: 1 } });
    const a = commitTx(node, r, p!.ticketId, new Uint8Array(32).fill(1), new Uint8Array(32));
    const aBytes = await a.build();
    const { signature: aSig } = await node.signTransaction(aBytes);
    const lost = await client.executeTransaction({ transaction: aBytes, signatures: [aSig] }).catch((e) => e);
    expect(lost.code).toBe("UNAVAILABLE");
    // Rebuilding (different root ⇒ different digest) over the same versions is refused.
    const b = await send(node, commitTx(node, r, p!.ticketId, new Uint8Array(32).fill(2), new Uint8Array(32))).catch((e) => e);
    expect(b.code).toBe("FAILED_PRECONDITION");
    expect(b.message).toContain("ObjectLockConflict");
    // Resending the identical bytes goes through.
    const ok = await client.executeTransaction({ transaction: aBytes, signatures: [aSig], include: { events: true } });
    expect(ok.$kind).toBe("Transaction");
    expect(server.admin.commitments(p!.ticketId)).toMatchObject([{ root: "01".repeat(32) }]);
    // A lock held by a transaction that never executes lasts until the epoch ends.
    const [q] = server.admin.injectPrompts([{ nodes: [7] }]);
    const r2 = await refs(node, 7n);
    server.admin.setFaults({ equivocationLock: { count: 1 } });
    await send(node, commitTx(node, r2, q!.ticketId, new Uint8Array(32).fill(3), new Uint8Array(32))).catch((e) => e);
    expect((await send(node, commitTx(node, r2, q!.ticketId, new Uint8Array(32).fill(4), new Uint8Array(32))).catch((e) => e)).message).toContain("ObjectLockConflict");
    const before = server.ledger.epoch;
    expect(server.admin.endEpoch()).toBe(before + 1n);
    const after = await send(node, commitTx(node, r2, q!.ticketId, new Uint8Array(32).fill(4), new Uint8Array(32)));
    expect(after.result.$kind).toBe("Transaction");
  });

  test("congestion fault: cancelled by consensus as CongestedObjects, gas charged, a new transaction succeeds", async () => {
    const [p] = server.admin.injectPrompts([{ nodes: [7] }]);
    server.admin.setFaults({ congestion: { count: 1 } });
    const { result } = await send(node, commitTx(node, await refs(node, 7n), p!.ticketId, new Uint8Array(32), new Uint8Array(32)));
    expect(result.FailedTransaction!.status.error).toMatchObject({ $kind: "CongestedObjects", CongestedObjects: { objects: [server.admin.info().atomaDbId] } });
    expect(server.admin.commitments(p!.ticketId)).toEqual([]);
    const again = await send(node, commitTx(node, await refs(node, 7n), p!.ticketId, new Uint8Array(32), new Uint8Array(32)));
    expect(again.result.$kind).toBe("Transaction");
  });

  test("read-lag fault: object reads right after a transaction show the old version; effects are current", async () => {
    const [p] = server.admin.injectPrompts([{ nodes: [7] }]);
    const r = await refs(node, 7n);
    server.admin.setFaults({ readLagMs: 60_000 });
    const { result } = await send(node, commitTx(node, r, p!.ticketId, new Uint8Array(32), new Uint8Array(32)));
    const fromEffects = result.Transaction!.effects!.changedObjects.find((c) => c.objectId === r.badge.objectId)!.outputVersion;
    const lagged = await refs(node, 7n);
    expect(BigInt(lagged.badge.version)).toBeLessThanOrEqual(BigInt(r.badge.version)); // stale
    expect(BigInt(fromEffects!)).toBeGreaterThan(BigInt(r.badge.version));
    server.admin.setFaults({ readLagMs: 0 });
    expect((await refs(node, 7n)).badge.version).toBe(fromEffects!);
  });

  test("insufficient gas balance is rejected", async () => {
    const [p] = server.admin.injectPrompts([{ nodes: [2] }]);
    const r = await refs(other, 2n);
    const poor = (await client.listCoins({ owner: other.toSuiAddress() })).objects.find((c) => BigInt(c.balance) < 5_000_000n)!;
    const err = await send(other, commitTx(other, { ...r, gas: poor }, p!.ticketId, new Uint8Array(32), new Uint8Array(32))).catch((e) => e);
    expect(err.code).toBe("INVALID_ARGUMENT");
    expect(err.message).toMatch(/Balance of gas object \d+ is lower than the needed amount: 5000000/);
  });

  test("tx.build({ client }) resolves refs and gas through SimulateTransaction", async () => {
    const info = server.admin.info();
    const [p] = server.admin.injectPrompts([{ nodes: [7] }]);
    const tx = new Transaction();
    tx.moveCall({
      target: `${info.packageId}::settlement::submit_commitment`,
      arguments: [tx.object(info.atomaDbId), tx.object(server.ledger.badges.get(7n)!), tx.pure.id(p!.ticketId), tx.pure.u64(1), tx.pure.u64(2), tx.pure.vector("u8", new Uint8Array(32)), tx.pure.vector("u8", new Uint8Array(32)), tx.object.random()],
    });
    tx.setSender(node.toSuiAddress());
    const bytes = await tx.build({ client });
    const { signature } = await node.signTransaction(bytes);
    const res = await client.executeTransaction({ transaction: bytes, signatures: [signature], include: { events: true } });
    expect(res.$kind).toBe("Transaction");
    expect(server.admin.calls("SimulateTransaction").length).toBeGreaterThan(0);
  });

  test("faults: error status for the next call, unknown method → UNIMPLEMENTED, admin over HTTP", async () => {
    server.admin.setFaults({ error: { method: "GetEpoch", status: "UNAVAILABLE", count: 1 } });
    expect((await client.getReferenceGasPrice().catch((e) => e)).code).toBe("UNAVAILABLE");
    expect((await client.getReferenceGasPrice()).referenceGasPrice).toBe("1000");
    const un = await client.movePackageService.getFunction({ packageId: "0x2", moduleName: "coin", name: "value" }).response.catch((e) => e);
    expect(un.code).toBe("UNIMPLEMENTED");
    const res = await fetch(`${server.url}/admin/prompt`, { method: "POST", body: JSON.stringify({ nodes: [7], prompt: "via http", temperature: 0.5 }) });
    const [inj] = (await res.json()) as { ticketId: string }[];
    const got = await fetch(`${server.url}/admin/commitments?ticket=${inj!.ticketId}`);
    expect(await got.json()).toEqual([]);
    const bad = await fetch(`${server.url}/admin/prompt`, { method: "POST", body: JSON.stringify({ nodes: [] }) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toContain("nodes");
  });
});
