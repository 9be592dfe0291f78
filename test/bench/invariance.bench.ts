/**
 * `bun test/bench/invariance.bench.ts [--threads 1,2] [--steps 8] [--graph standard|fused] [--accuracy-level 0|4]`
 *
 * Batch invariance of the converter's decoder graphs through onnxruntime-node on this machine: for
 * each dtype the node offers on CPU (f32, f16, q8, q4), a random Llama is written with the product
 * writer and every row's logits are compared BIT FOR BIT with the same row run alone, across a
 * prefill and `--steps` decode steps, for
 *   - batch 1, 2, 4, 8 of equal-length prompts (no padding),
 *   - batch 1 with k extra left-pad slots (attention_mask 0) — padding alone, no other rows,
 *   - batch 4 of different-length prompts, left padded,
 *   - batch 4 of different-length prompts, right padded (the gap stays masked during decode).
 * Prints one table row per dtype and thread count: "yes" or the number of differing rows / first
 * differing step. This is a measurement, not a test; the batching test asserts what the engine does.
 * `--graph fused` measures the fused form (GroupQueryAttention): its rows are left-aligned (padding
 * after a row's tokens, as the engine lays them out), so the left-padding columns read "n/a".
 */
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { loadOrtNode } from "../../src/engine/runtime/ort-native.ts";
import { defaultAccuracyLevel, VARIANT_FILES, type AccuracyLevel, type GraphForm, type Variant } from "../../src/convert/ops.ts";
import { randomLlama, writeRandomLlamaDir } from "../support/random-llama.ts";

const { values: a } = parseArgs({ options: { threads: { type: "string", default: "1,2" }, steps: { type: "string", default: "8" }, hidden: { type: "string", default: "256" }, graph: { type: "string", default: "standard" }, "accuracy-level": { type: "string" } } });
const FORM = a.graph as GraphForm;
const FUSED = FORM === "fused";
// MatMulNBits accuracy_level of the q8/q4 graphs (converter default when not given).
const level = a["accuracy-level"] === undefined ? undefined : (Number(a["accuracy-level"]) as AccuracyLevel);
const STEPS = Number(a.steps);
const D = Number(a.hidden);
const shape = { hiddenSize: D, intermediateSize: Math.round((D * 8) / 3), numLayers: 4, numHeads: D / 64, numKvHeads: Math.max(1, D / 128), headDim: 64, vocabSize: 2048, tied: false, maxPositions: 256 };
const ort = await loadOrtNode();
const variants: [string, Variant][] = [["f32", "fp32"], ["f16", "fp16"], ["q8", "q8"], ["q4", "q4"]];
const dir = await writeRandomLlamaDir(randomLlama(shape, 7), variants.map((v) => v[1]), FORM, level === undefined ? {} : { accuracyLevel: level });

type Sess = Awaited<ReturnType<typeof ort.InferenceSession.create>>;
const KVH = shape.numKvHeads, HD = shape.headDim, L = shape.numLayers, V = shape.vocabSize;

/** One row's request: its tokens and where they sit in the batch (pad slots before / after). */
interface RowPlan { tokens: number[]; padLeft: number; padRight: number }

