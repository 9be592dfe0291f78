// Continuous batching keeps every job's bytes: 16 seeded jobs (different prompts, lengths, samplers,
// seeds, max_tokens; some stop at EOS) run one after another and all at once give identical
// tokens and text, for every dtype the node offers on CPU (stories260K imported with all variants),
// in both graph forms (standard ops; fused GroupQueryAttention with left-aligned rows), and for the
// quantised dtypes at both MatMulNBits accuracy levels the converter writes: a lone job then
// decodes at the row count the load-time probe chose (src/engine/invariance-probe.ts).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { loadTextEngine } from "../../src/engine/engine.ts";
import type { DType, GenerateRequest, GenerationResult, TextEngine } from "../../src/engine/types.ts";
import type { AccuracyLevel, GraphForm } from "../../src/convert/ops.ts";
import { ensureStories260k } from "../support/models.ts";

const TIMEOUT = 120_000;
const STARTS = ["Once upon a time", "Tom had a", "The little dog ran to the park and", "Lily", "One day, a big red ball", "Sam and his mom went to the store. They saw", "The sun", "A girl named Sue liked to play with her toys every"];

function jobs(): GenerateRequest[] {
  return Array.from({ length: 16 }, (_, i) => ({
    prompt: STARTS[i % STARTS.length]! + (i >= 8 ? " and" : ""),
    params: {
      maxTokens: i % 4 === 0 ? 300 : 12 + ((i * 7) % 29),
      temperature: i % 5 === 0 ? 0 : 0.6 + (i % 4) * 0.2,
      topK: i % 3 === 0 ? 0 : 20 + i,
      topP: i % 4 === 1 ? 0.9 : 1,
      repeatPenalty: i % 6 === 2 ? 1.1 : 1,
      repeatLastN: 64,
      seed: BigInt(1000 + i * 7919),
    },
    // Log-probabilities come straight from the logits (f64), so they expose a last-bit logit
    // difference that would rarely flip a sampled token.
    logprobs: i % 4 === 3 ? 2 : 0,
  }));
}

const eosRuns: Record<GraphForm, number> = { standard: 0, fused: 0 };
const digest = (r: GenerationResult, lp: number[] = []) => ({ text: r.text, tokens: r.tokens, finish: r.finishReason, n: r.outputTokens, lp });

/** Runs a job, keeping every chunk's log-probability (and its top alternatives') bits. */
async function run(e: TextEngine, j: GenerateRequest) {
  const lp: number[] = [];
  const r = await e.generate(j, (c) => {
    if (c.logprob) lp.push(c.logprob.logprob, ...c.logprob.top.map((t) => t.logprob));
  });
  return digest(r, lp);
}

/** Model directories by graph form, and the standard form's q8/q4 at accuracy_level 0 ("level0"). */
const dirs: Partial<Record<GraphForm | "level0", string>> = {};
let dir: string;
const engines: TextEngine[] = [];
beforeAll(async () => {
  dir = dirs.standard = await ensureStories260k({ dtypes: "all", form: "standard" });
  dirs.fused = await ensureStories260k({ dtypes: "all", form: "fused" });
  dirs.level0 = await ensureStories260k({ dtypes: ["q8", "q4"], form: "standard", accuracyLevel: 0 });
}, TIMEOUT);
type Stats = { steps: number; rows: number; maxRows: number; idleRows: number };
afterAll(async () => {
  for (const e of engines) await e.dispose();
});

/** [form, dtype, accuracy_level of q8/q4]: every CPU dtype in both forms at the converter's default (4), and q8/q4 at 0. */
const CASES: [GraphForm, DType, AccuracyLevel][] = [
  ...(["standard", "fused"] as GraphForm[]).flatMap((form) => (["f32", "f16", "q8", "q4"] as DType[]).map((d): [GraphForm, DType, AccuracyLevel] => [form, d, 4])),
  ["standard", "q8", 0], ["standard", "q4", 0],
];

