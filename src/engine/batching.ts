/**
 * Continuous batching with outputs that do not depend on the batch (docs/performance.md, "Batch
 * invariance"). Jobs of one model join and leave between decode steps; each keeps its own sampler,
 * seed, stop rule and max_tokens (decode-row.ts). What keeps a row's bytes equal to its run alone,
 * from the measurement on onnxruntime's CPU kernels:
 *  - prefill runs a prompt alone, or beside prompts of its length that arrived with it where that
 *    gives the same bytes (joint-prefill.ts; `jointPrefill`);
 *  - a decode batch only holds rows whose cache lengths are congruent mod PAD_QUANTUM, so every
 *    row's left padding is a multiple of it: the attention softmax reduces in 8-wide lanes, and a
 *    shift by a multiple of 8 slots leaves every partial sum as it was; masked slots add exact 0;
 *  - quantised graphs (MatMulNBits) may use another kernel for a single row than for two or more
 *    (CPU- and accuracy_level-dependent): a load-time probe (invariance-probe.ts) decides whether
 *    their decode steps run at least 2 rows (an idle, fully masked row when a job is alone) or may
 *    run 1; dense graphs reduce identically at any batch size.
 * Several batches (one per length class) step in turn; rows never move between them.
 * Fused graphs (GroupQueryAttention) keep each row left-aligned and reduce over exactly its own
 * cached length, whatever the batch's width: rows of any length share a batch (no length classes).
 */
import { oneLineError } from "../log/one-line.ts";
import type { DecodeRow } from "./decode-row.ts";
import { assemble, feedable, LOGITS_TO_KEEP, pastNames, STEP_KV, writeStep, type KvShape, type OrtTensor, type TensorCtor } from "./kv-batch.ts";
import { logitsRow } from "./generation.ts";
import { StepFeeds } from "./step-feeds.ts";
import { prefillFeeds, prefillGroups } from "./joint-prefill.ts";
import { POOL_MIN_ROWS, POOL_MIN_VOCAB, SamplerPool } from "./sampler-pool.ts";
import { engineLog } from "./log.ts";
import { EngineError } from "./types.ts";

/** Slot granularity of padding that keeps the softmax sums unchanged (measured; see header). */
export const PAD_QUANTUM = 8;
export const DEFAULT_MAX_BATCH = 8;
/** Smallest cache a batch keeps when the loop owns it (slots; grows by doubling). */
const MIN_CAPACITY = 64;
const yieldTurn = () => new Promise<void>((r) => setImmediate(r));

/** The ONNX session as far as the loop needs it. */
export interface DecoderSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** onnxruntime-node ≥ 1.22: declared input types and shapes. */
  readonly inputMetadata?: readonly { name: string; type?: string; shape?: readonly (number | string)[] }[];
  /** `fetches`: the outputs wanted (all when absent). */
  run(feeds: Record<string, OrtTensor>, fetches?: readonly string[]): Promise<Record<string, OrtTensor>>;
  /** The same call on the calling thread (native-session.ts); the loop then yields on its own. */
  runSync?(feeds: Record<string, OrtTensor>, fetches?: readonly string[]): Record<string, OrtTensor>;
}

export interface BatchOptions {
  maxBatch: number;
  /** 1 for dense graphs; for MatMulNBits graphs 1 or 2 as the load-time probe decided. */
  minRows: number;
  /** Fused (GroupQueryAttention) graph: left-aligned rows, no length classes (kv-batch.ts). */
  leftAligned?: boolean;
  /** Prompts of one length waiting together are prefilled in one run (joint-prefill.ts); else one at a time. */
  jointPrefill?: boolean;
  /** Steps with many sampled rows split their sampling with a worker thread (sampler-pool.ts). */
  samplingWorker?: boolean;
}

interface Batch {
  rows: DecodeRow[];
  /** Idle rows appended after the real ones (quantised graphs, fewer than minRows real rows). */
  idle: number;
  slots: number;
  kv: OrtTensor[];
}

