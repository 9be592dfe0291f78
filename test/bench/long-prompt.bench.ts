/**
 * Long-prompt prefill, `npm run bench:prefill` (not a test; figures in docs/performance.md,
 * "Throughput"): time to first token and peak RSS of one job with a long prompt on a random Llama
 * with Llama 3's vocabulary (128256, untied lm_head), through the node's engine (loadTextEngine,
 * CPU, default threads), each run in a fresh process, the graph with `num_logits_to_keep`
 * (src/convert/lm-head.ts: the lm_head runs on the last position only, one logits row fetched)
 * against the same weights as converted before it (test/support/pre-keep-folder.ts: logits for
 * every position computed and copied out), alternating, both graph forms. Same first token checked.
 * `npm run bench:prefill -- [--tokens 2000] [--rounds 3] [--forms standard,fused] [--dtype f32]`
 */
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { loadTextEngine } from "../../src/engine/engine.ts";
import type { GraphForm } from "../../src/convert/ops.ts";
import type { DType } from "../../src/engine/types.ts";
import { preKeepFolder } from "../support/pre-keep-folder.ts";
import { randomLlama, writeRandomLlamaDir } from "../support/random-llama.ts";

const { values: a } = parseArgs({
  options: { tokens: { type: "string", default: "2000" }, rounds: { type: "string", default: "3" }, forms: { type: "string", default: "standard,fused" }, dtype: { type: "string", default: "f32" }, child: { type: "string" } },
});
const N = Number(a.tokens);
const dtype = a.dtype as DType;
const kib = (field: string) => Number(/^\S+:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith(field)) ?? "")?.[1] ?? NaN);

interface Run { ttftMs: number; loadMiB: number; peakMiB: number; first: number }

if (a.child) {
  // One measurement in this fresh process: load, then one job of N prompt tokens and 1 new token.
  const e = await loadTextEngine({ id: "long-prompt", dir: a.child, device: "cpu", dtype });
  const loadMiB = kib("VmRSS") / 1024;
  const ids = Array.from({ length: N }, (_, k) => 3 + ((k * 7919) % 128000));
  const r = await e.generate({ prompt: "", prePromptTokens: ids, params: { maxTokens: 1, temperature: 0, topK: 0, topP: 1, repeatPenalty: 1, repeatLastN: 0, seed: 1n } });
  const out: Run = { ttftMs: r.timeToFirstTokenMs, loadMiB, peakMiB: kib("VmHWM") / 1024, first: r.tokens[N] ?? -1 };
  console.log(JSON.stringify(out));
  await e.dispose();
  process.exit(0);
}

function child(dir: string): Run {
  const p = spawnSync(process.execPath, [import.meta.path, "--child", dir, "--tokens", String(N), "--dtype", dtype], { encoding: "utf8" });
  const line = p.stdout.trim().split("\n").pop() ?? "";
  if (p.status !== 0 || !line.startsWith("{")) throw new Error(`child failed (${p.status}): ${p.stderr.slice(-400)}`);
  return JSON.parse(line) as Run;
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const shape = { hiddenSize: 256, intermediateSize: 512, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 64, vocabSize: 128256, tied: false, maxPositions: N + 8 };
console.log(`random Llama ${shape.hiddenSize}×${shape.numLayers}, vocab ${shape.vocabSize} untied, ${dtype}; prompt ${N} tokens, 1 new token; fresh process per run, runs alternating`);
const weights = randomLlama(shape, 4242);
for (const form of a.forms!.split(",") as GraphForm[]) {
  const now = await writeRandomLlamaDir(weights, [dtype === "f32" ? "fp32" : (dtype as never)], form);
  const old = preKeepFolder(now);
  const runs: { old: Run[]; now: Run[] } = { old: [], now: [] };
  for (let r = 0; r < Number(a.rounds); r++) {
    // Alternate which goes first, so a drift in machine load falls on both.
    const order = r % 2 === 0 ? (["old", "now"] as const) : (["now", "old"] as const);
    for (const k of order) runs[k].push(child(k === "old" ? old : now));
  }
  const firsts = new Set([...runs.old, ...runs.now].map((x) => x.first));
  const m = (k: "old" | "now", f: keyof Run) => median(runs[k].map((x) => x[f]));
  const fmt = (k: "old" | "now") => `TTFT ${m(k, "ttftMs").toFixed(0).padStart(6)} ms   RSS after load ${m(k, "loadMiB").toFixed(0)} MiB, peak ${m(k, "peakMiB").toFixed(0).padStart(5)} MiB`;
  console.log(`${form.padEnd(8)} all logits (before)      ${fmt("old")}   (${runs.old.map((x) => x.ttftMs.toFixed(0)).join("/")} ms)`);
  console.log(`${form.padEnd(8)} num_logits_to_keep = 1   ${fmt("now")}   (${runs.now.map((x) => x.ttftMs.toFixed(0)).join("/")} ms)`);
  console.log(`${form.padEnd(8)} ratio: TTFT ${(m("old", "ttftMs") / m("now", "ttftMs")).toFixed(1)}× faster, peak RSS −${(m("old", "peakMiB") - m("now", "peakMiB")).toFixed(0)} MiB; first token ${firsts.size === 1 ? "identical" : "DIFFERS"} in every run`);
  rmSync(dirname(now), { recursive: true, force: true });
}
