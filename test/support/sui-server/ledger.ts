/**
 * The fake full node's state: versioned objects, the checkpoint ledger, executed transactions, the
 * Atoma tickets/commitments the settlement rules need, a calls log and fault switches. One instance
 * per server; everything is in memory (optionally snapshotted to a file by the CLI).
 */
import { GrpcTypes } from "@mysten/sui/grpc";
import { normalizeSuiAddress, SUI_RANDOM_OBJECT_ID } from "@mysten/sui/utils";
import { checkpointDigest, objectDigest, objectId, syntheticTxDigest } from "./ids.ts";

const { Owner_OwnerKind } = GrpcTypes;

export interface OwnerRec {
  kind: "address" | "shared" | "immutable";
  /** Owner address for `address`. */
  address?: string;
  /** Initial shared version for `shared`. */
  initialSharedVersion?: bigint;
}

export interface ObjectRec {
  objectId: string;
  version: bigint;
  digest: string;
  owner: OwnerRec;
  objectType: string;
  /** SUI coins only. */
  balance?: bigint;
  /** NodeBadge only. */
  smallId?: bigint;
  previousTransaction?: string;
}

export interface EventRec {
  packageId: string;
  module: string;
  sender: string;
  eventType: string;
  bcs: Uint8Array;
}

export interface TxRec {
  digest: string;
  checkpoint: bigint;
  timestampMs: number;
  sender: string;
  /** Signed BCS TransactionData (absent for injected events, which have no real transaction). */
  bytes?: Uint8Array;
  signatures: Uint8Array[];
  /** TransactionEffects as the protobuf-ts message (plain object). */
  effects: GrpcTypes.TransactionEffects;
  events: EventRec[];
  /** SUI spent by the gas owner (negative), for `include: { balanceChanges: true }`. */
  balanceChanges?: { address: string; coinType: string; amount: string }[];
}

export interface CheckpointRec {
  seq: bigint;
  digest: string;
  timestampMs: number;
  txs: TxRec[];
}

export interface CommitmentRec {
  ticketId: string;
  nodeSmallId: bigint;
  sender: string;
  root: string;
  leaf: string;
  inputTokens: bigint;
  outputTokens: bigint;
  txDigest: string;
  checkpoint: bigint;
  first: boolean;
  /** The position of the node in the ticket (the leaf slot it filled). */
  order: number;
}

export interface TicketRec {
  ticketId: string;
  /** The contract's `ticket.all`: the nodes that may commit, indexed by leaf order. */
  nodes: bigint[];
  chunksCount: bigint;
  /** `merkle_leaves`: each committed leaf at `order * 32`, zero-padded (hex). */
  leaves?: string;
  /** `ticket.cross_validation` (prompts with one sampled node and `chunks_count > 1`, spec §5.2);
   * taken out by the first `try_to_settle` that finds every node of `ticket.all` committed. */
  crossValidation?: { probabilityPermille: bigint; extraNodes: bigint };
  committed: Map<bigint, CommitmentRec>;
  root?: string;
  inputTokens?: bigint;
  outputTokens?: bigint;
  disputed: boolean;
  settled: boolean;
}

export interface CallRec {
  at: number;
  service: string;
  method: string;
  /** protobuf JSON of the request. */
  input: unknown;
  headers: Record<string, string>;
}

export interface NodeSpec {
  address: string;
  smallId: bigint | number;
  /** Number of SUI gas coins to create (default 4). */
  gasCoins?: number;
  /** Balance per gas coin in MIST (default 10 SUI). */
  gasBalance?: bigint;
}

export interface LedgerOptions {
  /** Seed for deterministic ids (default "atoma"). */
  seed?: string;
  packageId?: string;
  atomaDbId?: string;
  nodes?: NodeSpec[];
  referenceGasPrice?: bigint;
  chainId?: string;
  epoch?: bigint;
  /** `cross_validation_probability_permille` (initial value on chain: 500). */
  crossValidationPermille?: number;
}

