/**
 * The single serial commitment loop. The NodeBadge is an owned object used by every commitment,
 * so transactions are serial per node (sui-integration.md §6.2); each round hands up to
 * `maxBatchSize` jobs to the submitter (one PTB, or one transaction per call where the contract's
 * Random restriction applies, the default). Signed bytes reach the store (outbox)
 * before they are sent, so after a crash an unknown outcome is resolved with `resume(tx)` — the
 * same bytes or a digest lookup — never by signing something new over the same object versions.
 */
import type { CommitmentOutcome, CommitmentRequest, CommitmentSubmitter, SignedTx, TxFailureKind } from "../chain/types.ts";
import { fromHex } from "@mysten/bcs";
import { backoffDelay } from "../chain/backoff.ts";
import { log } from "../log/logger.ts";
import type { NodeMetrics } from "../log/metrics.ts";
import { Wakeup } from "./semaphore.ts";
import type { JobRecord, JobStore, TxResult } from "./types.ts";

export interface CommitterOptions {
  maxBatchSize: number;
  /** Attempts per job (new transactions + resumes) before it is failed. */
  maxTxAttempts?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  pollMs?: number;
  metrics?: NodeMetrics;
  /** Called when our transaction carried FirstSubmissionEvent for the job (wakes the publisher). */
  onFirstSubmission?: (job: JobRecord) => void;
}

/** Kinds that leave a recorded transaction's outcome unknown: only resume() may touch it again.
 * Any other retry means it executed (and failed) or was rejected, so a new transaction is safe. */
const IN_DOUBT: ReadonlySet<TxFailureKind> = new Set(["timeout", "unavailable"]);

export class Committer {
  private readonly wakeup = new Wakeup();
  private readonly maxAttempts: number;
  private readonly base: number;
  private readonly cap: number;

  constructor(
    private readonly store: JobStore,
    private readonly submitter: CommitmentSubmitter,
    private readonly opts: CommitterOptions,
  ) {
    this.maxAttempts = opts.maxTxAttempts ?? 12;
    this.base = opts.backoffBaseMs ?? 250;
    this.cap = opts.backoffMaxMs ?? 30_000;
  }

  wake(): void {
    this.wakeup.notify();
  }

  /** Runs until `signal` aborts; the in-progress round (one transaction) always completes first. */
  async run(signal: AbortSignal): Promise<void> {
    const poll = this.opts.pollMs ?? 200;
    while (!signal.aborted) {
      let worked = false;
      try {
        worked = await this.resumePending();
        // While any signed transaction is unresolved (even one waiting out its backoff, or left by
        // a previous process), nothing new is signed: it could use the same owned object versions.
        if (!worked && !this.store.hasPendingTransactions()) worked = await this.submitFresh();
      } catch (e) {
        log.error(`commitment loop: ${(e as Error).message}`);
      }
      if (!worked && !signal.aborted) await this.wakeup.wait(poll, signal);
    }
  }

  /** One round of transactions whose outcome is unknown (recorded, maybe sent). */
  async resumePending(): Promise<boolean> {
    const pending = this.store.pendingTransactions(Date.now());
    for (const { tx, jobs } of pending) {
      log.info(`resuming commitment transaction ${tx.digest} (${tx.ticketIds.length} ticket(s))`);
      let outcomes: CommitmentOutcome[];
      try {
        outcomes = await this.submitter.resume(tx);
      } catch (e) {
        outcomes = tx.ticketIds.map(() => ({ status: "retry", kind: "unavailable", reason: (e as Error).message }));
      }
      this.apply(tx.ticketIds, outcomes, jobs, new Set(tx.ticketIds), true);
      // A job linked to a transaction that does not carry its ticket can never be settled by it.
      for (const j of jobs.filter((j) => !tx.ticketIds.includes(j.ticketId))) {
        this.store.applyTxResult(j.id, { kind: "retry", reason: `transaction ${tx.digest} does not carry this ticket`, keepTx: false, nextAttemptAtMs: 0 }, Date.now());
      }
    }
    return pending.length > 0;
  }

