// The KV-cache layout is decided by the graph, not by a key only our converter writes: a fused
// (GroupQueryAttention) model whose config.json lacks `atoma_graph_form` — what a GQA export from
// onnxruntime-genai's builder or optimum looks like to the loader — still batches left-aligned, so
// jobs with prompts of different lengths give the same bytes together as alone.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadTextEngine } from "../../src/engine/engine.ts";
import { graphFormOf } from "../../src/engine/graph-form.ts";
import { GRAPH_FORM_KEY } from "../../src/engine/kv-batch.ts";
import type { GenerateRequest, TextEngine } from "../../src/engine/types.ts";
import { ensureStories260k } from "../support/models.ts";

const TIMEOUT = 120_000;
const tmp = mkdtempSync(join(tmpdir(), "atoma-graph-form-"));
let fused: string, standard: string;
const engines: TextEngine[] = [];

/** A copy of `dir` whose config.json has no graph-form key, as another tool's export has. */
function withoutFormKey(dir: string, name: string): string {
  const out = join(tmp, name);
  cpSync(dir, out, { recursive: true });
  const config = JSON.parse(readFileSync(join(out, "config.json"), "utf8"));
  expect(config[GRAPH_FORM_KEY]).toBeDefined();
  delete config[GRAPH_FORM_KEY];
  writeFileSync(join(out, "config.json"), JSON.stringify(config));
  return out;
}

beforeAll(async () => {
  fused = withoutFormKey(await ensureStories260k({ dtypes: ["fp32"], form: "fused" }), "fused");
  standard = withoutFormKey(await ensureStories260k({ dtypes: ["fp32"], form: "standard" }), "standard");
}, TIMEOUT);
afterAll(async () => {
  for (const e of engines) await e.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

describe("graph form from the graph", () => {
  test("the ONNX file says it: GroupQueryAttention → fused, none → standard; a disagreeing key loses", () => {
    expect(graphFormOf(join(fused, "onnx", "model.onnx"), undefined)).toMatchObject({ form: "fused", scanned: true });
    expect(graphFormOf(join(fused, "onnx", "model.onnx"), undefined).because).toMatch(/GroupQueryAttention .*records no graph form/);
    expect(graphFormOf(join(standard, "onnx", "model.onnx"), undefined)).toMatchObject({ form: "standard", scanned: true });
    expect(graphFormOf(join(standard, "onnx", "model.onnx"), "fused")).toMatchObject({ form: "standard", because: expect.stringMatching(/says "fused", the graph wins/) });
  });

  test("a file that cannot be scanned falls back to config.json's key, and says so", () => {
    const cut = join(tmp, "cut.onnx");
    const bytes = readFileSync(join(fused, "onnx", "model.onnx"));
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const d = graphFormOf(cut, "fused");
    expect(d).toMatchObject({ form: "fused", scanned: false });
    expect(d.because).toMatch(/could not be scanned/);
  });

  test("fused model without atoma_graph_form: 8 jobs of different prompt lengths, batched = alone", async () => {
    const e = await loadTextEngine({ id: "gqa-no-key", dir: fused, device: "cpu", dtype: "f32", threads: 1 });
    engines.push(e);
    const starts = ["Once", "Tom had a big", "The little dog ran to the park and saw", "Lily and Ben", "One day, a big red ball rolled down the hill", "Sam", "The sun was hot. Tim wanted to", "A girl"];
    const jobs: GenerateRequest[] = starts.map((prompt, i) => ({
      prompt,
      params: { maxTokens: 20 + i * 3, temperature: i % 3 === 0 ? 0 : 0.8, topK: 40, topP: 0.95, repeatPenalty: 1, repeatLastN: 64, seed: BigInt(7 + i * 101) },
    }));
    const alone: { text: string; tokens: number[] }[] = [];
    for (const j of jobs) {
      const r = await e.generate(j);
      alone.push({ text: r.text, tokens: r.tokens });
    }
    const together = await Promise.all(jobs.map(async (j) => {
      const r = await e.generate(j);
      return { text: r.text, tokens: r.tokens };
    }));
    expect(together).toEqual(alone);
    const stats = (e as unknown as { batchStats: { maxRows: number } }).batchStats;
    expect(stats.maxRows).toBeGreaterThan(1);
  }, TIMEOUT);
});
