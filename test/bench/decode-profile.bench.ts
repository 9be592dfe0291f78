/**
 * Where a decode step's time goes (`npm run bench:engine -- --only profile`, or this file alone;
 * figures in docs/performance.md). Not a test.
 *
 *  1. tiny model (stories260K f32, the default 1 thread, greedy, 255 tokens, in process, warmed):
 *     per token, the ONNX Runtime call against the engine's own work around it — sampler,
 *     detokenizer, step inputs, and the rest (loop, rows, chunks, the event-loop turn) as the
 *     remainder of the token-to-token time; then the same graph through the public
 *     `InferenceSession.run` instead of the binding call, and ONNX Runtime's own profiler's
 *     kernel count per step.
 *  2. bandwidth-bound model (random Llama 512×8, vocab 32000, f32 and q4, temperature 0.8 / top-k
 *     40 / top-p 0.95, the engine's default threads as the throughput rows): per decode step at 1
 *     job and at 8 (rows per step as run, idle rows included): wall time, the ONNX Runtime call,
 *     the sampling of all rows (wall: with the sampling worker taking half, sampler-pool.ts, the
 *     time of that phase), and the prefill runs (ms per job, and how many runs held the jobs).
 * Components are timed by wrapping the engine's methods in this process (performance.now());
 * medians over rounds. `[--rounds 5] [--only tiny|batch] [--threads N (batch rows; 0 = default)]`
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { BatchDecoder } from "../../src/engine/batching.ts";
import { IncrementalDecoder } from "../../src/engine/detokenizer.ts";
import { loadTextEngine } from "../../src/engine/engine.ts";
import { openNativeSession } from "../../src/engine/native-session.ts";
import { loadOrtNode } from "../../src/engine/runtime/ort-native.ts";
import { Sampler } from "../../src/engine/sampler.ts";
import { SamplerPool } from "../../src/engine/sampler-pool.ts";
import { StepFeeds } from "../../src/engine/step-feeds.ts";
import type { GenerateRequest } from "../../src/engine/types.ts";
import { ensureStories260k } from "../support/models.ts";
import { randomLlama, writeRandomLlamaDir } from "../support/random-llama.ts";

const { values: a } = parseArgs({ options: { rounds: { type: "string", default: "5" }, only: { type: "string" }, threads: { type: "string", default: "0" } } });
const rounds = Number(a.rounds);
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;

/** Accumulated milliseconds per wrapped method, and how often each ran. */
const spent = new Map<string, { ms: number; n: number }>();
function time<T extends object>(proto: T, method: string, label: string | ((...args: unknown[]) => string)): void {
  const p = proto as Record<string, (...args: unknown[]) => unknown>;
  const original = p[method]!;
  p[method] = function (this: unknown, ...args: unknown[]) {
    const t0 = performance.now();
    try {
      return original.apply(this, args);
    } finally {
      const key = typeof label === "string" ? label : label(...args);
      const e = spent.get(key) ?? { ms: 0, n: 0 };
      e.ms += performance.now() - t0;
      e.n++;
      spent.set(key, e);
    }
  } as never;
}
// The loop's run() is synchronous on a native session (runSync), so timing it times ONNX Runtime;
// prefills (more than one input position) are counted apart from decode steps.
time(BatchDecoder.prototype, "run", (feeds) => ((feeds as { input_ids: { dims: number[] } }).input_ids.dims[1]! > 1 ? "prefill" : "ort"));
time(Sampler.prototype, "next", "sampler");
// A step's sampling with the worker taking half of the rows (sampler-pool.ts): its wall time.
time(SamplerPool.prototype, "acceptAll", "pool");
time(IncrementalDecoder.prototype, "step", "detokenizer");
time(StepFeeds.prototype, "build", "feeds");
const take = (label: string) => {
  const e = spent.get(label) ?? { ms: 0, n: 0 };
  spent.delete(label);
  return e;
};

