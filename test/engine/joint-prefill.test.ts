// Prompts of one length that arrive together are prefilled in one run (src/engine/joint-prefill.ts),
// and each job's bytes stay those of its run alone: 16 seeded jobs whose prompts have lengths where
// kernels tile rows differently (1, 2, 8, 9, 16, 17, 33 tokens, two or three jobs per length), for
// every CPU dtype in both graph forms, at one and two intra-op threads.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { loadTextEngine } from "../../src/engine/engine.ts";
import { JOINT_PREFILL_TOKENS, prefillGroups } from "../../src/engine/joint-prefill.ts";
import type { DType, GenerateRequest, TextEngine } from "../../src/engine/types.ts";
import type { GraphForm } from "../../src/convert/ops.ts";
import { ensureStories260k } from "../support/models.ts";

const TIMEOUT = 120_000;
const LENGTHS = [1, 17, 2, 33, 9, 1, 16, 17, 8, 33, 2, 9, 16, 17, 8, 1];

function jobs(): GenerateRequest[] {
  return LENGTHS.map((n, i) => ({
    prompt: "",
    prePromptTokens: Array.from({ length: n }, (_, k) => 3 + ((i * 131 + k * 37) % 500)),
    params: { maxTokens: 6 + (i % 5), temperature: i % 4 === 0 ? 0 : 0.9, topK: i % 3 === 0 ? 0 : 40, topP: i % 2 ? 0.95 : 1, repeatPenalty: 1, repeatLastN: 64, seed: BigInt(77 + i) },
    // Log-probabilities expose a last-bit difference in the prefill's logits.
    logprobs: 2,
  }));
}

async function run(e: TextEngine, j: GenerateRequest) {
  const lp: number[] = [];
  const r = await e.generate(j, (c) => {
    if (c.logprob) lp.push(c.logprob.logprob, ...c.logprob.top.map((t) => t.logprob));
  });
  return { tokens: r.tokens, text: r.text, lp };
}

const dirs: Partial<Record<GraphForm, string>> = {};
const engines: TextEngine[] = [];
beforeAll(async () => {
  dirs.standard = await ensureStories260k({ dtypes: "all", form: "standard" });
  dirs.fused = await ensureStories260k({ dtypes: "all", form: "fused" });
}, TIMEOUT);
afterAll(async () => {
  for (const e of engines) await e.dispose();
});

type Stats = { prefills: number; prefillRows: number };

describe("prompts of one length prefilled together = each alone", () => {
  for (const form of ["standard", "fused"] as GraphForm[]) {
    for (const dtype of ["f32", "f16", "q8", "q4"] as DType[]) {
      for (const threads of [1, 2]) {
        test(`${form} ${dtype}, ${threads} intra-op thread(s)`, async () => {
          const e = await loadTextEngine({ id: `jp-${form}-${dtype}-${threads}`, dir: dirs[form]!, device: "cpu", dtype, threads });
          engines.push(e);
          const rows = e.info.decodeRows!;
          // Dense graphs by construction; quantised ones as the load-time probe found on this CPU.
          if (!dtype.startsWith("q")) expect(rows.jointPrefill).toBe(true);
          const alone = [];
          for (const j of jobs()) alone.push(await run(e, j));
          const stats = () => ({ ...(e as unknown as { batchStats: Stats }).batchStats });
          const before = stats();
          const together = await Promise.all(jobs().map((j) => run(e, j)));
          expect(together).toEqual(alone);
          const after = stats();
          const runs = after.prefills - before.prefills;
          expect(after.prefillRows - before.prefillRows).toBe(16);
          // 7 distinct lengths → 7 runs when joint prefill is on (16 when off).
          expect(runs).toBe(rows.jointPrefill ? new Set(LENGTHS).size : 16);
        }, TIMEOUT);
      }
    }
  }
});

test("groups: one length per run, at most maxRows rows and JOINT_PREFILL_TOKENS tokens, arrival order kept", () => {
  const r = (n: number, id: number) => ({ input: new Array(n).fill(id) as number[], id });
  const rows = [r(3, 0), r(5, 1), r(3, 2), r(3, 3), r(5, 4), r(3, 5), r(200, 6), r(200, 7)];
  const ids = (gs: { id: number }[][]) => gs.map((g) => g.map((x) => x.id));
  expect(ids(prefillGroups(rows, 3))).toEqual([[0, 2, 3], [5], [1, 4], [6], [7]]);
  expect(ids(prefillGroups(rows, 8))).toEqual([[0, 2, 3, 5], [1, 4], [6], [7]]);
  expect(2 * 200).toBeGreaterThan(JOINT_PREFILL_TOKENS);
  expect(ids(prefillGroups([], 8))).toEqual([]);
});