  /** One submission round over up to maxBatchSize generated jobs (one or more transactions). */
  async submitFresh(): Promise<boolean> {
    const jobs = this.store.takeSubmittable(Math.max(1, this.opts.maxBatchSize), Date.now());
    if (jobs.length === 0) return false;
    const reqs: CommitmentRequest[] = jobs.map((j) => ({
      ticketId: j.ticketId,
      inputTokens: BigInt(j.inputTokens ?? 0),
      outputTokens: BigInt(j.outputTokens ?? 0),
      merkleRoot: fromHex(j.rootHex ?? ""),
      leaf: fromHex(j.leafHex ?? ""),
    }));
    // The submitter may split a batch into several transactions (Sui forbids Move calls after a
    // Random-using one), so each recorded transaction is linked only to the tickets it carries.
    const recorded = new Set<string>();
    const outbox = {
      record: (tx: SignedTx) => {
        const carried = new Set(tx.ticketIds);
        this.store.recordTx(tx, jobs.filter((j) => carried.has(j.ticketId)).map((j) => j.id), Date.now());
        for (const t of carried) recorded.add(t);
      },
    };
    let outcomes: CommitmentOutcome[];
    try {
      outcomes = await this.submitter.submit(reqs, outbox);
    } catch (e) {
      // Thrown after recording = unknown outcome: keep the tx for resume(); before = nothing was sent.
      outcomes = reqs.map((r) => ({ status: "retry", kind: recorded.has(r.ticketId) ? "timeout" : "other", reason: (e as Error).message }));
    }
    this.apply(reqs.map((r) => r.ticketId), outcomes, jobs, recorded, false);
    return true;
  }

  private apply(ticketIds: string[], outcomes: CommitmentOutcome[], jobs: JobRecord[], withTx: ReadonlySet<string>, resumed: boolean): void {
    const byTicket = new Map(jobs.map((j) => [j.ticketId, j]));
    const now = Date.now();
    ticketIds.forEach((ticketId, i) => {
      const job = byTicket.get(ticketId);
      if (!job) return;
      const o: CommitmentOutcome = outcomes[i] ?? { status: "retry", kind: "other", reason: "submitter returned no outcome" };
      const r = this.toResult(job, o, withTx.has(ticketId), resumed, now);
      this.store.applyTxResult(job.id, r, now);
      if (r.kind === "committed") {
        this.opts.metrics?.commitments.inc({ first_submission: String(r.firstSubmission) });
        log.info(`ticket ${ticketId}: committed${r.firstSubmission ? " (first submission)" : ""}${r.digest ? ` in ${r.digest}` : ""}`);
        if (r.firstSubmission) {
          const fresh = this.store.get(job.id);
          if (fresh) this.opts.onFirstSubmission?.(fresh);
        }
      } else if (r.kind === "failed") {
        log.error(`ticket ${ticketId}: commitment failed: ${r.reason}`);
      } else {
        log.warn(`ticket ${ticketId}: commitment will be retried: ${r.reason}`);
      }
    });
  }

  private toResult(job: JobRecord, o: CommitmentOutcome, hadTx: boolean, resumed: boolean, now: number): TxResult {
    switch (o.status) {
      case "committed":
        return { kind: "committed", digest: o.digest, firstSubmission: o.firstSubmission };
      case "done":
        // Already committed, but not by a transaction this store still tracks: a lost response keeps
        // its signed tx and resume() reads that tx's own events, so reaching here means an earlier
        // install (or an unrecorded path) committed it. Whether it was first is unknown → never
        // publish on a guess (§8.5).
        return { kind: "committed", digest: o.digest, firstSubmission: false, note: `${o.reason}; committed by a transaction this node does not track, so its output is not published` };
      case "failed":
        this.opts.metrics?.txFailures.inc({ kind: o.kind });
        return { kind: "failed", reason: `${o.kind}: ${o.reason}` };
      case "retry": {
        this.opts.metrics?.txFailures.inc({ kind: o.kind });
        const attempts = job.txAttempts + 1;
        if (attempts >= this.maxAttempts) return { kind: "failed", reason: `gave up after ${attempts} attempts: ${o.kind}: ${o.reason}` };
        const delay = backoffDelay(Math.min(attempts, 16), { initialMs: this.base, maxMs: this.cap });
        return { kind: "retry", reason: `${o.kind}: ${o.reason}`, keepTx: hadTx && IN_DOUBT.has(o.kind), nextAttemptAtMs: now + delay, bumpAttempts: resumed };
      }
    }
  }
}