/** Whether a graph has the inputs the batched loop drives (the converters' decoder contract). */
export function batchable(session: DecoderSession): boolean {
  const ins = new Set(session.inputNames);
  if (!["input_ids", "attention_mask", "position_ids", "past_key_values.0.key"].every((n) => ins.has(n)) || !session.outputNames.includes("logits")) return false;
  const layers = session.inputNames.filter((n) => /^past_key_values\.\d+\.key$/.test(n)).length;
  const meta = session.inputMetadata?.find((m) => m.name === "past_key_values.0.key");
  if (!meta || !["float32", "float16"].includes(meta.type ?? "") || typeof meta.shape?.[1] !== "number" || typeof meta.shape?.[3] !== "number") return false;
  // num_logits_to_keep: converted since it exists (lm-head.ts); older folders lack it.
  return session.inputNames.length === 3 + 2 * layers + (ins.has(LOGITS_TO_KEEP) ? 1 : 0) && pastNames(layers).every((n) => ins.has(n) && session.outputNames.includes(n.replace("past_key_values", "present")));
}

export class BatchDecoder {
  private readonly pending: DecodeRow[] = [];
  private readonly batches: Batch[] = [];
  /** Prefilled rows waiting for a batch of their length class (see placeParked): row `index` of `kv`. */
  private readonly parked: { row: DecodeRow; kv: OrtTensor[]; index: number; slots: number; waited: number }[] = [];
  private running: Promise<void> | null = null;
  private readonly shape: KvShape;
  private readonly layers: number;
  /** past_key_values.* input names and the present.* outputs fed back into them, in graph order. */
  private readonly pastIn: string[];
  private readonly presentOut: string[];
  private readonly feeds: StepFeeds;
  /**
   * Fused graph with a STEP_KV output: the loop keeps each batch's cache in buffers with room to
   * grow and writes every step's new slots itself, fetching only `logits` and STEP_KV, instead of
   * fetching the whole cache (`present.*`, copied into new JS buffers by onnxruntime-node) per step.
   */
  private readonly ownCache: boolean;
  private pool: SamplerPool | null = null;
  private readonly fetches: readonly string[] | undefined;
  /** `num_logits_to_keep` = 1 where the graph has it: prefill and steps need the last position's logits only. */
  private readonly keep: Record<string, OrtTensor>;

  constructor(
    private readonly session: DecoderSession,
    private readonly Tensor: TensorCtor,
    private readonly opts: BatchOptions,
  ) {
    this.layers = session.inputNames.filter((n) => /^past_key_values\.\d+\.key$/.test(n)).length;
    const meta = session.inputMetadata?.find((m) => m.name === "past_key_values.0.key");
    const [, kvHeads, , headDim] = meta?.shape ?? [];
    if (typeof kvHeads !== "number" || typeof headDim !== "number") throw new EngineError("the graph does not declare its KV-cache shape (past_key_values.0.key)");
    this.shape = { layers: this.layers, kvHeads, headDim, type: meta!.type === "float16" ? "float16" : "float32", leftAligned: opts.leftAligned === true };
    this.quantum = opts.leftAligned ? 1 : PAD_QUANTUM;
    this.pastIn = pastNames(this.layers);
    this.presentOut = this.pastIn.map((n) => n.replace("past_key_values", "present"));
    this.feeds = new StepFeeds(Tensor, opts.leftAligned === true);
    this.ownCache = opts.leftAligned === true && session.outputNames.includes(STEP_KV);
    this.fetches = this.ownCache ? ["logits", STEP_KV] : undefined;
    this.keep = session.inputNames.includes(LOGITS_TO_KEEP) ? { [LOGITS_TO_KEEP]: new Tensor("int64", BigInt64Array.of(1n), []) } : {};
  }

  /** Length classes: rows share a batch only when their cache lengths agree mod this. */
  private readonly quantum: number;

  /** Decode steps run and rows decoded in them (rows / steps = mean batch occupancy); prefill
   * runs and the prompts they held; rows whose sampling ran on the sampling worker. */
  readonly stats = { steps: 0, rows: 0, maxRows: 0, idleRows: 0, prefills: 0, prefillRows: 0, pooledRows: 0 };

  get active(): number {
    return this.pending.length + this.parked.length + this.batches.reduce((n, b) => n + b.rows.length, 0);
  }

  /** Queues a row; it is prefilled between two decode steps. */
  submit(row: DecodeRow): void {
    this.pending.push(row);
    this.running ??= this.loop().finally(() => (this.running = null));
  }

