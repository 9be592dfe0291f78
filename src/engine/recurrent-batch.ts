/**
 * Continuous batching for recurrent graphs (Mamba, src/convert/families/mamba.ts): inputs
 * `input_ids` [B, T] and state tensors `S` [B, …] with outputs `logits` and `present.S`. A row's
 * whole history is its state, so rows need no padding or length classes: a batch is its rows' states
 * stacked on axis 0, and joining or leaving copies state rows. What keeps a row's bytes equal to its
 * run alone (the rule batching.ts measured for the same kernels):
 *  - prefill runs one prompt at a time, from zero states, exactly as alone;
 *  - a decode step feeds each row its last token; every op of the graph either works per batch
 *    row (conv taps, the scan) or is a matrix product, which reduces identically at any row count
 *    for dense graphs; MatMulNBits (quantised) may use another kernel for one row than for several,
 *    so quantised steps run at least 2 rows (idle zero-state rows when alone) unless the load-time
 *    probe (invariance-probe.ts) found one row bit-identical to several on this machine.
 * Batches of at most maxBatch rows step in turn; rows never move between batches.
 */
import { oneLineError } from "../log/one-line.ts";
import type { DecodeRow } from "./decode-row.ts";
import type { DecoderSession } from "./batching.ts";
import { logitsRow } from "./generation.ts";
import { bytesOf, feedable, LOGITS_TO_KEEP, type OrtTensor, type TensorCtor } from "./kv-batch.ts";
import { engineLog } from "./log.ts";
import { EngineError } from "./types.ts";

/** One state input: name, element type and per-row dims (after the batch axis). */
export interface StateSpec {
  name: string;
  type: "float32" | "float16";
  dims: number[];
}

/**
 * The state inputs of a recurrent graph, or a reason it is not one: every input but input_ids
 * must be a float state with fixed per-row dims and a `present.` output of the same name.
 */
export function recurrentStates(session: DecoderSession): StateSpec[] | string {
  if (!session.inputNames.includes("input_ids") || !session.outputNames.includes("logits")) {
    return `needs input_ids → logits; has ${session.inputNames.join(", ")} → ${session.outputNames.join(", ")}`;
  }
  const states: StateSpec[] = [];
  for (const name of session.inputNames) {
    if (name === "input_ids" || name === LOGITS_TO_KEEP) continue;
    const meta = session.inputMetadata?.find((m) => m.name === name);
    const dims = meta?.shape?.slice(1) ?? [];
    if (!session.outputNames.includes(`present.${name}`)) return `input ${name} has no present.${name} output`;
    if ((meta?.type !== "float32" && meta?.type !== "float16") || dims.length === 0 || !dims.every((d) => typeof d === "number")) {
      return `input ${name} is not a float state with fixed per-row dims (${meta?.type} [${meta?.shape?.join(", ")}])`;
    }
    states.push({ name, type: meta.type, dims: dims as number[] });
  }
  return states.length ? states : "the graph has no state inputs";
}

export interface RecurrentOptions {
  maxBatch: number;
  /** 1 for dense graphs; for MatMulNBits graphs 1 or 2 as the load-time probe decided. */
  minRows: number;
}

interface Batch {
  rows: DecodeRow[];
  idle: number;
  /** One tensor per state, [rows + idle, …dims]. */
  states: OrtTensor[];
}

/** Where a member's state comes from: row `index` of these tensors. */
interface Member {
  row: DecodeRow;
  states: OrtTensor[];
  index: number;
}

export class RecurrentDecoder {
  private readonly pending: DecodeRow[] = [];
  private readonly batches: Batch[] = [];
  private running: Promise<void> | null = null;
  readonly stats = { steps: 0, rows: 0, maxRows: 0, idleRows: 0 };
  /** `num_logits_to_keep` = 1 where the graph has it (converted since it exists): a prefill needs its last position only. */
  private readonly keep: Record<string, OrtTensor>;

  constructor(
    private readonly session: DecoderSession,
    private readonly Tensor: TensorCtor,
    private readonly states: StateSpec[],
    private readonly opts: RecurrentOptions,
  ) {
    this.keep = session.inputNames.includes(LOGITS_TO_KEEP) ? { [LOGITS_TO_KEEP]: new Tensor("int64", BigInt64Array.of(1n), []) } : {};
  }

  submit(row: DecodeRow): void {
    this.pending.push(row);
    this.running ??= this.loop().finally(() => (this.running = null));
  }

  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async loop(): Promise<void> {
    while (this.pending.length || this.batches.length) {
      // Every waiting prompt is prefilled before the next step, so jobs arriving together decode together.
      const joined: Member[] = [];
      while (this.pending.length) {
        const m = await this.prefill(this.pending.shift()!);
        if (m) joined.push(m);
      }
      if (joined.length) this.place(joined);
      for (const b of [...this.batches]) await this.step(b);
    }
  }

