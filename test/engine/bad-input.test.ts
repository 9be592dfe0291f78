import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadTextEngine } from "../../src/engine/engine.ts";
import { promptText } from "../../src/protocol/msgpack.ts";
import { EngineError, type DType, type Device, type SamplingParams, type TextEngine } from "../../src/engine/types.ts";
import { ensureStories260k } from "../support/models.ts";
import { cleanupTempDirs, copyDir, tempDir } from "./fixtures.ts";

/** Model loads and child processes on a loaded 2-core machine: well above bun's 5 s default. */
const TIMEOUT = 60000;

const P = (o: Partial<SamplingParams> = {}): SamplingParams => ({
  maxTokens: 4, temperature: 0, topK: 0, topP: 1, repeatPenalty: 1, repeatLastN: 64, seed: 0n, ...o,
});

let dir: string;
let engine: TextEngine;
beforeAll(async () => {
  dir = await ensureStories260k();
  engine = await loadTextEngine({ id: "s", dir, device: "cpu", dtype: "f32" });
}, TIMEOUT);
afterAll(async () => {
  await engine?.dispose();
  cleanupTempDirs();
});

/** Loading must reject with a one-line EngineError containing `fragment`. */
async function loadFails(opts: { dir: string; device?: string; dtype?: string }, fragment: string) {
  const p = loadTextEngine({ id: "x", dir: opts.dir, device: (opts.device ?? "cpu") as Device, dtype: (opts.dtype ?? "f32") as DType });
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(EngineError);
  const msg = (err as Error).message;
  expect(msg).toContain(fragment);
  expect(msg.includes("\n")).toBe(false);
}

describe("bad model directories", () => {
  test("missing directory", () => loadFails({ dir: "/nonexistent/model" }, "does not exist"));
  test("missing config.json", async () => {
    const d = copyDir(dir);
    rmSync(join(d, "config.json"));
    await loadFails({ dir: d }, "missing config.json");
  }, TIMEOUT);
  test("corrupt config.json", async () => {
    const d = copyDir(dir);
    writeFileSync(join(d, "config.json"), "{ not json");
    await loadFails({ dir: d }, "config.json is not valid JSON");
  }, TIMEOUT);
  test("config.json without model_type", async () => {
    const d = copyDir(dir);
    writeFileSync(join(d, "config.json"), JSON.stringify({ hidden_size: 64 }));
    await loadFails({ dir: d }, 'no "model_type"');
  }, TIMEOUT);
  test("missing tokenizer.json", async () => {
    const d = copyDir(dir);
    rmSync(join(d, "tokenizer.json"));
    await loadFails({ dir: d }, "missing tokenizer.json");
  }, TIMEOUT);
  test("wrong layout: no onnx/ folder", async () => {
    const d = copyDir(dir);
    rmSync(join(d, "onnx"), { recursive: true });
    await loadFails({ dir: d }, "present: none");
  }, TIMEOUT);
  test("corrupt ONNX file", async () => {
    const d = copyDir(dir);
    writeFileSync(join(d, "onnx", "model.onnx"), "garbage, not a protobuf");
    await loadFails({ dir: d }, "cannot load");
  }, TIMEOUT);
  test("absent dtype variant names the file and lists the present ones", () =>
    loadFails({ dir, dtype: "f16" }, "onnx/model_fp16.onnx is missing (present: onnx/model.onnx, onnx/model_q4.onnx)"));
  test("unknown dtype", () => loadFails({ dir, dtype: "int3" }, 'unknown dtype "int3"'));
  test("unknown device", () => loadFails({ dir, device: "tpu" }, 'unknown device "tpu"'));
  test("unavailable webgpu lists the available backends", () => loadFails({ dir, device: "webgpu" }, "available backends: cpu"));
  test("an empty directory", async () => {
    const d = tempDir("atoma-empty-");
    mkdirSync(join(d, "onnx"));
    await loadFails({ dir: d }, "missing config.json");
  }, TIMEOUT);
});

describe("bad requests", () => {
  const cases: [string, Parameters<TextEngine["generate"]>[0], string][] = [
    ["empty prompt", { prompt: "", params: P() }, "prompt is empty"],
    ["max_tokens 0", { prompt: "Hi", params: P({ maxTokens: 0 }) }, "max_tokens"],
    ["top_p NaN", { prompt: "Hi", params: P({ topP: NaN }) }, "top_p"],
    ["temperature NaN", { prompt: "Hi", params: P({ temperature: NaN }) }, "temperature"],
    ["seed beyond u64", { prompt: "Hi", params: P({ seed: 1n << 64n }) }, "seed"],
    ["pre_prompt token outside the vocabulary", { prompt: "Hi", prePromptTokens: [1, 512], params: P() }, "pre_prompt_tokens[1] = 512"],
  ];
  for (const [name, req, fragment] of cases) {
    test(name, async () => {
      const err = await engine.generate(req).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(EngineError);
      expect((err as Error).message).toContain(fragment);
    }, TIMEOUT);
  }
  test("negative temperature is greedy; top_p outside (0,1) disables the cut-off", async () => {
    const greedy = await engine.generate({ prompt: "Once", params: P({ maxTokens: 12 }) });
    const neg = await engine.generate({ prompt: "Once", params: P({ maxTokens: 12, temperature: -3 }) });
    expect(neg.text).toBe(greedy.text);
    const a = await engine.generate({ prompt: "Once", params: P({ maxTokens: 12, temperature: 0.8, topP: 1.5, seed: 4n }) });
    const b = await engine.generate({ prompt: "Once", params: P({ maxTokens: 12, temperature: 0.8, topP: 0, seed: 4n }) });
    expect(a.text).toBe(b.text);
  }, TIMEOUT);
  test("a malformed request object is an EngineError", async () => {
    const err = await engine.generate({ prompt: "Hi" } as never).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(EngineError);
  }, TIMEOUT);
  test("a throwing onChunk propagates and releases the engine", async () => {
    const err = await engine
      .generate({ prompt: "Once", params: P({ maxTokens: 10 }) }, () => {
        throw new Error("consumer gone");
      })
      .then(() => null, (e: unknown) => e);
    expect((err as Error).message).toBe("consumer gone");
  }, TIMEOUT);
  test("an empty prompt with pre_prompt_tokens generates (chain jobs allow it)", async () => {
    const r = await engine.generate({ prompt: "", prePromptTokens: [1, 2, 3], params: P() });
    expect(r.outputTokens).toBe(4);
  }, TIMEOUT);
  test("the engine still works after errors", async () => {
    expect((await engine.generate({ prompt: "Once", params: P() })).outputTokens).toBe(4);
  }, TIMEOUT);
  test("invalid UTF-8 prompt bytes decode with U+FFFD and generate", async () => {
    const p = promptText(new Uint8Array([0x4f, 0x6e, 0x63, 0x65, 0xff, 0xc3]));
    expect(p).toEqual({ text: "Once\uFFFD\uFFFD" });
    const text = (p as { text: string }).text;
    const r = await engine.generate({ prompt: text, params: P() });
    expect(r.outputTokens).toBe(4);
  }, TIMEOUT);
});
