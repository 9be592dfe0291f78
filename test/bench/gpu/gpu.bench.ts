/**
 * GPU benchmark harness (not a test). One command on a GPU machine, nothing else needed there:
 * `npm run bench:gpu:pack` here writes dist/gpu-bench.tar.xz (< 64 MiB: this file compiled with
 * Bun and the embedded ONNX Runtime through build.ts, plus the PyTorch reference script); there,
 * `tar xJf gpu-bench.tar.xz && ./gpu-bench/gpu-bench`. From source: `bun test/bench/gpu/gpu.bench.ts`.
 *
 * It writes a random-weight Llama of TinyLlama-1.1B's shape with the project's converter (on that
 * machine: no download), then for f16 and q4f16 at batch 1, 4 and 8 reports aggregate decode
 * tokens/s, time to first token and the fraction of the memory-bandwidth ceiling (weight bytes read
 * per decode step × steps/s ÷ the GPU's peak bandwidth, from --bandwidth-gbs or the GPU name), and,
 * when Python with torch (and transformers) is there, the same shapes through PyTorch eager, with
 * ratios. `--device webgpu|cuda|cpu` (default: the first available of webgpu, cuda, cpu),
 * `--shape tinyllama|small`, `--tokens 64`, `--batches 1,4,8`, `--dtypes f16,q4f16`.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { availableBackends, loadTextEngine } from "../../../src/engine/engine.ts";
import type { Device, DType, GenerateRequest } from "../../../src/engine/types.ts";
import { randomLlama, writeRandomLlamaDir, type RandomLlamaShape } from "../../support/random-llama.ts";
import { TORCH_REFERENCE } from "./torch-reference.ts";

const { values: a } = parseArgs({
  options: {
    device: { type: "string" },
    shape: { type: "string", default: "tinyllama" },
    tokens: { type: "string", default: "64" },
    batches: { type: "string", default: "1,4,8" },
    dtypes: { type: "string", default: "f16,q4f16" },
    "bandwidth-gbs": { type: "string" },
    "no-torch": { type: "boolean", default: false },
  },
});
const SHAPES: Record<string, RandomLlamaShape> = {
  // TinyLlama-1.1B: 2048 hidden, 22 layers, 32 heads / 4 KV heads, 5632 FFN, vocab 32000.
  tinyllama: { hiddenSize: 2048, intermediateSize: 5632, numLayers: 22, numHeads: 32, numKvHeads: 4, headDim: 64, vocabSize: 32000, tied: false, maxPositions: 2048 },
  small: { hiddenSize: 256, intermediateSize: 688, numLayers: 4, numHeads: 4, numKvHeads: 2, headDim: 64, vocabSize: 32000, tied: false, maxPositions: 512 },
};
const shape = SHAPES[a.shape!];
if (!shape) throw new Error(`--shape must be one of ${Object.keys(SHAPES).join(", ")}`);
const tokens = Number(a.tokens);
const batches = a.batches!.split(",").map(Number);
const dtypes = a.dtypes!.split(",") as DType[];
const avail = await availableBackends();
const device = (a.device ?? (["webgpu", "cuda"].find((d) => avail.includes(d as Device)) ?? "cpu")) as Device;
/** Peak memory bandwidth (GB/s) of common GPUs, by name as nvidia-smi prints it. */
const PEAK: [RegExp, number][] = [[/H200/, 4800], [/H100.*(SXM|HBM3)/, 3350], [/H100/, 2000], [/A100.*80/, 2039], [/A100/, 1555], [/L40S?/, 864], [/4090/, 1008], [/3090/, 936], [/A10\b/, 600], [/T4\b/, 320]];
const gpuName = (() => {
  const r = spawnSync("nvidia-smi", ["--query-gpu=name", "--format=csv,noheader"], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.split("\n")[0]!.trim() : null;
})();
const peak = a["bandwidth-gbs"] ? Number(a["bandwidth-gbs"]) : gpuName ? (PEAK.find(([re]) => re.test(gpuName))?.[1] ?? null) : null;
console.log(`gpu bench: device ${device} (available: ${avail.join(", ")}), GPU ${gpuName ?? "none found"}, peak bandwidth ${peak ? `${peak} GB/s` : "unknown (pass --bandwidth-gbs)"}`);
console.log(`model: random Llama ${a.shape} (${shape.hiddenSize} hidden × ${shape.numLayers} layers, ${shape.numHeads}/${shape.numKvHeads} heads, vocab ${shape.vocabSize}), written by the project's converter; ${tokens} new tokens per job`);

const t0 = performance.now();
const variants = dtypes.map((d) => (d === "f16" ? "fp16" : d === "q4f16" ? "q4f16" : d === "q4" ? "q4" : "fp32")) as ("fp16" | "q4f16" | "q4" | "fp32")[];
const dir = await writeRandomLlamaDir(randomLlama(shape, 11), variants);
console.log(`written in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${dir}`);
const fileBytes = (variant: string) => {
  const base = { fp16: "model_fp16.onnx", q4f16: "model_q4f16.onnx", q4: "model_q4.onnx", fp32: "model.onnx" }[variant]!;
  return readdirSync(join(dir, "onnx")).filter((f) => f.startsWith(base)).reduce((n, f) => n + statSync(join(dir, "onnx", f)).size, 0);
};
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const job = (i: number): GenerateRequest => ({
  prompt: "",
  prePromptTokens: Array.from({ length: 32 }, (_, k) => 300 + ((i * 131 + k * 17) % 31000)),
  params: { maxTokens: tokens, temperature: 0, topK: 0, topP: 1, repeatPenalty: 1, repeatLastN: 64, seed: BigInt(i) },
});
const ours = new Map<string, number>();
for (const [k, dtype] of dtypes.entries()) {
  const bytes = fileBytes(variants[k]!);
  const engine = await loadTextEngine({ id: "gpu-bench", dir, device, dtype, maxBatch: Math.max(...batches) });
  await engine.generate(job(999));
  for (const B of batches) {
    const t = performance.now();
    const res = await Promise.all(Array.from({ length: B }, (_, i) => engine.generate(job(i))));
    const s = (performance.now() - t) / 1000;
    const total = res.reduce((n, r) => n + r.outputTokens, 0);
    const decodeTps = median(res.map((r) => r.tokensPerSecond)) * B;
    const frac = peak ? ((bytes * (decodeTps / B)) / 1e9 / peak) : null;
    ours.set(`${dtype}:${B}`, decodeTps);
    console.log(
      `  ours ${dtype.padEnd(5)} batch ${String(B).padStart(2)}: decode ${decodeTps.toFixed(1).padStart(8)} tok/s (aggregate incl. prefill ${(total / s).toFixed(1)})   TTFT p50 ${median(res.map((r) => r.timeToFirstTokenMs)).toFixed(1)} ms   weights ${(bytes / 1e6).toFixed(0)} MB/step   ${frac === null ? "" : `${(frac * 100).toFixed(1)}% of bandwidth ceiling`}`,
    );
  }
  await engine.dispose();
}

const torch = a["no-torch"] ? null : spawnSync("python3", ["-c", "import torch, transformers; print(torch.__version__, torch.cuda.is_available())"], { encoding: "utf8" });
if (!torch || torch.status !== 0) console.log(`PyTorch eager row skipped: ${torch ? "python3 with torch and transformers not found" : "--no-torch"}`);
else {
  const script = join(mkdtempSync(join(tmpdir(), "atoma-torch-")), "ref.py");
  writeFileSync(script, TORCH_REFERENCE);
  const r = spawnSync("python3", [script, JSON.stringify({ shape, tokens, batches, dtypes })], { encoding: "utf8" });
  if (r.status !== 0) console.log(`PyTorch eager failed: ${r.stderr.slice(-400)}`);
  for (const line of r.stdout.split("\n").filter(Boolean)) {
    const m = JSON.parse(line) as { dtype: string; batch: number; tps: number; ttft_ms: number; device: string };
    const o = ours.get(`${m.dtype}:${m.batch}`);
    console.log(`  torch eager ${m.dtype.padEnd(5)} batch ${String(m.batch).padStart(2)} (${m.device}): decode ${m.tps.toFixed(1).padStart(8)} tok/s   TTFT ${m.ttft_ms.toFixed(1)} ms   ours / torch ${o ? (o / m.tps).toFixed(2) : "n/a"}×`);
  }
  rmSync(dirname(script), { recursive: true, force: true });
}
rmSync(dirname(dir), { recursive: true, force: true });
