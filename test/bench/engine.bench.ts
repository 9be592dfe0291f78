/**
 * `bun run bench:engine [--model dir] [--device cpu] [--dtype f32] [--tokens 128] [--rounds 10]
 *                       [--random HIDDENxLAYERSxVOCAB] [--threads 1 (0 = runtime default)]`
 *
 * Decode tokens/s and time to first token of our engine (own decode loop + seeded sampler,
 * greedy) against raw transformers.js `generate()` (greedy) on the same model, backend and prompt,
 * in the same process, rounds alternating so machine noise hits both alike. Prints medians and
 * the ratio ours / raw (target ≥ 0.95), from wall-clock decode rates and from process CPU time per
 * token (the latter stays meaningful when other jobs load the machine). Default model: stories260K (imported on first use);
 * `--random` writes a random-weight Llama of that shape instead (e.g. 512x8x32000).
 */
import { rmSync } from "node:fs";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { loadTextEngine } from "../../src/engine/engine.ts";
import { parseDevice, transformersFor } from "../../src/engine/backends.ts";
import { chooseVariant, parseDtype } from "../../src/engine/dtype.ts";
import { ensureStories260k } from "../support/models.ts";
import { randomLlama, writeRandomLlamaDir } from "../support/random-llama.ts";

const { values: a } = parseArgs({
  options: {
    model: { type: "string" },
    device: { type: "string", default: "cpu" },
    dtype: { type: "string", default: "f32" },
    tokens: { type: "string", default: "128" },
    rounds: { type: "string", default: "10" },
    random: { type: "string" },
    threads: { type: "string", default: "1" },
    prompt: { type: "string", default: "Once upon a time, in a small village by the sea, there lived" },
  },
});
const device = parseDevice(a.device!);
const dtype = parseDtype(a.dtype!);
const tokens = Number(a.tokens);
const rounds = Number(a.rounds);
// Default 1 thread: on a shared machine, CPU time per token is then the engine's work alone.
const threads = Number(a.threads) > 0 ? Number(a.threads) : undefined;

async function modelDir(): Promise<string> {
  if (a.model) return a.model;
  if (a.random) {
    const [hidden, layers, vocab] = a.random.split("x").map(Number) as [number, number, number];
    const heads = Math.max(1, hidden / 64);
    const w = randomLlama(
      { hiddenSize: hidden, intermediateSize: Math.round((hidden * 8) / 3), numLayers: layers, numHeads: heads, numKvHeads: Math.max(1, heads / 4), headDim: hidden / heads, vocabSize: vocab, tied: false, maxPositions: 1024 },
      1,
    );
    return writeRandomLlamaDir(w, dtype === "q4" ? ["q4"] : ["fp32"]);
  }
  return ensureStories260k();
}

/** `cpuMs`: process CPU time (user+system) of the whole call — robust when other jobs share the cores. */
interface Run { ttftMs: number; tps: number; n: number; ids: number[]; cpuMs: number }

const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;

const dir = await modelDir();
const engine = await loadTextEngine({ id: "bench", dir, device, dtype, threads });
// The raw baseline: the same files through transformers.js with the same session options.
const tjs = await transformersFor(device, threads);
const variant = chooseVariant(dir, dtype);
const tokenizer = await tjs.AutoTokenizer.from_pretrained(dir, { local_files_only: true });
const sessionOptions: Record<string, unknown> = threads ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {};
const raw: any = await tjs.AutoModelForCausalLM.from_pretrained(dir, {
  local_files_only: true,
  dtype: variant.tjs,
  ...(device === "wasm" ? { device: { model: "" }, session_options: { ...sessionOptions, executionProviders: ["wasm"] } } : { device, session_options: sessionOptions }),
} as never);

const params = { maxTokens: tokens, temperature: 0, topK: 0, topP: 1, repeatPenalty: 1, repeatLastN: 64, seed: 0n };

