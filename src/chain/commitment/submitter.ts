/**
 * Serial commitment executor for one NodeBadge (spec sui-integration.md §5–§6).
 *
 * Why serial: the badge and the gas coin are owned objects that get a new version with every
 * transaction, so two transactions cannot be in flight at once without equivocating. A batch is
 * one PTB only with `randomRestriction: false`; by default (real contracts) each call is its own
 * transaction, sent back to back (see SubmitterOptions.randomRestriction).
 *
 * Safety rule: signed bytes go to the outbox before the first send; an unknown outcome is resolved
 * only by looking up the digest or resending the *identical* bytes — never by signing a different
 * transaction over the same owned versions while the first may still execute.
 */
import type { ClientWithCoreApi, SuiClientTypes } from "@mysten/sui/client";
import { TransactionError } from "@mysten/sui/client";
import type { Keypair } from "@mysten/sui/cryptography";
import { fromBase64, normalizeSuiAddress } from "@mysten/sui/utils";
import type { CommitmentOutcome, CommitmentRequest, CommitmentSubmitter, Outbox, SignedTx } from "../types.ts";
import { backoffDelay, sleep } from "../backoff.ts";
import { buildSignedCommitment } from "./build.ts";
import { classifyExecutionError, classifyThrown, type Classified } from "./classify.ts";
import { firstSubmissionTickets } from "./first-submission.ts";
import { CommitmentObjects, ObjectConfigError } from "./objects.ts";
import { log as rootLog } from "../../log/logger.ts";

const log = rootLog.withTag("commitment");

/** Protocol maximum gas budget (50 SUI). */
const MAX_GAS_BUDGET = 50_000_000_000n;

export interface SubmitterOptions {
  client: ClientWithCoreApi;
  keypair: Keypair;
  /** Latest package id (Move calls). */
  packageId: string;
  /** Package that defined the event types (default packageId). */
  eventPackageId?: string;
  atomaDbId: string;
  nodeBadgeId: string;
  /** Gas budget per `submit_commitment` call, MIST; a batch of n gets n × this (capped at 50 SUI). */
  gasBudget: bigint;
  requestTimeoutMs: number;
  /** Sends of identical bytes when the outcome stays unknown (default 3). */
  sendAttempts?: number;
  /** Rebuilds after stale-object / gas rejections before giving up for now (default 3). */
  rebuildAttempts?: number;
  /** Backoff base between resends, ms (default 250). */
  backoffMs?: number;
  /** Sui rejects a PTB with any MoveCall after one that takes `Random` (PostRandomCommandRestrictions),
   * and `submit_commitment` takes `&Random`: so by default each call gets its own transaction and a
   * batch is sent as consecutive transactions. `false` only for contracts/test servers without the
   * rule (the batching benchmark). */
  randomRestriction?: boolean;
}

type TxResult = SuiClientTypes.TransactionResult<{ effects: true; events: true }>;
type Sent = { kind: "executed"; result: TxResult } | { kind: "rejected"; why: Classified } | { kind: "unknown"; why: Classified };

const INCLUDE = { effects: true, events: true } as const;

export class SuiCommitmentSubmitter implements CommitmentSubmitter {
  readonly address: string;
  readonly objects: CommitmentObjects;
  #queue: Promise<unknown> = Promise.resolve();
  /** A sent transaction whose outcome is unknown: nothing new is built until it is resolved. */
  #inDoubt: SignedTx | null = null;

  constructor(private readonly opts: SubmitterOptions) {
    this.address = opts.keypair.toSuiAddress();
    this.objects = new CommitmentObjects(opts.client, { atomaDbId: opts.atomaDbId, nodeBadgeId: opts.nodeBadgeId, owner: this.address }, () =>
      AbortSignal.timeout(opts.requestTimeoutMs),
    );
  }

  /** Runs `fn` after every earlier call finished: one transaction per badge at a time. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  submit(requests: CommitmentRequest[], outbox: Outbox): Promise<CommitmentOutcome[]> {
    return this.#serial(() => this.#submit(requests, outbox));
  }

  resume(tx: SignedTx): Promise<CommitmentOutcome[]> {
    return this.#serial(() => this.#resume(tx));
  }

  async #submit(requests: CommitmentRequest[], outbox: Outbox): Promise<CommitmentOutcome[]> {
    if ((this.opts.randomRestriction ?? true) && requests.length > 1) {
      const all: CommitmentOutcome[] = [];
      for (const r of requests) all.push(...(await this.#submitPtb([r], outbox)));
      return all;
    }
    return this.#submitPtb(requests, outbox);
  }

  /** One programmable transaction carrying every request (retrying without aborted ones). */
  async #submitPtb(requests: CommitmentRequest[], outbox: Outbox): Promise<CommitmentOutcome[]> {
    const outcomes: (CommitmentOutcome | undefined)[] = requests.map((r) => invalid(r));
    if (this.#inDoubt) {
      const earlier = this.#inDoubt;
      const resolved = await this.#send(earlier, true);
      if (resolved.kind === "unknown") {
        const reason = `earlier transaction ${earlier.digest} still has an unknown outcome; not building over its object versions`;
        return requests.map((r, i) => outcomes[i] ?? { status: "retry", kind: resolved.why.kind, reason });
      }
      this.#settle(earlier, resolved);
      // Rejected: its versions may have been consumed by someone else — re-read before building.
      if (resolved.kind === "rejected") this.objects.invalidateOwned();
    }
    let pending = requests.map((_, i) => i).filter((i) => outcomes[i] === undefined);
    let rebuilds = 0;
    const maxRebuilds = this.opts.rebuildAttempts ?? 3;
    const setAll = (o: CommitmentOutcome) => pending.forEach((i) => (outcomes[i] = o));

