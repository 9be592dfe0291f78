/**
 * Serves `NewlySampledNodesEvent` leaves whose original prompt this node never indexed (spec §5.4:
 * e.g. the prompt predates the node's start cursor or its prompt-index TTL). Ingest records them
 * durably; this loop finds the prompt (the local index first, else on chain by ticket id) and
 * creates the jobs exactly as ingest would. Network I/O happens here, never in the follower's
 * transaction (spec §13 #18). Lookups that fail are retried with backoff a bounded number of times,
 * then the leaves become failed jobs with the reason; rows survive restarts until resolved.
 */
import { Backoff, type BackoffOptions } from "../chain/backoff.ts";
import type { PromptLookupOptions, PromptLookupResult } from "../chain/prompt-lookup.ts";
import { log as rootLog } from "../log/logger.ts";
import { resampledJob, type IngestContext } from "./ingest.ts";
import { Wakeup } from "./semaphore.ts";
import type { JobStore, PendingResample } from "./types.ts";

const log = rootLog.withTag("resampler");

export type PromptLookup = (ticketId: string, opts: PromptLookupOptions) => Promise<PromptLookupResult>;

export interface ResamplerOptions {
  ctx: Pick<IngestContext, "policy" | "hostedModels">;
  /** On-chain lookup, e.g. `(t, o) => findPromptEvent(client, eventPackageId, t, o)`. */
  lookup: PromptLookup;
  /** Lookups per ticket before its leaves are failed (default 5). */
  maxAttempts?: number;
  /** Delay between lookups of one ticket (default 2 s doubling to 60 s, jittered). */
  backoff?: BackoffOptions;
  maxPages?: number;
  requestTimeoutMs?: number;
  /** Idle poll for due rows; `wake()` short-cuts it (default 1000 ms). */
  pollMs?: number;
  /** New jobs were created (wakes the scheduler). */
  onJobs?: () => void;
  now?: () => number;
}

/** How long to wait after the `failures`-th failed lookup (the Backoff schedule, stateless). */
function delayAfter(failures: number, opts: BackoffOptions): number {
  const b = new Backoff(opts);
  let d = 0;
  for (let i = 0; i < failures; i++) d = b.next();
  return d;
}

export class Resampler {
  private readonly wakeup = new Wakeup();
  private readonly now: () => number;
  private readonly backoffOpts: BackoffOptions;

  constructor(
    private readonly store: JobStore,
    private readonly opts: ResamplerOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.backoffOpts = { initialMs: 2000, maxMs: 60_000, ...opts.backoff };
  }

  wake(): void {
    this.wakeup.notify();
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.round(signal);
      } catch (e) {
        // A store error must not end the loop; the rows stay and are retried next round.
        if (!signal.aborted) log.error(`resample round failed: ${(e as Error).message}`);
      }
      await this.wakeup.wait(this.opts.pollMs ?? 1000, signal);
    }
  }

  /** Handles every due ticket once. */
  async round(signal?: AbortSignal): Promise<void> {
    const byTicket = new Map<string, PendingResample[]>();
    for (const r of this.store.dueResamples(this.now(), 200)) byTicket.set(r.ticketId, [...(byTicket.get(r.ticketId) ?? []), r]);
    for (const [ticketId, rows] of byTicket) {
      if (signal?.aborted) return;
      await this.resolve(ticketId, rows, signal);
    }
  }

  private async resolve(ticketId: string, rows: PendingResample[], signal?: AbortSignal): Promise<void> {
    let prompt = this.store.findPrompt(ticketId);
    let reason: string;
    if (!prompt) {
      try {
        const res = await this.opts.lookup(ticketId, { maxPages: this.opts.maxPages, requestTimeoutMs: this.opts.requestTimeoutMs, signal });
        if (res.found) prompt = res.prompt;
        else reason = `original prompt event not found on chain (${res.pages} page(s) of prompt events scanned${res.exhausted ? ", whole history" : ", page budget reached"})`;
      } catch (e) {
        if (signal?.aborted) return; // shutdown: the rows stay for the next start
        reason = `prompt lookup failed: ${(e as Error).message}`;
      }
    }
    if (prompt) {
      const jobs = rows.map((r) => resampledJob(prompt, r.origin, BigInt(r.leafIndex), this.opts.ctx));
      const created = this.store.resolveResamples(ticketId, prompt, jobs);
      for (const j of jobs) if (j.state) log.error(`ticket ${ticketId}: ${j.error}`);
      log.info(`ticket ${ticketId}: original prompt found; ${created} resampled job(s) created (leaves ${rows.map((r) => r.leafIndex).join(", ")})`);
      if (created > 0) this.opts.onJobs?.();
      return;
    }
    const failures = Math.max(...rows.map((r) => r.attempts)) + 1;
    const max = this.opts.maxAttempts ?? 5;
    if (failures >= max) {
      const final = `NewlySampledNodesEvent for this node: ${reason!}; gave up after ${failures} attempt(s)`;
      this.store.failResamples(ticketId, final);
      log.error(`ticket ${ticketId}: ${final}`);
      return;
    }
    const delay = delayAfter(failures, this.backoffOpts);
    this.store.deferResamples(ticketId, reason!, this.now() + delay);
    log.warn(`ticket ${ticketId}: ${reason!}; retrying in ${Math.round(delay)} ms (attempt ${failures}/${max})`);
  }
}