  private rowBytes(s: StateSpec): number {
    return s.dims.reduce((a, b) => a * b, 1) * (s.type === "float16" ? 2 : 4);
  }

  /** [members + idle, …] tensors with each member's state row copied in; idle rows are zero. */
  private stack(members: Member[], idle: number): OrtTensor[] {
    return this.states.map((s, i) => {
      const per = this.rowBytes(s);
      const buf = new ArrayBuffer((members.length + idle) * per);
      const dst = new Uint8Array(buf);
      members.forEach((m, b) => {
        const src = bytesOf(m.states[i]!);
        dst.set(src.subarray(m.index * per, (m.index + 1) * per), b * per);
      });
      const data = s.type === "float16" ? new Uint16Array(buf) : new Float32Array(buf);
      return feedable(new this.Tensor(s.type, data, [members.length + idle, ...s.dims]));
    });
  }

  private async prefill(row: DecodeRow): Promise<Member | null> {
    if (row.shouldStop()) return null;
    const n = row.input.length;
    const feeds: Record<string, OrtTensor> = { input_ids: new this.Tensor("int64", BigInt64Array.from(row.input, BigInt), [1, n]), ...this.keep };
    this.stack([], 1).forEach((t, i) => (feeds[this.states[i]!.name] = t));
    let out: Record<string, OrtTensor>;
    try {
      out = await this.session.run(feeds);
    } catch (e) {
      row.fail(new EngineError(`inference failed at token 0: ${oneLineError(e)}`));
      return null;
    }
    if (row.shouldStop() || !row.accept(logitsRow(out.logits!, 0, out.logits!.dims[1]! - 1))) return null;
    return { row, states: this.presentOf(out), index: 0 };
  }

  private presentOf(out: Record<string, OrtTensor>): OrtTensor[] {
    return this.states.map((s) => feedable(out[`present.${s.name}`]!));
  }

  /** New rows fill batches with room, then start new ones. */
  private place(joined: Member[]): void {
    for (const b of this.batches) {
      const room = this.opts.maxBatch - b.rows.length;
      if (room <= 0 || joined.length === 0) continue;
      this.rebuild(b, [...this.members(b), ...joined.splice(0, room)]);
    }
    while (joined.length) {
      const b: Batch = { rows: [], idle: 0, states: [] };
      this.rebuild(b, joined.splice(0, this.opts.maxBatch));
      this.batches.push(b);
    }
  }

  private members(b: Batch): Member[] {
    return b.rows.map((row, index) => ({ row, states: b.states, index }));
  }

  private rebuild(b: Batch, members: Member[]): void {
    if (members.length === 0) {
      b.rows = [];
      this.batches.splice(this.batches.indexOf(b), 1);
      return;
    }
    b.idle = Math.max(0, this.opts.minRows - members.length);
    b.rows = members.map((m) => m.row);
    b.states = this.stack(members, b.idle);
  }

  private async step(b: Batch): Promise<void> {
    const live = this.members(b).filter((m) => !m.row.shouldStop());
    if (live.length !== b.rows.length) this.rebuild(b, live);
    if (b.rows.length === 0) return;
    const ids = [...b.rows.map((r) => r.last), ...new Array(b.idle).fill(0)];
    const feeds: Record<string, OrtTensor> = { input_ids: new this.Tensor("int64", BigInt64Array.from(ids, BigInt), [ids.length, 1]), ...this.keep };
    b.states.forEach((t, i) => (feeds[this.states[i]!.name] = t));
    let out: Record<string, OrtTensor>;
    try {
      out = await this.session.run(feeds);
    } catch (e) {
      engineLog.error(`recurrent decode step failed: ${oneLineError(e)}`);
      for (const r of b.rows) r.fail(new EngineError(`inference failed at token ${r.generated}: ${oneLineError(e)}`));
      this.rebuild(b, []);
      return;
    }
    this.stats.steps++;
    this.stats.rows += b.rows.length;
    this.stats.idleRows += b.idle;
    this.stats.maxRows = Math.max(this.stats.maxRows, b.rows.length);
    b.states = this.presentOf(out);
    // A row aborted while the step ran ends without the step's token (as if checked before it).
    const keep = this.members(b).filter((m, i) => !m.row.shouldStop() && m.row.accept(logitsRow(out.logits!, i, 0)));
    if (keep.length !== b.rows.length) this.rebuild(b, keep);
  }
}
