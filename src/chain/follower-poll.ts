/**
 * The follower's poll mode: `ListEvents` from `startCheckpoint = cursor + 1`, events grouped by
 * checkpoint and a group delivered only once the scan has moved past it, so the cursor stays a
 * checkpoint number as in subscribe mode. Where `ListEvents` is not served, checkpoints up to the
 * tip are replayed instead.
 */
import { GrpcTypes, type SuiGrpcClient } from "@mysten/sui/grpc";
import type { ChainEvent } from "../protocol/types.ts";
import { sleep } from "./backoff.ts";
import { mustAdvance, PAGE, type Run, scoped } from "./follower-run.ts";

const EVENT_MASK = { paths: ["event_type", "contents", "checkpoint", "transaction_digest", "event_index"] };
const { QueryEndReason } = GrpcTypes;

/** What poll mode borrows from its `EventFollower` (capability flags and filters change at run time). */
export interface PollHost {
  client: SuiGrpcClient;
  listEventsServed(): boolean;
  eventFilter(): GrpcTypes.EventFilter | undefined;
  pollIntervalMs(): number;
  unary(st: Run): { abort: AbortSignal; timeout: number };
  checkPruning(st: Run, from: bigint): Promise<bigint>;
  replay(st: Run, from: bigint, end: bigint): Promise<void>;
  progress(st: Run, seq: bigint, force?: boolean): Promise<void>;
  decode(checkpoint: bigint, txDigest: string, eventIndex: number, e: { eventType?: string; contents?: { value?: Uint8Array } }): ChainEvent | null;
  onTip(tip: bigint): void;
  resetBackoff(): void;
}

export async function pollOnce(host: PollHost, st: Run): Promise<void> {
  if (st.last === null) {
    const { response } = await host.client.ledgerService.getServiceInfo({}, host.unary(st));
    await host.progress(st, response.checkpointHeight ?? 0n, true);
  }
  if (host.listEventsServed()) await pollEvents(host, st);
  else {
    const { response } = await host.client.ledgerService.getServiceInfo({}, host.unary(st));
    const tip = response.checkpointHeight ?? 0n;
    if (st.last! < tip) await host.replay(st, st.last! + 1n, tip + 1n);
  }
  host.resetBackoff();
  await sleep(host.pollIntervalMs(), st.signal);
}

/** One catch-up round: ListEvents pages from the cursor to the ledger tip. */
async function pollEvents(host: PollHost, st: Run): Promise<void> {
  const from = await host.checkPruning(st, st.last! + 1n);
  const groups = new Map<bigint, ChainEvent[]>();
  const flushBelow = async (limit: bigint) => {
    for (const seq of [...groups.keys()].sort((a, b) => (a < b ? -1 : 1))) {
      if (seq >= limit) break;
      const events = groups.get(seq)!;
      groups.delete(seq);
      if (st.last !== null && seq <= st.last) continue;
      await st.handle({ checkpoint: seq, events });
      st.last = seq;
      st.lastProgressAt = Date.now();
    }
  };
  let after: Uint8Array | undefined;
  for (;;) {
    const before = after;
    let covered: bigint | undefined;
    const reason = await scoped(st.signal, async (ctl) => {
      const call = host.client.ledgerService.listEvents({ readMask: EVENT_MASK, filter: host.eventFilter(), startCheckpoint: from, options: { limit: PAGE, after } }, { abort: ctl.signal });
      let reason: number | undefined;
      for await (const f of call.responses) {
        const e = f.event;
        if (e && e.checkpoint !== undefined) {
          await flushBelow(e.checkpoint); // the scan moved past earlier checkpoints: they are complete
          const ev = host.decode(e.checkpoint, e.transactionDigest ?? "", e.eventIndex ?? 0, e);
          if (ev) groups.set(e.checkpoint, [...(groups.get(e.checkpoint) ?? []), ev]);
        }
        if (f.watermark?.cursor?.length) after = f.watermark.cursor;
        if (f.watermark?.checkpoint !== undefined) covered = f.watermark.checkpoint;
        if (f.end) reason = f.end.reason;
      }
      return reason;
    });
    if (reason === undefined) throw new Error("ListEvents ended without an end reason");
    if (reason === QueryEndReason.ITEM_LIMIT || reason === QueryEndReason.SCAN_LIMIT) {
      // Short or empty pages with more to come: keep reading from the watermark.
      if (covered !== undefined) await flushBelow(covered);
      mustAdvance(before, after, "ListEvents");
      continue;
    }
    // Reached the indexed tip: every checkpoint up to the watermark is complete.
    if (covered !== undefined) host.onTip(covered);
    await flushBelow(covered !== undefined ? covered + 1n : 1n << 64n);
    if (covered !== undefined) await host.progress(st, covered);
    return;
  }
}
