/**
 * The gRPC methods the SDK's `SuiGrpcClient` calls for Atoma (spec sui-integration.md §8.3), over the
 * fake ledger. Unary handlers return a message; streaming handlers are async generators of frames.
 */
import { GrpcTypes } from "@mysten/sui/grpc";
import { normalizeStructTag, normalizeSuiAddress } from "@mysten/sui/utils";
import { executeTransaction, type ExecuteOptions } from "./execute.ts";
import type { Faults } from "./faults.ts";
import { GrpcError, Status } from "./grpc-web.ts";
import { GAS_COIN_TYPE, type Ledger, objectProto } from "./ledger.ts";
import { checkpointProto, executedTxProto } from "./proto.ts";
import { listCheckpoints, listEvents, subscribeCheckpoints } from "./streams.ts";
import { simulateTransaction } from "./simulate.ts";
import { applyMask } from "./read-mask.ts";

/** Documented defaults when a request has no read mask (sui.rpc.v2 protos). */
export const DEFAULT_MASK = {
  object: ["object_id", "version", "digest"],
  ownedObject: ["object_id", "version", "object_type"],
  transaction: ["digest"],
  executed: ["effects.status", "checkpoint"],
  checkpoint: ["sequence_number", "digest"],
  epoch: ["epoch"],
} as const;

const maskObject = (o: GrpcTypes.Object, mask: { paths: string[] } | undefined, dflt: readonly string[] = DEFAULT_MASK.object) => applyMask(GrpcTypes.Object, o, mask, dflt);
const maskTx = (tx: GrpcTypes.ExecutedTransaction, mask: { paths: string[] } | undefined, dflt: readonly string[] = DEFAULT_MASK.transaction) =>
  applyMask(GrpcTypes.ExecutedTransaction, tx, mask, dflt);

export interface CallCtx {
  ledger: Ledger;
  faults: Faults;
  exec: ExecuteOptions;
  /** Aborts when the client disconnects. */
  signal: AbortSignal;
}

// Requests are decoded with the method table's own MessageType at run time; handlers cast them.
type Req = any;
export type Handler = (req: Req, ctx: CallCtx) => Promise<object> | AsyncGenerator<object>;

const notFound = (what: string) => new GrpcError(Status.NOT_FOUND, `${what} not found`);

function getObject(ledger: Ledger, id: string | undefined, version: bigint | undefined, lagMs = 0): GrpcTypes.Object {
  const o = id ? ledger.readLagged(id, lagMs) : undefined;
  if (!o || (version !== undefined && version !== o.version)) throw notFound(`Object ${id}${version !== undefined ? ` at version ${version}` : ""}`);
  return objectProto(o);
}

function sameType(a: string, b: string): boolean {
  try {
    return normalizeStructTag(a) === normalizeStructTag(b);
  } catch {
    return a === b;
  }
}

function balanceOf(ledger: Ledger, owner: string, coinType: string): GrpcTypes.Balance {
  const coins = ledger.ownedBy(owner).filter((o) => o.objectType === GAS_COIN_TYPE && sameType(`0x2::coin::Coin<${coinType}>`, GAS_COIN_TYPE));
  const total = coins.reduce((n, c) => n + (c.balance ?? 0n), 0n);
  return { coinType, balance: total, coinBalance: total, addressBalance: 0n };
}