  /** Resolves when nothing is running. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async loop(): Promise<void> {
    // Start on a later turn, so every job submitted in the same turn is prefilled before the first step.
    await yieldTurn();
    while (this.pending.length || this.batches.length || this.parked.length) {
      // Every waiting prompt is prefilled before the next step, so jobs arriving together start
      // at the same cache length and share one batch.
      while (this.pending.length) {
        const waiting = this.pending.splice(0).filter((r) => !r.shouldStop());
        const groups = this.opts.jointPrefill ? prefillGroups(waiting, this.opts.maxBatch) : waiting.map((r) => [r]);
        for (const g of groups) await this.prefill(g);
      }
      this.placeParked();
      for (const b of [...this.batches]) await this.step(b);
      // Consumers read each step's tokens, and new requests and aborts arrive, in an event-loop
      // turn between steps: an async run() resolves from a setImmediate anyway; after a
      // synchronous one (runSync) the loop takes that turn here.
      if (this.session.runSync || (!this.batches.length && this.parked.length)) await yieldTurn();
    }
  }

  private run(feeds: Record<string, OrtTensor>): Record<string, OrtTensor> | Promise<Record<string, OrtTensor>> {
    return this.session.runSync ? this.session.runSync(feeds, this.fetches) : this.session.run(feeds, this.fetches);
  }

  /** Prefills `rows` (one length) in one run (one row: exactly the alone run) and parks them for a batch. */
  private async prefill(rows: DecodeRow[]): Promise<void> {
    const feeds: Record<string, OrtTensor> = { ...prefillFeeds(this.Tensor, rows.map((r) => r.input)), ...this.keep };
    for (const name of this.pastIn) feeds[name] = this.empty(rows.length);
    let out: Record<string, OrtTensor>;
    try {
      out = await this.run(feeds);
    } catch (e) {
      for (const r of rows) r.fail(new EngineError(`inference failed at token 0: ${oneLineError(e)}`));
      return;
    }
    this.stats.prefills++;
    this.stats.prefillRows += rows.length;
    const n = rows[0]!.input.length;
    const present = this.ownCache ? this.fromStep(out[STEP_KV]!, rows.length, n) : this.presentOut.map((p) => feedable(out[p]!));
    // The last position: n − 1 of every position's logits (older graphs), or the one kept.
    const last = out.logits!.dims[1]! - 1;
    rows.forEach((row, index) => {
      if (row.shouldStop() || !row.accept(logitsRow(out.logits!, index, last))) return;
      this.parked.push({ row, kv: present, index, slots: n, waited: 0 });
    });
    this.placeParked();
  }

  /** Cache tensors [B, kvHeads, n, headDim] of B prefilled rows from the prefill's STEP_KV output. */
  private fromStep(step: OrtTensor, B: number, n: number): OrtTensor[] {
    const s = this.shape;
    const size = B * s.kvHeads * n * s.headDim;
    const kv = this.pastIn.map(() => feedable(new this.Tensor(s.type, s.type === "float16" ? new Uint16Array(size) : new Float32Array(size), [B, s.kvHeads, n, s.headDim])));
    writeStep(s, kv, step, new Array(B).fill(0));
    return kv;
  }

  private empty(rows: number): OrtTensor {
    const s = this.shape;
    return feedable(new this.Tensor(s.type, s.type === "float16" ? new Uint16Array(0) : new Float32Array(0), [rows, s.kvHeads, 0, s.headDim]));
  }

  /**
   * Prefilled rows join a batch of their length class. When none has room but another batch does,
   * a row waits (parked, its cache kept) for that batch to reach its class — every batch advances
   * one slot per step, so at most PAD_QUANTUM − 1 steps — rather than decoding beside it in a batch
   * of its own; with no batch to wait for it starts one (rows prefilled together start one
   * together: the first starts it, the others find room in it).
   */
  private placeParked(): void {
    for (const p of [...this.parked]) {
      const drop = () => this.parked.splice(this.parked.indexOf(p), 1);
      if (p.row.shouldStop()) {
        drop();
        continue;
      }
      const cls = p.row.cached % this.quantum;
      const room = this.batches.filter((x) => x.rows.length < this.opts.maxBatch);
      const b = room.find((x) => x.slots % this.quantum === cls);
      const own = { row: p.row, src: { tensors: p.kv, index: p.index, slots: p.slots } };
      if (b) {
        drop();
        const members = b.rows.map((r, index) => ({ row: r, src: { tensors: b.kv, index, slots: b.slots } }));
        members.push(own);
        Object.assign(b, this.layout(members));
      } else if (room.length === 0 || p.waited++ >= this.quantum) {
        drop();
        this.batches.push(this.layout([own]));
      }
    }
  }

