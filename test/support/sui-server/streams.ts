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

/** (checkpoint, transaction index, event index): the order events are listed in. */
type Pos = [bigint, number, number];

function readCursor(b: Uint8Array | undefined, what: string): Pos | undefined {
  if (!b || b.length === 0) return undefined;
  if (b.length !== 16) throw new GrpcError(Status.INVALID_ARGUMENT, `${what}: malformed cursor`);
  const v = new DataView(b.buffer, b.byteOffset, 16);
  return [v.getBigUint64(0, true), v.getUint32(8, true), v.getUint32(12, true)];
}

const cmp = (a: Pos, b: Pos) =>
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
  // Descending is how a node finds an old prompt event (spec §5.4): the interval and cursor bounds
  // mean the same as ascending, only the scan runs from the upper bound down; watermarks never
  // regress in that order, and a page's resume cursor is passed back as `before`.
  const descending = req.options?.ordering === Ordering.DESCENDING;
  const { start, end, bounded, limit } = range(ctx, req, true);
  const after = readCursor(req.options?.after, "options.after");
  const before = readCursor(req.options?.before, "options.before");
  // `skip`: the resume cursor (positions up to it were served); `stop`: the far cursor bound.
  const [skip, stop] = descending ? [before, after] : [after, before];
  const atOrAfter = (pos: Pos, bound: Pos) => cmp(pos, bound) >= 0;
  const atOrBefore = (pos: Pos, bound: Pos) => cmp(pos, bound) <= 0;
  const served = descending ? atOrAfter : atOrBefore;
  const pastStop = descending ? atOrBefore : atOrAfter;
  let scanned = 0;
  let items = 0;
  let last: Pos = skip ?? (descending ? [end, 0, 0] : [start, 0, 0]);
  for (const [pos, tx, ev] of eventPositions(ctx, start, end, descending)) {
    if (skip && served(pos, skip)) continue;
    if (stop && pastStop(pos, stop)) {
      yield { watermark: { cursor: cursorBytes(...last), checkpoint: last[0] }, end: { reason: QueryEndReason.CURSOR_BOUND } };
      return;
    }
    scanned += 1;
    last = pos;
    const wm = { cursor: cursorBytes(...pos), checkpoint: pos[0] };
    if (eventMatches(req.filter, tx, ev)) {
      items += 1;
      const done = items >= limit;
      yield { event: applyMask(GrpcTypes.Event, eventProto(ev, tx, pos[2]), req.readMask, null), watermark: wm, end: done ? { reason: QueryEndReason.ITEM_LIMIT } : undefined };
      if (done) return;
    }
    if (scanned >= ctx.faults.scanLimit) {
      yield { watermark: wm, end: { reason: QueryEndReason.SCAN_LIMIT } };
      return;
    }
  }
  if (descending) {
    // Scanned down to the lower checkpoint bound (requested start or the oldest retained checkpoint).
    const final: Pos = end > start ? [start, 0, 0] : last;
    yield { watermark: { cursor: cursorBytes(...final), checkpoint: final[0] }, end: { reason: QueryEndReason.CHECKPOINT_BOUND } };
    return;
  }
  // Everything up to `end` (exclusive) was scanned: resume point is the end of checkpoint end-1.
  const final: Pos = end > start ? [end - 1n, U32_MAX, U32_MAX] : last;
  yield { watermark: { cursor: cursorBytes(...final), checkpoint: final[0] }, end: { reason: bounded ? QueryEndReason.CHECKPOINT_BOUND : QueryEndReason.LEDGER_TIP } };
}

/** Every event of checkpoints [start, end) with its (checkpoint, tx index, event index) position,
 * oldest first or newest first. */
function* eventPositions(ctx: CallCtx, start: bigint, end: bigint, descending: boolean) {
  const n = Number(end - start);
  for (let k = 0; k < n; k++) {
    const seq = descending ? end - 1n - BigInt(k) : start + BigInt(k);
    const txs = ctx.ledger.checkpoint(seq)!.txs;
    for (let a = 0; a < txs.length; a++) {
      const t = descending ? txs.length - 1 - a : a;
      const tx = txs[t]!;
      for (let b = 0; b < tx.events.length; b++) {
        const e = descending ? tx.events.length - 1 - b : b;
        yield [[seq, t, e] as Pos, tx, tx.events[e]!] as const;
      }
    }
  }
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
