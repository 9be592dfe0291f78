/**
 * Follows Atoma events on Sui and hands them to the node checkpoint by checkpoint, with the last
 * fully processed checkpoint as the durable cursor (spec sui-integration.md §3).
 *
 * `subscribe` mode (default): `SubscribeCheckpoints` filtered by event type (one DNF term per module
 * gate/settlement/db of the type-origin package), and on every (re)connect the gap between the
 * persisted cursor and the stream's first frame is replayed with `ListCheckpoints` (`GetCheckpoint`
 * per number where that is not served). `poll` mode (follower-poll.ts): `ListEvents` with the same filter from
 * `startCheckpoint = cursor + 1`, events grouped by checkpoint, a group delivered only once the scan
 * has moved past it — so the cursor stays a checkpoint number in both modes and switching between
 * them (or falling back automatically when a provider lacks subscriptions) never loses or repeats
 * an event. Transient errors back off exponentially with jitter; a rejected `filter` is dropped and
 * events are filtered here instead.
 */
import { GrpcTypes, RpcError, type SuiGrpcClient } from "@mysten/sui/grpc";
import { normalizeSuiAddress } from "@mysten/sui/utils";
import type { EventSubscriberConfig } from "../config/types.ts";
import { log as rootLog } from "../log/logger.ts";
import type { ChainEvent } from "../protocol/types.ts";
import { Backoff, type BackoffOptions, sleep } from "./backoff.ts";
import { createSuiClient } from "./client.ts";
import { decodeChainEvent, type DecodeResult, type RawChainEvent } from "./events/decode.ts";
import { type PollHost, pollOnce } from "./follower-poll.ts";
import { type Handle, mustAdvance, PAGE, type Run, scoped } from "./follower-run.ts";
import type { EventSource } from "./types.ts";

const log = rootLog.withTag("follower");

/** Modules whose events the node consumes (spec atoma-protocol.md §4.3). */
export const ATOMA_MODULES = ["gate", "settlement", "db"] as const;
const CHECKPOINT_MASK = { paths: ["sequence_number", "transactions.digest", "transactions.events"] };
const { QueryEndReason } = GrpcTypes;

export interface FollowerOptions {
  client: SuiGrpcClient;
  /** Package that defined the event types (spec §3.1: not the latest call package). */
  eventPackageId: string;
  /** First checkpoint to process when no cursor is stored; undefined = the chain tip. */
  startCheckpoint?: bigint;
  mode?: "subscribe" | "poll";
  /** Delay between `ListEvents` polls once caught up (default 1000 ms). */
  pollIntervalMs?: number;
  /** Checkpoints without Atoma events are persisted at most this often (default 1000 ms; 0 = each). */
  progressIntervalMs?: number;
  /** A cursor older than the node's pruning horizon: `skip` ahead (logged as an error) or `fail`. */
  onPruned?: "skip" | "fail";
  backoff?: BackoffOptions;
  /** Reconnect when a subscription sends nothing for this long (half-open connections; default
   *  120 000 ms — a live chain produces several checkpoints per second). 0 = never. */
  streamIdleTimeoutMs?: number;
  /** Timeout of unary lookups (service info, single checkpoints; default 30 000 ms). */
  requestTimeoutMs?: number;
  /** Event decoder (default: src/chain/events/decode.ts). */
  decode?: (raw: RawChainEvent, eventPackageId: string) => DecodeResult;
  /** Latest chain tip seen (stream cursor / scan watermark), for a "chain lag" metric. */
  onTip?: (tip: bigint) => void;
}

class PrunedError extends Error {}

const codeOf = (e: unknown) => (e instanceof RpcError ? e.code : undefined);

export class EventFollower implements EventSource {
  private readonly client: SuiGrpcClient;
  private readonly pkg: string;
  private mode: "subscribe" | "poll";
  private useFilter = true;
  private listCheckpointsServed = true;
  private listEventsServed = true;
  private readonly backoff: Backoff;
  private readonly poll: PollHost;

