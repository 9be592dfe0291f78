/**
 * Signed BCS `TransactionData` → the structured protobuf `Transaction` a full node returns
 * (sender, gas payment, expiration, programmable kind), so `include: { transaction: true }` works
 * and a test can read back exactly which inputs and commands the node sent.
 */
import { bcs } from "@mysten/sui/bcs";
import { GrpcTypes } from "@mysten/sui/grpc";
import { fromBase64 } from "@mysten/sui/utils";

const { Input_InputKind: InputKind, Argument_ArgumentKind: ArgKind, TransactionExpiration_TransactionExpirationKind: Exp } = GrpcTypes;

type V1 = NonNullable<ReturnType<typeof bcs.TransactionData.parse>["V1"]>;
type Ptb = NonNullable<V1["kind"]["ProgrammableTransaction"]>;
type Arg = Ptb["commands"][number] extends infer C ? (C extends { MoveCall: { arguments: (infer A)[] } | null } ? A : never) : never;

function argument(a: Arg): GrpcTypes.Argument {
  if (a.$kind === "GasCoin") return { kind: ArgKind.GAS };
  if (a.$kind === "Input") return { kind: ArgKind.INPUT, input: a.Input };
  if (a.$kind === "Result") return { kind: ArgKind.RESULT, result: a.Result };
  return { kind: ArgKind.RESULT, result: a.NestedResult![0], subresult: a.NestedResult![1] };
}

function input(i: Ptb["inputs"][number]): GrpcTypes.Input {
  if (i.Pure) return { kind: InputKind.PURE, pure: fromBase64(i.Pure.bytes) };
  const o = i.Object;
  if (o?.ImmOrOwnedObject) return { kind: InputKind.IMMUTABLE_OR_OWNED, objectId: o.ImmOrOwnedObject.objectId, version: BigInt(o.ImmOrOwnedObject.version), digest: o.ImmOrOwnedObject.digest };
  if (o?.SharedObject) return { kind: InputKind.SHARED, objectId: o.SharedObject.objectId, version: BigInt(o.SharedObject.initialSharedVersion), mutable: o.SharedObject.mutable };
  if (o?.Receiving) return { kind: InputKind.RECEIVING, objectId: o.Receiving.objectId, version: BigInt(o.Receiving.version), digest: o.Receiving.digest };
  return { kind: InputKind.INPUT_KIND_UNKNOWN };
}

function command(c: Ptb["commands"][number]): GrpcTypes.Command {
  if (c.MoveCall) {
    const m = c.MoveCall;
    return { command: { oneofKind: "moveCall", moveCall: { package: m.package, module: m.module, function: m.function, typeArguments: m.typeArguments, arguments: m.arguments.map(argument) } } };
  }
  if (c.TransferObjects) return { command: { oneofKind: "transferObjects", transferObjects: { objects: c.TransferObjects.objects.map(argument), address: argument(c.TransferObjects.address) } } };
  if (c.SplitCoins) return { command: { oneofKind: "splitCoins", splitCoins: { coin: argument(c.SplitCoins.coin), amounts: c.SplitCoins.amounts.map(argument) } } };
  if (c.MergeCoins) return { command: { oneofKind: "mergeCoins", mergeCoins: { coin: argument(c.MergeCoins.destination), coinsToMerge: c.MergeCoins.sources.map(argument) } } };
  if (c.MakeMoveVec) return { command: { oneofKind: "makeMoveVector", makeMoveVector: { elementType: c.MakeMoveVec.type ?? undefined, elements: c.MakeMoveVec.elements.map(argument) } } };
  return { command: { oneofKind: undefined } };
}

export function transactionProto(bytes: Uint8Array, digest: string): GrpcTypes.Transaction {
  const v1 = bcs.TransactionData.parse(bytes).V1!;
  const ptb = v1.kind.ProgrammableTransaction;
  const g = v1.gasData;
  return {
    bcs: { name: "TransactionData", value: bytes },
    digest,
    version: 1,
    sender: v1.sender,
    kind: ptb ? { data: { oneofKind: "programmableTransaction", programmableTransaction: { inputs: ptb.inputs.map(input), commands: ptb.commands.map(command) } } } : undefined,
    gasPayment: { objects: g.payment.map((r) => ({ objectId: r.objectId, version: BigInt(r.version), digest: r.digest })), owner: g.owner, price: BigInt(g.price), budget: BigInt(g.budget) },
    expiration: v1.expiration.Epoch != null ? { kind: Exp.EPOCH, epoch: BigInt(v1.expiration.Epoch) } : { kind: Exp.NONE },
  };
}
