/**
 * Ledger records → the SDK's protobuf messages, and the DNF filters of the list/subscribe methods
 * (spec sui-integration.md §3.1: terms ORed, literals in a term ANDed; an event-type value may be
 * `addr`, `addr::module`, `addr::module::Name` or an exact instantiation).
 */
import { GrpcTypes } from "@mysten/sui/grpc";
import { normalizeStructTag, normalizeSuiAddress } from "@mysten/sui/utils";
import { GrpcError, Status } from "./grpc-web.ts";
import type { CheckpointRec, EventRec, TxRec } from "./ledger.ts";
import { transactionProto } from "./tx-proto.ts";

const ts = (ms: number) => ({ seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 });

export function eventProto(e: EventRec, tx: TxRec, index: number): GrpcTypes.Event {
  return {
    packageId: e.packageId,
    module: e.module,
    sender: e.sender,
    eventType: e.eventType,
    contents: { name: e.eventType, value: e.bcs },
    checkpoint: tx.checkpoint,
    transactionDigest: tx.digest,
    eventIndex: index,
  };
}

export function executedTxProto(tx: TxRec): GrpcTypes.ExecutedTransaction {
  return GrpcTypes.ExecutedTransaction.create({
    digest: tx.digest,
    transaction: tx.bytes ? transactionProto(tx.bytes, tx.digest) : { digest: tx.digest, sender: tx.sender },
    signatures: tx.signatures.map((s) => ({ bcs: { name: "UserSignatureBytes", value: s }, signature: { oneofKind: undefined } })),
    effects: tx.effects,
    events: { events: tx.events.map((e, i) => eventProto(e, tx, i)) },
    checkpoint: tx.checkpoint,
    timestamp: ts(tx.timestampMs),
    balanceChanges: tx.balanceChanges ?? [],
  });
}

export function checkpointProto(cp: CheckpointRec, epoch: bigint, txs: TxRec[] = cp.txs): GrpcTypes.Checkpoint {
  return GrpcTypes.Checkpoint.create({
    sequenceNumber: cp.seq,
    digest: cp.digest,
    summary: { sequenceNumber: cp.seq, digest: cp.digest, epoch, timestamp: ts(cp.timestampMs), commitments: [] },
    transactions: txs.map(executedTxProto),
  });
}

/** `addr`, `addr::module`, `addr::module::Name` or a full instantiation against a concrete type. */
function typeMatches(pattern: string, eventType: string): boolean {
  const parts = pattern.split("::");
  const [addr, mod, name] = parts;
  const [eAddr, eMod, eRest] = eventType.split("::");
  if (normalizeSuiAddress(addr!) !== normalizeSuiAddress(eAddr!)) return false;
  if (mod === undefined) return true;
  if (mod !== eMod) return false;
  if (name === undefined) return true;
  if (pattern.includes("<")) return normalizeStructTag(pattern) === normalizeStructTag(eventType);
  return eRest!.split("<")[0] === parts.slice(2).join("::");
}

type Literal = GrpcTypes.EventLiteral | GrpcTypes.TransactionLiteral;

function literalMatches(lit: Literal, tx: TxRec, ev: EventRec | null): boolean {
  const p = lit.predicate;
  const events = ev ? [ev] : tx.events;
  switch (p.oneofKind) {
    case "eventType":
      return events.some((e) => typeMatches(p.eventType.eventType ?? "", e.eventType));
    case "sender":
      return normalizeSuiAddress(p.sender.address ?? "0x0") === (ev ? ev.sender : tx.sender);
    case "emitModule": {
      const [a, m] = (p.emitModule.module ?? "").split("::");
      return events.some((e) => normalizeSuiAddress(a!) === e.packageId && (m === undefined || m === e.module));
    }
    default:
      throw new GrpcError(Status.INVALID_ARGUMENT, `filter predicate ${p.oneofKind ?? "(none)"} is not supported by this server`);
  }
}

function dnf(filter: { terms: { literals: Literal[] }[] }, tx: TxRec, ev: EventRec | null): boolean {
  if (filter.terms.length === 0) throw new GrpcError(Status.INVALID_ARGUMENT, "filter must have at least one term");
  return filter.terms.some((t) => t.literals.every((l) => literalMatches(l, tx, ev) !== l.negated));
}

export const txMatches = (f: GrpcTypes.TransactionFilter | undefined, tx: TxRec) => !f || dnf(f, tx, null);
export const eventMatches = (f: GrpcTypes.EventFilter | undefined, tx: TxRec, ev: EventRec) => !f || dnf(f, tx, ev);
export const checkpointMatches = (f: GrpcTypes.TransactionFilter | undefined, cp: CheckpointRec) => !f || cp.txs.some((tx) => txMatches(f, tx));
