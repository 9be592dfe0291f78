/**
 * `atoma-node generate`: one local generation through the same engine the node uses.
 * stdout carries only the generated text (or, with --json, one JSON object); logs go to stderr.
 * Any error prints one line on stderr and exits 2.
 */
import { defineCommand } from "citty";
import { fail } from "../fail.ts";
import { parseU64, U64_MAX } from "../../protocol/u64.ts";
import { existsSync, statSync } from "node:fs";
import { configArgs, hasConfigArgs, sourcesFromArgs } from "../../config/cli-args.ts";
import type { DType, Device, SamplingParams } from "../../engine/types.ts";
import type { ModelEntry } from "../../config/types.ts";
import { DEFAULT_SAMPLING_PARAMS as D } from "../../engine/sampler.ts";


export function intFlag(name: string, raw: string | undefined, fallback: number, min: number): number {
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw.trim())) fail(`--${name} ${JSON.stringify(raw)}: expected an integer ≥ ${min}`);
  const v = Number(raw);
  if (!Number.isSafeInteger(v) || v < min) fail(`--${name} ${raw}: expected an integer ≥ ${min}`);
  return v;
}

/** Chain parameters are f32; rounding here makes the CLI sample exactly as a chain job would. */
export function floatFlag(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (raw.trim() === "" || Number.isNaN(v)) fail(`--${name} ${JSON.stringify(raw)}: expected a number`);
  return Math.fround(v);
}

export function seedFlag(raw: string | undefined): bigint {
  if (raw === undefined) return D.seed;
  return parseU64(raw.trim(), { hex: true }) ?? fail(`--seed ${JSON.stringify(raw)}: expected a u64 (decimal or 0x hex, at most ${U64_MAX})`);
}

/**
 * `--model` is a directory, a model served in the configuration given by --config, or a seed
 * model_type / `org/name[@rev]` repo pulled into the hub cache on first use (cache_dir and api_key
 * from --config when given, else the hub's defaults and HF_TOKEN). The dtype it returns is the one
 * to load: `dtype` (the flag), else the configured entry's, else the default rule
 * (models/default-dtype.ts) for `device` — the same rule `models pull` converts with.
 */
export async function resolveModel(
  model: string,
  args: Record<string, string | boolean | string[] | undefined>,
  dtype: DType | undefined,
  device?: Device,
): Promise<{ dir: string; device?: Device; dtype: DType; image?: ModelEntry["image"] }> {
  const { defaultDtype, defaultDtypeForFolder } = await import("../../models/default-dtype.ts");
  if (existsSync(model) && statSync(model).isDirectory()) return { dir: model, dtype: dtype ?? defaultDtypeForFolder(device ?? "cpu", model) };
  const { parseRepoRef, defaultHubCache } = await import("../../models/hub-cache.ts");
  const { hubRefFor, ensureModelDir, ModelUnavailableError } = await import("../../models/resolve.ts");
  const { PullError } = await import("../../models/pull-errors.ts");
  const { progressFor } = await import("../../models/progress.ts");
  const sources = sourcesFromArgs(args);
  let hub = { cacheDir: defaultHubCache(), autoPull: true, apiKey: undefined as string | undefined, progress: () => progressFor() };
  const target = hubRefFor(model, parseRepoRef(model));
  if (hasConfigArgs(sources)) {
    const { loadConfig } = await import("../../config/load.ts");
    const { ConfigError } = await import("../../config/errors.ts");
    try {
      const cfg = loadConfig(sources);
      hub = { ...hub, cacheDir: cfg.inference.cacheDir, autoPull: cfg.inference.autoPull, apiKey: cfg.inference.apiKey };
      const entry = cfg.inference.models.find((m) => m.modelId === model);
      if (entry?.remote) fail(`--model ${model}: served by a remote ${entry.remote.kind} engine; generate runs local models (send the prompt to the node's API instead)`);
      if (entry) {
        // An explicit --dtype is the operator's own request; the configured one may have been set aside.
        if (!dtype && entry.dtypeIgnored) process.stderr.write(`note: model ${entry.modelId}: ${entry.dtypeIgnored}\n`);
        const at = dtype ?? entry.dtype;
        const dir = await ensureModelDir({ modelId: entry.modelId, dir: entry.local ? entry.path : undefined, hub: entry.hub, dtype: at }, hub);
        return { dir, device: entry.device, dtype: at, ...(entry.image ? { image: entry.image } : {}) };
      }
      if (!target) {
        const ids = cfg.inference.models.map((m) => m.modelId).join(", ") || "none";
        fail(`--model ${model}: not a directory, not a model in ${cfg.sources.join(", ")} (models: ${ids}), and not a seed model_type or org/name repo`);
      }
    } catch (e) {
      if (e instanceof ConfigError) fail(e.message);
      if (e instanceof ModelUnavailableError || e instanceof PullError) fail(e.message);
      throw e;
    }
  }
  if (!target) {
    fail(`--model ${model}: no such directory, and not a seed model_type (see atoma-node models list) or org/name[@revision] repo`);
  }
  try {
    const at = dtype ?? defaultDtype(device ?? "cpu", target.row);
    return { dir: await ensureModelDir({ modelId: model, hub: target.ref, dtype: at }, hub), dtype: at };
  } catch (e) {
    if (e instanceof ModelUnavailableError || e instanceof PullError) fail(e.message);
    throw e;
  }
}

