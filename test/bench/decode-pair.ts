/**
 * One decode comparison, shared by bench:engine:raw and bench:families: the node's engine (what
 * `loadTextEngine` hands users: own decode loop + seeded sampler, greedy) against raw
 * transformers.js `AutoModelForCausalLM.from_pretrained` + `generate()` (greedy) on the same ONNX
 * file, device and session options, rounds alternating in order (ours first, then raw first) so
 * machine noise hits both sides alike. Rates are medians; CPU time per token (user + system of the
 * whole call) stays meaningful when other jobs load the machine.
 */
import { transformersFor } from "../../src/engine/backends.ts";
import { chooseVariant } from "../../src/engine/dtype.ts";
import { CLASS_ALIASES, deviceOptions } from "../../src/engine/loader.ts";
import type { Device, DType, TextEngine } from "../../src/engine/types.ts";
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** `cpuMs`: process CPU time of the whole call. `tps`: decode rate after the first token. */
export interface Run { ttftMs: number; tps: number; n: number; ids: number[]; cpuMs: number }

export const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;

const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

const greedy = (tokens: number) => ({ maxTokens: tokens, temperature: 0, topK: 0, topP: 1, repeatPenalty: 1, repeatLastN: 64, seed: 0n });

export async function runOurs(engine: TextEngine, prompt: string, tokens: number): Promise<Run> {
  const c0 = cpuNow();
  const r = await engine.generate({ prompt, params: greedy(tokens) });
  const cpuMs = cpuNow() - c0;
  return { ttftMs: r.timeToFirstTokenMs, tps: r.tokensPerSecond, n: r.outputTokens, ids: r.tokens.slice(r.inputTokens), cpuMs };
}

/** Raw transformers.js on `dir`: what a transformers.js user writes (a model_type it has no class
 * for is loaded through the class the converter's graph follows, as src/engine/loader.ts does). */
export async function loadRaw(dir: string, device: Device, dtype: DType, threads: number | undefined) {
  const tjs = await transformersFor(device, threads);
  const variant = chooseVariant(dir, dtype);
  const tokenizer = await tjs.AutoTokenizer.from_pretrained(dir, { local_files_only: true });
  const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
  const alias = CLASS_ALIASES[config.model_type];
  // biome-ignore lint: transformers.js model classes are untyped JS
  const model: any = await tjs.AutoModelForCausalLM.from_pretrained(dir, {
    local_files_only: true,
    ...(alias ? { config: { ...config, model_type: alias } } : {}),
    dtype: variant.tjs,
    ...deviceOptions(device, threads, dir),
  } as never);
  const BaseStreamer = tjs.BaseStreamer;
  async function run(prompt: string, tokens: number): Promise<Run> {
    const times: number[] = [];
    let calls = 0;
    // transformers.js calls put() once with the prompt, then once per generated token.
    const streamer = new (class extends BaseStreamer {
      override put() {
        if (calls++ > 0) times.push(performance.now());
      }
      override end() {}
    })();
    const c0 = cpuNow();
    const t0 = performance.now();
    const inputs = tokenizer(prompt).input_ids;
    const out = await model.generate({ inputs, max_new_tokens: tokens, do_sample: false, streamer });
    const ids = (out.tolist()[0] as bigint[]).map(Number).slice(inputs.dims[1]);
    const cpuMs = cpuNow() - c0;
    const n = times.length;
    return { cpuMs, ttftMs: times[0]! - t0, tps: n > 1 ? ((n - 1) * 1000) / (times[n - 1]! - times[0]!) : 0, n, ids };
  }
  return { run, dispose: () => model.dispose() as Promise<void> };
}

export interface Pair {
  ours: Run[];
  raw: Run[];
  /** Greedy tokens of the first measured rounds equal. */
  same: boolean;
  /** Median decode tok/s. */
  oursTps: number;
  rawTps: number;
  /** Median of the per-round ours/raw decode ratios. */
  pairedRatio: number;
  /** Median CPU ms per generated token. */
  oursCpu: number;
  rawCpu: number;
}

/** One warm-up call each (allocator growth, JIT), then `rounds` alternating pairs. */
export async function alternate(rounds: number, ours: () => Promise<Run>, raw: () => Promise<Run>): Promise<Pair> {
  await ours();
  await raw();
  const O: Run[] = [];
  const R: Run[] = [];
  for (let i = 0; i < rounds; i++) {
    if (i % 2 === 0) {
      O.push(await ours());
      R.push(await raw());
    } else {
      R.push(await raw());
      O.push(await ours());
    }
  }
  return {
    ours: O,
    raw: R,
    same: O[0]!.n === R[0]!.n && O[0]!.ids.every((t, i) => t === R[0]!.ids[i]),
    oursTps: median(O.map((r) => r.tps)),
    rawTps: median(R.map((r) => r.tps)),
    pairedRatio: median(O.map((o, i) => o.tps / R[i]!.tps)),
    oursCpu: median(O.map((r) => r.cpuMs / r.n)),
    rawCpu: median(R.map((r) => r.cpuMs / r.n)),
  };
}
