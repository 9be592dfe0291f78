/**
 * Server-streaming methods: ListEvents / ListCheckpoints (bounded scans with a watermark on every
 * frame and exactly one `end` frame, spec sui-integration.md §3.3–3.4) and SubscribeCheckpoints
 * (live from the tip, `cursor` on every frame, first frame progress-only when filtered, §3.2).
 */
import { GrpcTypes } from "@mysten/sui/grpc";
import type { CallCtx } from "./handlers.ts";
import { GrpcError, Status } from "./grpc-web.ts";
import type { CheckpointRec } from "./ledger.ts";
import { checkpointMatches, checkpointProto, eventMatches, eventProto } from "./proto.ts";
import { applyMask } from "./read-mask.ts";

const CHECKPOINT_DEFAULT = ["sequence_number", "digest"];
const maskCp = (cp: CheckpointRec, ctx: CallCtx, mask: { paths: string[] } | undefined) =>
  applyMask(GrpcTypes.Checkpoint, checkpointProto(cp, ctx.ledger.epoch), mask, CHECKPOINT_DEFAULT);

const { QueryEndReason, Ordering } = GrpcTypes;
/** The real service coerces larger limits down to this. */
export const MAX_PAGE = 50;
const U32_MAX = 0xffff_ffff;

/** Opaque cursor bytes: checkpoint u64 ‖ transaction index u32 ‖ event index u32 (little-endian). */
function cursorBytes(cp: bigint, tx: number, ev: number): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, cp, true);
  v.setUint32(8, tx, true);
  v.setUint32(12, ev, true);
  return b;
}

function readCursor(b: Uint8Array | undefined, what: string): [bigint, number, number] | undefined {
  if (!b || b.length === 0) return undefined;
  if (b.length !== 16) throw new GrpcError(Status.INVALID_ARGUMENT, `${what}: malformed cursor`);
  const v = new DataView(b.buffer, b.byteOffset, 16);
  return [v.getBigUint64(0, true), v.getUint32(8, true), v.getUint32(12, true)];
}

const cmp = (a: [bigint, number, number], b: [bigint, number, number]) =>
  a[0] !== b[0] ? (a[0] < b[0] ? -1 : 1) : a[1] !== b[1] ? a[1] - b[1] : a[2] - b[2];

function checkFilter(ctx: CallCtx, filter: unknown): void {
  if (filter && ctx.faults.rejectFilters) throw new GrpcError(Status.INVALID_ARGUMENT, "unknown field `filter` in request");
}

function range(ctx: CallCtx, req: { startCheckpoint?: bigint; endCheckpoint?: bigint; options?: GrpcTypes.QueryOptions }, descendingServed = false) {
  if (req.options?.ordering === Ordering.DESCENDING && !descendingServed) throw new GrpcError(Status.INVALID_ARGUMENT, "descending order is not supported by this test server");
  const lowest = ctx.ledger.checkpoints[0]!.seq;
  const start = req.startCheckpoint ?? lowest;
  if (start < lowest) throw new GrpcError(Status.NOT_FOUND, `checkpoint ${start} has been pruned; lowest available is ${lowest}`);
  const tipEnd = ctx.ledger.tip.seq + 1n;
  const end = req.endCheckpoint !== undefined && req.endCheckpoint < tipEnd ? req.endCheckpoint : tipEnd;
  const limit = Math.min(req.options?.limit || MAX_PAGE, MAX_PAGE);
  return { start, end, bounded: req.endCheckpoint !== undefined && req.endCheckpoint <= ctx.ledger.tip.seq + 1n, limit };
}

export async function* listEvents(req: GrpcTypes.ListEventsRequest, ctx: CallCtx): AsyncGenerator<GrpcTypes.ListEventsResponse> {
  checkFilter(ctx, req.filter);
  if (req.options?.ordering === Ordering.DESCENDING) return yield* listEventsDescending(req, ctx);
  const { start, end, bounded, limit } = range(ctx, req);
  const after = readCursor(req.options?.after, "options.after");
  const before = readCursor(req.options?.before, "options.before");
  let scanned = 0;
  let items = 0;
  let last: [bigint, number, number] = after ?? [start, 0, 0];
  for (let seq = start; seq < end; seq++) {
    const cp = ctx.ledger.checkpoint(seq)!;
    for (let t = 0; t < cp.txs.length; t++) {
      const tx = cp.txs[t]!;
      for (let e = 0; e < tx.events.length; e++) {
        const pos: [bigint, number, number] = [seq, t, e];
        if (after && cmp(pos, after) <= 0) continue;
        if (before && cmp(pos, before) >= 0) {
          yield { watermark: { cursor: cursorBytes(...last), checkpoint: last[0] }, end: { reason: QueryEndReason.CURSOR_BOUND } };
          return;
        }
        scanned += 1;
        last = pos;
        const wm = { cursor: cursorBytes(...pos), checkpoint: seq };
        if (eventMatches(req.filter, tx, tx.events[e]!)) {
          items += 1;
          const done = items >= limit;
          yield { event: applyMask(GrpcTypes.Event, eventProto(tx.events[e]!, tx, e), req.readMask, null), watermark: wm, end: done ? { reason: QueryEndReason.ITEM_LIMIT } : undefined };
          if (done) return;
        }
        if (scanned >= ctx.faults.scanLimit) {
          yield { watermark: wm, end: { reason: QueryEndReason.SCAN_LIMIT } };
          return;
        }
      }
    }
  }
  // Everything up to `end` (exclusive) was scanned: resume point is the end of checkpoint end-1.
  const final: [bigint, number, number] = end > start ? [end - 1n, U32_MAX, U32_MAX] : last;
  yield { watermark: { cursor: cursorBytes(...final), checkpoint: final[0] }, end: { reason: bounded ? QueryEndReason.CHECKPOINT_BOUND : QueryEndReason.LEDGER_TIP } };
}

