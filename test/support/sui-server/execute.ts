/**
 * ExecuteTransaction as a validator + full node would do it for Atoma's commitment transactions:
 * signature verification, input/gas checks (the rejections a node sees as gRPC errors), then
 * execution of `settlement::submit_commitment` calls (failures become an executed-but-failed
 * transaction with gas charged and owned versions bumped), events and a new checkpoint.
 */
import { bcs } from "@mysten/sui/bcs";
import { GrpcTypes } from "@mysten/sui/grpc";
import { TransactionDataBuilder } from "@mysten/sui/transactions";
import { normalizeSuiAddress, toBase64 } from "@mysten/sui/utils";
import { verifyTransactionSignature } from "@mysten/sui/verify";
import { GrpcError, Status } from "./grpc-web.ts";
import { objectDigest } from "./ids.ts";
import { GAS_COIN_TYPE, type Ledger, type ObjectRec, ownerProto, type TxRec } from "./ledger.ts";
import { MoveAbortError, SettlementDraft } from "./settlement.ts";
import { checkMoveCall, type ParsedTx, type TxInput } from "./ptb.ts";

const { ExecutionError_ExecutionErrorKind: Kind, ChangedObject_InputObjectState: InState, ChangedObject_OutputObjectState: OutState, ChangedObject_IdOperation: IdOp } = GrpcTypes;

