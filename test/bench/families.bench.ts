/**
 * `bun run bench:families [--hidden 256] [--layers 4] [--vocab 8192] [--tokens 64] [--rounds 7]
 *                         [--threads 1] [--dtypes f32,q4] [--families llama,mistral,…]`
 * (also the second part of `bench:convert`)
 *
 * Per converted family: a random checkpoint in Hugging Face layout (test/support/hf-checkpoints.ts,
 * mamba-checkpoint.ts; BF16, the family's config keys at one shared shape) is converted by the node's converter, then
 * decoded greedily by the node's engine (`loadTextEngine` → `generate`, what users get) and by raw
 * transformers.js (`from_pretrained` + `generate`, same ONNX file, same threads) in alternating
 * rounds (test/bench/decode-pair.ts). Prints per family the median decode tok/s of both, the
 * median paired ratio node/raw (target ≥ 0.95) and CPU ms per token of both (the steadier figure
 * on a loaded machine). Families transformers.js has no class for are printed without a ratio.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { convertCheckpoint } from "../../src/convert/index.ts";
import type { Variant } from "../../src/convert/ops.ts";
import { loadTextEngine } from "../../src/engine/engine.ts";
import { parseDtype } from "../../src/engine/dtype.ts";
import type { DType } from "../../src/engine/types.ts";
import { writeHfCheckpoint, type Config } from "../support/hf-checkpoints.ts";
import { MAMBA_CONFIG, writeMambaCheckpoint } from "../support/mamba-checkpoint.ts";
import { alternate, loadRaw, median, runOurs, type Run } from "./decode-pair.ts";

export interface Shape { hidden: number; layers: number; vocab: number }

/** config.json of each family at `s`, keys as their hub repos spell them (see test/convert/*.test.ts). */
export function familyConfigs(s: Shape): Record<string, Config> {
  const D = s.hidden, H = Math.max(1, D / 64), I = Math.round((D * 8) / 3 / 16) * 16;
  const common = {
    hidden_size: D, num_hidden_layers: s.layers, num_attention_heads: H, vocab_size: s.vocab, max_position_embeddings: 1024,
    bos_token_id: 1, eos_token_id: 2, torch_dtype: "bfloat16", use_cache: true,
  };
  const rms = { ...common, intermediate_size: I, num_key_value_heads: Math.max(1, H / 2), rms_norm_eps: 1e-5, hidden_act: "silu", tie_word_embeddings: false };
  return {
    llama: { ...rms, architectures: ["LlamaForCausalLM"], model_type: "llama", rope_theta: 500000, attention_bias: false, mlp_bias: false },
    mistral: { ...rms, architectures: ["MistralForCausalLM"], model_type: "mistral", rope_theta: 10000, sliding_window: 4096 },
    qwen2: {
      ...rms, architectures: ["Qwen2ForCausalLM"], model_type: "qwen2", rope_theta: 1000000, tie_word_embeddings: true,
      use_sliding_window: false, sliding_window: 32768, max_window_layers: 21,
    },
    qwen2_moe: {
      ...rms, architectures: ["Qwen2MoeForCausalLM"], model_type: "qwen2_moe", rope_theta: 1000000, decoder_sparse_step: 1,
      num_experts: 8, num_experts_per_tok: 4, moe_intermediate_size: I / 4, shared_expert_intermediate_size: I, norm_topk_prob: false,
      use_sliding_window: false, sliding_window: 32768, max_window_layers: 21, mlp_only_layers: [],
    },
    phi3: {
      ...rms, architectures: ["Phi3ForCausalLM"], model_type: "phi3", rope_theta: 10000, attention_bias: false, rope_scaling: null,
      original_max_position_embeddings: 1024, sliding_window: 2047, pad_token_id: 0,
    },
    mixtral: {
      ...rms, architectures: ["MixtralForCausalLM"], model_type: "mixtral", rope_theta: 1000000, num_local_experts: 8,
      num_experts_per_tok: 2, sliding_window: null,
    },
    falcon: {
      ...common, architectures: ["FalconForCausalLM"], model_type: "falcon", alibi: false, bias: false, layer_norm_epsilon: 1e-5,
      multi_query: true, new_decoder_architecture: false, num_kv_heads: null, parallel_attn: true,
    },
    // No attention: d_inner = 2 × hidden, state 16, conv 4, as state-spaces/mamba-*-hf.
    mamba: { ...MAMBA_CONFIG, hidden_size: D, intermediate_size: 2 * D, num_hidden_layers: s.layers, vocab_size: s.vocab },
  };
}

export interface FamilyRow {
  family: string;
  dtype: DType;
  /** null: transformers.js has no class for it; the node's figures only. */
  raw: { tps: number; cpuMs: number } | null;
  ours: { tps: number; cpuMs: number };
  pairedRatio: number | null;
  tokens: number;
  same: boolean | null;
}

const PROMPTS = ["Once upon a time, in a small village by the sea, there lived", "the cat sat on the mat and", "a b c d e f g h i j k l m n o p"];
const VARIANT: Record<string, Variant> = { f32: "fp32", f16: "fp16", q8: "q8", q4: "q4", q4f16: "q4f16" };

/** A prompt whose greedy continuation does not hit EOS before `tokens` (random weights may). */
async function promptFor(run: (p: string) => Promise<Run>, tokens: number): Promise<string> {
  for (const p of PROMPTS) if ((await run(p)).n >= tokens) return p;
  return PROMPTS[0]!;
}

interface Options { tokens: number; rounds: number; threads: number; dtypes: DType[] }

