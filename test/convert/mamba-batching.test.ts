/**
 * The recurrent engine's continuous batching keeps every job's bytes (src/engine/recurrent-batch.ts):
 * 16 seeded jobs (different prompts, lengths, samplers, seeds, max_tokens, logprobs; some stop at
 * EOS) on a converted random Mamba model, run one after another and all at once, give identical
 * tokens, text and log-probabilities — dense (f32, f16) and MatMulNBits (q8, q4) variants.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { convertCheckpoint } from "../../src/convert/index.ts";
import { loadTextEngine } from "../../src/engine/engine.ts";
import type { DType, GenerateRequest, GenerationResult, TextEngine } from "../../src/engine/types.ts";
import { MAMBA_CONFIG, randomMamba, writeMambaCheckpoint } from "../support/mamba-checkpoint.ts";

const EOS_BOOST = 4;

setDefaultTimeout(120_000);
const STARTS = ["once upon a time", "the cat", "a dog ran to the park and", "sun", "one day a big red ball", "they saw", "the", "a girl liked to play"];

function jobs(): GenerateRequest[] {
  return Array.from({ length: 16 }, (_, i) => ({
    prompt: STARTS[i % STARTS.length]! + (i >= 8 ? " and" : ""),
    params: {
      maxTokens: i % 4 === 0 ? 60 : 8 + ((i * 7) % 23),
      temperature: i % 5 === 0 ? 0 : 0.6 + (i % 4) * 0.2,
      topK: i % 3 === 0 ? 0 : 20 + i,
      topP: i % 4 === 1 ? 0.9 : 1,
      repeatPenalty: i % 6 === 2 ? 1.1 : 1,
      repeatLastN: 64,
      seed: BigInt(1000 + i * 7919),
    },
    logprobs: i % 4 === 3 ? 2 : undefined,
  }));
}

const digest = (r: GenerationResult, lp: number[]) => ({ text: r.text, tokens: r.tokens, finish: r.finishReason, n: r.outputTokens, lp });

async function run(e: TextEngine, j: GenerateRequest) {
  const lp: number[] = [];
  const r = await e.generate(j, (c) => { if (c.logprob) lp.push(c.logprob.logprob, ...c.logprob.top.map((t) => t.logprob)); });
  return digest(r, lp);
}

let root: string, dir: string;
const engines: TextEngine[] = [];
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "atoma-mamba-batch-"));
  const config = { ...MAMBA_CONFIG, hidden_size: 96, intermediate_size: 192 };
  const tensors = randomMamba(config, 21, "BF16");
  // A longer EOS embedding row (tied head): its logit swings wider, so some jobs stop at EOS.
  const embed = tensors.get("backbone.embeddings.weight")!.data;
  for (let i = 2 * 96; i < 3 * 96; i++) embed[i] = embed[i]! * EOS_BOOST;
  writeMambaCheckpoint(join(root, "hf"), config, { dtype: "BF16", tensors });
  dir = join(root, "onnx-model");
  await convertCheckpoint({ src: join(root, "hf"), out: dir, dtypes: ["fp32", "fp16", "q8", "q4"] });
});
afterAll(async () => {
  for (const e of engines) await e.dispose();
  rmSync(root, { recursive: true, force: true });
});

describe("16 seeded Mamba jobs: alone = all together", () => {
  for (const dtype of ["f32", "f16", "q8", "q4"] as DType[]) {
    test(dtype, async () => {
      const e = await loadTextEngine({ id: `mamba-b-${dtype}`, dir, device: "cpu", dtype, threads: 1 });
      engines.push(e);
      const alone = [];
      for (const j of jobs()) alone.push(await run(e, j));
      const stats = () => (e as unknown as { batchStats: { steps: number; rows: number; maxRows: number } }).batchStats;
      const before = stats();
      expect(before.maxRows).toBe(1);
      const together = await Promise.all(jobs().map((j) => run(e, j)));
      expect(together).toEqual(alone);
      const after = stats();
      expect(after.maxRows).toBeGreaterThan(1);
      expect((after.rows - before.rows) / (after.steps - before.steps)).toBeGreaterThan(1.2);
      expect(alone.some((a) => a.finish === "eos")).toBe(true);
      console.log(`mamba ${dtype}: ${alone.filter((a) => a.finish === "eos").length} of 16 jobs stopped at EOS; ${alone.reduce((n, a) => n + a.n, 0)} tokens; mean batch ${((after.rows - before.rows) / (after.steps - before.steps)).toFixed(1)} rows`);
    });
  }
  test("a consumer that stops early and an aborted job leave the others' bytes unchanged", async () => {
    const e = await loadTextEngine({ id: "mamba-b-abort", dir, device: "cpu", dtype: "f32", threads: 1 });
    engines.push(e);
    const js = jobs().slice(0, 6);
    const alone = [];
    for (const j of js) alone.push(await run(e, j));
    const ctl = new AbortController();
    const early = (async () => { let n = 0; for await (const _ of e.stream(js[1]!)) if (++n === 3) break; })();
    const results = await Promise.all(js.map((j, i) => (i === 1 ? early.then(() => null) : i === 2 ? run(e, { ...j, signal: ctl.signal }) : run(e, j))));
    ctl.abort();
    for (const i of [0, 3, 4, 5]) expect(results[i]).toEqual(alone[i]!);
  });
});