export const GAS_COIN_TYPE = "0x2::coin::Coin<0x2::sui::SUI>";

export class Ledger {
  readonly seed: string;
  readonly packageId: string;
  readonly atomaDbId: string;
  readonly randomId = normalizeSuiAddress(SUI_RANDOM_OBJECT_ID);
  readonly chainId: string;
  epoch: bigint;
  readonly crossValidationPermille: bigint;
  /** `sui::random` draws so far: draw n is a hash of (seed, n), so a run is reproducible. */
  randomDraws = 0n;
  /** Owned `objectId@version` → digest of the transaction that locked it (until the epoch ends). */
  readonly locks = new Map<string, string>();
  /** Recent earlier versions per object (for the read-lag fault). */
  readonly history = new Map<string, { rec: ObjectRec; replacedAt: number }[]>();
  referenceGasPrice: bigint;
  readonly objects = new Map<string, ObjectRec>();
  readonly checkpoints: CheckpointRec[] = [];
  readonly txs = new Map<string, TxRec>();
  readonly tickets = new Map<string, TicketRec>();
  readonly commitments: CommitmentRec[] = [];
  readonly calls: CallRec[] = [];
  /** Badge object id per node small id, and node addresses, for the CLI printout. */
  readonly badges = new Map<bigint, string>();
  private readonly listeners = new Set<(cp: CheckpointRec) => void>();
  /** Injected (unsigned) transactions so far; part of their digests. */
  syntheticCount = 0n;

  constructor(opts: LedgerOptions = {}) {
    this.seed = opts.seed ?? "atoma";
    this.packageId = normalizeSuiAddress(opts.packageId ?? objectId(this.seed, "package"));
    this.atomaDbId = normalizeSuiAddress(opts.atomaDbId ?? objectId(this.seed, "AtomaDb"));
    this.chainId = opts.chainId ?? "4c78adac";
    this.epoch = opts.epoch ?? 1n;
    this.crossValidationPermille = BigInt(opts.crossValidationPermille ?? 500);
    this.referenceGasPrice = opts.referenceGasPrice ?? 1000n;
    this.put({ objectId: this.packageId, version: 1n, owner: { kind: "immutable" }, objectType: "package" });
    this.put({ objectId: this.atomaDbId, version: 3n, owner: { kind: "shared", initialSharedVersion: 3n }, objectType: `${this.packageId}::db::AtomaDb` });
    this.put({ objectId: this.randomId, version: 2n, owner: { kind: "shared", initialSharedVersion: 2n }, objectType: "0x2::random::Random" });
    for (const node of opts.nodes ?? []) this.addNode(node);
    this.appendCheckpoint([]); // genesis
  }

  /** Creates a NodeBadge and gas coins owned by `node.address`; returns their ids. */
  addNode(node: NodeSpec): { badgeId: string; gasCoins: string[] } {
    const address = normalizeSuiAddress(node.address);
    const smallId = BigInt(node.smallId);
    if (this.badges.has(smallId)) throw new Error(`small id ${smallId} already has a NodeBadge`);
    const badgeId = objectId(this.seed, `NodeBadge/${smallId}`);
    this.put({ objectId: badgeId, version: 5n, owner: { kind: "address", address }, objectType: `${this.packageId}::db::NodeBadge`, smallId });
    this.badges.set(smallId, badgeId);
    const gasCoins: string[] = [];
    for (let i = 0; i < (node.gasCoins ?? 4); i++) {
      const id = objectId(this.seed, `gas/${address}/${smallId}/${i}`);
      this.put({ objectId: id, version: 5n, owner: { kind: "address", address }, objectType: GAS_COIN_TYPE, balance: node.gasBalance ?? 10_000_000_000n });
      gasCoins.push(id);
    }
    return { badgeId, gasCoins };
  }

