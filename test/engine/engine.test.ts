import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { loadTextEngine } from "../../src/engine/engine.ts";
import type { SamplingParams, TextEngine } from "../../src/engine/types.ts";
import { ensureStories260k } from "../support/models.ts";
import { cleanupTempDirs } from "./fixtures.ts";

/** Model loads and child processes on a loaded 2-core machine: well above bun's 5 s default. */
const TIMEOUT = 60000;

const P = (o: Partial<SamplingParams> = {}): SamplingParams => ({
  maxTokens: 48, temperature: 0, topK: 0, topP: 1, repeatPenalty: 1, repeatLastN: 64, seed: 0n, ...o,
});
const PROMPT = "Once upon a time";

let dir: string;
let engine: TextEngine;
beforeAll(async () => {
  dir = await ensureStories260k();
  engine = await loadTextEngine({ id: "stories260k", dir, device: "cpu", dtype: "f32" });
}, TIMEOUT);
afterAll(async () => {
  await engine?.dispose();
  cleanupTempDirs();
});

describe("engine on stories260K (cpu, f32)", () => {
  test("info describes the loaded model", () => {
    expect(engine.info).toMatchObject({ id: "stories260k", device: "cpu", dtype: "f32", loadedDtype: "fp32", modelType: "llama", contextLength: 512, vocabSize: 512 });
  });

  test("greedy continues the prompt coherently; counts follow the contract", async () => {
    const r = await engine.generate({ prompt: PROMPT, params: P() });
    expect(r.text.startsWith(", there was a little girl named Lily")).toBe(true);
    expect(r.inputTokens).toBe(r.tokens.length - r.outputTokens);
    expect(r.tokens[0]).toBe(1); // BOS from the tokenizer's special tokens
    expect(r.outputTokens).toBe(48);
    expect(r.finishReason).toBe("length");
    expect(r.truncatedTokens).toBe(0);
    expect(r.timeToFirstTokenMs).toBeGreaterThan(0);
    expect(r.tokensPerSecond).toBeGreaterThan(0);
  }, TIMEOUT);

  test("greedy equals transformers.js generate() token for token", async () => {
    const { AutoModelForCausalLM, AutoTokenizer } = await import("@huggingface/transformers");
    const tok = await AutoTokenizer.from_pretrained(dir, { local_files_only: true });
    const model = await AutoModelForCausalLM.from_pretrained(dir, { local_files_only: true, dtype: "fp32", device: "cpu" });
    const ids = tok(PROMPT).input_ids;
    const out = (await model.generate({ inputs: ids, max_new_tokens: 48, do_sample: false })) as { tolist(): bigint[][] };
    const ours = await engine.generate({ prompt: PROMPT, params: P() });
    expect(ours.tokens).toEqual(out.tolist()[0]!.map(Number).filter((t) => t !== 2));
    await model.dispose();
  }, TIMEOUT);

  test("seeded sampling: same seed ⇒ identical, other seed ⇒ different", async () => {
    const a = await engine.generate({ prompt: PROMPT, params: P({ temperature: 0.8, seed: 7n }) });
    const b = await engine.generate({ prompt: PROMPT, params: P({ temperature: 0.8, seed: 7n }) });
    const c = await engine.generate({ prompt: PROMPT, params: P({ temperature: 0.8, seed: 8n }) });
    expect(a.text).toBe(b.text);
    expect(a.tokens).toEqual(b.tokens);
    expect(c.text).not.toBe(a.text);
  }, TIMEOUT);

  test("streamed pieces (onChunk and stream()) concatenate to the final text", async () => {
    const params = P({ temperature: 0.9, topK: 40, topP: 0.95, repeatPenalty: 1.1, seed: 3n, maxTokens: 80 });
    const pieces: string[] = [];
    const r = await engine.generate({ prompt: PROMPT, params }, (c) => pieces.push(c.text));
    expect(pieces.join("")).toBe(r.text);
    expect(pieces.length).toBeGreaterThanOrEqual(r.outputTokens);
    const it = engine.stream({ prompt: PROMPT, params });
    const streamed: string[] = [];
    let next = await it.next();
    while (!next.done) {
      streamed.push(next.value.text);
      next = await it.next();
    }
    expect(streamed.join("")).toBe(r.text);
    expect(next.value.tokens).toEqual(r.tokens);
  }, TIMEOUT);

  test("pre_prompt_tokens are prepended and counted", async () => {
    const plain = await engine.generate({ prompt: PROMPT, params: P({ maxTokens: 4 }) });
    const pre = [1, 300, 301];
    const r = await engine.generate({ prompt: PROMPT, prePromptTokens: pre, params: P({ maxTokens: 4 }) });
    expect(r.tokens.slice(0, 3)).toEqual(pre);
    expect(r.inputTokens).toBe(plain.inputTokens + 3);
  }, TIMEOUT);

  test("a prompt longer than the context is left-truncated and reported", async () => {
    const long = "the cat sat on the mat. ".repeat(120);
    const r = await engine.generate({ prompt: long, params: P({ maxTokens: 5 }) });
    expect(r.truncatedTokens).toBeGreaterThan(0);
    expect(r.inputTokens).toBe(511);
    expect(r.outputTokens).toBe(1); // max_tokens clamped to what is left of the 512-token context
  }, TIMEOUT);

  test("huge max_tokens is clamped to the context", async () => {
    const r = await engine.generate({ prompt: PROMPT, params: P({ maxTokens: Number.MAX_SAFE_INTEGER, temperature: 1, seed: 1n }) });
    expect(r.inputTokens + r.outputTokens).toBeLessThanOrEqual(512);
  }, TIMEOUT);

  test("stops at EOS (generation_config array form) without counting or printing it", async () => {
    // llama2.c stories end with BOS (id 1), its sequence delimiter; the importer declares [2, 1].
    const r = await engine.generate({ prompt: PROMPT, params: P({ maxTokens: 300, temperature: 0.8, seed: 3n }) });
    expect(r.finishReason).toBe("eos");
    expect(r.tokens.slice(r.inputTokens).some((t) => t === 1 || t === 2)).toBe(false);
    expect(r.tokens.length).toBe(r.inputTokens + r.outputTokens);
  }, TIMEOUT);

  test("an aborted signal stops generation with finishReason aborted", async () => {
    const ac = new AbortController();
    let n = 0;
    const r = await engine.generate({ prompt: PROMPT, params: P({ maxTokens: 100 }), signal: ac.signal }, () => {
      if (++n === 3) ac.abort();
    });
    expect(r.finishReason).toBe("aborted");
    expect(r.outputTokens).toBe(3);
  }, TIMEOUT);

  test("concurrent requests are served one at a time with the same results as sequential ones", async () => {
    const reqs = [1n, 2n, 3n].map((seed) => ({ prompt: PROMPT, params: P({ temperature: 0.8, seed, maxTokens: 24 }) }));
    const together = await Promise.all(reqs.map((r) => engine.generate(r)));
    for (const [i, r] of reqs.entries()) expect((await engine.generate(r)).text).toBe(together[i]!.text);
  }, TIMEOUT);

  test("wasm cannot join a process already running onnxruntime-node", async () => {
    const err = await loadTextEngine({ id: "w", dir, device: "wasm", dtype: "f32" }).then(() => null, (e: unknown) => e);
    expect((err as Error).message).toContain("start a separate process");
  }, TIMEOUT);

  test("q4 variant and bf16 fallback load; thread count does not change sampled output", async () => {
    const q4 = await loadTextEngine({ id: "s-q4", dir, device: "cpu", dtype: "q4" });
    expect(q4.info.loadedDtype).toBe("q4");
    expect((await q4.generate({ prompt: PROMPT, params: P({ maxTokens: 8 }) })).outputTokens).toBe(8);
    await q4.dispose();
    const bf16 = await loadTextEngine({ id: "s-bf16", dir, device: "cpu", dtype: "bf16", threads: 1 });
    expect(bf16.info.loadedDtype).toBe("fp32"); // no fp16 file in this import → fp32
    const params = P({ temperature: 0.8, seed: 99n, maxTokens: 64 });
    const one = await bf16.generate({ prompt: PROMPT, params });
    const two = await engine.generate({ prompt: PROMPT, params });
    expect(one.text).toBe(two.text);
    await bf16.dispose();
  }, TIMEOUT);
});