/** Runs prefill + STEPS forced decode steps (row r feeds `forced[r]`); returns per-row logits bytes per step. */
async function runBatch(s: Sess, half: boolean, rows: RowPlan[], forced: number[][]): Promise<Uint8Array[][]> {
  const B = rows.length;
  const S = rows[0]!.padLeft + rows[0]!.tokens.length + rows[0]!.padRight;
  const ids = new BigInt64Array(B * S), mask = new BigInt64Array(B * S), pos = new BigInt64Array(B * S);
  rows.forEach((r, b) => {
    r.tokens.forEach((t, j) => {
      ids[b * S + r.padLeft + j] = BigInt(t);
      mask[b * S + r.padLeft + j] = 1n;
      pos[b * S + r.padLeft + j] = BigInt(j);
    });
  });
  const T = half ? "float16" : "float32";
  const empty = () => new ort.Tensor(T, half ? new Uint16Array(0) : new Float32Array(0), [B, KVH, 0, HD]);
  let feeds: Record<string, unknown> = {
    input_ids: new ort.Tensor("int64", ids, [B, S]),
    attention_mask: new ort.Tensor("int64", mask, [B, S]),
    position_ids: new ort.Tensor("int64", pos, [B, S]),
    ...(s.inputNames.includes("num_logits_to_keep") ? { num_logits_to_keep: new ort.Tensor("int64", BigInt64Array.of(0n), []) } : {}),
  };
  for (let l = 0; l < L; l++) {
    feeds[`past_key_values.${l}.key`] = empty();
    feeds[`past_key_values.${l}.value`] = empty();
  }
  const out: Uint8Array[][] = rows.map(() => []);
  let maskAll = Array.from(mask);
  let seq = S;
  for (let step = 0; step <= STEPS; step++) {
    const res = await s.run(feeds as never);
    const logits = res.logits!;
    const data = logits.data as unknown as { buffer: ArrayBuffer; byteOffset: number; BYTES_PER_ELEMENT: number };
    const bpe = data.BYTES_PER_ELEMENT;
    rows.forEach((r, b) => {
      const at = step === 0 ? r.padLeft + r.tokens.length - 1 : 0;
      const off = data.byteOffset + ((b * seq + at) * V) * bpe;
      out[b]!.push(new Uint8Array(data.buffer.slice(off, off + V * bpe)));
    });
    if (step === STEPS) break;
    // Next step: one token per row, the mask grows by one real slot per row.
    const total = maskAll.length / B + 1;
    const nm = new BigInt64Array(B * total);
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < total - 1; j++) nm[b * total + j] = BigInt(maskAll[b * (total - 1) + j]!);
      nm[b * total + total - 1] = 1n;
    }
    maskAll = Array.from(nm);
    const next: Record<string, unknown> = {
      input_ids: new ort.Tensor("int64", BigInt64Array.from(rows.map((_, b) => BigInt(forced[b]![step]!))), [B, 1]),
      attention_mask: new ort.Tensor("int64", nm, [B, total]),
      position_ids: new ort.Tensor("int64", BigInt64Array.from(rows.map((r) => BigInt(r.tokens.length + step))), [B, 1]),
      ...(s.inputNames.includes("num_logits_to_keep") ? { num_logits_to_keep: new ort.Tensor("int64", BigInt64Array.of(0n), []) } : {}),
    };
    for (let l = 0; l < L; l++) {
      next[`past_key_values.${l}.key`] = rawBits(res[`present.${l}.key`]);
      next[`past_key_values.${l}.value`] = rawBits(res[`present.${l}.value`]);
    }
    feeds = next;
    seq = 1;
  }
  return out;
}

/** onnxruntime-node cannot read a Float16Array back (runtime-notes §5): hand it the raw bits. */
function rawBits<T>(t: T): T {
  const o = t as unknown as { cpuData?: { buffer: ArrayBuffer; byteOffset: number; length: number } };
  const d = o.cpuData;
  if (d && typeof Float16Array !== "undefined" && d instanceof Float16Array) o.cpuData = new Uint16Array(d.buffer, d.byteOffset, d.length) as never;
  return t;
}

const eq = (x: Uint8Array, y: Uint8Array) => x.length === y.length && x.every((v, i) => v === y[i]);

/** "yes" when every row equals its alone run at every step, else "no (rows r, first step s)". */
function verdict(got: Uint8Array[][], ref: Uint8Array[][]): string {
  let bad = 0;
  let first = Infinity;
  got.forEach((row, b) => {
    const k = row.findIndex((x, s) => !eq(x, ref[b]![s]!));
    if (k >= 0) {
      bad++;
      first = Math.min(first, k);
    }
  });
  return bad === 0 ? "yes" : `no (${bad}/${got.length} rows, from ${first === 0 ? "prefill" : `step ${first}`})`;
}

const rnd = (n: number, seed: number) => Array.from({ length: n }, (_, i) => 3 + ((seed * 7919 + i * 104729) % (V - 3)));
const prompts = Array.from({ length: 8 }, (_, i) => rnd(12, i + 1));
const ragged = [5, 12, 9, 17].map((n, i) => rnd(n, i + 11));
const congruent = [5, 13, 29, 21].map((n, i) => rnd(n, i + 21));
const forced = Array.from({ length: 8 }, (_, i) => rnd(STEPS, i + 31));

