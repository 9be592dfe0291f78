import { describe, expect, test } from "bun:test";
import { bcs } from "@mysten/sui/bcs";
import { Ed25519Keypair } from "@mysten/sui/keypairs/ed25519";
import { Secp256k1Keypair } from "@mysten/sui/keypairs/secp256k1";
import { Transaction, TransactionDataBuilder } from "@mysten/sui/transactions";
import { fromBase64, normalizeSuiAddress } from "@mysten/sui/utils";
import { verifyTransactionSignature } from "@mysten/sui/verify";
import { buildSignedCommitment, commitmentTransaction, type CommitmentTxInput } from "../../src/chain/commitment/build.ts";
import { classifyExecutionError, classifyThrown } from "../../src/chain/commitment/classify.ts";
import type { CommitmentRequest } from "../../src/chain/types.ts";

const addr = (b: string) => `0x${b.repeat(32)}`;
const PKG = addr("a1");

function request(n: number): CommitmentRequest {
  return {
    ticketId: addr((n + 16).toString(16)),
    inputTokens: BigInt(10 + n),
    outputTokens: (1n << 64n) - 1n - BigInt(n),
    merkleRoot: new Uint8Array(32).fill(n + 1),
    leaf: new Uint8Array(32).fill(0xf0 + n),
  };
}

/** A 32-byte digest in base58 (what object refs carry). */
const DIGEST = "4vJ9JU1bJJE96FWSJKvHsmmFADCg4gpZQff4P3bkLKi";

function input(kp: { toSuiAddress(): string }, requests: CommitmentRequest[]): CommitmentTxInput {
  return {
    packageId: PKG,
    atomaDb: { objectId: addr("db"), initialSharedVersion: "7" },
    random: { objectId: "0x8", initialSharedVersion: "42" },
    badge: { objectId: addr("bd"), version: "15", digest: DIGEST },
    gas: [
      { objectId: addr("c1"), version: "3", digest: DIGEST },
      { objectId: addr("c2"), version: "9", digest: DIGEST },
    ],
    sender: kp.toSuiAddress(),
    gasPrice: 1000n,
    gasBudget: 5_000_000n,
    requests,
  };
}

function u64le(bytes: Uint8Array): bigint {
  return bytes.reduce((acc, b, i) => acc | (BigInt(b) << (8n * BigInt(i))), 0n);
}

describe("submit_commitment transaction, built offline", () => {
  for (const [name, kp] of [["Ed25519", Ed25519Keypair.generate()], ["Secp256k1", Secp256k1Keypair.generate()]] as const) {
    test(`${name}: decodes back to the intended call, signature verifies`, async () => {
      const reqs = [request(0), request(1), request(2)];
      const signed = await buildSignedCommitment(input(kp, reqs), kp);
      const bytes = fromBase64(signed.bytes);
      expect(signed.digest).toBe(TransactionDataBuilder.getDigestFromBytes(bytes));
      expect(signed.ticketIds).toEqual(reqs.map((r) => r.ticketId));

      const data = bcs.TransactionData.parse(bytes).V1!;
      expect(data.sender).toBe(kp.toSuiAddress());
      expect(data.gasData.price).toBe("1000");
      expect(data.gasData.budget).toBe("5000000");
      expect(data.gasData.owner).toBe(kp.toSuiAddress());
      expect(data.gasData.payment.map((p) => [p.objectId, p.version])).toEqual([[addr("c1"), "3"], [addr("c2"), "9"]]);
      expect(data.expiration.$kind).toBe("None");
      const ptb = data.kind.ProgrammableTransaction!;
      expect(ptb.commands.length).toBe(3);

      // Shared and owned inputs appear once and are reused by every call.
      const inputs = ptb.inputs;
      const arg = (a: { $kind: string; Input?: number }) => {
        expect(a.$kind).toBe("Input");
        return inputs[a.Input!]!;
      };
      reqs.forEach((r, i) => {
        const call = ptb.commands[i]!.MoveCall!;
        expect(call.package).toBe(PKG);
        expect(call.module).toBe("settlement");
        expect(call.function).toBe("submit_commitment");
        expect(call.typeArguments).toEqual([]);
        expect(call.arguments.length).toBe(8);
        const [db, badge, ticket, inTok, outTok, root, leaf, random] = call.arguments.map(arg);
        expect(db!.Object!.SharedObject).toEqual({ objectId: addr("db"), initialSharedVersion: "7", mutable: true });
        expect(badge!.Object!.ImmOrOwnedObject).toEqual({ objectId: addr("bd"), version: "15", digest: DIGEST });
        expect(random!.Object!.SharedObject).toEqual({ objectId: normalizeSuiAddress("0x8"), initialSharedVersion: "42", mutable: false });
        expect(bcs.Address.parse(fromBase64(ticket!.Pure!.bytes))).toBe(r.ticketId);
        expect(u64le(fromBase64(inTok!.Pure!.bytes))).toBe(r.inputTokens);
        expect(u64le(fromBase64(outTok!.Pure!.bytes))).toBe(r.outputTokens);
        expect(bcs.vector(bcs.u8()).parse(fromBase64(root!.Pure!.bytes))).toEqual([...r.merkleRoot]);
        expect(bcs.vector(bcs.u8()).parse(fromBase64(leaf!.Pure!.bytes))).toEqual([...r.leaf]);
      });

      const pub = await verifyTransactionSignature(bytes, signed.signatures[0]!, { address: kp.toSuiAddress() });
      expect(pub.toSuiAddress()).toBe(kp.toSuiAddress());
      // Tampered bytes do not verify.
      const tampered = bytes.slice();
      tampered[tampered.length - 1]! ^= 1;
      await expect(verifyTransactionSignature(tampered, signed.signatures[0]!)).rejects.toThrow();
    });
  }

  test("rebuilding from the bytes reproduces digest (identical resend)", async () => {
    const kp = Ed25519Keypair.generate();
    const signed = await buildSignedCommitment(input(kp, [request(0)]), kp);
    const again = await Transaction.from(signed.bytes).build();
    expect(TransactionDataBuilder.getDigestFromBytes(again)).toBe(signed.digest);
  });

  test("bad hash lengths and empty batches are refused before signing", () => {
    const kp = Ed25519Keypair.generate();
    expect(() => commitmentTransaction(input(kp, [{ ...request(0), leaf: new Uint8Array(31) }]))).toThrow("leaf for ticket");
    expect(() => commitmentTransaction(input(kp, []))).toThrow("no commitments");
  });
});