  /**
   * The tightest layout for these members (right-aligned: pads stay multiples of PAD_QUANTUM); a
   * cache the loop keeps itself gets room for later steps (capacity, a power of two).
   */
  private layout(members: { row: DecodeRow; src: { tensors: OrtTensor[]; index: number; slots: number } }[]): Batch {
    const slots = Math.max(...members.map((m) => m.row.cached));
    const idle = Math.max(0, this.opts.minRows - members.length);
    for (const m of members) m.row.pad = slots - m.row.cached;
    const capacity = this.ownCache ? Math.max(MIN_CAPACITY, 2 ** Math.ceil(Math.log2(slots + 1))) : slots;
    return { rows: members.map((m) => m.row), idle, slots, kv: assemble(this.Tensor, this.shape, members, idle, slots, capacity) };
  }

  private async step(b: Batch): Promise<void> {
    const live = b.rows.filter((r) => !r.shouldStop());
    if (live.length !== b.rows.length) this.regroup(b, live);
    if (b.rows.length === 0) return;
    // Own cache full: move the rows into a layout with twice the room (amortised, like an array).
    if (this.ownCache && b.slots + 1 > b.kv[0]!.dims[2]!) this.regroup(b, b.rows);
    const T = b.slots + 1;
    const feeds: Record<string, OrtTensor> = { ...this.feeds.build(b.rows, b.idle, b.slots), ...this.keep };
    for (let i = 0; i < this.pastIn.length; i++) feeds[this.pastIn[i]!] = b.kv[i]!;
    let out: Record<string, OrtTensor>;
    try {
      out = await this.run(feeds);
    } catch (e) {
      engineLog.error(`batched decode step failed: ${oneLineError(e)}`);
      for (const r of b.rows) r.fail(new EngineError(`inference failed at token ${r.generated}: ${oneLineError(e)}`));
      this.regroup(b, []);
      return;
    }
    this.stats.steps++;
    this.stats.rows += b.rows.length;
    this.stats.idleRows += b.idle;
    this.stats.maxRows = Math.max(this.stats.maxRows, b.rows.length);
    // The step's slot of each row is its cached count before the token is accepted.
    if (this.ownCache) writeStep(this.shape, b.kv, out[STEP_KV]!, b.rows.map((r) => r.cached));
    else b.kv = this.presentOut.map((p) => feedable(out[p]!));
    b.slots = T;
    // A row aborted while the step ran ends without the step's token (as if checked before it).
    const index = new Map(b.rows.map((r, i) => [r, i]));
    const alive = b.rows.filter((r) => !r.shouldStop());
    const rowLogits: ReturnType<typeof logitsRow>[] = [];
    const logitsOf = (k: number) => (rowLogits[k] ??= logitsRow(out.logits!, index.get(alive[k]!)!, 0));
    const pool = this.sampling(alive.length, out.logits!.dims[2]!);
    const pooled = pool?.offloaded ?? 0;
    const accepted = pool ? pool.acceptAll(alive, logitsOf) : alive.map((r, k) => r.accept(logitsOf(k)));
    if (pool) this.stats.pooledRows += pool.offloaded - pooled;
    const keep = alive.filter((_, k) => accepted[k]);
    if (keep.length !== b.rows.length) this.regroup(b, keep);
  }

  /** The sampling worker, started the first time a step has POOL_MIN_ROWS rows of a large vocabulary; null below that. */
  private sampling(rows: number, vocab: number): SamplerPool | null {
    if (!this.opts.samplingWorker || rows < POOL_MIN_ROWS || vocab < POOL_MIN_VOCAB) return null;
    if (this.pool?.vocab !== vocab) {
      this.pool?.close();
      this.pool = new SamplerPool(Math.ceil(this.opts.maxBatch / 2), vocab);
    }
    return this.pool;
  }

  /** Stops the sampling worker, if one started (the engine is unloading). */
  close(): void {
    this.pool?.close();
    this.pool = null;
  }

  /** Rows left: copy the rest into a tighter layout, or drop the batch. */
  private regroup(b: Batch, keep: DecodeRow[]): void {
    if (keep.length === 0) {
      b.rows = [];
      this.batches.splice(this.batches.indexOf(b), 1);
      return;
    }
    const members = keep.map((row) => ({ row, src: { tensors: b.kv, index: b.rows.indexOf(row), slots: b.slots } }));
    Object.assign(b, this.layout(members));
  }
}