/** Writes and converts one family's checkpoint (every dtype in one pass), then benches each dtype. */
export async function benchFamily(family: string, config: Config, o: Options): Promise<FamilyRow[]> {
  const root = mkdtempSync(join(tmpdir(), `atoma-bench-${family}-`));
  try {
    // Mamba's writer draws A_log, D and dt biases in the ranges its initialisation gives.
    (family === "mamba" ? writeMambaCheckpoint : writeHfCheckpoint)(join(root, "hf"), config, { dtype: "BF16", seed: 3 });
    const dir = join(root, "onnx-model");
    await convertCheckpoint({ src: join(root, "hf"), out: dir, dtypes: o.dtypes.map((d) => {
      if (!VARIANT[d]) throw new Error(`--dtypes: ${d} has no converter variant (use f32, f16, q8, q4, q4f16)`);
      return VARIANT[d]!;
    }) });
    const rows: FamilyRow[] = [];
    for (const dtype of o.dtypes) rows.push(await benchDtype(family, dir, dtype, o));
    return rows;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function benchDtype(family: string, dir: string, dtype: DType, o: Options): Promise<FamilyRow> {
  const engine = await loadTextEngine({ id: family, dir, device: "cpu", dtype, threads: o.threads });
  try {
    const ours = (p: string) => runOurs(engine, p, o.tokens);
    const prompt = await promptFor(ours, o.tokens);
    if (NO_TJS_CLASS.has(family)) {
      await ours(prompt);
      const runs: Run[] = [];
      for (let i = 0; i < o.rounds; i++) runs.push(await ours(prompt));
      const cpu = median(runs.map((r) => r.cpuMs / r.n));
      return { family, dtype, raw: null, ours: { tps: median(runs.map((r) => r.tps)), cpuMs: cpu }, pairedRatio: null, tokens: runs[0]!.n, same: null };
    }
    const raw = await loadRaw(dir, "cpu", dtype, o.threads);
    try {
      const p = await alternate(o.rounds, () => ours(prompt), () => raw.run(prompt, o.tokens));
      return {
        family, dtype, tokens: p.ours[0]!.n, same: p.same, pairedRatio: p.pairedRatio,
        ours: { tps: p.oursTps, cpuMs: p.oursCpu }, raw: { tps: p.rawTps, cpuMs: p.rawCpu },
      };
    } finally {
      await raw.dispose();
    }
  } finally {
    await engine.dispose();
  }
}

/** Families transformers.js 4.3.1 cannot load through any class (the node runs them itself). */
const NO_TJS_CLASS = new Set<string>(["mamba"]);

export function formatTable(rows: FamilyRow[]): string {
  const f = (x: number, d = 1) => x.toFixed(d);
  const lines = [
    "| family | dtype | node tok/s | raw transformers.js tok/s | ratio node/raw (median of paired rounds) | CPU ms/token node | raw | CPU ratio raw/node | greedy tokens equal |",
    "|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of rows) {
    lines.push(
      r.raw
        ? `| ${r.family} | ${r.dtype} | ${f(r.ours.tps)} | ${f(r.raw.tps)} | **${f(r.pairedRatio!, 2)}** | ${f(r.ours.cpuMs, 2)} | ${f(r.raw.cpuMs, 2)} | ${f(r.raw.cpuMs / r.ours.cpuMs, 2)} | ${r.same ? `yes (${r.tokens})` : "NO"} |`
        : `| ${r.family} | ${r.dtype} | ${f(r.ours.tps)} | — (no transformers.js class) | — | ${f(r.ours.cpuMs, 2)} | — | — | — (${r.tokens}) |`,
    );
  }
  return lines.join("\n");
}

export async function benchFamilies(argv: string[] = process.argv.slice(2)): Promise<FamilyRow[]> {
  const { values: a } = parseArgs({
    args: argv,
    options: {
      hidden: { type: "string", default: "256" }, layers: { type: "string", default: "4" }, vocab: { type: "string", default: "8192" },
      tokens: { type: "string", default: "64" }, rounds: { type: "string", default: "7" }, threads: { type: "string", default: "1" },
      dtypes: { type: "string", default: "f32,q4" }, families: { type: "string" },
    },
  });
  const shape = { hidden: Number(a.hidden), layers: Number(a.layers), vocab: Number(a.vocab) };
  const o = { tokens: Number(a.tokens), rounds: Number(a.rounds), threads: Number(a.threads), dtypes: String(a.dtypes).split(",").map(parseDtype) };
  const configs = familyConfigs(shape);
  const names = a.families ? String(a.families).split(",") : Object.keys(configs);
  console.log(`decode per family: random hidden ${shape.hidden} × ${shape.layers} layers, vocab ${shape.vocab}, ${o.dtypes.join(" and ")}, ${o.tokens} new tokens, ${o.rounds} alternating rounds, ${o.threads} thread(s)`);
  const rows: FamilyRow[] = [];
  for (const name of names) {
    if (!configs[name]) throw new Error(`unknown family ${name}: expected one of ${Object.keys(configs).join(", ")}`);
    for (const row of await benchFamily(name, configs[name]!, o)) {
      console.log(`${name} ${row.dtype}: node ${row.ours.tps.toFixed(1)} tok/s` + (row.raw ? `, raw ${row.raw.tps.toFixed(1)} tok/s, paired ratio ${row.pairedRatio!.toFixed(3)}, CPU ms/token ${row.ours.cpuMs.toFixed(2)} vs ${row.raw.cpuMs.toFixed(2)}` : ` (no transformers.js class), CPU ms/token ${row.ours.cpuMs.toFixed(2)}`));
      rows.push(row);
    }
  }
  console.log(formatTable(rows));
  return rows;
}

if (import.meta.main) await benchFamilies();