/** Newest first (how a node finds an old prompt event, spec §5.4): the interval and cursor bounds
 * mean the same as ascending, only the scan runs from the upper bound down; watermarks never regress
 * in that order, and the resume cursor of a page is passed back as `before`. */
async function* listEventsDescending(req: GrpcTypes.ListEventsRequest, ctx: CallCtx): AsyncGenerator<GrpcTypes.ListEventsResponse> {
  const { start, end, limit } = range(ctx, req, true);
  const after = readCursor(req.options?.after, "options.after");
  const before = readCursor(req.options?.before, "options.before");
  let scanned = 0;
  let items = 0;
  let last: [bigint, number, number] = before ?? [end, 0, 0];
  for (let seq = end - 1n; seq >= start; seq--) {
    const cp = ctx.ledger.checkpoint(seq)!;
    for (let t = cp.txs.length - 1; t >= 0; t--) {
      const tx = cp.txs[t]!;
      for (let e = tx.events.length - 1; e >= 0; e--) {
        const pos: [bigint, number, number] = [seq, t, e];
        if (before && cmp(pos, before) >= 0) continue;
        if (after && cmp(pos, after) <= 0) {
          yield { watermark: { cursor: cursorBytes(...last), checkpoint: last[0] }, end: { reason: QueryEndReason.CURSOR_BOUND } };
          return;
        }
        scanned += 1;
        last = pos;
        const wm = { cursor: cursorBytes(...pos), checkpoint: seq };
        if (eventMatches(req.filter, tx, tx.events[e]!)) {
          items += 1;
          const done = items >= limit;
          yield { event: applyMask(GrpcTypes.Event, eventProto(tx.events[e]!, tx, e), req.readMask, null), watermark: wm, end: done ? { reason: QueryEndReason.ITEM_LIMIT } : undefined };
          if (done) return;
        }
        if (scanned >= ctx.faults.scanLimit) {
          yield { watermark: wm, end: { reason: QueryEndReason.SCAN_LIMIT } };
          return;
        }
      }
    }
  }
  // Scanned down to the lower checkpoint bound (requested start or the oldest retained checkpoint).
  const final: [bigint, number, number] = end > start ? [start, 0, 0] : last;
  yield { watermark: { cursor: cursorBytes(...final), checkpoint: final[0] }, end: { reason: QueryEndReason.CHECKPOINT_BOUND } };
}

export async function* listCheckpoints(req: GrpcTypes.ListCheckpointsRequest, ctx: CallCtx): AsyncGenerator<GrpcTypes.ListCheckpointsResponse> {
  checkFilter(ctx, req.filter);
  const { start, end, bounded, limit } = range(ctx, req);
  const after = readCursor(req.options?.after, "options.after");
  const before = readCursor(req.options?.before, "options.before");
  let scanned = 0;
  let items = 0;
  let from = start;
  if (after && after[0] + 1n > from) from = after[0] + 1n;
  for (let seq = from; seq < end; seq++) {
    const wm = { cursor: cursorBytes(seq, U32_MAX, U32_MAX), checkpoint: seq };
    if (before && seq >= before[0]) {
      yield { watermark: { cursor: cursorBytes(seq - 1n, U32_MAX, U32_MAX), checkpoint: seq - 1n }, end: { reason: QueryEndReason.CURSOR_BOUND } };
      return;
    }
    scanned += 1;
    const cp = ctx.ledger.checkpoint(seq)!;
    if (checkpointMatches(req.filter, cp)) {
      items += 1;
      const done = items >= limit;
      yield { checkpoint: maskCp(cp, ctx, req.readMask), watermark: wm, end: done ? { reason: QueryEndReason.ITEM_LIMIT } : undefined };
      if (done) return;
    }
    if (scanned >= ctx.faults.scanLimit && seq + 1n < end) {
      yield { watermark: wm, end: { reason: QueryEndReason.SCAN_LIMIT } };
      return;
    }
  }
  const lastSeq = end > from ? end - 1n : from - 1n;
  yield { watermark: { cursor: cursorBytes(lastSeq, U32_MAX, U32_MAX), checkpoint: lastSeq }, end: { reason: bounded ? QueryEndReason.CHECKPOINT_BOUND : QueryEndReason.LEDGER_TIP } };
}

export async function* subscribeCheckpoints(req: GrpcTypes.SubscribeCheckpointsRequest, ctx: CallCtx): AsyncGenerator<GrpcTypes.SubscribeCheckpointsResponse> {
  checkFilter(ctx, req.filter);
  const queue: CheckpointRec[] = [];
  let wake: (() => void) | null = null;
  const off = ctx.ledger.onCheckpoint((cp) => {
    queue.push(cp);
    wake?.();
  });
  const aborted = new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
  try {
    // A real node starts at the checkpoint it is about to publish; the fake publishes only on demand,
    // so it opens with its current tip (progress-only when filtered, as the real service does).
    const tip = ctx.ledger.tip;
    yield req.filter ? { cursor: tip.seq } : { cursor: tip.seq, checkpoint: maskCp(tip, ctx, req.readMask) };
    while (!ctx.signal.aborted) {
      if (queue.length === 0) {
        await Promise.race([new Promise<void>((r) => (wake = r)), aborted]);
        wake = null;
        continue;
      }
      const cp = queue.shift()!;
      yield checkpointMatches(req.filter, cp) ? { cursor: cp.seq, checkpoint: maskCp(cp, ctx, req.readMask) } : { cursor: cp.seq };
    }
  } finally {
    off();
  }
}