    while (pending.length > 0) {
      let signed: SignedTx;
      try {
        await this.objects.ensure();
        const budget = budgetOf(pending.length, this.opts.gasBudget);
        signed = await buildSignedCommitment(
          {
            packageId: this.opts.packageId,
            atomaDb: this.objects.atomaDb!,
            random: this.objects.random!,
            badge: this.objects.badge!,
            gas: this.objects.selectGas(budget),
            sender: this.address,
            gasPrice: this.objects.gasPrice!,
            gasBudget: budget,
            requests: pending.map((i) => requests[i]!),
          },
          this.opts.keypair,
        );
      } catch (e) {
        if (e instanceof ObjectConfigError) {
          const gas = /insufficient gas/.test(e.message);
          setAll({ status: "failed", kind: gas ? "insufficient_gas" : "other", reason: e.message });
        } else {
          const why = classifyThrown(e);
          setAll({ status: "retry", kind: why.kind, reason: `reading chain objects: ${why.reason}` });
        }
        break;
      }
      try {
        await outbox.record(signed);
      } catch (e) {
        // Unrecorded bytes must never be sent: a crash would leave an untraceable transaction.
        setAll({ status: "retry", kind: "other", reason: `outbox: ${(e as Error).message}` });
        break;
      }
      const sent = await this.#send(signed, false);
      if (sent.kind === "unknown") {
        this.#inDoubt = signed;
        log.warn(`commitment transaction ${signed.digest} outcome unknown (${sent.why.reason}); will resume`);
        setAll({ status: "retry", kind: sent.why.kind, reason: `${sent.why.reason}; transaction ${signed.digest} recorded for resume` });
        break;
      }
      if (sent.kind === "rejected") {
        const why = sent.why;
        if ((why.kind === "stale_object" || why.kind === "insufficient_gas") && rebuilds++ < maxRebuilds) {
          log.info(`commitment transaction rejected (${why.kind}); re-reading badge and gas coins`);
          this.objects.invalidateOwned();
          continue;
        }
        setAll(toOutcome(why, null));
        break;
      }
      const result = sent.result;
      const t = result.Transaction ?? result.FailedTransaction;
      this.objects.applyEffects(t.effects, t.epoch);
      if (t.status.success) {
        const firsts = firstSubmissionTickets(t.events, this.opts.eventPackageId ?? this.opts.packageId);
        pending.forEach((i) => (outcomes[i] = { status: "committed", digest: t.digest, firstSubmission: firsts.has(normalizeSuiAddress(requests[i]!.ticketId)) }));
        break;
      }
      const why = classifyExecutionError(t.status.error);
      const at = why.command;
      if (at !== undefined && at >= 0 && at < pending.length && isPerTicket(why)) {
        // The whole PTB aborted because of one call: settle that ticket, retry the others without it.
        const idx = pending[at]!;
        outcomes[idx] = toOutcome(why, t.digest);
        pending = pending.filter((i) => i !== idx);
        continue;
      }
      if (why.kind === "insufficient_gas") {
        // Executed and ran out of gas: the budget, not the coins, is too small — resending the same
        // budget would only burn it again.
        setAll({ status: "failed", kind: why.kind, reason: `transaction ${t.digest} ran out of gas (budget ${budgetOf(pending.length, this.opts.gasBudget)} MIST); raise client.gas_budget` });
        break;
      }
      setAll(toOutcome(why, t.digest));
      break;
    }
    return outcomes.map((o) => o ?? { status: "retry", kind: "other", reason: "not attempted" });
  }

  async #resume(tx: SignedTx): Promise<CommitmentOutcome[]> {
    const sent = await this.#send(tx, true);
    if (sent.kind === "unknown") {
      this.#inDoubt ??= tx;
      return tx.ticketIds.map(() => ({ status: "retry", kind: sent.why.kind, reason: `${sent.why.reason}; ${tx.digest} still unresolved` }));
    }
    this.#settle(tx, sent);
    if (sent.kind === "rejected") {
      // Rejected without executing (e.g. its inputs were consumed by another transaction): it can
      // never run, so the tickets must be submitted again with fresh object versions.
      this.objects.invalidateOwned();
      return tx.ticketIds.map(() => ({ status: "retry", kind: sent.why.kind, reason: `${tx.digest} rejected: ${sent.why.reason}` }));
    }
    const t = sent.result.Transaction ?? sent.result.FailedTransaction;
    if (t.status.success) {
      const firsts = firstSubmissionTickets(t.events, this.opts.eventPackageId ?? this.opts.packageId);
      return tx.ticketIds.map((id) => ({ status: "committed", digest: t.digest, firstSubmission: firsts.has(normalizeSuiAddress(id)) }));
    }
    const why = classifyExecutionError(t.status.error);
    return tx.ticketIds.map((_, i) =>
      why.command === undefined || why.command === i || !isPerTicket(why)
        ? toOutcome(why, t.digest)
        : { status: "retry", kind: "other", reason: `not executed: command ${why.command} of ${t.digest} aborted the batch` },
    );
  }

  /** Clears the in-doubt marker and applies effects once a transaction's fate is known. */
  #settle(tx: SignedTx, sent: Exclude<Sent, { kind: "unknown" }>): void {
    if (this.#inDoubt?.digest === tx.digest) this.#inDoubt = null;
    if (sent.kind === "executed") {
      const t = sent.result.Transaction ?? sent.result.FailedTransaction;
      this.objects.applyEffects(t.effects, t.epoch);
    }
  }

  /** Sends identical bytes until an answer: executed (maybe failed), rejected, or still unknown.
   * With `lookupFirst`, the digest is looked up before any send (resume path). */
  async #send(tx: SignedTx, lookupFirst: boolean): Promise<Sent> {
    const attempts = this.opts.sendAttempts ?? 3;
    const bytes = fromBase64(tx.bytes);
    let last: Classified = { kind: "unavailable", decision: "resume", reason: "not sent" };
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (lookupFirst || attempt > 0) {
        const found = await this.#lookup(tx.digest);
        if (found) return { kind: "executed", result: found };
        await sleep(backoffDelay(attempt, { initialMs: this.opts.backoffMs ?? 250, maxMs: Number.MAX_SAFE_INTEGER }));
      }
      try {
        const result = await this.opts.client.core.executeTransaction({
          transaction: bytes,
          signatures: tx.signatures,
          include: INCLUDE,
          signal: AbortSignal.timeout(this.opts.requestTimeoutMs),
        });
        return { kind: "executed", result };
      } catch (e) {
        last = classifyThrown(e);
        if (last.decision !== "resume") {
          // A resend may be answered "stale" because the first send executed: check before believing it.
          if (attempt > 0 || lookupFirst) {
            const found = await this.#lookup(tx.digest);
            if (found) return { kind: "executed", result: found };
          }
          return { kind: "rejected", why: last };
        }
      }
    }
    const found = await this.#lookup(tx.digest);
    return found ? { kind: "executed", result: found } : { kind: "unknown", why: last };
  }

  async #lookup(digest: string): Promise<TxResult | null> {
    try {
      return await this.opts.client.core.getTransaction({ digest, include: INCLUDE, signal: AbortSignal.timeout(this.opts.requestTimeoutMs) });
    } catch (e) {
      if (!(e instanceof TransactionError)) log.debug(`lookup of ${digest} failed: ${(e as Error).message}`);
      return null;
    }
  }
}

