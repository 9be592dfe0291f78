/**
 * Builds and signs the `settlement::submit_commitment` programmable transaction fully offline
 * (every object as a full reference, gas fully preset), so building never touches the network and
 * the signed bytes can be persisted before anything is sent (spec sui-integration.md §5).
 */
import type { Keypair } from "@mysten/sui/cryptography";
import { Transaction, TransactionDataBuilder } from "@mysten/sui/transactions";
import { normalizeSuiAddress, SUI_RANDOM_OBJECT_ID } from "@mysten/sui/utils";
import type { CommitmentRequest, SignedTx } from "../types.ts";

export interface ObjectRef {
  objectId: string;
  version: string;
  digest: string;
}

export interface SharedRef {
  objectId: string;
  initialSharedVersion: string;
}

export interface CommitmentTxInput {
  packageId: string;
  atomaDb: SharedRef;
  /** `0x8`; its initial shared version differs per network. */
  random: SharedRef;
  badge: ObjectRef;
  /** Gas coins; the SDK merges several into the first when the transaction runs. */
  gas: ObjectRef[];
  sender: string;
  gasPrice: bigint;
  gasBudget: bigint;
  requests: CommitmentRequest[];
}

const SUBMIT_COMMITMENT = "settlement::submit_commitment";

function check32(name: string, bytes: Uint8Array, ticketId: string) {
  // The contract aborts (EBlake2b256HashMustBe32Bytes) otherwise; fail before paying gas.
  if (bytes.length !== 32) throw new Error(`${name} for ticket ${ticketId} must be 32 bytes, got ${bytes.length}`);
}

/** The unsigned Transaction: one `submit_commitment` call per request, command i = request i. */
export function commitmentTransaction(input: CommitmentTxInput): Transaction {
  if (input.requests.length === 0) throw new Error("no commitments to submit");
  if (input.gas.length === 0) throw new Error("no gas coin");
  const tx = new Transaction();
  tx.setSender(input.sender);
  tx.setGasPrice(input.gasPrice);
  tx.setGasBudget(input.gasBudget);
  tx.setGasPayment(input.gas);
  const db = tx.sharedObjectRef({ ...input.atomaDb, mutable: true });
  const badge = tx.objectRef(input.badge);
  const random = tx.sharedObjectRef({ ...input.random, mutable: false });
  const target = `${normalizeSuiAddress(input.packageId)}::${SUBMIT_COMMITMENT}` as const;
  for (const r of input.requests) {
    check32("merkle root", r.merkleRoot, r.ticketId);
    check32("leaf", r.leaf, r.ticketId);
    tx.moveCall({
      target,
      arguments: [
        db,
        badge,
        tx.pure.id(r.ticketId),
        tx.pure.u64(r.inputTokens),
        tx.pure.u64(r.outputTokens),
        tx.pure.vector("u8", r.merkleRoot),
        tx.pure.vector("u8", r.leaf),
        random,
      ],
    });
  }
  return tx;
}

/** Builds (offline), signs, and computes the digest; nothing is sent. */
export async function buildSignedCommitment(input: CommitmentTxInput, keypair: Keypair): Promise<SignedTx> {
  const bytes = await commitmentTransaction(input).build();
  const { signature } = await keypair.signTransaction(bytes);
  return {
    digest: TransactionDataBuilder.getDigestFromBytes(bytes),
    bytes: Buffer.from(bytes).toString("base64"),
    signatures: [signature],
    ticketIds: input.requests.map((r) => r.ticketId),
  };
}

export const RANDOM_OBJECT_ID = normalizeSuiAddress(SUI_RANDOM_OBJECT_ID);