async function tiny(): Promise<void> {
  const dir = await ensureStories260k();
  const engine = await loadTextEngine({ id: "tiny", dir, device: "cpu", dtype: "f32" });
  const N = 255;
  const params = { maxTokens: N, temperature: 0, topK: 0, topP: 1, repeatPenalty: 1, repeatLastN: 64, seed: 0n };
  await engine.generate({ prompt: "Once upon a time", params });
  const rows: Record<string, number[]> = { total: [], ort: [], sampler: [], detokenizer: [], feeds: [] };
  for (let r = 0; r < rounds; r++) {
    const stamps: number[] = [];
    spent.clear();
    await engine.generate({ prompt: "Once upon a time", params }, () => stamps.push(performance.now()));
    const steps = stamps.length - 1;
    rows.total!.push(((stamps[steps]! - stamps[0]!) * 1000) / steps);
    for (const k of ["ort", "sampler", "detokenizer", "feeds"]) {
      const e = take(k);
      rows[k]!.push((e.ms * 1000) / Math.max(1, e.n));
    }
  }
  await engine.dispose();
  const m = Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, median(v)])) as Record<string, number>;
  const other = m.total! - m.ort! - m.sampler! - m.detokenizer! - m.feeds!;
  const line = (name: string, us: number) => console.log(`  ${name.padEnd(52)} ${us.toFixed(1).padStart(7)} µs  ${((us / m.total!) * 100).toFixed(0).padStart(3)} %`);
  console.log(`tiny model: stories260K f32 cpu (1 intra-op thread, the default for it), greedy, ${N} tokens, ${rounds} rounds (medians, per token)`);
  line("token to token (engine, in process, warmed up)", m.total!);
  line("ONNX Runtime run (binding, synchronous)", m.ort!);
  line("sampler", m.sampler!);
  line("detokenizer (two tokenizer.decode calls)", m.detokenizer!);
  line("step inputs (ids, positions, mask)", m.feeds!);
  line("rest: loop, rows, chunks to the consumer, event-loop turn", other);
  await publicVsBinding(join(dir, "onnx", "model.onnx"));
}

/** The same decode steps through the public InferenceSession.run and through the binding call. */
async function publicVsBinding(file: string): Promise<void> {
  const ort = await loadOrtNode();
  const options = { intraOpNumThreads: 1, interOpNumThreads: 1, enableMemPattern: false };
  const pub = await ort.InferenceSession.create(file, options);
  const nat = await openNativeSession(file, options);
  const prof = mkdtempSync(join(tmpdir(), "atoma-ortprof-"));
  const profiled = await ort.InferenceSession.create(file, { ...options, enableProfiling: true, profileFilePrefix: join(prof, "p") });
  const meta = nat.inputMetadata.find((x) => x.name === "past_key_values.0.key")!;
  const [, H, , HD] = meta.shape as number[];
  const layers = nat.inputNames.filter((n) => n.endsWith(".key")).length;
  const i64 = (v: number[], d: number[]) => new ort.Tensor("int64", BigInt64Array.from(v, BigInt), d);
  const decode = async (run: (f: Record<string, unknown>) => unknown, steps: number) => {
    const input = [1, 403, 407, 261, 378];
    let feeds: Record<string, unknown> = { input_ids: i64(input, [1, 5]), attention_mask: i64([1, 1, 1, 1, 1], [1, 5]), position_ids: i64([0, 1, 2, 3, 4], [1, 5]), ...(nat.inputNames.includes("num_logits_to_keep") ? { num_logits_to_keep: i64([1], []) } : {}) };
    for (let l = 0; l < layers; l++) for (const kv of ["key", "value"]) feeds[`past_key_values.${l}.${kv}`] = new ort.Tensor("float32", new Float32Array(0), [1, H!, 0, HD!]);
    let t0 = 0;
    for (let s = 0; s < steps; s++) {
      const out = (await run(feeds)) as Record<string, unknown>;
      if (s === 0) t0 = performance.now();
      const L = input.length + s + 1;
      const next: Record<string, unknown> = { input_ids: i64([7], [1, 1]), attention_mask: i64(new Array(L).fill(1), [1, L]), position_ids: i64([L - 1], [1, 1]), ...(nat.inputNames.includes("num_logits_to_keep") ? { num_logits_to_keep: i64([1], []) } : {}) };
      for (let l = 0; l < layers; l++) for (const kv of ["key", "value"]) next[`past_key_values.${l}.${kv}`] = out[`present.${l}.${kv}`];
      feeds = next;
    }
    return ((performance.now() - t0) * 1000) / (steps - 1);
  };
  const P: number[] = [], B: number[] = [];
  for (let r = 0; r < rounds * 2; r++) {
    P.push(await decode((f) => pub.run(f as never), 128));
    B.push(await decode((f) => nat.runSync(f as never), 128));
  }
  await decode((f) => profiled.run(f as never), 32);
  profiled.endProfiling();
  const events = JSON.parse(readFileSync(join(prof, readdirSync(prof)[0]!), "utf8")) as { cat: string; name: string }[];
  const runs = events.filter((e) => e.cat === "Session" && e.name === "model_run").length;
  const kernels = events.filter((e) => e.cat === "Node" && e.name.endsWith("_kernel_time")).length;
  console.log(`  same steps, ONNX Runtime alone: binding call ${median(B).toFixed(1)} µs, public InferenceSession.run ${median(P).toFixed(1)} µs (+${(median(P) - median(B)).toFixed(1)} µs per step); ${Math.round(kernels / runs)} kernels per run (ONNX Runtime profiler, ${runs} runs)`);
  await pub.release();
  await profiled.release();
  nat.release();
  rmSync(prof, { recursive: true, force: true });
}

