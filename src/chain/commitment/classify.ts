/**
 * Maps every way a commitment transaction can fail onto TxFailureKind and a decision
 * (spec atoma-protocol.md §8.4, sui-integration.md §6.1). Two shapes exist: errors thrown by the
 * RPC (validator rejection, transport failure — the transaction may or may not have executed) and
 * executed-but-failed effects (no throw; gas charged, owned versions advanced).
 */
import type { SuiClientTypes } from "@mysten/sui/client";
import { normalizeSuiAddress } from "@mysten/sui/utils";
import type { TxFailureKind } from "../types.ts";

export const E_NOT_AWAITING_COMMITMENT = 312012200n;
export const E_ALREADY_COMMITTED = 312012201n;
/** `0x2::dynamic_field::EFieldDoesNotExist`: the ticket was settled and deleted. */
export const E_FIELD_DOES_NOT_EXIST = 1n;

export type Decision = "done" | "failed" | "retry" | "resume";

export interface Classified {
  kind: TxFailureKind;
  decision: Decision;
  reason: string;
  /** For executed failures: the PTB command that failed (= the request index in a batch). */
  command?: number;
}

const DECISION: Record<TxFailureKind, Decision> = {
  already_committed: "done",
  not_awaiting: "failed",
  ticket_gone: "failed",
  move_abort: "failed",
  insufficient_gas: "retry",
  stale_object: "retry",
  timeout: "resume",
  unavailable: "resume",
  congested: "retry",
  other: "failed",
};

function make(kind: TxFailureKind, reason: string, command?: number): Classified {
  return { kind, decision: DECISION[kind], reason, ...(command === undefined ? {} : { command }) };
}

const FRAMEWORK = normalizeSuiAddress("0x2");

/** Executed-but-failed transaction (`status.success === false`). */
export function classifyExecutionError(error: SuiClientTypes.ExecutionError): Classified {
  const command = error.command ?? undefined;
  const msg = error.message ?? error.$kind;
  if (error.$kind === "MoveAbort") {
    const abort = error.MoveAbort;
    let code: bigint | null = null;
    try {
      code = BigInt(abort.abortCode);
    } catch {
      code = null;
    }
    const loc = abort.location;
    const inFramework = loc?.package !== undefined && normalizeSuiAddress(loc.package) === FRAMEWORK && loc.module === "dynamic_field";
    if (code === E_ALREADY_COMMITTED) return make("already_committed", `already committed (abort ${code})`, command);
    if (code === E_NOT_AWAITING_COMMITMENT) return make("not_awaiting", `node is not (or no longer) awaited for this ticket (abort ${code})`, command);
    if (code === E_FIELD_DOES_NOT_EXIST && inFramework) return make("ticket_gone", "ticket no longer exists (settled or deleted)", command);
    return make("move_abort", `unexpected MoveAbort: ${msg}`, command);
  }
  if (error.$kind === "CongestedObjects") return make("congested", `shared object congestion: ${msg}`, command);
  if (/insufficient ?gas|InsufficientGas|gas budget|GasBalanceTooLow/i.test(msg)) return make("insufficient_gas", msg, command);
  return make("other", `${error.$kind}: ${msg}`, command);
}

const STALE = /not available for consumption|current version|ObjectVersionUnavailableForConsumption|equivocat|already locked|ObjectLockConflict/i;
const GAS_PRICE = /gas price.*(under|below|less than|lower than).*reference|GasPriceUnderRGP/i;
const GAS = /insufficient ?gas|InsufficientGas|GasBalanceTooLow|balance of gas object|lower than the needed amount|gas budget|InsufficientCoinBalance/i;

/** An error thrown by the RPC call. `code` is the gRPC status *name* (RpcError). */
export function classifyThrown(e: unknown): Classified {
  const err = e as { name?: string; code?: unknown; message?: unknown };
  const code = typeof err?.code === "string" ? err.code : "";
  const message = typeof err?.message === "string" ? err.message.split("\n")[0]! : String(e);
  // Message text first: which gRPC code a real node uses per validator rejection is not pinned down.
  if (STALE.test(message)) return make("stale_object", message);
  // A new epoch raised the reference gas price: cached data is stale, rebuild with a fresh price.
  if (GAS_PRICE.test(message)) return make("stale_object", `gas price below the reference price: ${message}`);
  if (GAS.test(message)) return make("insufficient_gas", message);
  if (code === "DEADLINE_EXCEEDED" || err?.name === "TimeoutError" || /timed? ?out|deadline/i.test(message)) {
    return make("timeout", `no answer in time: ${message}`);
  }
  if (code === "UNAVAILABLE" || code === "INTERNAL" || code === "UNKNOWN" || code === "CANCELLED" || code === "ABORTED" || code === "RESOURCE_EXHAUSTED") {
    return make("unavailable", `${code}: ${message}`);
  }
  // fetch() failures (connection refused/reset) carry no gRPC code: the outcome is unknown.
  if (code === "" && (err?.name === "TypeError" || /fetch|socket|ECONN|network|connect/i.test(message))) {
    return make("unavailable", `transport: ${message}`);
  }
  if (code === "FAILED_PRECONDITION" && /congest/i.test(message)) return make("congested", message);
  return make("other", code ? `${code}: ${message}` : message);
}
