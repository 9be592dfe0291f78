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
import { parseDevice } from "../../src/engine/backends.ts";
import { parseDtype } from "../../src/engine/dtype.ts";
import { ensureStories260k } from "../support/models.ts";
import { randomLlama, writeRandomLlamaDir } from "../support/random-llama.ts";
import { alternate, loadRaw, median, runOurs } from "./decode-pair.ts";

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

const dir = await modelDir();
const engine = await loadTextEngine({ id: "bench", dir, device, dtype, threads });
// The raw baseline: the same files through transformers.js with the same session options.
const raw = await loadRaw(dir, device, dtype, threads);
const p = await alternate(rounds, () => runOurs(engine, a.prompt!, tokens), () => raw.run(a.prompt!, tokens));
const O = p.ours, R = p.raw;
const ratios = O.map((o, i) => o.tps / R[i]!.tps);
const oF = median(O.map((r) => r.ttftMs));
const rF = median(R.map((r) => r.ttftMs));
console.log(`model ${dir} (${engine.info.modelType}, vocab ${engine.info.vocabSize}), ${device}/${engine.info.loadedDtype}, ${tokens} new tokens, ${rounds} rounds, threads ${threads ?? "default"}`);
console.log(`greedy tokens identical: ${p.same} (ours ${O[0]!.n}, raw ${R[0]!.n})`);
console.log(`per-round decode ratio: ${ratios.map((r) => r.toFixed(3)).join(" ")}`);
console.log(`decode tokens/s  median: ours ${p.oursTps.toFixed(1)}  raw generate() ${p.rawTps.toFixed(1)}  ratio ${(p.oursTps / p.rawTps).toFixed(3)}`);
const oB = Math.max(...O.map((r) => r.tps));
const rB = Math.max(...R.map((r) => r.tps));
console.log(`decode tokens/s  best:   ours ${oB.toFixed(1)}  raw generate() ${rB.toFixed(1)}  ratio ${(oB / rB).toFixed(3)}`);
console.log(`median paired ratio (ours/raw): ${p.pairedRatio.toFixed(3)}  (target ≥ 0.95)`);
console.log(`CPU ms per token median: ours ${p.oursCpu.toFixed(3)}  raw generate() ${p.rawCpu.toFixed(3)}  ratio (raw/ours) ${(p.rawCpu / p.oursCpu).toFixed(3)}`);
console.log(`first token ms   median: ours ${oF.toFixed(2)}  raw generate() ${rF.toFixed(2)}  ratio (raw/ours) ${(rF / oF).toFixed(3)}`);
await engine.dispose();
await raw.dispose();
if (a.random && !a.model) rmSync(dirname(dir), { recursive: true, force: true });
