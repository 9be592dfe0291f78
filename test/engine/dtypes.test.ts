// Every precision maps to its ONNX file and generates; bf16 takes the fp16 file when one exists.
// stories260K imported with all variants (fp32, fp16, q8, q4, q4f16).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { loadTextEngine } from "../../src/engine/engine.ts";
import type { DType, SamplingParams, TextEngine } from "../../src/engine/types.ts";
import { ensureStories260k } from "../support/models.ts";

/** Model loads on a loaded 2-core machine: well above bun's 5 s default. */
const TIMEOUT = 60_000;
const P: SamplingParams = { maxTokens: 24, temperature: 0, topK: 0, topP: 1, repeatPenalty: 1, repeatLastN: 64, seed: 0n };

let dir: string;
const engines: TextEngine[] = [];
beforeAll(async () => {
  dir = await ensureStories260k({ dtypes: "all" });
}, TIMEOUT);
afterAll(async () => {
  for (const e of engines) await e.dispose();
});

describe("dtype → ONNX variant on stories260K", () => {
  const expected: [DType, string][] = [
    ["f32", "fp32"],
    ["f16", "fp16"],
    ["bf16", "fp16"],
    ["q8", "q8"],
    ["q4", "q4"],
    ["q4f16", "q4f16"],
  ];
  for (const [dtype, loaded] of expected) {
    test(`${dtype} loads ${loaded} and continues the story`, async () => {
      const e = await loadTextEngine({ id: `s-${dtype}`, dir, device: "cpu", dtype });
      engines.push(e);
      expect(e.info.loadedDtype).toBe(loaded);
      const r = await e.generate({ prompt: "Once upon a time", params: P });
      expect(r.outputTokens).toBe(24);
      // A trained model keeps its greedy opening at every precision.
      expect(r.text.startsWith(", there was a")).toBe(true);
    }, TIMEOUT);
  }
});