  constructor(private readonly opts: FollowerOptions) {
    this.client = opts.client;
    this.pkg = normalizeSuiAddress(opts.eventPackageId);
    this.mode = opts.mode ?? "subscribe";
    this.backoff = new Backoff(opts.backoff);
    this.poll = {
      client: this.client,
      listEventsServed: () => this.listEventsServed,
      eventFilter: () => this.txFilter() as GrpcTypes.EventFilter | undefined, // same DNF shape, event-type literals
      pollIntervalMs: () => this.opts.pollIntervalMs ?? 1000,
      unary: (st) => this.unary(st),
      checkPruning: (st, from) => this.checkPruning(st, from),
      replay: (st, from, end) => this.replay(st, from, end),
      progress: (st, seq, force) => this.progress(st, seq, force),
      decode: (checkpoint, txDigest, eventIndex, e) => this.decode(checkpoint, txDigest, eventIndex, e),
      onTip: (tip) => this.opts.onTip?.(tip),
      resetBackoff: () => this.backoff.reset(),
    };
  }

  async run(cursor: bigint | null, handle: Handle, signal: AbortSignal): Promise<void> {
    const st: Run = {
      last: cursor ?? (this.opts.startCheckpoint !== undefined ? this.opts.startCheckpoint - 1n : null),
      handle,
      signal,
      lastProgressAt: 0,
    };
    log.info(`following ${this.pkg} events (${this.mode}) from ${st.last === null ? "the chain tip" : `checkpoint ${st.last + 1n}`}`);
    while (!signal.aborted) {
      try {
        if (this.mode === "subscribe") await this.subscribeOnce(st);
        else await pollOnce(this.poll, st);
      } catch (e) {
        if (signal.aborted) break;
        if (e instanceof PrunedError) throw e;
        if (!this.adapt(e)) {
          const delay = this.backoff.next();
          log.warn(`event stream (${this.mode}) failed: ${codeOf(e) ?? ""} ${(e as Error).message}; retrying in ${Math.round(delay)} ms`);
          await sleep(delay, signal);
        }
      }
    }
  }

  /** Reacts to capability errors (no filter, no subscriptions, no list methods); true = retry now. */
  private adapt(e: unknown): boolean {
    const code = codeOf(e);
    const method = e instanceof RpcError ? e.methodName : undefined;
    if (code === "INVALID_ARGUMENT" && this.useFilter) {
      log.warn(`full node rejected the event filter (${(e as Error).message}); filtering client-side`);
      this.useFilter = false;
      return true;
    }
    if (code !== "UNIMPLEMENTED") return false;
    if (method === "SubscribeCheckpoints" && this.mode === "subscribe") {
      log.warn("full node does not serve checkpoint subscriptions; polling ListEvents instead");
      this.mode = "poll";
      return true;
    }
    if (method === "ListCheckpoints" && this.listCheckpointsServed) {
      this.listCheckpointsServed = false;
      return true;
    }
    if (method === "ListEvents" && this.listEventsServed) {
      log.warn("full node does not serve ListEvents; polling checkpoints instead");
      this.listEventsServed = false;
      return true;
    }
    return false;
  }

  /** Call options for lookups: the transport's `timeout` is only a server-side deadline header, so
   *  a client-side timer bounds the call too (a hung connection would otherwise block forever). */
  private unary(st: Run) {
    const ms = this.opts.requestTimeoutMs ?? 30_000;
    return { abort: AbortSignal.any([st.signal, AbortSignal.timeout(ms)]), timeout: ms };
  }

  private txFilter(): GrpcTypes.TransactionFilter | undefined {
    if (!this.useFilter) return undefined;
    return { terms: ATOMA_MODULES.map((m) => ({ literals: [{ negated: false, predicate: { oneofKind: "eventType" as const, eventType: { eventType: `${this.pkg}::${m}` } } }] })) };
  }

