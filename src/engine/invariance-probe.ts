/**
 * Load-time check of the one batching rule that depends on the machine (docs/performance.md,
 * "Batch invariance"): does a quantised graph's decode step give a row the same logits bytes at one
 * row as beside others? ONNX Runtime's MatMulNBits picks its kernel by row count and by the CPU's
 * instruction set (AVX2, AVX-512 VNNI, NEON…), and whether its one-row kernel reduces exactly like
 * its several-row one depends on both and on the graph's accuracy_level. So instead of a constant,
 * each quantised model is probed once when it loads, through the real batching loop:
 *  - four fixed prompts (1, 9, 1 and 9 tokens: the 9-token rows share a batch with the 1-token ones
 *    at a left padding of 8 slots, the congruence case the loop builds) each decode alone, at one row;
 *  - then all four together: one step at four rows, one at three, one at two as rows finish; the
 *    loop prefills the two 1-token prompts in one run and the two 9-token ones in another (when
 *    it may: joint-prefill.ts);
 *  - every logits row (prefill and each step) must be bit-identical to the same row alone.
 * Identical → the batcher may decode a lone job at one row (min rows 1); any difference (or a
 * failure) → every step keeps at least two rows (an idle one when alone), as measured necessary.
 * Joint prefill is probed first, so every byte compared covers it too; when that run differs
 * anywhere, the probe runs again with one prefill per prompt, which decides the row count, and
 * joint prefill stays off for the model.
 * Cost: 8 prefills of ≤ 9 tokens and 12 decode steps — about 25 one-token decode steps (twice that
 * when the first run differs).
 */
import { DecodeRow } from "./decode-row.ts";
import type { ModelBasics } from "./loader.ts";
import { engineLog } from "./log.ts";
import type { LogitsRow } from "./sampler.ts";

export const QUANTISED_MIN_ROWS = 2;
/** Variants whose linear layers are MatMulNBits (kernel chosen by row count). */
const QUANTISED = new Set(["q8", "q4", "q4f16"]);

/** Where the minimum row count of a model's decode steps came from (ModelInfo.decodeRows). */
export interface DecodeRowsDecision {
  /** Fewest rows a decode step runs: 1, or 2 (an idle, fully masked row beside a lone job). */
  min: number;
  /** Prompts arriving together are prefilled in one run (dense graphs; quantised ones as probed). */
  jointPrefill: boolean;
  /** "dense": no MatMulNBits, 1 by construction; "max_batch 1": never two jobs in a step, so
   * one row is the only layout; "probe": measured at load. */
  by: "dense" | "max_batch 1" | "probe";
  /** Probe only: whether one row matched several bit for bit. */
  invariant?: boolean;
  /** Probe only: wall time of the probe. */
  probeMs?: number;
  /** Probe only: the first difference, or why the probe could not decide. */
  detail?: string;
  /** Probe only, when joint prefill is off: the first difference of the run that used it. */
  jointDetail?: string;
}

/** The part of a batching loop the probe drives (BatchDecoder, RecurrentDecoder). */
export interface ProbeTarget {
  submit(row: DecodeRow): void;
  idle(): Promise<void>;
}

/**
 * A row that keeps a copy of every logits row it is given and feeds back a fixed token instead of
 * sampling, so the probe's schedule (how many steps, which rows together) never depends on the
 * model's outputs (no EOS, no sampler).
 */
class ProbeRow extends DecodeRow {
  readonly seen: Float64Array[] = [];

  constructor(m: ModelBasics, ids: number[], steps: number, private readonly next: number) {
    super(m, { prompt: "", prePromptTokens: ids, params: { maxTokens: steps + 1, temperature: 0, topK: 0, topP: 1, repeatPenalty: 1, repeatLastN: 0, seed: 0n } });
  }

  override accept(row: LogitsRow): boolean {
    this.seen.push(Float64Array.from(row as ArrayLike<number>));
    this.tokens.push(this.next);
    this.generated++;
    return !this.shouldStop();
  }
}

/** Ids spread over the vocabulary (never 0, the idle rows' token), deterministic. */
function ids(vocab: number, n: number, salt: number): number[] {
  return Array.from({ length: n }, (_, i) => 1 + ((salt * 7919 + i * 104729) % Math.max(1, vocab - 1)));
}