export interface ExecuteOptions {
  /** Sui rejects PTBs with commands after a `Random`-using call (other than TransferObjects/MergeCoins). */
  enforceRandomRestriction: boolean;
  /** Computation cost per transaction, in gas units (× gas price = MIST). */
  computationUnits: bigint;
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

function reject(message: string, code: number = Status.INVALID_ARGUMENT): never {
  throw new GrpcError(code, message);
}

function parse(bytes: Uint8Array): ParsedTx {
  let data;
  try {
    data = bcs.TransactionData.parse(bytes);
  } catch (e) {
    reject(`Transaction deserialization error: ${(e as Error).message}`);
  }
  const v1 = data.V1;
  if (!v1) reject("Transaction deserialization error: unsupported TransactionData version");
  const ptb = v1.kind.ProgrammableTransaction;
  if (!ptb) reject(`Transaction kind ${v1.kind.$kind} is not supported by this node`);
  return { sender: normalizeSuiAddress(v1.sender), gas: v1.gasData, inputs: ptb.inputs as TxInput[], commands: ptb.commands };
}

async function verifySigners(bytes: Uint8Array, sigs: Uint8Array[], tx: ParsedTx): Promise<void> {
  const required = new Set([tx.sender, normalizeSuiAddress(tx.gas.owner)]);
  if (sigs.length !== required.size) reject(`Expect ${required.size} signer signatures but got ${sigs.length}`);
  for (const sig of sigs) {
    let signer: string;
    try {
      signer = (await verifyTransactionSignature(bytes, toBase64(sig))).toSuiAddress();
    } catch (e) {
      reject(`Invalid user signature: ${(e as Error).message}`);
    }
    if (!required.has(signer)) reject(`Invalid user signature: Signer ${signer} is not the sender or gas owner of this transaction`);
    required.delete(signer);
  }
  if (required.size > 0) reject(`Invalid user signature: missing signature of ${[...required].join(", ")}`);
}

function checkOwnedRef(ledger: Ledger, ref: { objectId: string; version: string | number; digest: string }, owner: string): ObjectRec {
  const id = normalizeSuiAddress(ref.objectId);
  const version = BigInt(ref.version);
  const obj = ledger.get(id);
  if (!obj) reject(`Could not find the referenced object ${id} at version ${hex(version)}`, Status.NOT_FOUND);
  if (obj.owner.kind === "shared") reject(`Object ${id} is shared and must be passed as a shared object input`);
  if (obj.version !== version || obj.digest !== ref.digest) {
    reject(`Object ID ${id} Version ${hex(version)} Digest ${ref.digest} is not available for consumption, current version: ${hex(obj.version)}`, Status.FAILED_PRECONDITION);
  }
  if (obj.owner.kind === "address" && obj.owner.address !== owner) {
    reject(`Transaction was not signed by the correct sender: Object ${id} is owned by account address ${obj.owner.address}, but given owner/signer address is ${owner}`);
  }
  return obj;
}

function checkInputs(ledger: Ledger, tx: ParsedTx): ObjectRec[] {
  const seen = new Set<string>();
  const owned: ObjectRec[] = [];
  for (const input of tx.inputs) {
    const o = input.Object;
    if (!o) continue;
    const id = normalizeSuiAddress(o.ImmOrOwnedObject?.objectId ?? o.SharedObject?.objectId ?? o.Receiving?.objectId ?? "0x0");
    if (seen.has(id)) reject(`Duplicate object ref in transaction inputs: ${id}`);
    seen.add(id);
    if (o.ImmOrOwnedObject) owned.push(checkOwnedRef(ledger, o.ImmOrOwnedObject, tx.sender));
    else if (o.SharedObject) {
      const obj = ledger.get(id);
      if (!obj) reject(`Could not find the referenced object ${id}`, Status.NOT_FOUND);
      if (obj.owner.kind !== "shared") reject(`Object ${id} is not a shared object`);
      if (BigInt(o.SharedObject.initialSharedVersion) !== obj.owner.initialSharedVersion) {
        reject(`Shared object ${id} initial shared version mismatch: expected ${obj.owner.initialSharedVersion}, got ${o.SharedObject.initialSharedVersion}`);
      }
    } else reject(`Unsupported input object kind for ${id}`);
  }
  return owned;
}

function checkGas(ledger: Ledger, tx: ParsedTx): ObjectRec[] {
  const price = BigInt(tx.gas.price);
  const budget = BigInt(tx.gas.budget);
  if (price < ledger.referenceGasPrice) reject(`Gas price ${price} under reference gas price (RGP) ${ledger.referenceGasPrice}`);
  if (tx.gas.payment.length === 0) reject("Missing gas payment");
  const owner = normalizeSuiAddress(tx.gas.owner);
  const coins = tx.gas.payment.map((ref) => {
    const coin = checkOwnedRef(ledger, ref, owner);
    if (coin.objectType !== GAS_COIN_TYPE) reject(`Gas object ${coin.objectId} is not a gas coin`);
    return coin;
  });
  const total = coins.reduce((n, c) => n + (c.balance ?? 0n), 0n);
  if (total < budget) reject(`Balance of gas object ${total} is lower than the needed amount: ${budget}`);
  return coins;
}

function checkRandomRestriction(ledger: Ledger, tx: ParsedTx): void {
  const randomIdx = tx.inputs.findIndex((i) => i.Object?.SharedObject && normalizeSuiAddress(i.Object.SharedObject.objectId) === ledger.randomId);
  if (randomIdx < 0) return;
  let used = false;
  for (const cmd of tx.commands) {
    if (used && !cmd.TransferObjects && !cmd.MergeCoins) reject("Commands following a command with Random can only be TransferObjects or MergeCoins");
    const args = cmd.MoveCall?.arguments ?? [];
    if (args.some((a) => a.Input === randomIdx)) used = true;
  }
}

function changed(old: ObjectRec, next: ObjectRec): GrpcTypes.ChangedObject {
  return {
    objectId: old.objectId,
    inputState: InState.EXISTS,
    inputVersion: old.version,
    inputDigest: old.digest,
    inputOwner: ownerProto(old.owner),
    outputState: OutState.OBJECT_WRITE,
    outputVersion: next.version,
    outputDigest: next.digest,
    outputOwner: ownerProto(next.owner),
    idOperation: IdOp.NONE,
    objectType: next.objectType,
  };
}

/** Runs the commands; returns the failure as an ExecutionError, or null with `draft` filled. */
function run(ledger: Ledger, tx: ParsedTx, draft: SettlementDraft, cost: bigint): GrpcTypes.ExecutionError | null {
  if (BigInt(tx.gas.budget) < cost) {
    return { kind: Kind.INSUFFICIENT_GAS, description: "InsufficientGas", errorDetails: { oneofKind: undefined } };
  }
  for (let i = 0; i < tx.commands.length; i++) {
    const cmd = tx.commands[i]!;
    try {
      if (!cmd.MoveCall) {
        return { kind: Kind.FEATURE_NOT_YET_SUPPORTED, command: BigInt(i), description: `${cmd.$kind} is not supported by the Atoma test server`, errorDetails: { oneofKind: undefined } };
      }
      const checked = checkMoveCall(ledger, tx, cmd.MoveCall);
      if ("error" in checked) return { ...checked.error, command: BigInt(i) };
      draft.submitCommitment(checked.args);
    } catch (e) {
      if (!(e instanceof MoveAbortError)) throw e;
      return {
        kind: Kind.MOVE_ABORT,
        command: BigInt(i),
        description: `MoveAbort(MoveLocation { module: ModuleId { address: ${e.pkg.slice(2)}, name: Identifier("${e.module}") }, function: 0, instruction: 0, function_name: Some("${e.fn}") }, ${e.code}) in command ${i}`,
        errorDetails: { oneofKind: "abort", abort: { abortCode: e.code, location: { package: e.pkg, module: e.module, function: 0, instruction: 0, functionName: e.fn } } },
      };
    }
  }
  return null;
}

/** Validates, executes and records a signed transaction. Re-sending the same bytes returns the stored result. */
/** `lockOnly`: the transaction reached too few validators — its owned inputs are locked to it, nothing executes. */
export type ExecuteMode = "execute" | "dryRun" | "lockOnly";

/** A different transaction already holds a lock on one of these exact owned versions: equivocation. */
function checkLocks(ledger: Ledger, objs: ObjectRec[], digest: string): void {
  for (const o of objs) {
    const holder = ledger.locks.get(`${o.objectId}@${o.version}`);
    if (holder && holder !== digest) {
      reject(
        `Transaction is rejected as invalid by more than 1/3 of validators by stake (non-retriable): ObjectLockConflict: Object ${o.objectId} Version ${hex(o.version)} Digest ${o.digest} is already locked by a different transaction ${holder}; it stays locked (equivocated) until the end of epoch ${ledger.epoch}`,
        Status.FAILED_PRECONDITION,
      );
    }
  }
}

export async function executeTransaction(
  ledger: Ledger,
  opts: ExecuteOptions,
  bytes: Uint8Array,
  sigs: Uint8Array[],
  mode: ExecuteMode = "execute",
  /** Asked only once the transaction is valid: whether to lock its inputs instead of executing (fault). */
  lockInstead?: () => boolean,
  /** Asked at execution: whether consensus cancels it for shared-object congestion (fault). */
  congested?: () => boolean,
): Promise<TxRec> {
  const dryRun = mode === "dryRun";
  const digest = TransactionDataBuilder.getDigestFromBytes(bytes);
  const stored = ledger.txs.get(digest);
  if (stored) return stored;
  const tx = parse(bytes);
  if (!dryRun) await verifySigners(bytes, sigs, tx);
  const owned = checkInputs(ledger, tx);
  const gasCoins = checkGas(ledger, tx);
  if (opts.enforceRandomRestriction) checkRandomRestriction(ledger, tx);
  if (!dryRun) checkLocks(ledger, [...owned, ...gasCoins], digest);
  if (mode === "lockOnly" || (mode === "execute" && lockInstead?.())) {
    for (const o of [...owned, ...gasCoins]) ledger.locks.set(`${o.objectId}@${o.version}`, digest);
    reject("transaction was not certified by a quorum of validators (it may still be); retry with the same transaction", Status.UNAVAILABLE);
  }

  const price = BigInt(tx.gas.price);
  const cost = opts.computationUnits * price;
  const draft = new SettlementDraft(ledger, tx.sender);
  const congestedDb = !dryRun && tx.inputs.some((i) => i.Object?.SharedObject?.mutable) && congested?.();
  const error: GrpcTypes.ExecutionError | null = congestedDb
    ? {
        kind: Kind.EXECUTION_CANCELED_DUE_TO_CONSENSUS_OBJECT_CONGESTION,
        description: `ExecutionCancelledDueToConsensusObjectCongestion { congested_objects: [${ledger.atomaDbId}] }`,
        errorDetails: { oneofKind: "congestedObjects", congestedObjects: { objects: [ledger.atomaDbId] } },
      }
    : run(ledger, tx, draft, cost);
  const charged = error?.kind === Kind.INSUFFICIENT_GAS ? BigInt(tx.gas.budget) : cost;

  // Lamport version: 1 + the highest input version; every mutated object gets it, even on failure.
  const sharedMut = tx.inputs.flatMap((i) => (i.Object?.SharedObject?.mutable ? [ledger.get(i.Object.SharedObject.objectId)!] : []));
  const [gasCoin, ...smashed] = gasCoins as [ObjectRec, ...ObjectRec[]];
  const mutated = [...owned, gasCoin, ...sharedMut];
  const lamport = 1n + [...mutated, ...smashed].reduce((m, o) => (o.version > m ? o.version : m), 0n);
  const changes = mutated.map((o) =>
    dryRun ? changed(o, { ...o, version: lamport, digest: objectDigest(o.objectId, lamport) }) : changed(...ledger.bump(o.objectId, lamport, digest)),
  );
  // Gas smashing: every payment coin is merged into the first, the others are deleted.
  const total = gasCoins.reduce((n, c) => n + (c.balance ?? 0n), 0n);
  for (const c of smashed) {
    changes.push({ ...changed(c, c), outputState: OutState.DOES_NOT_EXIST, outputVersion: undefined, outputDigest: undefined, outputOwner: undefined, idOperation: IdOp.DELETED });
    if (!dryRun) ledger.objects.delete(c.objectId);
  }
  if (!dryRun) ledger.get(gasCoin.objectId)!.balance = total - charged;
  const gasChange = changes.find((c) => c.objectId === gasCoin.objectId)!;
  const randomRead = tx.inputs.some((i) => i.Object?.SharedObject && !i.Object.SharedObject.mutable && normalizeSuiAddress(i.Object.SharedObject.objectId) === ledger.randomId);
  const random = ledger.get(ledger.randomId)!;

  const effects = GrpcTypes.TransactionEffects.create({
    version: 2,
    status: error ? { success: false, error } : { success: true },
    epoch: ledger.epoch,
    gasUsed: { computationCost: charged, storageCost: 0n, storageRebate: 0n, nonRefundableStorageFee: 0n },
    transactionDigest: digest,
    gasObject: gasChange,
    lamportVersion: lamport,
    changedObjects: changes,
    unchangedConsensusObjects: randomRead
      ? [{ kind: GrpcTypes.UnchangedConsensusObject_UnchangedConsensusObjectKind.READ_ONLY_ROOT, objectId: random.objectId, version: random.version, digest: random.digest }]
      : [],
  });
  const rec: TxRec = { digest, checkpoint: 0n, timestampMs: 0, sender: tx.sender, bytes, signatures: sigs, effects, events: error ? [] : draft.events,
    balanceChanges: [{ address: normalizeSuiAddress(tx.gas.owner), coinType: "0x2::sui::SUI", amount: (-charged).toString() }] };
  if (dryRun) return rec;
  if (!error) draft.apply(digest, ledger.tip.seq + 1n);
  ledger.appendCheckpoint([rec]);
  return rec;
}

