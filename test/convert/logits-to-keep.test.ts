// `num_logits_to_keep` (src/convert/lm-head.ts): the converted decoder graphs compute logits for the
// last N positions only (0 = all, the value transformers.js feeds in a plain forward call), and the
// engine feeds 1. What a user checks:
//  - N = 1 gives the last row of N = 0 bit for bit, N = 3 the last three, N > S all of them, in both
//    graph forms, dense and quantised (the lm_head then runs at 1 row instead of S);
//  - a folder converted before the input existed (the input turned back into a constant 0, so the
//    graph returns every position again) still loads into the batched loop and gives the same
//    bytes as the new graph, for seeded jobs alone and together.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { loadTextEngine } from "../../src/engine/engine.ts";
import type { DType, GenerateRequest, TextEngine } from "../../src/engine/types.ts";
import type { GraphForm } from "../../src/convert/ops.ts";
import { preKeepFolder } from "../support/pre-keep-folder.ts";
import { randomLlama, writeRandomLlamaDir } from "../support/random-llama.ts";

const TIMEOUT = 120_000;
const V = 1200;
const weights = randomLlama({ hiddenSize: 64, intermediateSize: 128, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 16, vocabSize: V, tied: false, maxPositions: 256 }, 1313);
const FILES: Record<string, string> = { f32: "model.onnx", q4: "model_q4.onnx" };
const dirs: Partial<Record<GraphForm, { now: string; old: string }>> = {};
const engines: TextEngine[] = [];

beforeAll(async () => {
  for (const form of ["standard", "fused"] as GraphForm[]) {
    const now = await writeRandomLlamaDir(weights, ["fp32", "q4"], form);
    dirs[form] = { now, old: preKeepFolder(now) };
  }
}, TIMEOUT);
afterAll(async () => {
  for (const e of engines) await e.dispose();
});

const i64 = (v: number[], d: number[]) => new ort.Tensor("int64", BigInt64Array.from(v.map(BigInt)), d);

/** One prefill of `ids` (batch 1) with `keep`, or without the input when null; logits dims and bytes. */
async function prefill(s: ort.InferenceSession, ids: number[], keep: number | null): Promise<{ dims: readonly number[]; data: Float32Array }> {
  const feeds: Record<string, ort.Tensor> = { input_ids: i64(ids, [1, ids.length]), attention_mask: i64(ids.map(() => 1), [1, ids.length]), position_ids: i64(ids.map((_, i) => i), [1, ids.length]) };
  for (const n of s.inputNames) if (n.startsWith("past_key_values.")) feeds[n] = new ort.Tensor("float32", new Float32Array(0), [1, 2, 0, 16]);
  if (keep !== null) feeds.num_logits_to_keep = i64([keep], []);
  const r = await s.run(feeds);
  return { dims: r.logits!.dims, data: r.logits!.data as Float32Array };
}

describe("num_logits_to_keep", () => {
  for (const form of ["standard", "fused"] as GraphForm[]) {
    for (const dtype of ["f32", "q4"]) {
      test(`${form} ${dtype}: N = 1 is the last row of N = 0, bit for bit; N = 3 the last three; N > S all`, async () => {
        const s = await ort.InferenceSession.create(join(dirs[form]!.now, "onnx", FILES[dtype]!), { executionProviders: ["cpu"], intraOpNumThreads: 1 });
        expect(s.inputNames).toContain("num_logits_to_keep");
        const ids = Array.from({ length: 37 }, (_, i) => 3 + ((i * 97) % (V - 3)));
        const all = await prefill(s, ids, 0);
        expect(all.dims).toEqual([1, 37, V]);
        const one = await prefill(s, ids, 1);
        expect(one.dims).toEqual([1, 1, V]);
        expect(Buffer.from(one.data.buffer, one.data.byteOffset, one.data.byteLength).equals(Buffer.from(all.data.buffer, all.data.byteOffset + 36 * V * 4, V * 4))).toBe(true);
        const three = await prefill(s, ids, 3);
        expect(three.dims).toEqual([1, 3, V]);
        expect(Array.from(three.data)).toEqual(Array.from(all.data.subarray(34 * V)));
        expect((await prefill(s, ids, 1000)).dims).toEqual([1, 37, V]);
        // The old graph (constant 0) returns every position, as before the input existed.
        const old = await ort.InferenceSession.create(join(dirs[form]!.old, "onnx", FILES[dtype]!), { executionProviders: ["cpu"], intraOpNumThreads: 1 });
        expect(old.inputNames).not.toContain("num_logits_to_keep");
        expect(Array.from((await prefill(old, ids, null)).data)).toEqual(Array.from(all.data));
        await s.release();
        await old.release();
      }, TIMEOUT);
    }
  }
});

const jobs = (): GenerateRequest[] =>
  Array.from({ length: 6 }, (_, i) => ({
    prompt: "",
    prePromptTokens: Array.from({ length: [1, 9, 40, 9, 17, 40][i]! }, (_, k) => 3 + ((i * 131 + k * 37) % (V - 3))),
    params: { maxTokens: 5 + i, temperature: i % 3 === 0 ? 0 : 0.9, topK: 40, topP: 0.95, repeatPenalty: 1, repeatLastN: 64, seed: BigInt(5 + i) },
    logprobs: 2,
  }));

async function run(e: TextEngine, j: GenerateRequest) {
  const lp: number[] = [];
  const r = await e.generate(j, (c) => {
    if (c.logprob) lp.push(c.logprob.logprob, ...c.logprob.top.map((t) => t.logprob));
  });
  return { tokens: r.tokens, lp };
}

describe("a folder converted before num_logits_to_keep", () => {
  for (const form of ["standard", "fused"] as GraphForm[]) {
    for (const dtype of ["f32", "q4"] as DType[]) {
      test(`${form} ${dtype}: batched, and the same bytes as the new graph alone and together`, async () => {
        const results = [];
        for (const which of ["now", "old"] as const) {
          const e = await loadTextEngine({ id: `keep-${form}-${dtype}-${which}`, dir: dirs[form]![which], device: "cpu", dtype, threads: 1 });
          engines.push(e);
          expect((e as unknown as { batchStats: unknown }).batchStats).not.toBeNull();
          const alone = [];
          for (const j of jobs()) alone.push(await run(e, j));
          const together = await Promise.all(jobs().map((j) => run(e, j)));
          expect(together).toEqual(alone);
          results.push(alone);
        }
        expect(results[1]).toEqual(results[0]);
      }, TIMEOUT);
    }
  }
});
