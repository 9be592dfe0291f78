// Fused graphs return each step's new keys/values (STEP_KV), and the batched loop then keeps the
// KV cache in buffers of its own instead of fetching `present.*` every step (src/engine/batching.ts,
// docs/performance.md "Throughput"). The bytes must not depend on which of the two the loop does:
// the same 16 seeded jobs (sampled and greedy, log-probabilities exposing any last-bit logit
// difference, some long enough to grow the cache past 64, 128 and 256 slots) decoded together
// through the loop keeping its own cache and through the same session with STEP_KV hidden (so the
// loop feeds `present.*` back as before) give identical results, for f32, f16 and q4 (q4 with an
// idle second row, the layout a non-invariant quantised graph uses).
import { beforeAll, expect, test } from "bun:test";
import type { DecoderSession } from "../../src/engine/batching.ts";
import { STEP_KV } from "../../src/engine/kv-batch.ts";
import { loadModelDir } from "../../src/engine/loader.ts";
import type { DType, GenerateRequest } from "../../src/engine/types.ts";
import { decodeTogether, withoutStepOutput } from "../support/own-cache.ts";
import { ensureStories260k } from "../support/models.ts";

const TIMEOUT = 120_000;
const STARTS = ["Once upon a time", "Tom had a", "The little dog ran to the park and", "Lily", "One day, a big red ball", "Sam and his mom went to the store. They saw"];
const jobs = (): GenerateRequest[] =>
  Array.from({ length: 16 }, (_, i) => ({
    prompt: STARTS[i % STARTS.length]!,
    params: {
      maxTokens: i % 4 === 0 ? 290 : 10 + ((i * 11) % 70),
      temperature: i % 5 === 0 ? 0 : 0.7 + (i % 3) * 0.2,
      topK: i % 3 === 0 ? 0 : 30,
      topP: 1,
      repeatPenalty: 1,
      repeatLastN: 64,
      seed: BigInt(77 + i * 104729),
    },
    logprobs: 2,
  }));

let dir: string;
beforeAll(async () => {
  dir = await ensureStories260k({ dtypes: ["fp32", "fp16", "q4"], form: "fused" });
}, TIMEOUT);

const decodeAll = (session: DecoderSession, m: Awaited<ReturnType<typeof loadModelDir>>, minRows: number) => decodeTogether(session, m, jobs(), { maxBatch: 16, minRows });

for (const [dtype, minRows] of [["f32", 1], ["f16", 1], ["q4", 2]] as [DType, number][]) {
  test(`${dtype}: the loop keeping its own cache = feeding present.* back, bit for bit`, async () => {
    const m = await loadModelDir({ id: `own-${dtype}`, dir, device: "cpu", dtype, threads: 1 });
    const s = m.session!;
    expect(s.outputNames).toContain(STEP_KV);
    const hidden = withoutStepOutput(s);
    const own = await decodeAll(s, m, minRows);
    const fed = await decodeAll(hidden, m, minRows);
    expect(own.map((r) => r.tokens.length).some((n) => n > 260)).toBe(true);
    expect(own).toEqual(fed);
    s.release();
  }, TIMEOUT);
}
