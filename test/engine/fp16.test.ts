// A generated random fp16 Llama (32k vocabulary, external data): fp16 KV cache through
// onnxruntime-node under Bun (the Float16Array pitfall, runtime-notes §5) and bf16 → fp16 fallback.
// Random weights: plumbing checks only, never output quality.
import { afterAll, describe, expect, test } from "bun:test";
import { loadTextEngine } from "../../src/engine/engine.ts";
import { fromFloat16Bits as halfToFloat } from "../../src/engine/models/float16.ts";
import type { SamplingParams } from "../../src/engine/types.ts";
import { cleanupTempDirs, tinyFp16Dir } from "./fixtures.ts";

/** Model loads and child processes on a loaded 2-core machine: well above bun's 5 s default. */
const TIMEOUT = 60000;

const P = (o: Partial<SamplingParams> = {}): SamplingParams => ({
  maxTokens: 12, temperature: 0, topK: 0, topP: 1, repeatPenalty: 1, repeatLastN: 64, seed: 0n, ...o,
});

afterAll(cleanupTempDirs);

describe("fp16 random Llama (generated fixture)", () => {
  test("f16 greedy equals transformers.js generate(); bf16 falls back to the fp16 file", async () => {
    const dir = await tinyFp16Dir();
    const e = await loadTextEngine({ id: "tiny", dir, device: "cpu", dtype: "f16" });
    expect(e.info).toMatchObject({ loadedDtype: "fp16", vocabSize: 32000, contextLength: 2048 });
    const r = await e.generate({ prompt: "Hello world", params: P() });
    expect(r.outputTokens + r.inputTokens).toBe(r.tokens.length);

    const { AutoModelForCausalLM, AutoTokenizer } = await import("@huggingface/transformers");
    const tok = await AutoTokenizer.from_pretrained(dir, { local_files_only: true });
    const model = await AutoModelForCausalLM.from_pretrained(dir, { local_files_only: true, dtype: "fp16", device: "cpu" });
    const ref = (await model.generate({ inputs: tok("Hello world").input_ids, max_new_tokens: 12, do_sample: false })) as { tolist(): bigint[][] };
    const refTokens = ref.tolist()[0]!.map(Number);
    // Compared in full: a shorter (even empty) output must not pass as a prefix of the reference.
    // The random model never emits EOS here, so both run the whole max_new_tokens.
    expect({ input: r.inputTokens, output: r.outputTokens, total: refTokens.length }).toEqual({ input: refTokens.length - 12, output: 12, total: r.tokens.length });
    expect(r.tokens).toEqual(refTokens);
    await model.dispose();

    const bf = await loadTextEngine({ id: "tiny-bf16", dir, device: "cpu", dtype: "bf16" });
    expect(bf.info.loadedDtype).toBe("fp16");
    expect((await bf.generate({ prompt: "Hello world", params: P() })).tokens).toEqual(r.tokens);
    await bf.dispose();
    await e.dispose();
  }, TIMEOUT);

  test("fp16 sampling with a 32k vocabulary is seed-deterministic and streams multi-byte text intact", async () => {
    const e = await loadTextEngine({ id: "tiny", dir: await tinyFp16Dir(), device: "cpu", dtype: "f16" });
    const params = P({ temperature: 1, topK: 100, topP: 0.9, repeatPenalty: 1.3, seed: 12345678901234567890n, maxTokens: 40 });
    const pieces: string[] = [];
    const a = await e.generate({ prompt: "Grüße, 世界", params }, (c) => pieces.push(c.text));
    const b = await e.generate({ prompt: "Grüße, 世界", params });
    expect(a.tokens).toEqual(b.tokens);
    expect(pieces.join("")).toBe(a.text);
    // No piece may end inside a character: a lone surrogate or a U+FFFD that the full text lacks.
    for (const p of pieces) expect(/[\uD800-\uDBFF]$/.test(p)).toBe(false);
    expect(pieces.join("").split("\uFFFD").length).toBe(a.text.split("\uFFFD").length);
    await e.dispose();
  }, TIMEOUT);
});

test("half-float bits widen exactly (fp16 logits where the runtime has no Float16Array)", () => {
  expect([0x3c00, 0xc000, 0x7bff, 0x0001, 0x3555, 0x0000, 0x8000].map(halfToFloat)).toEqual([1, -2, 65504, 2 ** -24, 0.333251953125, 0, -0]);
  expect(halfToFloat(0x7c00)).toBe(Infinity);
  expect(halfToFloat(0x7e00)).toBeNaN();
});
