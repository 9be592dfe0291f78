/**
 * Throughput rows of `npm run bench:engine` (not a test; figures in docs/performance.md):
 *  1. tiny model: stories260K decode tokens/s as a user gets it (`atoma-node generate --json`, a
 *     fresh process, default settings) and warmed up in process, against llama2.c's run.c compiled
 *     here with `gcc -O3` and run in the same run; `--runc <path to run.c>` names the file (the
 *     repository does not ship it; docs/performance.md says where the project keeps a copy), and
 *     the row is skipped with a message when it or gcc is absent;
 *  2. bandwidth-bound model (random Llama 512×8, vocab 32000, f32 and q4): aggregate decode
 *     tokens/s at 1, 2, 4, 8 concurrent jobs, each output checked identical to its unbatched run.
 *  3. node under load: test/bench/node-load.bench.ts (64 chain jobs, batched vs unbatched);
 *  4. where a decode step's time goes: test/bench/decode-profile.bench.ts;
 *  5. graph forms: test/bench/graph-forms.bench.ts (decode tok/s, standard vs fused form, as a ratio);
 * preceded by test/bench/engine.bench.ts (our loop vs raw transformers.js generate(); its options
 * via `npm run bench:engine:raw`).
 * `npm run bench:engine -- [--runc path/run.c] [--rounds 5] [--tokens 64] [--threads N (batched rows; default 0 = the engine's default)] [--only raw|tiny|batch|node|profile|forms]`
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadTextEngine } from "../../src/engine/engine.ts";
import type { DType, GenerateRequest } from "../../src/engine/types.ts";
import { ensureStories260k, STORIES260K } from "../support/models.ts";
import { randomLlama, writeRandomLlamaDir } from "../support/random-llama.ts";

const { values: a } = parseArgs({ options: { rounds: { type: "string", default: "5" }, tokens: { type: "string", default: "64" }, only: { type: "string" }, runc: { type: "string" }, threads: { type: "string", default: "0" } } });
// Batched rows: the engine's default thread count (0), what a user gets; `--threads 1` is the
// steadier variant on a shared machine, where a spinning 2-thread pool turns other jobs' load into
// noise and CPU time per token is then the engine's work alone.
const batchThreads = Number(a.threads) > 0 ? Number(a.threads) : undefined;
const rounds = Number(a.rounds);
const ROOT = resolve(import.meta.dir, "../..");
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const PROMPT = "Once upon a time";

async function tiny(): Promise<void> {
  const dir = await ensureStories260k();
  const runC = a.runc ? resolve(a.runc) : undefined;
  let runBin: string | null = null;
  const gcc = spawnSync("gcc", ["--version"]);
  if (!runC) console.log("tiny model: run.c row skipped: pass --runc <path to llama2.c run.c>");
  else if (!existsSync(runC)) console.log(`tiny model: run.c row skipped: ${runC} not found`);
  else if (gcc.status !== 0) console.log("tiny model: run.c row skipped: gcc not found");
  else {
    const tmp = mkdtempSync(join(tmpdir(), "atoma-runc-"));
    runBin = join(tmp, "run");
    execFileSync("gcc", ["-O3", "-o", runBin, runC, "-lm"]);
  }
  const runc = () => {
    const r = spawnSync(runBin!, [STORIES260K.weights, "-z", STORIES260K.tokenizer, "-t", "0", "-n", "256", "-i", PROMPT], { encoding: "utf8" });
    const m = /achieved tok\/s: ([\d.]+)/.exec(r.stderr);
    if (!m) throw new Error(`run.c printed no rate: ${r.stderr.slice(-200)}`);
    return Number(m[1]);
  };
  const cli = (extra: string[]) => {
    const r = spawnSync(process.execPath, [join(ROOT, "src/cli/main.ts"), "generate", "--model", dir, "--prompt", PROMPT, "--max-tokens", "255", "--json", ...extra], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`generate failed: ${r.stderr.slice(-300)}`);
    return JSON.parse(r.stdout) as { tokens_per_second: number; output_tokens: number; time_to_first_token_ms: number };
  };
  const engine = await loadTextEngine({ id: "tiny", dir, device: "cpu", dtype: "f32" });
  const params = { maxTokens: 255, temperature: 0, topK: 0, topP: 1, repeatPenalty: 1, repeatLastN: 64, seed: 0n };
  await engine.generate({ prompt: PROMPT, params });
  const R: number[] = [], C: number[] = [], C1: number[] = [], W: number[] = [];
  let n = 0;
  for (let i = 0; i < rounds; i++) {
    if (runBin) R.push(runc());
    const c = cli([]);
    n = c.output_tokens;
    C.push(c.tokens_per_second);
    C1.push(cli(["--threads", "1"]).tokens_per_second);
    W.push((await engine.generate({ prompt: PROMPT, params })).tokensPerSecond);
  }
  await engine.dispose();
  const r = runBin ? median(R) : NaN;
  // Median of per-round ratios: each round's runs are back to back, so they share that round's load.
  const ratio = (xs: number[]) => (runBin ? `${median(xs.map((x, i) => x / R[i]!)).toFixed(2)}×` : "n/a");
  console.log(`tiny model: stories260K f32 cpu, greedy, "${PROMPT}", ${n} new tokens, ${rounds} rounds (medians; ratios are medians of per-round ratios)`);
  if (runBin) console.log(`  llama2.c run.c gcc -O3 (1 thread)              ${r.toFixed(0).padStart(7)} tok/s   1.00×`);
  console.log(`  atoma-node generate --json (fresh process)     ${median(C).toFixed(0).padStart(7)} tok/s   ${ratio(C)}   (target ≥ 0.8×)`);
  console.log(`  atoma-node generate --json --threads 1         ${median(C1).toFixed(0).padStart(7)} tok/s   ${ratio(C1)}`);
  console.log(`  engine in process, warmed up                   ${median(W).toFixed(0).padStart(7)} tok/s   ${ratio(W)}`);
  if (runBin) rmSync(dirname(runBin), { recursive: true, force: true });
}

async function batched(dtype: DType): Promise<void> {
  const tokens = Number(a.tokens);
  const w = randomLlama({ hiddenSize: 512, intermediateSize: 1365, numLayers: 8, numHeads: 8, numKvHeads: 2, headDim: 64, vocabSize: 32000, tied: false, maxPositions: 1024 }, 1);
  const dir = await writeRandomLlamaDir(w, [dtype === "q4" ? "q4" : "fp32"]);
  const engine = await loadTextEngine({ id: "bw", dir, device: "cpu", dtype, threads: batchThreads });
  // Same prompt length for every job (16 pre-prompt tokens, different ids), so all share one batch.
  const job = (i: number): GenerateRequest => ({
    prompt: "",
    prePromptTokens: Array.from({ length: 16 }, (_, k) => 300 + ((i * 131 + k * 17) % 31000)),
    params: { maxTokens: tokens, temperature: 0.8, topK: 40, topP: 0.95, repeatPenalty: 1, repeatLastN: 64, seed: BigInt(i + 1) },
  });
  await engine.generate(job(99)); // warm-up
  const alone = new Map<number, number[]>();
  for (let i = 0; i < 8; i++) alone.set(i, (await engine.generate(job(i))).tokens);
  console.log(`bandwidth-bound model: random Llama 512×8 layers, vocab 32000, ${dtype} cpu, ${batchThreads ?? "default"} intra-op thread(s), ${tokens} new tokens per job, ${rounds} rounds (medians; ratios are medians of per-round ratios against that round's 1-job run)`);
  // Rounds interleave the job counts, so a change in machine load hits every count alike.
  const counts = [1, 2, 4, 8];
  const rate = new Map<number, number[]>(counts.map((n) => [n, []]));
  const cpu = new Map<number, number[]>(counts.map((n) => [n, []]));
  const same = new Map<number, boolean>(counts.map((n) => [n, true]));
  for (let r = 0; r < rounds; r++) {
    for (const n of counts) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const res = await Promise.all(Array.from({ length: n }, (_, i) => engine.generate(job(i))));
      const s = (performance.now() - t0) / 1000;
      const c = process.cpuUsage(c0);
      const total = res.reduce((acc, x) => acc + x.outputTokens, 0);
      rate.get(n)!.push(total / s);
      cpu.get(n)!.push((c.user + c.system) / 1000 / total);
      res.forEach((x, i) => same.set(n, same.get(n)! && x.tokens.length === alone.get(i)!.length && x.tokens.every((t, k) => t === alone.get(i)![k])));
    }
  }
  for (const n of counts) {
    const ratio = median(rate.get(n)!.map((x, r) => x / rate.get(1)![r]!));
    const cpuRatio = median(cpu.get(n)!.map((x, r) => cpu.get(1)![r]! / x));
    console.log(`  ${n} concurrent job(s): aggregate ${median(rate.get(n)!).toFixed(1).padStart(7)} tok/s   ${ratio.toFixed(2)}× vs 1${n === 8 ? " (target ≥ 4×)" : ""}   CPU ${median(cpu.get(n)!).toFixed(2)} ms/token (${cpuRatio.toFixed(2)}× less than 1 job)   outputs identical to unbatched: ${same.get(n)}`);
  }
  await engine.dispose();
  rmSync(dirname(dir), { recursive: true, force: true });
}

const sub = (file: string) => {
  const r = spawnSync(process.execPath, [join(import.meta.dir, file)], { stdio: "inherit" });
  if (r.status !== 0) console.log(`${file} failed (exit ${r.status})`);
};
if (!a.only || a.only === "raw") sub("engine.bench.ts");
if (!a.only || a.only === "tiny") await tiny();
if (!a.only || a.only === "batch") {
  await batched("f32");
  await batched("q4");
}
if (!a.only || a.only === "node") sub("node-load.bench.ts");
if (!a.only || a.only === "profile") sub("decode-profile.bench.ts");
if (!a.only || a.only === "forms") sub("graph-forms.bench.ts");