describe("failure classification", () => {
  const abort = (abortCode: string, module = "settlement", pkg = PKG, command = 0) =>
    classifyExecutionError({
      $kind: "MoveAbort",
      message: `MoveAbort in ${command + 1}st command, abort code: ${abortCode}`,
      command,
      MoveAbort: { abortCode, location: { package: pkg, module, functionName: "submit_commitment" } },
    } as any);
  test("contract abort codes", () => {
    expect(abort("312012201")).toMatchObject({ kind: "already_committed", decision: "done", command: 0 });
    expect(abort("312012200", "settlement", PKG, 2)).toMatchObject({ kind: "not_awaiting", decision: "failed", command: 2 });
    expect(abort("1", "dynamic_field", "0x2")).toMatchObject({ kind: "ticket_gone", decision: "failed" });
    expect(abort("1", "settlement")).toMatchObject({ kind: "move_abort", decision: "failed" });
    expect(abort("312012203")).toMatchObject({ kind: "move_abort", decision: "failed" });
  });
  test("other executed failures", () => {
    expect(classifyExecutionError({ $kind: "CongestedObjects", message: "congested", CongestedObjects: { name: "x", objects: [] } } as any))
      .toMatchObject({ kind: "congested", decision: "retry" });
    expect(classifyExecutionError({ $kind: "Unknown", message: "InsufficientGas", Unknown: null } as any)).toMatchObject({ kind: "insufficient_gas" });
  });
  test("thrown RPC errors", () => {
    const rpc = (code: string, message: string) => Object.assign(new Error(message), { name: "RpcError", code });
    expect(classifyThrown(rpc("FAILED_PRECONDITION", `Object ID ${addr("c1")} Version 0x3 Digest x is not available for consumption, current version: 0x4`)))
      .toMatchObject({ kind: "stale_object", decision: "retry" });
    expect(classifyThrown(rpc("INVALID_ARGUMENT", "Balance of gas object 0x1 is lower than the needed amount: 5000000"))).toMatchObject({ kind: "insufficient_gas" });
    expect(classifyThrown(rpc("INVALID_ARGUMENT", "Gas price 750 under reference gas price (RGP) 1000"))).toMatchObject({ kind: "stale_object", decision: "retry" });
    expect(classifyThrown(rpc("DEADLINE_EXCEEDED", "deadline"))).toMatchObject({ kind: "timeout", decision: "resume" });
    expect(classifyThrown(Object.assign(new Error("The operation timed out."), { name: "TimeoutError" }))).toMatchObject({ kind: "timeout" });
    expect(classifyThrown(rpc("UNAVAILABLE", "down"))).toMatchObject({ kind: "unavailable", decision: "resume" });
    expect(classifyThrown(new TypeError("fetch failed"))).toMatchObject({ kind: "unavailable", decision: "resume" });
    expect(classifyThrown(rpc("INVALID_ARGUMENT", "signature is not valid"))).toMatchObject({ kind: "other", decision: "failed" });
  });
});

describe("Sui client from configuration", () => {
  test("gRPC client on the full-node URL; bad URLs refused clearly", async () => {
    const { createSuiClient } = await import("../../src/chain/client.ts");
    const c = createSuiClient({ network: "localnet", httpUrl: "http://127.0.0.1:9124/", requestTimeoutMs: 1000 });
    expect(c.network).toBe("localnet");
    expect(() => createSuiClient({ network: "localnet", httpUrl: "not a url" })).toThrow("is not a valid URL");
    expect(() => createSuiClient({ network: "localnet", httpUrl: "ws://x:1" })).toThrow("must be http:// or https://");
  });
});