export const HANDLERS: Record<string, Handler> = {
  "LedgerService/GetServiceInfo": async (_req, { ledger }) => ({
    chainId: ledger.chainId,
    chain: "localnet",
    epoch: ledger.epoch,
    checkpointHeight: ledger.tip.seq,
    timestamp: { seconds: BigInt(Math.floor(ledger.tip.timestampMs / 1000)), nanos: 0 },
    lowestAvailableCheckpoint: ledger.checkpoints[0]!.seq,
    lowestAvailableCheckpointObjects: ledger.checkpoints[0]!.seq,
    server: "atoma-sui-test-server",
  }),
  "LedgerService/GetEpoch": async (req, { ledger }) => {
    if (req.epoch !== undefined && req.epoch !== ledger.epoch) throw notFound(`Epoch ${req.epoch}`);
    const epoch = GrpcTypes.Epoch.create({ epoch: ledger.epoch, referenceGasPrice: ledger.referenceGasPrice, firstCheckpoint: 0n });
    return { epoch: applyMask(GrpcTypes.Epoch, epoch, req.readMask, DEFAULT_MASK.epoch) };
  },
  "LedgerService/GetObject": async (req, { ledger, faults }) => ({ object: maskObject(getObject(ledger, req.objectId, req.version, faults.readLagMs), req.readMask) }),
  "LedgerService/BatchGetObjects": async (req, { ledger, faults }) => ({
    objects: (req.requests as GrpcTypes.GetObjectRequest[]).map((r) => {
      try {
        return { result: { oneofKind: "object", object: maskObject(getObject(ledger, r.objectId, r.version, faults.readLagMs), req.readMask) } };
      } catch (e) {
        return { result: { oneofKind: "error", error: { code: Status.NOT_FOUND, message: (e as Error).message, details: [] } } };
      }
    }),
  }),
  "LedgerService/GetTransaction": async (req, { ledger }) => {
    const tx = ledger.txs.get(req.digest ?? "");
    if (!tx) throw notFound(`Transaction ${req.digest}`);
    return { transaction: maskTx(executedTxProto(tx), req.readMask) };
  },
  "LedgerService/BatchGetTransactions": async (req, { ledger }) => ({
    transactions: (req.digests as string[]).map((d) => {
      const tx = ledger.txs.get(d);
      return tx
        ? { result: { oneofKind: "transaction", transaction: maskTx(executedTxProto(tx), req.readMask) } }
        : { result: { oneofKind: "error", error: { code: Status.NOT_FOUND, message: `Transaction ${d} not found`, details: [] } } };
    }),
  }),
  "LedgerService/GetCheckpoint": async (req, { ledger }) => {
    const id = req.checkpointId as GrpcTypes.GetCheckpointRequest["checkpointId"];
    const cp =
      id.oneofKind === "sequenceNumber"
        ? ledger.checkpoint(id.sequenceNumber)
        : id.oneofKind === "digest"
          ? ledger.checkpoints.find((c) => c.digest === id.digest)
          : ledger.tip;
    if (!cp) throw notFound(`Checkpoint ${id.oneofKind === "sequenceNumber" ? id.sequenceNumber : id.oneofKind === "digest" ? id.digest : ""}`);
    return { checkpoint: applyMask(GrpcTypes.Checkpoint, checkpointProto(cp, ledger.epoch), req.readMask, DEFAULT_MASK.checkpoint) };
  },
  "LedgerService/ListCheckpoints": listCheckpoints,
  "LedgerService/ListEvents": listEvents,
  "SubscriptionService/SubscribeCheckpoints": subscribeCheckpoints,
  "StateService/ListOwnedObjects": async (req, { ledger, faults }) => {
    if (!req.owner) throw new GrpcError(Status.INVALID_ARGUMENT, "missing owner");
    const all = ledger
      .ownedBy(req.owner)
      .filter((o) => !req.objectType || sameType(req.objectType, o.objectType))
      .map((o) => ledger.readLagged(o.objectId, faults.readLagMs)!);
    const start = req.pageToken ? new DataView((req.pageToken as Uint8Array).buffer, (req.pageToken as Uint8Array).byteOffset).getUint32(0, true) : 0;
    const size = Math.min(req.pageSize || 50, 1000);
    const page = all.slice(start, start + size);
    const next = start + size < all.length ? new Uint8Array(new Uint32Array([start + size]).buffer) : undefined;
    return { objects: page.map((o) => maskObject(objectProto(o), req.readMask, DEFAULT_MASK.ownedObject)), nextPageToken: next };
  },
  "StateService/GetBalance": async (req, { ledger }) => ({ balance: balanceOf(ledger, normalizeSuiAddress(req.owner ?? "0x0"), req.coinType ?? "0x2::sui::SUI") }),
  "StateService/ListBalances": async (req, { ledger }) => ({ balances: [balanceOf(ledger, normalizeSuiAddress(req.owner ?? "0x0"), "0x2::sui::SUI")] }),
  "TransactionExecutionService/ExecuteTransaction": async (req, ctx) => {
    const bytes = req.transaction?.bcs?.value as Uint8Array | undefined;
    if (!bytes?.length) throw new GrpcError(Status.INVALID_ARGUMENT, "transaction.bcs.value is required by this server");
    const sigs = (req.signatures as GrpcTypes.UserSignature[]).map((s) => s.bcs?.value ?? new Uint8Array());
    const hold = ctx.faults.takeHold();
    if (hold) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, hold.ms);
        ctx.signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
      });
      if (ctx.signal.aborted) throw new GrpcError(Status.CANCELLED, "client went away before the transaction left the full node");
    }
    const rec = await executeTransaction(ctx.ledger, ctx.exec, bytes, sigs, "execute", () => ctx.faults.takeLockOnly(), () => ctx.faults.takeCongested());
    const timeout = ctx.faults.takeExecuteTimeout();
    if (timeout?.mode === "error") throw new GrpcError(Status.DEADLINE_EXCEEDED, "Deadline Exceeded");
    if (timeout) {
      // The transaction is final; only its response is lost. Hold the call until the client gives up.
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, timeout.hangMs);
        ctx.signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
      });
      throw new GrpcError(Status.DEADLINE_EXCEEDED, "Deadline Exceeded");
    }
    return { transaction: maskTx(executedTxProto(rec), req.readMask, DEFAULT_MASK.executed) };
  },
  "TransactionExecutionService/SimulateTransaction": simulateTransaction,
};
