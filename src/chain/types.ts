/**
 * The chain boundary: what the node needs from Sui. `src/chain/*` implements these with
 * @mysten/sui's gRPC client; the node and tests depend only on these shapes.
 */
import type { CheckpointBatch } from "../protocol/types.ts";

/** Follows Atoma events. Delivers batches in checkpoint order; `handle` must persist the batch and
 * its cursor atomically before resolving (the follower only moves on after it resolves). */
export interface EventSource {
  /** Starts following after `cursor` (last fully processed checkpoint; null = configured start/tip).
   * Resolves when `signal` aborts. Never throws for transient RPC errors (it backs off and retries). */
  run(cursor: bigint | null, handle: (batch: CheckpointBatch) => Promise<void>, signal: AbortSignal): Promise<void>;
}

export interface CommitmentRequest {
  ticketId: string;
  inputTokens: bigint;
  outputTokens: bigint;
  /** 32 bytes each. */
  merkleRoot: Uint8Array;
  leaf: Uint8Array;
}

/** A signed transaction recorded *before* it is sent, so an unknown outcome can be resolved. */
export interface SignedTx {
  digest: string;
  /** base64 BCS TransactionData. */
  bytes: string;
  /** base64 serialized signatures. */
  signatures: string[];
  /** Tickets covered by this transaction (batched commitments). */
  ticketIds: string[];
}

export type TxFailureKind =
  | "already_committed" // MoveAbort 312012201 → done
  | "not_awaiting" // MoveAbort 312012200 → terminal
  | "ticket_gone" // dynamic_field abort 1 → terminal
  | "move_abort" // other abort → terminal, alert
  | "insufficient_gas"
  | "stale_object" // re-read refs, rebuild
  | "timeout" // unknown outcome → resend same bytes / look up digest
  | "unavailable"
  | "congested"
  | "other";

export type CommitmentOutcome =
  | { status: "committed"; digest: string; firstSubmission: boolean }
  | { status: "done"; digest: string | null; reason: string } // already committed earlier
  | { status: "retry"; kind: TxFailureKind; reason: string }
  | { status: "failed"; kind: TxFailureKind; reason: string };

/** Persists signed bytes before sending (implemented by the job store). */
export interface Outbox {
  record(tx: SignedTx): Promise<void> | void;
}

export interface CommitmentSubmitter {
  /** Signer address (0x…), for output metadata. */
  readonly address: string;
  /** Builds, signs, records (outbox) and executes the requests' `submit_commitment` calls —
   * in one PTB where the chain allows, else (Sui's Random rule; a call that aborted the PTB) in
   * several transactions, each recorded before it is sent; `SignedTx.ticketIds` says which
   * tickets each carries. Returns one outcome per request, in order. */
  submit(requests: CommitmentRequest[], outbox: Outbox): Promise<CommitmentOutcome[]>;
  /** Resolves a transaction whose outcome is unknown: look it up by digest, else resend the same bytes. */
  resume(tx: SignedTx): Promise<CommitmentOutcome[]>;
}
