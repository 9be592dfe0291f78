/**
 * Batches ready commitments into one programmable transaction (up to `maxBatchSize` calls).
 * Commitment transactions are serial per NodeBadge, so while one is in flight the next batch
 * accumulates; each caller gets the outcome of its own request.
 */
import { normalizeSuiAddress } from "@mysten/sui/utils";
import type { CommitmentOutcome, CommitmentRequest, CommitmentSubmitter, Outbox } from "../types.ts";

interface Waiting {
  request: CommitmentRequest;
  resolve: (o: CommitmentOutcome) => void;
}

export class CommitmentQueue {
  #waiting: Waiting[] = [];
  #running = false;

  constructor(
    private readonly submitter: CommitmentSubmitter,
    private readonly outbox: Outbox,
    private readonly maxBatchSize: number,
  ) {
    if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) throw new RangeError(`maxBatchSize must be a positive integer, got ${maxBatchSize}`);
  }

  /** Queues one commitment; resolves with its outcome once its batch has been sent. Never rejects. */
  submit(request: CommitmentRequest): Promise<CommitmentOutcome> {
    return new Promise((resolve) => {
      this.#waiting.push({ request, resolve });
      if (!this.#running) void this.#drain();
    });
  }

  get pending(): number {
    return this.#waiting.length;
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      while (this.#waiting.length > 0) {
        // One ticket must not appear twice in a PTB (the second call would abort the whole batch).
        const batch: Waiting[] = [];
        const seen = new Set<string>();
        for (let i = 0; i < this.#waiting.length && batch.length < this.maxBatchSize; ) {
          const w = this.#waiting[i]!;
          if (seen.has(normalizeSuiAddress(w.request.ticketId))) {
            i++;
            continue;
          }
          seen.add(normalizeSuiAddress(w.request.ticketId));
          batch.push(w);
          this.#waiting.splice(i, 1);
        }
        let outcomes: CommitmentOutcome[];
        try {
          outcomes = await this.submitter.submit(batch.map((w) => w.request), this.outbox);
        } catch (e) {
          const reason = `submitter error: ${(e as Error).message}`;
          outcomes = batch.map(() => ({ status: "retry", kind: "other", reason }));
        }
        batch.forEach((w, i) => w.resolve(outcomes[i] ?? { status: "retry", kind: "other", reason: "no outcome" }));
      }
    } finally {
      this.#running = false;
    }
  }
}
