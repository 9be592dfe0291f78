/**
 * The parts of Atoma's `settlement::submit_commitment` that a node can observe (spec
 * atoma-protocol.md §8.3–8.5): hash length checks, ticket lookup, node membership, double commit,
 * first submission, dispute on mismatch, the leaf written at `order * 32`, then `try_to_settle` as
 * the deployed contract (`afb7a0a` through `9e53429`) runs it, spec §5.2–5.3:
 *  - nothing until every node of `ticket.all` has committed (or once disputed);
 *  - a cross-validation ticket (one sampled node, `chunks_count = 1 + extra`) rolls
 *    `random % 1000` against `cross_validation_probability_permille`: below it, `extra` further
 *    nodes are sampled and announced in `NewlySampledNodesEvent` (`order = 1..extra`) but NOT added
 *    to `ticket.all` (their commits abort with 312012200), and settlement goes on to the root check;
 *    otherwise the ticket settles at once, without a hash check;
 *  - the root check: `merkle_root == blake2b256(merkle_leaves)` settles (`SettledEvent`, ticket
 *    removed), anything else is `DisputeEvent`. With one stored leaf only a root over one leaf passes.
 * Works on a draft so a failing command in a PTB leaves no trace (Move aborts roll back the whole
 * transaction).
 */
import { fromHex, toHex } from "@mysten/sui/utils";
import { blake2b } from "@noble/hashes/blake2.js";
import type { CommitmentRec, EventRec, Ledger, TicketRec } from "./ledger.ts";
import { encodeDispute, encodeFirstSubmission, encodeNewlySampled, encodeRetrySettlement, encodeSettled } from "./events.ts";

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
    if (!this.drafts.has(id)) this.drafts.set(id, { ...existing, nodes: [...existing.nodes], committed: new Map(existing.committed) });
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
    // merkle_leaves[order*32 .. order*32+32], zero-padding what lies before.
    const leaves = t.leaves ?? "";
    const at = order * 64;
    t.leaves = leaves.padEnd(at, "0").slice(0, at) + rec.leaf + leaves.slice(at + 64);
    this.trySettle(t);
  }

  /** `sui::random` u64: draw n of this ledger, a hash of (seed, n). */
  private random(): bigint {
    const n = this.ledger.randomDraws++;
    const h = blake2b(new TextEncoder().encode(`${this.ledger.seed}/random/${n}`), { dkLen: 8 });
    return new DataView(h.buffer, h.byteOffset, 8).getBigUint64(0, true);
  }

  private trySettle(t: TicketRec): void {
    if (t.disputed || t.committed.size < t.nodes.length) return;
    const cv = t.crossValidation;
    if (cv) {
      t.crossValidation = undefined; // option::extract
      if (this.random() % 1000n >= cv.probabilityPermille) return this.settle(t); // no cross-validation this time
      // sample_extra_nodes_for_cross_validation: other registered nodes, in random order.
      const pool = [...this.ledger.badges.keys()].filter((id) => !t.nodes.includes(id));
      if (BigInt(pool.length) < cv.extraNodes) {
        t.crossValidation = cv;
        this.emit("RetrySettlementEvent", encodeRetrySettlement(t.ticketId, BigInt(pool.length)));
        return;
      }
      const extras: bigint[] = [];
      while (BigInt(extras.length) < cv.extraNodes) extras.push(pool.splice(Number(this.random() % BigInt(pool.length)), 1)[0]!);
      // Emitted, but the extras never join ticket.all (the deployed contract's behaviour, spec §5.3).
      this.emit("NewlySampledNodesEvent", encodeNewlySampled(t.ticketId, extras.map((nodeId, i) => ({ nodeId: nodeId.toString(), order: i + 1 }))));
    }
    const stored = toHex(blake2b(fromHex(t.leaves ?? ""), { dkLen: 32 }));
    if (stored === t.root) return this.settle(t);
    t.disputed = true;
    this.emit("DisputeEvent", encodeDispute(t.ticketId));
  }

  private settle(t: TicketRec): void {
    t.settled = true;
    this.emit("SettledEvent", encodeSettled(t.ticketId));
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