describe("16 seeded jobs: alone = all together", () => {
  for (const [form, dtype, level] of CASES) {
    const quantised = dtype.startsWith("q");
    test(`${form} ${dtype}${quantised ? `, accuracy_level ${level}` : ""}`, async () => {
      const e = await loadTextEngine({ id: `b-${form}-${dtype}-${level}`, dir: (level === 0 ? dirs.level0 : dirs[form])!, device: "cpu", dtype, threads: 1 });
      engines.push(e);
      const rows = e.info.decodeRows!;
      expect(rows.by).toBe(quantised ? "probe" : "dense");
      const alone: ReturnType<typeof digest>[] = [];
      for (const j of jobs()) alone.push(await run(e, j));
      const stats = () => (e as unknown as { batchStats: Stats }).batchStats;
      const before = stats();
      expect(before.maxRows).toBe(1);
      // A lone job ran exactly the rows the engine reports: idle rows only where min is 2.
      expect(before.idleRows).toBe(rows.min === 1 ? 0 : before.steps);
      const together = await Promise.all(jobs().map((j) => run(e, j)));
      expect(together).toEqual(alone);
      const after = stats();
      // Really batched: several rows per decode step on average.
      expect(after.maxRows).toBeGreaterThan(1);
      expect((after.rows - before.rows) / (after.steps - before.steps)).toBeGreaterThan(1.2);
      eosRuns[form] += alone.filter((a) => a.finish === "eos").length;
    }, TIMEOUT);
  }
  // Stopping at EOS inside a batch is exercised (seeded sampling picks which dtype's run gets there).
  test("some jobs of each form ended at EOS", () => expect(Math.min(eosRuns.standard, eosRuns.fused)).toBeGreaterThan(0));
});

describe("the load-time probe", () => {
  test("accuracy_level 0 (fp32 compute): one row differs from several, so a lone job decodes beside an idle row", async () => {
    // MLAS computes fp32-compute MatMulNBits at M = 1 with its own GEMV kernel and at M ≥ 2 by
    // dequantising B for SGEMM, on every CPU it dispatches for; the two sum in different orders.
    for (const dtype of ["q8", "q4"] as DType[]) {
      const e = await loadTextEngine({ id: `p0-${dtype}`, dir: dirs.level0!, device: "cpu", dtype, threads: 1 });
      engines.push(e);
      expect(e.info.decodeRows).toMatchObject({ by: "probe", invariant: false, min: 2 });
      expect(e.info.decodeRows!.detail).toMatch(/logit \d+: .* batched vs .* alone/);
    }
  }, TIMEOUT);

  test("accuracy_level 4 (int8 compute): the decision is reported and honoured by a lone job", async () => {
    const e = await loadTextEngine({ id: "p4-q4", dir: dirs.standard!, device: "cpu", dtype: "q4", threads: 1 });
    engines.push(e);
    const rows = e.info.decodeRows!;
    expect(rows.by).toBe("probe");
    expect(rows.min).toBe(rows.invariant ? 1 : 2);
    expect(rows.probeMs).toBeGreaterThan(0);
    if (!rows.invariant) console.log(`this CPU: int8-compute MatMulNBits is not batch-invariant (${rows.detail})`);
    const j = jobs()[3]!;
    const first = await run(e, j);
    const s = (e as unknown as { batchStats: Stats }).batchStats;
    expect(s.steps).toBeGreaterThan(0);
    expect(s.idleRows).toBe(rows.min === 1 ? 0 : s.steps);
    // Beside 7 other jobs the same bytes (logprobs included).
    const together = await Promise.all([j, ...jobs().slice(4, 11)].map((x) => run(e, x)));
    expect(together[0]).toEqual(first);
  }, TIMEOUT);
});

test("a job aborted or dropped mid-batch leaves the batch; the others keep their bytes", async () => {
  const e = await loadTextEngine({ id: "b-abort", dir, device: "cpu", dtype: "f32", threads: 1 });
  engines.push(e);
  const js = jobs().slice(0, 6).map((j) => ({ ...j, params: { ...j.params, maxTokens: 40 } }));
  const alone = [];
  for (const j of js) alone.push(digest(await e.generate(j)));
  const ac = new AbortController();
  let n = 0;
  const results = await Promise.all(
    js.map(async (j, i) => {
      if (i === 1) return digest(await e.generate({ ...j, signal: ac.signal }, () => void (++n === 3 && ac.abort())));
      if (i === 2) {
        // A consumer that stops reading after two pieces (a client that went away).
        const it = e.stream(j);
        await it.next();
        await it.next();
        await it.return(undefined as never);
        return null;
      }
      return digest(await e.generate(j));
    }),
  );
  expect(results[1]!.finish).toBe("aborted");
  expect(results[1]!.n).toBe(3);
  for (const i of [0, 3, 4, 5]) expect(results[i]).toEqual(alone[i]!);
  // The engine is free again and still deterministic.
  expect(digest(await e.generate(js[2]!))).toEqual(alone[2]!);
}, TIMEOUT);