export default defineCommand({
  meta: { name: "generate", description: "Generate text locally with the node's deterministic engine" },
  args: {
    model: { type: "string", description: "Model directory (transformers.js layout), a model from --config, a seed model_type or an org/name[@rev] repo (pulled on first use)" },
    prompt: { type: "string", description: "Prompt text (encoded with the tokenizer's special tokens, e.g. BOS)" },
    "max-tokens": { type: "string", description: "Maximum generated tokens (default 128; clamped to the context)" },
    temperature: { type: "string", description: "Sampling temperature; ≤ 0 = greedy (default 0)" },
    "top-k": { type: "string", description: "Keep the k most probable tokens; 0 = off (default 0)" },
    "top-p": { type: "string", description: "Nucleus mass; ≤ 0 or ≥ 1 = off (default 1)" },
    "repeat-penalty": { type: "string", description: "Repeat penalty; 1 = off (default 1)" },
    "repeat-last-n": { type: "string", description: "Penalty window over all tokens (default 64)" },
    seed: { type: "string", description: "u64 sampler seed, decimal or 0x hex (default 0)" },
    device: { type: "string", description: "cpu | webgpu | cuda | wasm (default cpu, or the config's)" },
    dtype: { type: "string", description: "f32 | f16 | bf16 | q8 | q4 | q4f16 (default: the config's, else f32 on cpu/wasm, f16 on webgpu/cuda; quantized rows: their file's)" },
    threads: { type: "string", description: "CPU threads for ONNX Runtime (default: runtime's choice)" },
    stream: { type: "boolean", description: "Print text as it is generated", default: false },
    json: { type: "boolean", description: "Print one JSON object with text, token counts and timings", default: false },
    ...configArgs,
    // citty wants a mutable alias array.
    config: { ...configArgs.config, alias: [...configArgs.config.alias] },
  },
  async run({ args }) {
    if (!args.model) fail("missing --model <dir or model_type>");
    if (args.prompt === undefined) fail("missing --prompt <text>");
    const params: SamplingParams = {
      maxTokens: intFlag("max-tokens", args["max-tokens"], D.maxTokens, 1),
      temperature: floatFlag("temperature", args.temperature, D.temperature),
      topK: intFlag("top-k", args["top-k"], D.topK, 0),
      topP: floatFlag("top-p", args["top-p"], D.topP),
      repeatPenalty: floatFlag("repeat-penalty", args["repeat-penalty"], D.repeatPenalty),
      repeatLastN: intFlag("repeat-last-n", args["repeat-last-n"], D.repeatLastN, 0),
      seed: seedFlag(args.seed),
    };
    const threads = args.threads === undefined ? undefined : intFlag("threads", args.threads, 0, 1);
    const { loadTextEngine } = await import("../../engine/engine.ts");
    const { parseDevice } = await import("../../engine/backends.ts");
    const { parseDtype } = await import("../../engine/dtype.ts");
    const { EngineError } = await import("../../engine/types.ts");
    try {
      const wanted = args.dtype !== undefined ? parseDtype(args.dtype) : undefined;
      const wantedDevice = args.device !== undefined ? parseDevice(args.device) : undefined;
      const resolved = await resolveModel(args.model, args as unknown as Record<string, string | boolean | string[] | undefined>, wanted, wantedDevice);
      const device = wantedDevice ?? resolved.device ?? "cpu";
      const dtype = resolved.dtype;
      const engine = await loadTextEngine({ id: args.model, dir: resolved.dir, device, dtype, threads });
      const onChunk = args.stream && !args.json ? (c: { text: string }) => void process.stdout.write(c.text) : undefined;
      const r = await engine.generate({ prompt: args.prompt, params }, onChunk);
      await engine.dispose();
      if (args.json) {
        const out = {
          text: r.text,
          input_tokens: r.inputTokens,
          output_tokens: r.outputTokens,
          finish_reason: r.finishReason,
          // Token by token, so a dispute can be checked against another node's run.
          prompt_token_ids: r.tokens.slice(0, r.inputTokens),
          token_ids: r.tokens.slice(r.inputTokens),
          time_to_first_token_ms: Math.round(r.timeToFirstTokenMs * 100) / 100,
          tokens_per_second: Math.round(r.tokensPerSecond * 100) / 100,
        };
        process.stdout.write(JSON.stringify(out) + "\n");
      } else {
        if (!args.stream) process.stdout.write(r.text);
        // A newline only for humans: piped output is exactly the generated text.
        if (process.stdout.isTTY) process.stdout.write("\n");
      }
      if (r.truncatedTokens > 0) process.stderr.write(`note: ${r.truncatedTokens} prompt tokens were dropped from the left to fit the context\n`);
    } catch (e) {
      if (e instanceof EngineError) fail(e.message);
      fail(e instanceof Error ? e.message : String(e));
    }
  },
});
