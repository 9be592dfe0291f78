/**
 * The parts of Atoma's `settlement::submit_commitment` that a node can observe (spec
 * atoma-protocol.md §8.3–8.5): hash length checks, ticket lookup, node membership, double commit,
 * first submission, dispute on mismatch, settlement once every sampled node committed. Works on a
 * draft so a failing command in a PTB leaves no trace (Move aborts roll back the whole transaction).
 */
import { toHex } from "@mysten/sui/utils";
import type { CommitmentRec, EventRec, Ledger, TicketRec } from "./ledger.ts";
import { encodeDispute, encodeFirstSubmission, encodeSettled } from "./events.ts";

export const E_NOT_AWAITING_COMMITMENT = 312012200n;
export const E_ALREADY_COMMITTED = 312012201n;
export const E_HASH_MUST_BE_32_BYTES = 312012203n;
/** `0x2::dynamic_field::EFieldDoesNotExist`: the ticket was settled and removed. */
export const E_FIELD_DOES_NOT_EXIST = 1n;

export class MoveAbortError extends Error {
  constructor(
    readonly code: bigint,
    readonly pkg: string,
    readonly module: string,
    readonly fn: string,
  ) {
    super(`MoveAbort in ${pkg}::${module}::${fn} with code ${code}`);
  }
}

export interface CommitArgs {
  ticketId: string;
  smallId: bigint;
  inputTokens: bigint;
  outputTokens: bigint;
  root: Uint8Array;
  leaf: Uint8Array;
}

/** Ticket changes of one transaction; applied only if every command succeeds. */
export class SettlementDraft {
  private readonly drafts = new Map<string, TicketRec>();
  readonly events: EventRec[] = [];
  readonly commitments: CommitmentRec[] = [];

  constructor(
    private readonly ledger: Ledger,
    private readonly sender: string,
  ) {}

  private ticket(id: string): TicketRec | undefined {
    const existing = this.drafts.get(id) ?? this.ledger.tickets.get(id);
    if (!existing) return undefined;
    if (!this.drafts.has(id)) this.drafts.set(id, { ...existing, committed: new Map(existing.committed) });
    return this.drafts.get(id);
  }

  private emit(name: string, bcs: Uint8Array): void {
    const pkg = this.ledger.packageId;
    this.events.push({ packageId: pkg, module: "settlement", sender: this.sender, eventType: `${pkg}::settlement::${name}`, bcs });
  }

  submitCommitment(a: CommitArgs): void {
    const pkg = this.ledger.packageId;
    const abort = (code: bigint) => new MoveAbortError(code, pkg, "settlement", "submit_commitment");
    if (a.root.length !== 32 || a.leaf.length !== 32) throw abort(E_HASH_MUST_BE_32_BYTES);
    const t = this.ticket(a.ticketId);
    if (!t || t.settled) throw new MoveAbortError(E_FIELD_DOES_NOT_EXIST, "0x0000000000000000000000000000000000000000000000000000000000000002", "dynamic_field", "borrow_child_object_mut");
    if (t.committed.has(a.smallId)) throw abort(E_ALREADY_COMMITTED);
    const order = t.nodes.indexOf(a.smallId);
    if (order < 0) throw abort(E_NOT_AWAITING_COMMITMENT);
    const root = toHex(a.root);
    const first = t.committed.size === 0;
    if (first) {
      t.root = root;
      t.inputTokens = a.inputTokens;
      t.outputTokens = a.outputTokens;
      this.emit("FirstSubmissionEvent", encodeFirstSubmission(a.ticketId, a.smallId));
    } else if (!t.disputed && (t.root !== root || t.inputTokens !== a.inputTokens || t.outputTokens !== a.outputTokens)) {
      t.disputed = true;
      this.emit("DisputeEvent", encodeDispute(a.ticketId));
    }
    const rec: CommitmentRec = {
      ticketId: a.ticketId,
      nodeSmallId: a.smallId,
      sender: this.sender,
      root,
      leaf: toHex(a.leaf),
      inputTokens: a.inputTokens,
      outputTokens: a.outputTokens,
      txDigest: "",
      checkpoint: 0n,
      first,
      order,
    };
    t.committed.set(a.smallId, rec);
    this.commitments.push(rec);
    // try_to_settle: every sampled node has committed and roots agree → fees paid, ticket removed.
    if (!t.disputed && t.committed.size === t.nodes.length) {
      t.settled = true;
      this.emit("SettledEvent", encodeSettled(a.ticketId));
    }
  }

  /** Makes the draft real once the transaction succeeded. */
  apply(txDigest: string, checkpoint: bigint): void {
    for (const [id, t] of this.drafts) this.ledger.tickets.set(id, t);
    for (const c of this.commitments) {
      c.txDigest = txDigest;
      c.checkpoint = checkpoint;
      this.ledger.commitments.push(c);
    }
  }
}