  put(o: Omit<ObjectRec, "digest"> & { digest?: string }): ObjectRec {
    const rec: ObjectRec = { ...o, objectId: normalizeSuiAddress(o.objectId), digest: o.digest ?? objectDigest(o.objectId, o.version) };
    const old = this.objects.get(rec.objectId);
    if (old) this.history.set(rec.objectId, [...(this.history.get(rec.objectId) ?? []).slice(-15), { rec: old, replacedAt: Date.now() }]);
    this.objects.set(rec.objectId, rec);
    return rec;
  }

  /** The object as a lagging replica would show it: the version that was current `lagMs` ago. */
  readLagged(id: string, lagMs: number): ObjectRec | undefined {
    const cur = this.get(id);
    if (!cur || lagMs <= 0) return cur;
    const at = Date.now() - lagMs;
    const older = (this.history.get(cur.objectId) ?? []).find((h) => h.replacedAt > at);
    return older?.rec ?? cur;
  }

  get(id: string): ObjectRec | undefined {
    return this.objects.get(normalizeSuiAddress(id));
  }

  ownedBy(address: string, type?: string): ObjectRec[] {
    const a = normalizeSuiAddress(address);
    return [...this.objects.values()].filter((o) => o.owner.kind === "address" && o.owner.address === a && (!type || o.objectType === type));
  }

  get tip(): CheckpointRec {
    return this.checkpoints[this.checkpoints.length - 1]!;
  }

  checkpoint(seq: bigint): CheckpointRec | undefined {
    const first = this.checkpoints[0]!.seq;
    return seq < first ? undefined : this.checkpoints[Number(seq - first)];
  }

  /** Seals `txs` into the next checkpoint and tells live subscriptions. */
  appendCheckpoint(txs: TxRec[]): CheckpointRec {
    const seq = this.checkpoints.length === 0 ? 0n : this.tip.seq + 1n;
    const timestampMs = Date.now();
    for (const tx of txs) {
      tx.checkpoint = seq;
      tx.timestampMs = timestampMs;
      this.txs.set(tx.digest, tx);
    }
    const cp: CheckpointRec = { seq, digest: checkpointDigest(this.seed, seq), timestampMs, txs };
    this.checkpoints.push(cp);
    for (const l of this.listeners) l(cp);
    return cp;
  }

  onCheckpoint(listener: (cp: CheckpointRec) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A transaction that only carries events (what a user's prompt transaction looks like to a node). */
  syntheticTx(sender: string, events: EventRec[]): TxRec {
    this.syntheticCount += 1n;
    return {
      digest: syntheticTxDigest(this.seed, this.syntheticCount),
      checkpoint: 0n,
      timestampMs: 0,
      sender: normalizeSuiAddress(sender),
      signatures: [],
      effects: GrpcTypes.TransactionEffects.create({ status: { success: true }, epoch: this.epoch }),
      events,
    };
  }

  /** Bumps an owned/shared object to `version` after a transaction, returning [old, new]. */
  bump(id: string, version: bigint, txDigest: string): [ObjectRec, ObjectRec] {
    const old = this.get(id)!;
    const next = this.put({ ...old, version, digest: undefined, previousTransaction: txDigest });
    return [old, next];
  }
}

/** Ledger owner → protobuf `Owner`. */
export function ownerProto(o: OwnerRec): GrpcTypes.Owner {
  if (o.kind === "address") return { kind: Owner_OwnerKind.ADDRESS, address: o.address };
  if (o.kind === "shared") return { kind: Owner_OwnerKind.SHARED, version: o.initialSharedVersion };
  return { kind: Owner_OwnerKind.IMMUTABLE };
}

export function objectProto(o: ObjectRec): GrpcTypes.Object {
  return GrpcTypes.Object.create({
    objectId: o.objectId,
    version: o.version,
    digest: o.digest,
    owner: ownerProto(o.owner),
    objectType: o.objectType,
    balance: o.balance,
    previousTransaction: o.previousTransaction,
  });
}
