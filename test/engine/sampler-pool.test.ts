// A decode step's sampling split over two threads (src/engine/sampler-pool.ts) makes every pick the
// loop's own thread would have made: the worker runs the same preparation (every sampling step but
// the PRNG draw) and each row's Sampler draws from what it left. Checked pick for pick on random
// logits for every kind of parameters, and with the worker stopped (the loop then samples
// everything itself), and end to end: 8 seeded jobs on a random Llama with a 16384-token
// vocabulary give the same tokens and log-probabilities alone and together, with rows really
// sampled on the worker.
import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { dirname } from "node:path";
import { loadTextEngine } from "../../src/engine/engine.ts";
import type { DecodeRow } from "../../src/engine/decode-row.ts";
import { POOL_WINDOW } from "../../src/engine/sampler-pool-layout.ts";
import { SamplerPool, type Prepared } from "../../src/engine/sampler-pool.ts";
import { Sampler } from "../../src/engine/sampler.ts";
import type { GenerateRequest, SamplingParams, TextEngine } from "../../src/engine/types.ts";
import { mulberry32, randomLlama, writeRandomLlamaDir } from "../support/random-llama.ts";

const TIMEOUT = 120_000;
const base: SamplingParams = { maxTokens: 1, temperature: 0.8, topK: 40, topP: 0.95, repeatPenalty: 1, repeatLastN: 64, seed: 1n };
/** One of each: top-k + top-p, top-k only, top-p only, no cut (every id), penalty, a penalty window too long to hand over, greedy, greedy with penalty. */
const KINDS: Partial<SamplingParams>[] = [
  {}, { topP: 1 }, { topK: 0, topP: 0.9 }, { topK: 0, topP: 1, temperature: 1.3 }, { repeatPenalty: 1.3, repeatLastN: 16 },
  { repeatPenalty: 1.1, repeatLastN: POOL_WINDOW + 50 }, { temperature: 0 }, { temperature: 0, repeatPenalty: 2, repeatLastN: 8 },
];

/** A row as far as the pool drives it: its parameters, its tokens, and accept() through its own Sampler. */
function row(p: SamplingParams, history: number[], vocab: number) {
  const s = new Sampler(p);
  const r = {
    req: { params: p },
    tokens: history,
    picks: [] as number[],
    accept(logits: ArrayLike<number>, prepared?: Prepared) {
      const t = prepared ? s.drawPrepared(prepared.kind, prepared.count, prepared.scratch) : s.next(logits, r.tokens);
      r.picks.push(t);
      r.tokens.push(t % vocab);
      return true;
    },
  };
  return r;
}

async function running(pool: SamplerPool): Promise<void> {
  for (let i = 0; i < 200 && !pool.running; i++) await Bun.sleep(10);
  expect(pool.running).toBe(true);
}

describe("pool picks = the loop's own picks", () => {
  for (const vocab of [9000, 32000]) {
    test(`vocabulary ${vocab}, 16 rows of 8 kinds, 30 steps`, async () => {
      const rnd = mulberry32(vocab);
      const params = (i: number): SamplingParams => ({ ...base, ...KINDS[i % KINDS.length]!, seed: BigInt(1 + i * 977) });
      const history = (i: number) => Array.from({ length: i % 2 ? 400 : 3 }, (_, k) => (k * 31 + i) % vocab);
      const inline = Array.from({ length: 16 }, (_, i) => row(params(i), history(i), vocab));
      const pooled = Array.from({ length: 16 }, (_, i) => row(params(i), history(i), vocab));
      const pool = new SamplerPool(8, vocab);
      await running(pool);
      for (let step = 0; step < 30; step++) {
        // Spread like real logits, with NaN and −∞ entries, and once a row that is −∞ everywhere.
        const logits = Array.from({ length: 16 }, (_, i) => Float32Array.from({ length: vocab }, (_, v) => (step === 3 && i === 5 ? -Infinity : v % 997 === 3 ? Number.NaN : v % 1013 === 7 ? -Infinity : (rnd() * 2 - 1) * (2 + (i % 4)))));
        inline.forEach((r, i) => r.accept(logits[i]!));
        expect(pool.acceptAll(pooled as unknown as DecodeRow[], (i) => logits[i]!)).toEqual(new Array(16).fill(true));
      }
      // Half of the 12 rows that sample (beyond an argmax) with a window short enough went to the worker.
      expect(pool.offloaded).toBe(30 * 6);
      pool.close();
      pooled.forEach((r, i) => expect(r.picks).toEqual(inline[i]!.picks));
    }, TIMEOUT);
  }

  test("once the worker stopped, the loop samples every row itself, picks unchanged", async () => {
    const vocab = 10000;
    const rnd = mulberry32(3);
    const logits = Array.from({ length: 8 }, () => Float32Array.from({ length: vocab }, () => rnd() * 4));
    const pool = new SamplerPool(4, vocab);
    await running(pool);
    const rows = Array.from({ length: 8 }, (_, i) => row({ ...base, seed: BigInt(i + 1) }, [1, 2], vocab));
    const again = Array.from({ length: 8 }, (_, i) => row({ ...base, seed: BigInt(i + 1) }, [1, 2], vocab));
    pool.acceptAll(rows as unknown as DecodeRow[], (i) => logits[i]!);
    expect(pool.offloaded).toBe(4);
    pool.close();
    expect(pool.running).toBe(false);
    pool.acceptAll(rows as unknown as DecodeRow[], (i) => logits[i]!);
    expect(pool.offloaded).toBe(4);
    for (const _ of [0, 1]) again.forEach((r, k) => r.accept(logits[k]!));
    rows.forEach((r, i) => expect(r.picks).toEqual(again[i]!.picks));
  });
});