async function ours(): Promise<Run> {
  const c0 = cpuNow();
  const r = await engine.generate({ prompt: a.prompt!, params });
  const cpuMs = cpuNow() - c0;
  return { ttftMs: r.timeToFirstTokenMs, tps: r.tokensPerSecond, n: r.outputTokens, ids: r.tokens.slice(r.inputTokens), cpuMs };
}

async function baseline(): Promise<Run> {
  const times: number[] = [];
  let calls = 0;
  // transformers.js calls put() once with the prompt, then once per generated token.
  const streamer = new (class extends tjs.BaseStreamer {
    override put() {
      if (calls++ > 0) times.push(performance.now());
    }
    override end() {}
  })();
  const c0 = cpuNow();
  const t0 = performance.now();
  const inputs = tokenizer(a.prompt!).input_ids;
  const out = await raw.generate({ inputs, max_new_tokens: tokens, do_sample: false, streamer });
  const all = (out.tolist()[0] as bigint[]).map(Number).slice(inputs.dims[1]);
  const cpuMs = cpuNow() - c0;
  const n = times.length;
  return { cpuMs, ttftMs: times[0]! - t0, tps: n > 1 ? ((n - 1) * 1000) / (times[n - 1]! - times[0]!) : 0, n, ids: all };
}

await ours();
await baseline(); // warm-up: first runs pay for allocator growth and JIT
const O: Run[] = [];
const R: Run[] = [];
for (let i = 0; i < rounds; i++) {
  if (i % 2 === 0) {
    O.push(await ours());
    R.push(await baseline());
  } else {
    R.push(await baseline());
    O.push(await ours());
  }
}
const same = O[0]!.ids.every((t, i) => t === R[0]!.ids[i]);
const best = (xs: number[], pick: (a: number, b: number) => number) => xs.reduce(pick);
const ratios = O.map((o, i) => o.tps / R[i]!.tps);
const oT = median(O.map((r) => r.tps));
const rT = median(R.map((r) => r.tps));
const oF = median(O.map((r) => r.ttftMs));
const rF = median(R.map((r) => r.ttftMs));
console.log(`model ${dir} (${engine.info.modelType}, vocab ${engine.info.vocabSize}), ${device}/${engine.info.loadedDtype}, ${tokens} new tokens, ${rounds} rounds, threads ${threads ?? "default"}`);
console.log(`greedy tokens identical: ${same} (ours ${O[0]!.n}, raw ${R[0]!.n})`);
console.log(`per-round decode ratio: ${ratios.map((r) => r.toFixed(3)).join(" ")}`);
console.log(`decode tokens/s  median: ours ${oT.toFixed(1)}  raw generate() ${rT.toFixed(1)}  ratio ${(oT / rT).toFixed(3)}`);
const oB = best(O.map((r) => r.tps), (x, y) => Math.max(x, y));
const rB = best(R.map((r) => r.tps), (x, y) => Math.max(x, y));
console.log(`decode tokens/s  best:   ours ${oB.toFixed(1)}  raw generate() ${rB.toFixed(1)}  ratio ${(oB / rB).toFixed(3)}`);
console.log(`median paired ratio (ours/raw): ${median(ratios).toFixed(3)}  (target ≥ 0.95)`);
const oC = median(O.map((r) => r.cpuMs / r.n));
const rC = median(R.map((r) => r.cpuMs / r.n));
console.log(`CPU ms per token median: ours ${oC.toFixed(3)}  raw generate() ${rC.toFixed(3)}  ratio (raw/ours) ${(rC / oC).toFixed(3)}`);
console.log(`first token ms   median: ours ${oF.toFixed(2)}  raw generate() ${rF.toFixed(2)}  ratio (raw/ours) ${(rF / oF).toFixed(3)}`);
await engine.dispose();
await raw.dispose();
if (a.random && !a.model) rmSync(dirname(dir), { recursive: true, force: true });