/** Per-call budget × calls, capped at the protocol maximum. */
function budgetOf(calls: number, perCall: bigint): bigint {
  const b = perCall * BigInt(calls);
  return b < MAX_GAS_BUDGET ? b : MAX_GAS_BUDGET;
}

/** Failures caused by one call's ticket (as opposed to the transaction as a whole). */
function isPerTicket(c: Classified): boolean {
  return c.kind === "already_committed" || c.kind === "not_awaiting" || c.kind === "ticket_gone" || c.kind === "move_abort";
}

function toOutcome(c: Classified, digest: string | null): CommitmentOutcome {
  switch (c.decision) {
    case "done":
      return { status: "done", digest, reason: c.reason };
    case "failed":
      return { status: "failed", kind: c.kind, reason: c.reason };
    default:
      return { status: "retry", kind: c.kind, reason: c.reason };
  }
}

/** Requests the contract would reject outright (hash length): fail them before paying gas. */
function invalid(r: CommitmentRequest): CommitmentOutcome | undefined {
  if (r.merkleRoot.length !== 32 || r.leaf.length !== 32) {
    return { status: "failed", kind: "other", reason: `ticket ${r.ticketId}: merkle root and leaf must be 32 bytes each` };
  }
  if (r.inputTokens < 0n || r.outputTokens < 0n || r.inputTokens >= 1n << 64n || r.outputTokens >= 1n << 64n) {
    return { status: "failed", kind: "other", reason: `ticket ${r.ticketId}: token counts must be u64` };
  }
  return undefined;
}