function firstDifference(a: Float64Array[], b: Float64Array[]): string | null {
  if (a.length !== b.length) return `${b.length} logits rows instead of ${a.length}`;
  for (let s = 0; s < a.length; s++) {
    const x = a[s]!, y = b[s]!;
    if (x.length !== y.length) return `logits width ${y.length} instead of ${x.length}`;
    for (let i = 0; i < x.length; i++) {
      if (!Object.is(x[i], y[i])) return `${s === 0 ? "prefill" : `decode step ${s}`}, logit ${i}: ${y[i]} batched vs ${x[i]} alone`;
    }
  }
  return null;
}

/** A batching loop at `minRows`, prefilling prompts that arrive together in one run when `joint`. */
export type MakeTarget = (minRows: number, joint: boolean) => ProbeTarget;

/**
 * Runs the probe on `make(1, …)`, loops at min rows 1 used for nothing else (their stats are
 * thrown away with them): first with joint prefill (when `joint`), then, if that differs, without.
 * `m` supplies the tokenizer and context of the rows.
 */
export async function probeDecodeRows(make: MakeTarget, m: ModelBasics, joint = true): Promise<DecodeRowsDecision> {
  const t0 = performance.now();
  const first = joint ? await probeOnce(make, m, true) : null;
  const d = first?.invariant ? first : await probeOnce(make, m, false);
  return { ...d, probeMs: Math.round((performance.now() - t0) * 10) / 10, ...(first && !first.invariant ? { jointDetail: first.detail } : {}) };
}

async function probeOnce(make: MakeTarget, m: ModelBasics, joint: boolean): Promise<DecodeRowsDecision> {
  const vocab = m.vocabSize > 1 ? m.vocabSize : 2;
  // [prompt length, decode steps after prefill]; a 9-token row pads the 1-token ones by 8 slots.
  const plan: [number, number][] = [[1, 3], [9, 3], [1, 1], [9, 2]];
  const make1 = () => plan.map(([n, steps], k) => new ProbeRow(m, ids(vocab, n, k + 1), steps, ids(vocab, 1, k + 11)[0]!));
  const decide = (invariant: boolean, detail?: string): DecodeRowsDecision => ({
    min: invariant ? 1 : QUANTISED_MIN_ROWS, jointPrefill: joint && invariant, by: "probe", invariant, ...(detail ? { detail } : {}),
  });
  try {
    const loop = make(1, joint);
    const alone = make1();
    for (const r of alone) {
      loop.submit(r);
      await loop.idle();
    }
    const together = make1();
    for (const r of together) loop.submit(r);
    await loop.idle();
    for (const r of [...alone, ...together]) if (r.error) return decide(false, `probe run failed: ${String((r.error as Error)?.message ?? r.error)}`);
    for (let k = 0; k < plan.length; k++) {
      const d = firstDifference(alone[k]!.seen, together[k]!.seen);
      if (d) return decide(false, `row ${k + 1} of ${plan.length}: ${d}`);
    }
    return decide(true);
  } catch (e) {
    return decide(false, `probe run failed: ${(e as Error)?.message ?? String(e)}`);
  }
}

/** One line for logs and `doctor`: how many rows a lone job's decode step runs, and why. */
export function describeDecodeRows(d: DecodeRowsDecision): string {
  const prefill = d.jointPrefill ? "prompts arriving together prefill in one run" : "prompts prefill one at a time";
  if (d.by !== "probe") return `a lone job decodes at 1 row (${d.by === "dense" ? "dense graph" : "max_batch 1"}); ${prefill}`;
  const rows = d.invariant
    ? `a lone job decodes at 1 row (probe: 1 row = 2, 3 and 4 rows bit for bit, ${d.probeMs} ms)`
    : `a lone job decodes at ${d.min} rows, one idle (probe: 1 row ≠ several rows — ${d.detail}; ${d.probeMs} ms)`;
  return `${rows}; ${prefill}${d.jointDetail ? ` (joint prefill differed: ${d.jointDetail})` : ""}`;
}

/**
 * Dense graphs decode a lone job at one row; quantised ones as the probe decides (logged once).
 * `canJoin`: the loop can prefill prompts together (BatchDecoder; not the recurrent loop).
 */
export async function decodeRowsFor(m: ModelBasics, id: string, maxBatch: number, make: MakeTarget, canJoin = true): Promise<DecodeRowsDecision> {
  if (!QUANTISED.has(m.loadedDtype)) return { min: 1, jointPrefill: canJoin && maxBatch > 1, by: "dense" };
  if (maxBatch === 1) return { min: 1, jointPrefill: false, by: "max_batch 1" };
  const rows = await probeDecodeRows(make, m, canJoin);
  engineLog.info(`model ${id} (${m.loadedDtype}): ${describeDecodeRows(rows)}`);
  return rows;
}