const header = "| dtype | threads | batch 2 | batch 4 | batch 8 | batch 4 vs 2 | batch 8 vs 2 | left pad 1 / 3 / 8 / 16 / 17 / 24 (batch 1) | ragged batch 4, left padded | ragged batch 4, right padded | batch 4, lengths ≡ mod 8, left padded |";
const lines = [header, "|---|---|---|---|---|---|---|---|---|---|---|"];
for (const threads of a.threads!.split(",").map(Number)) {
  for (const [dtype, variant] of variants) {
    const s = await ort.InferenceSession.create(join(dir, "onnx", VARIANT_FILES[variant]), { intraOpNumThreads: threads, interOpNumThreads: 1 });
    const half = variant === "fp16";
    const alone = async (tokens: number[], f: number[]) => (await runBatch(s, half, [{ tokens, padLeft: 0, padRight: 0 }], [f]))[0]!;
    const refEq: Uint8Array[][] = [];
    for (let i = 0; i < 8; i++) refEq.push(await alone(prompts[i]!, forced[i]!));
    const cells: string[] = [];
    for (const B of [2, 4, 8]) {
      const rows = prompts.slice(0, B).map((tokens) => ({ tokens, padLeft: 0, padRight: 0 }));
      cells.push(verdict(await runBatch(s, half, rows, forced), refEq.slice(0, B)));
    }
    // Reference with one idle companion row (a fixed minimum batch of 2), against batch 4 and 8.
    const dummy = { tokens: rnd(12, 99), padLeft: 0, padRight: 0 };
    const ref2: Uint8Array[][] = [];
    for (let i = 0; i < 8; i++) ref2.push((await runBatch(s, half, [{ tokens: prompts[i]!, padLeft: 0, padRight: 0 }, dummy], [forced[i]!, forced[7]!]))[0]!);
    for (const B of [4, 8]) {
      const rows = prompts.slice(0, B).map((tokens) => ({ tokens, padLeft: 0, padRight: 0 }));
      cells.push(verdict(await runBatch(s, half, rows, forced), ref2.slice(0, B)));
    }
    const pads: string[] = [];
    if (FUSED) pads.push("n/a");
    else for (const p of [1, 3, 8, 16, 17, 24]) pads.push(verdict(await runBatch(s, half, [{ tokens: prompts[0]!, padLeft: p, padRight: 0 }], forced), refEq.slice(0, 1)));
    cells.push(pads.every((x) => x === "yes") ? "yes" : pads.join(" / "));
    const refR: Uint8Array[][] = [];
    for (let i = 0; i < 4; i++) refR.push(await alone(ragged[i]!, forced[i]!));
    const max = Math.max(...ragged.map((r) => r.length));
    cells.push(FUSED ? "n/a" : verdict(await runBatch(s, half, ragged.map((tokens) => ({ tokens, padLeft: max - tokens.length, padRight: 0 })), forced), refR));
    cells.push(verdict(await runBatch(s, half, ragged.map((tokens) => ({ tokens, padLeft: 0, padRight: max - tokens.length })), forced), refR));
    // Lengths congruent mod 8: every left pad is a multiple of 8.
    const refC: Uint8Array[][] = [];
    for (let i = 0; i < 4; i++) refC.push(await alone(congruent[i]!, forced[i]!));
    const maxC = Math.max(...congruent.map((r) => r.length));
    cells.push(FUSED ? "n/a" : verdict(await runBatch(s, half, congruent.map((tokens) => ({ tokens, padLeft: maxC - tokens.length, padRight: 0 })), forced), refC));
    lines.push(`| ${dtype} | ${threads} | ${cells.join(" | ")} |`);
    console.log(lines[lines.length - 1]);
    await s.release();
  }
}
console.log(`\n${FORM} graph form, random Llama ${D}×${L} layers, ${shape.numHeads} heads / ${KVH} KV heads, vocab ${V}; prefill + ${STEPS} decode steps; q8/q4 MatMulNBits accuracy_level ${level ?? defaultAccuracyLevel("q4")}; onnxruntime-node ${ort.env.versions?.common ?? ""}`);
console.log(lines.join("\n"));
rmSync(dirname(dir), { recursive: true, force: true });