async function batch(dtype: "f32" | "q4"): Promise<void> {
  const w = randomLlama({ hiddenSize: 512, intermediateSize: 1365, numLayers: 8, numHeads: 8, numKvHeads: 2, headDim: 64, vocabSize: 32000, tied: false, maxPositions: 1024 }, 1);
  const dir = await writeRandomLlamaDir(w, [dtype === "q4" ? "q4" : "fp32"]);
  const threads = Number(a.threads) > 0 ? Number(a.threads) : undefined;
  const engine = await loadTextEngine({ id: "bw", dir, device: "cpu", dtype, threads });
  const job = (i: number): GenerateRequest => ({
    prompt: "",
    prePromptTokens: Array.from({ length: 16 }, (_, k) => 300 + ((i * 131 + k * 17) % 31000)),
    params: { maxTokens: 64, temperature: 0.8, topK: 40, topP: 0.95, repeatPenalty: 1, repeatLastN: 64, seed: BigInt(i + 1) },
  });
  await engine.generate(job(99));
  const stats = () => ({ ...(engine as unknown as { batchStats: { steps: number; rows: number; idleRows: number; prefills: number } }).batchStats });
  console.log(`bandwidth-bound model: random Llama 512×8, vocab 32000, ${dtype} cpu (${threads ?? "default"} intra-op thread(s), as bench:engine batch rows), 64 tokens per job, ${rounds} rounds (medians, per decode step)`);
  const res = new Map<number, Record<string, number[]>>();
  for (let r = 0; r < rounds; r++) {
    for (const n of [1, 8]) {
      spent.clear();
      const s0 = stats();
      const t0 = performance.now();
      await Promise.all(Array.from({ length: n }, (_, i) => engine.generate(job(i))));
      const wall = performance.now() - t0;
      const s1 = stats();
      const steps = s1.steps - s0.steps;
      const ort = take("ort");
      const rec = res.get(n) ?? { wall: [], ort: [], sampler: [], prefill: [], rows: [], runs: [], pooled: [] };
      rec.wall!.push(wall / steps);
      rec.ort!.push(ort.ms / ort.n);
      const pool = take("pool");
      const sampler = take("sampler");
      rec.sampler!.push((pool.n ? pool.ms + (sampler.ms * (steps - pool.n)) / steps : sampler.ms) / steps);
      rec.pooled!.push(pool.n / steps);
      rec.prefill!.push(take("prefill").ms / n);
      rec.rows!.push((s1.rows + s1.idleRows - s0.rows - s0.idleRows) / steps);
      rec.runs!.push(s1.prefills - s0.prefills);
      res.set(n, rec);
    }
  }
  for (const [n, rec] of res) {
    const rows = `${n} job${n > 1 ? "s" : ""} (${median(rec.rows!).toFixed(1)} rows)`;
    console.log(`  ${rows.padEnd(18)} ${median(rec.wall!).toFixed(2).padStart(6)} ms per decode step (wall, prefills included)   ONNX Runtime ${median(rec.ort!).toFixed(2).padStart(6)} ms/step   sampling ${median(rec.sampler!).toFixed(2).padStart(5)} ms/step (worker in ${(median(rec.pooled!) * 100).toFixed(0)} % of steps)   prefill ${median(rec.prefill!).toFixed(1)} ms/job in ${median(rec.runs!)} run(s)`);
  }
  await engine.dispose();
  rmSync(dirname(dir), { recursive: true, force: true });
}

if (!a.only || a.only === "tiny") await tiny();
if (!a.only || a.only === "batch") {
  await batch("f32");
  await batch("q4");
}