const engines: TextEngine[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const e of engines) await e.dispose();
  for (const d of dirs) rmSync(dirname(d), { recursive: true, force: true });
});

test("8 seeded jobs on a 16384-token vocabulary: alone = together, with rows sampled on the worker", async () => {
  const w = randomLlama({ hiddenSize: 64, intermediateSize: 128, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 16, vocabSize: 16384, tied: true, maxPositions: 256 }, 5);
  const dir = await writeRandomLlamaDir(w, ["fp32"]);
  dirs.push(dir);
  const e = await loadTextEngine({ id: "pool", dir, device: "cpu", dtype: "f32", threads: 1 });
  engines.push(e);
  const jobs = (): GenerateRequest[] => Array.from({ length: 8 }, (_, i) => ({
    prompt: "",
    prePromptTokens: Array.from({ length: 3 + (i % 3) }, (_, k) => 300 + ((i * 131 + k * 17) % 16000)),
    params: { maxTokens: 48, temperature: 0.7 + (i % 3) * 0.2, topK: i % 2 ? 40 : 0, topP: i % 4 === 1 ? 1 : 0.95, repeatPenalty: i % 3 === 0 ? 1.2 : 1, repeatLastN: 32, seed: BigInt(11 + i) },
    logprobs: 2,
  }));
  const run = async (j: GenerateRequest) => {
    const lp: number[] = [];
    const r = await e.generate(j, (c) => void (c.logprob && lp.push(c.logprob.logprob, ...c.logprob.top.map((t) => t.logprob))));
    return { tokens: r.tokens, lp };
  };
  const alone = [];
  for (const j of jobs()) alone.push(await run(j));
  const stats = () => (e as unknown as { batchStats: { pooledRows: number } }).batchStats.pooledRows;
  // The first together run starts the worker (it starts asynchronously); the second has it from the first step.
  expect(await Promise.all(jobs().map(run))).toEqual(alone);
  await Bun.sleep(200);
  const before = stats();
  expect(await Promise.all(jobs().map(run))).toEqual(alone);
  expect(stats() - before).toBeGreaterThan(8 * 20);
}, TIMEOUT);

test("beside a two-thread session the loop samples every row itself (the worker gains nothing there)", async () => {
  const w = randomLlama({ hiddenSize: 64, intermediateSize: 128, numLayers: 1, numHeads: 4, numKvHeads: 2, headDim: 16, vocabSize: 16384, tied: true, maxPositions: 128 }, 6);
  const dir = await writeRandomLlamaDir(w, ["fp32"]);
  dirs.push(dir);
  const e = await loadTextEngine({ id: "pool2", dir, device: "cpu", dtype: "f32", threads: 2 });
  engines.push(e);
  const p = { maxTokens: 16, temperature: 0.9, topK: 40, topP: 0.95, repeatPenalty: 1, repeatLastN: 64 };
  await Promise.all(Array.from({ length: 8 }, (_, i) => e.generate({ prompt: "", prePromptTokens: [300 + i, 400], params: { ...p, seed: BigInt(i) } })));
  expect((e as unknown as { batchStats: { pooledRows: number; steps: number } }).batchStats).toMatchObject({ pooledRows: 0 });
}, TIMEOUT);
