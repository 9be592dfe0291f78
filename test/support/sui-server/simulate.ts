/**
 * SimulateTransaction, enough for the SDK: `tx.build({ client })` sends a structured transaction
 * whose object inputs may be unresolved and whose gas may be unset — the server fills in object
 * refs, shared versions and gas (price, budget, a coin of the sender) in one round trip
 * (spec sui-integration.md §5). Transactions given as BCS are dry-run (no signature, no effects kept).
 */
import { GrpcTypes } from "@mysten/sui/grpc";
import { normalizeSuiAddress } from "@mysten/sui/utils";
import { executeTransaction } from "./execute.ts";
import { GrpcError, Status } from "./grpc-web.ts";
import type { CallCtx } from "./handlers.ts";
import { GAS_COIN_TYPE } from "./ledger.ts";
import { executedTxProto } from "./proto.ts";

const { Input_InputKind: InputKind } = GrpcTypes;
const DEFAULT_BUDGET = 50_000_000n;

function resolveInput(ctx: CallCtx, input: GrpcTypes.Input): GrpcTypes.Input {
  if (input.kind === InputKind.PURE || input.kind === InputKind.IMMUTABLE_OR_OWNED || input.kind === InputKind.SHARED) return input;
  if (!input.objectId) throw new GrpcError(Status.INVALID_ARGUMENT, `unsupported input kind ${input.kind ?? "(unset)"}`);
  const o = ctx.ledger.get(input.objectId);
  if (!o) throw new GrpcError(Status.NOT_FOUND, `Could not find the referenced object ${normalizeSuiAddress(input.objectId)}`);
  if (o.owner.kind === "shared") {
    // Random (0x8) may only be read; everything else defaults to mutable like the SDK's resolver.
    const mutable = o.objectId === ctx.ledger.randomId ? false : (input.mutable ?? true);
    return { kind: InputKind.SHARED, objectId: o.objectId, version: o.owner.initialSharedVersion, mutable };
  }
  return { kind: InputKind.IMMUTABLE_OR_OWNED, objectId: o.objectId, version: o.version, digest: o.digest };
}

export async function simulateTransaction(req: GrpcTypes.SimulateTransactionRequest, ctx: CallCtx): Promise<GrpcTypes.SimulateTransactionResponse> {
  const t = req.transaction;
  if (!t) throw new GrpcError(Status.INVALID_ARGUMENT, "missing transaction");
  if (t.bcs?.value?.length) {
    const rec = await executeTransaction(ctx.ledger, ctx.exec, t.bcs.value, [], "dryRun");
    return { transaction: executedTxProto(rec), commandOutputs: [] };
  }
  const kind = t.kind?.data;
  if (kind?.oneofKind !== "programmableTransaction") throw new GrpcError(Status.INVALID_ARGUMENT, "only programmable transactions can be simulated");
  const ptb = kind.programmableTransaction;
  const inputs = ptb.inputs.map((i) => resolveInput(ctx, i));
  const sender = normalizeSuiAddress(t.sender ?? "0x0");
  let gas = t.gasPayment ?? { objects: [] };
  if (req.doGasSelection || !gas.objects.length || gas.budget === undefined || gas.price === undefined) {
    const price = gas.price ?? ctx.ledger.referenceGasPrice;
    const budget = gas.budget ?? DEFAULT_BUDGET;
    let objects = gas.objects;
    if (!objects.length) {
      const used = new Set(inputs.map((i) => i.objectId));
      const coin = ctx.ledger
        .ownedBy(sender, GAS_COIN_TYPE)
        .filter((c) => !used.has(c.objectId))
        .sort((a, b) => (b.balance! > a.balance! ? 1 : -1))[0];
      if (!coin || coin.balance! < budget) throw new GrpcError(Status.INVALID_ARGUMENT, `No gas coin of ${sender} covers the budget ${budget}`);
      objects = [{ objectId: coin.objectId, version: coin.version, digest: coin.digest }];
    }
    gas = { objects, owner: gas.owner ?? sender, price, budget };
  }
  const resolved: GrpcTypes.Transaction = {
    ...t,
    sender,
    kind: { ...t.kind, data: { oneofKind: "programmableTransaction", programmableTransaction: { ...ptb, inputs } } },
    gasPayment: gas,
    expiration: t.expiration ?? { kind: GrpcTypes.TransactionExpiration_TransactionExpirationKind.NONE },
  };
  return {
    transaction: GrpcTypes.ExecutedTransaction.create({ transaction: resolved, effects: { status: { success: true }, epoch: ctx.ledger.epoch } }),
    commandOutputs: [],
  };
}