  // ---- subscribe mode ------------------------------------------------------------------------

  private subscribeOnce(st: Run): Promise<void> {
    return scoped(st.signal, (ctl) => this.subscribeWith(st, ctl));
  }

  private async subscribeWith(st: Run, ctl: AbortController): Promise<void> {
    const filter = this.txFilter();
    const call = this.client.subscriptionService.subscribeCheckpoints({ readMask: CHECKPOINT_MASK, filter }, { abort: ctl.signal });
    // Watchdog against half-open connections; paused while a frame is processed (replays can be long).
    const idleMs = this.opts.streamIdleTimeoutMs ?? 120_000;
    let idle: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      if (idleMs > 0) idle = setTimeout(() => ctl.abort(new Error(`no checkpoint frame for ${idleMs} ms`)), idleMs);
    };
    arm();
    try {
      let first = true;
      for await (const frame of call.responses) {
        clearTimeout(idle);
        const cursor = frame.cursor ?? frame.checkpoint?.sequenceNumber;
        if (cursor !== undefined) this.opts.onTip?.(cursor);
        if (cursor !== undefined) {
          if (first) {
            first = false;
            // The first frame tells where the live stream starts; everything before it is replayed.
            const end = frame.checkpoint ? cursor : cursor + 1n;
            if (st.last !== null && st.last + 1n < end) await this.replay(st, st.last + 1n, end);
            await this.progress(st, end - 1n, true); // also pins "the tip" as the cursor on a first start
            this.backoff.reset();
          }
          if (frame.checkpoint) {
            // Unfiltered streams are gap-free; a jump means frames were lost, so fetch the gap.
            if (!filter && cursor > st.last! + 1n) await this.replay(st, st.last! + 1n, cursor);
            await this.deliver(st, frame.checkpoint);
          } else await this.progress(st, cursor);
        }
        arm();
      }
    } finally {
      clearTimeout(idle);
    }
    if (!st.signal.aborted) throw new Error("checkpoint subscription ended");
  }

  /** Delivers checkpoints [from, end) in order. */
  private async replay(st: Run, from: bigint, end: bigint): Promise<void> {
    from = await this.checkPruning(st, from);
    if (from >= end) return;
    log.info(`replaying checkpoints ${from}..${end - 1n}`);
    if (!this.listCheckpointsServed) {
      for (let n = from; n < end && !st.signal.aborted; n++) {
        const { response } = await this.client.ledgerService.getCheckpoint({ checkpointId: { oneofKind: "sequenceNumber", sequenceNumber: n }, readMask: CHECKPOINT_MASK }, this.unary(st));
        if (response.checkpoint) await this.deliver(st, response.checkpoint);
      }
      return this.progress(st, end - 1n, true);
    }
    let after: Uint8Array | undefined;
    for (;;) {
      const before = after;
      const reason = await scoped(st.signal, async (ctl) => {
        const call = this.client.ledgerService.listCheckpoints(
          { startCheckpoint: from, endCheckpoint: end, readMask: CHECKPOINT_MASK, filter: this.txFilter(), options: { limit: PAGE, after } },
          { abort: ctl.signal },
        );
        let reason: number | undefined;
        for await (const f of call.responses) {
          if (f.checkpoint) await this.deliver(st, f.checkpoint);
          if (f.watermark?.cursor?.length) after = f.watermark.cursor;
          if (f.end) reason = f.end.reason;
        }
        return reason;
      });
      if (reason === QueryEndReason.ITEM_LIMIT || reason === QueryEndReason.SCAN_LIMIT) {
        mustAdvance(before, after, "ListCheckpoints");
        continue;
      }
      if (reason === QueryEndReason.CHECKPOINT_BOUND || reason === QueryEndReason.CURSOR_BOUND) break;
      if (reason === QueryEndReason.LEDGER_TIP) {
        // The node's index trails the subscription: wait for it to cover the gap.
        if (!(await sleep(this.opts.pollIntervalMs ?? 1000, st.signal))) return;
        continue;
      }
      throw new Error(`ListCheckpoints ${from}..${end - 1n} ended without an end reason`);
    }
    await this.progress(st, end - 1n, true);
  }

  private async checkPruning(st: Run, from: bigint): Promise<bigint> {
    const { response } = await this.client.ledgerService.getServiceInfo({}, this.unary(st));
    const lowest = response.lowestAvailableCheckpoint;
    if (lowest === undefined || from >= lowest) return from;
    const msg = `cursor checkpoint ${from - 1n} is older than the full node's history (lowest available ${lowest}); events in ${from}..${lowest - 1n} cannot be read from it — use an archival provider`;
    if ((this.opts.onPruned ?? "skip") === "fail") throw new PrunedError(msg);
    log.error(`${msg}; skipping ahead`);
    await this.progress(st, lowest - 1n, true);
    return lowest;
  }

  /** Decodes one checkpoint's Atoma events and hands them over; skips checkpoints already done. */
  private async deliver(st: Run, cp: GrpcTypes.Checkpoint): Promise<void> {
    const seq = cp.sequenceNumber;
    if (seq === undefined || (st.last !== null && seq <= st.last)) return;
    const events: ChainEvent[] = [];
    for (const tx of cp.transactions) {
      (tx.events?.events ?? []).forEach((e, j) => {
        const ev = this.decode(seq, tx.digest ?? "", j, e);
        if (ev) events.push(ev);
      });
    }
    if (events.length === 0) return this.progress(st, seq);
    await st.handle({ checkpoint: seq, events });
    st.last = seq;
    st.lastProgressAt = Date.now();
  }

  private decode(checkpoint: bigint, txDigest: string, eventIndex: number, e: { eventType?: string; contents?: { value?: Uint8Array }; json?: unknown }): ChainEvent | null {
    const type = e.eventType ?? "";
    const addr = type.split("::")[0] ?? "";
    if (!addr.startsWith("0x") || normalizeSuiAddress(addr) !== this.pkg) return null; // another package's event
    const result = (this.opts.decode ?? decodeChainEvent)({ eventType: type, bcs: e.contents?.value, id: `${txDigest}:${eventIndex}` }, this.pkg);
    if (!result.ok) {
      if (result.reason === "unknown") log.info(`skipping unknown Atoma event type ${type} (${txDigest}:${eventIndex})`);
      return null; // malformed payloads are logged by the decoder
    }
    return { origin: { checkpoint, txDigest, eventIndex, eventType: type }, event: result.event };
  }

  /** Records that every checkpoint ≤ `seq` is done (an empty batch), at most every progressIntervalMs. */
  private async progress(st: Run, seq: bigint, force = false): Promise<void> {
    if (st.last !== null && seq <= st.last) return;
    const due = Date.now() - st.lastProgressAt >= (this.opts.progressIntervalMs ?? 1000);
    if (!force && !due) return;
    await st.handle({ checkpoint: seq, events: [] });
    st.last = seq;
    st.lastProgressAt = Date.now();
  }
}

/** The node's follower from `[event_subscriber]` (its own client: no per-call timeout on streams). */
export function createEventFollower(cfg: EventSubscriberConfig, client?: SuiGrpcClient, extra: Partial<FollowerOptions> = {}): EventFollower {
  return new EventFollower({
    client: client ?? createSuiClient({ network: cfg.network, httpUrl: cfg.httpUrl }),
    eventPackageId: cfg.eventPackageId,
    startCheckpoint: cfg.startCheckpoint,
    mode: cfg.mode,
    pollIntervalMs: cfg.pollIntervalMs,
    requestTimeoutMs: cfg.requestTimeoutMs,
    ...extra,
  });
}
