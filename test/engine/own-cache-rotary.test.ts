// Fused graphs whose rotary runs inside GroupQueryAttention (head_dim a multiple of 16, as most
// real models) return each step's keys/values too, gathered from `present.*` at the slots GQA
// wrote (src/convert/attention-gqa.ts), so the batched loop keeps their KV cache itself instead of
// fetching the whole cache every step. The bytes must not depend on which of the two the loop
// does: 12 seeded jobs of different prompt lengths (sampled and greedy, log-probabilities on, some
// growing the cache past 64 and 128 slots) decoded together through the loop keeping its own cache
// and through the same session with the step output hidden (present.* fed back) give identical
// results, for f32, f16 and q4 on a random Llama with head_dim 32.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { dirname } from "node:path";
import type { DecoderSession } from "../../src/engine/batching.ts";
import { STEP_KV } from "../../src/engine/kv-batch.ts";
import { loadModelDir } from "../../src/engine/loader.ts";
import type { DType, GenerateRequest } from "../../src/engine/types.ts";
import { decodeTogether, withoutStepOutput } from "../support/own-cache.ts";
import { randomLlama, writeRandomLlamaDir } from "../support/random-llama.ts";

const TIMEOUT = 120_000;
const jobs = (): GenerateRequest[] =>
  Array.from({ length: 12 }, (_, i) => ({
    prompt: "",
    prePromptTokens: Array.from({ length: 1 + ((i * 5) % 17) }, (_, k) => 3 + ((i * 131 + k * 37) % 2000)),
    params: { maxTokens: i % 4 === 0 ? 150 : 10 + ((i * 11) % 50), temperature: i % 5 === 0 ? 0 : 0.8, topK: i % 3 === 0 ? 0 : 30, topP: 1, repeatPenalty: 1, repeatLastN: 64, seed: BigInt(5 + i * 7919) },
    logprobs: 2,
  }));

let dir: string;
beforeAll(async () => {
  const w = randomLlama({ hiddenSize: 64, intermediateSize: 128, numLayers: 2, numHeads: 2, numKvHeads: 1, headDim: 32, vocabSize: 2048, tied: true, maxPositions: 256 }, 9);
  dir = await writeRandomLlamaDir(w, ["fp32", "fp16", "q4"], "fused");
}, TIMEOUT);
afterAll(() => rmSync(dirname(dir), { recursive: true, force: true }));

const decodeAll = (session: DecoderSession, m: Awaited<ReturnType<typeof loadModelDir>>, minRows: number) => decodeTogether(session, m, jobs(), { maxBatch: 12, minRows, jointPrefill: true });

for (const [dtype, minRows] of [["f32", 1], ["f16", 1], ["q4", 2]] as [DType, number][]) {
  test(`${dtype}: rotary inside GQA, the loop keeping its own cache = feeding present.* back, bit for bit`, async () => {
    const m = await loadModelDir({ id: `own-rot-${dtype}`, dir, device: "cpu", dtype, threads: 1 });
    const s = m.session!;
    expect(s.outputNames).toContain(STEP_KV);
    const hidden = withoutStepOutput(s);
    const own = await decodeAll(s, m, minRows);
    const fed = await decodeAll(hidden, m, minRows);
    expect(own.map((r) => r.tokens.length).some((n) => n > 140)).toBe(true);
    expect(own).toEqual(fed);
    s.release();
  }, TIMEOUT);
}
