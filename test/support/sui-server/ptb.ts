/**
 * Checks a programmable transaction's Move call against the signature of
 * `settlement::submit_commitment(&mut AtomaDb, &NodeBadge, ID, u64, u64, vector<u8>, vector<u8>, &Random)`
 * the way the Sui adapter would: wrong function → FunctionNotFound, wrong arity → ArityMismatch,
 * wrong argument kinds or bytes → CommandArgumentError, and decodes the arguments.
 */
import { bcs } from "@mysten/sui/bcs";
import { GrpcTypes } from "@mysten/sui/grpc";
import { fromBase64, normalizeSuiAddress } from "@mysten/sui/utils";
import { GrpcError, Status } from "./grpc-web.ts";
import type { Ledger } from "./ledger.ts";
import type { CommitArgs } from "./settlement.ts";

const { ExecutionError_ExecutionErrorKind: Kind, CommandArgumentError_CommandArgumentErrorKind: ArgKind } = GrpcTypes;

type TxData = ReturnType<typeof bcs.TransactionData.parse>;
type V1 = NonNullable<TxData["V1"]>;
type Ptb = NonNullable<V1["kind"]["ProgrammableTransaction"]>;
export type TxInput = Ptb["inputs"][number];
export type TxCommand = Ptb["commands"][number];
export type MoveCall = NonNullable<TxCommand["MoveCall"]>;

export interface ParsedTx {
  sender: string;
  gas: V1["gasData"];
  inputs: TxInput[];
  commands: TxCommand[];
}

type Checked = { args: CommitArgs } | { error: GrpcTypes.ExecutionError };

function argError(argument: number, kind: GrpcTypes.CommandArgumentError_CommandArgumentErrorKind, name: string): { error: GrpcTypes.ExecutionError } {
  return {
    error: {
      kind: Kind.COMMAND_ARGUMENT_ERROR,
      description: `CommandArgumentError { arg_idx: ${argument}, kind: ${name} }`,
      errorDetails: { oneofKind: "commandArgumentError", commandArgumentError: { argument, kind } },
    },
  };
}

const plain = (kind: GrpcTypes.ExecutionError_ExecutionErrorKind, description: string): { error: GrpcTypes.ExecutionError } => ({
  error: { kind, description, errorDetails: { oneofKind: undefined } },
});

/** `vector<u8>` BCS: ULEB128 length then exactly that many bytes, nothing after. */
function byteVector(bytes: Uint8Array): Uint8Array | null {
  let len = 0;
  let shift = 0;
  let i = 0;
  for (; i < bytes.length && i < 5; i++) {
    len |= (bytes[i]! & 0x7f) << shift;
    shift += 7;
    if ((bytes[i]! & 0x80) === 0) break;
  }
  return i < bytes.length && bytes.length === i + 1 + len ? bytes.subarray(i + 1) : null;
}

const u64 = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);

export function checkMoveCall(ledger: Ledger, tx: ParsedTx, call: MoveCall): Checked {
  const pkg = normalizeSuiAddress(call.package);
  if (pkg !== ledger.packageId) throw new GrpcError(Status.INVALID_ARGUMENT, `Dependent package not found on-chain: ${pkg}`);
  if (call.module !== "settlement" || call.function !== "submit_commitment") {
    return plain(Kind.FUNCTION_NOT_FOUND, `Could not resolve function '${call.function}' in module ${pkg}::${call.module}`);
  }
  if (call.typeArguments.length !== 0) return plain(Kind.TYPE_ARITY_MISMATCH, "Function expects 0 type arguments");
  if (call.arguments.length !== 8) return plain(Kind.ARITY_MISMATCH, `Expected 8 arguments calling function 'submit_commitment', but found ${call.arguments.length}`);

  const inputs: TxInput[] = [];
  for (let i = 0; i < 8; i++) {
    const a = call.arguments[i]!;
    const input = a.$kind === "Input" ? tx.inputs[a.Input] : undefined;
    if (a.$kind === "Input" && !input) return argError(i, ArgKind.INDEX_OUT_OF_BOUNDS, "IndexOutOfBounds");
    if (!input) return argError(i, ArgKind.TYPE_MISMATCH, "TypeMismatch");
    inputs.push(input);
  }
  const pure = (i: number) => (inputs[i]!.Pure ? fromBase64(inputs[i]!.Pure!.bytes) : null);

  const db = inputs[0]!.Object?.SharedObject;
  if (!db || normalizeSuiAddress(db.objectId) !== ledger.atomaDbId) return argError(0, ArgKind.TYPE_MISMATCH, "TypeMismatch");
  if (!db.mutable) return argError(0, ArgKind.INVALID_OBJECT_BY_MUT_REF, "InvalidObjectByMutRef");

  const badgeRef = inputs[1]!.Object?.ImmOrOwnedObject;
  const badge = badgeRef ? ledger.get(badgeRef.objectId) : undefined;
  if (!badge || badge.objectType !== `${ledger.packageId}::db::NodeBadge` || badge.smallId === undefined) {
    return argError(1, ArgKind.TYPE_MISMATCH, "TypeMismatch");
  }

  const ticket = pure(2);
  if (!ticket) return argError(2, ArgKind.TYPE_MISMATCH, "TypeMismatch");
  if (ticket.length !== 32) return argError(2, ArgKind.INVALID_BCS_BYTES, "InvalidBCSBytes");
  const counts: bigint[] = [];
  for (const i of [3, 4]) {
    const b = pure(i);
    if (!b) return argError(i, ArgKind.TYPE_MISMATCH, "TypeMismatch");
    if (b.length !== 8) return argError(i, ArgKind.INVALID_BCS_BYTES, "InvalidBCSBytes");
    counts.push(u64(b));
  }
  const hashes: Uint8Array[] = [];
  for (const i of [5, 6]) {
    const b = pure(i);
    if (!b) return argError(i, ArgKind.TYPE_MISMATCH, "TypeMismatch");
    const v = byteVector(b);
    if (!v) return argError(i, ArgKind.INVALID_BCS_BYTES, "InvalidBCSBytes");
    hashes.push(v);
  }
  const random = inputs[7]!.Object?.SharedObject;
  if (!random || normalizeSuiAddress(random.objectId) !== ledger.randomId) return argError(7, ArgKind.TYPE_MISMATCH, "TypeMismatch");
  if (random.mutable) throw new GrpcError(Status.INVALID_ARGUMENT, `Mutable parameter provided, immutable parameter expected for ${ledger.randomId}`);

  return {
    args: {
      ticketId: bcs.Address.parse(ticket),
      smallId: badge.smallId,
      inputTokens: counts[0]!,
      outputTokens: counts[1]!,
      root: hashes[0]!,
      leaf: hashes[1]!,
    },
  };
}
