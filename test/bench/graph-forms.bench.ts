/**
 * `bun test/bench/graph-forms.bench.ts [--rounds 5] [--tokens 128]` (a row of `npm run bench:engine`;
 * figures in docs/performance.md): decode tokens/s of the standard graph form against the fused one
 * (GroupQueryAttention, SkipSimplifiedLayerNormalization, …; docs/convert.md "Graph forms") on
 *   - stories260K through the llama2.c importer, f32 and q4 (one thread, as the node defaults for it),
 *   - a random Llama 512×8 layers, vocab 32000, f32 and q4 (the runtime's default threads),
 * one job at a time and 8 concurrent jobs, each through the node's engine (loadTextEngine). Rounds
 * alternate between the forms so load on a shared machine hits both alike; prints medians and the
 * fused/standard ratio, and whether both forms produced the same tokens (greedy on stories260K
 * f32 they should; elsewhere last-bit differences may flip a sampled token, which is no error).
 */
import { rmSync } from "node:fs";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import type { GraphForm } from "../../src/convert/ops.ts";
import { loadTextEngine } from "../../src/engine/engine.ts";
import type { DType, GenerateRequest, TextEngine } from "../../src/engine/types.ts";
import { ensureStories260k } from "../support/models.ts";
import { randomLlama, writeRandomLlamaDir } from "../support/random-llama.ts";

const { values: a } = parseArgs({ options: { rounds: { type: "string", default: "5" }, tokens: { type: "string", default: "128" } } });
const rounds = Number(a.rounds), tokens = Number(a.tokens);
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const FORMS: GraphForm[] = ["standard", "fused"];

/** Aggregate decode tok/s of `n` concurrent jobs (time from the first token on, so prefill is out). */
async function rate(e: TextEngine, jobs: GenerateRequest[]): Promise<{ tps: number; tokens: number[][] }> {
  const res = await Promise.all(jobs.map((j) => e.generate(j)));
  const total = res.reduce((s, r) => s + r.outputTokens - 1, 0);
  const span = Math.max(...res.map((r) => r.totalMs)) - Math.min(...res.map((r) => r.timeToFirstTokenMs));
  return { tps: (total * 1000) / span, tokens: res.map((r) => r.tokens) };
}

async function compare(label: string, dirs: Record<GraphForm, string>, dtype: DType, job: (i: number) => GenerateRequest, threads?: number): Promise<void> {
  const engines = {} as Record<GraphForm, TextEngine>;
  for (const f of FORMS) engines[f] = await loadTextEngine({ id: `${f}-${dtype}`, dir: dirs[f], device: "cpu", dtype, ...(threads ? { threads } : {}) });
  for (const f of FORMS) await engines[f].generate(job(99)); // warm-up
  for (const n of [1, 8]) {
    const tps: Record<GraphForm, number[]> = { standard: [], fused: [] };
    const out: Partial<Record<GraphForm, number[][]>> = {};
    for (let r = 0; r < rounds; r++) {
      for (const f of r % 2 ? [...FORMS].reverse() : FORMS) {
        const x = await rate(engines[f], Array.from({ length: n }, (_, i) => job(i)));
        tps[f].push(x.tps);
        out[f] = x.tokens;
      }
    }
    const [s, fu] = [median(tps.standard), median(tps.fused)];
    const same = JSON.stringify(out.standard) === JSON.stringify(out.fused);
    console.log(`  ${label} ${dtype.padEnd(3)} ${n} job${n > 1 ? "s" : " "}: standard ${s.toFixed(0).padStart(6)} tok/s   fused ${fu.toFixed(0).padStart(6)} tok/s   fused/standard ${(fu / s).toFixed(2)}×   same tokens: ${same}`);
  }
  for (const f of FORMS) await engines[f].dispose();
}

console.log(`graph forms: decode tokens/s, standard vs fused, ${tokens} new tokens per job, ${rounds} rounds alternating (medians)`);
const storyJob = (i: number): GenerateRequest => ({
  prompt: ["Once upon a time", "Tom had a", "Lily", "One day, a big red ball"][i % 4]!,
  params: { maxTokens: tokens, temperature: i === 99 || i % 2 === 0 ? 0 : 0.8, topK: 0, topP: 1, repeatPenalty: 1, repeatLastN: 64, seed: BigInt(i + 1) },
});
const stories = {} as Record<GraphForm, string>;
for (const f of FORMS) stories[f] = await ensureStories260k({ form: f });
for (const dtype of ["f32", "q4"] as DType[]) await compare("stories260K      ", stories, dtype, storyJob, 1);

const w = randomLlama({ hiddenSize: 512, intermediateSize: 1365, numLayers: 8, numHeads: 8, numKvHeads: 2, headDim: 64, vocabSize: 32000, tied: false, maxPositions: 1024 }, 1);
const big = {} as Record<GraphForm, string>;
for (const f of FORMS) big[f] = await writeRandomLlamaDir(w, ["fp32", "q4"], f);
const bigJob = (i: number): GenerateRequest => ({
  prompt: "",
  prePromptTokens: Array.from({ length: 16 }, (_, k) => 300 + ((i * 131 + k * 17) % 31000)),
  params: { maxTokens: tokens, temperature: 0.8, topK: 40, topP: 0.95, repeatPenalty: 1, repeatLastN: 64, seed: BigInt(i + 1) },
});
for (const dtype of ["f32", "q4"] as DType[]) await compare("random Llama 512×8", big, dtype, bigJob);
for (const f of FORMS) rmSync(dirname(big[f]), { recursive: true, force: true });
