/**
 * Random-weight Mamba checkpoints in transformers' layout (MambaForCausalLM's state dict: the
 * `backbone.*` names and shapes, config.json keys as the state-spaces/mamba-*-hf repos carry them),
 * with values in the ranges Mamba's own initialisation gives (A_log = log 1…N, D ≈ 1, dt_proj.bias =
 * softplus⁻¹ of a step in [0.01, 1]) so the state matters. Written from the module structure,
 * independently of the converter; files through the shared HF-folder writer.
 */
import { mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { writeHfCheckpoint, type Config, type WrittenCheckpoint } from "./hf-checkpoints.ts";
import { mulberry32 } from "./random-llama.ts";
import { roundTo, type NamedTensor, type StDtype } from "./safetensors-writer.ts";

export const MAMBA_CONFIG: Config = {
  architectures: ["MambaForCausalLM"], model_type: "mamba", bos_token_id: 1, eos_token_id: 2, pad_token_id: 0,
  conv_kernel: 4, expand: 2, hidden_act: "silu", hidden_size: 64, initializer_range: 0.1, intermediate_size: 128,
  layer_norm_epsilon: 1e-5, num_hidden_layers: 2, rescale_prenorm_residual: false, residual_in_fp32: true,
  state_size: 16, time_step_floor: 1e-4, time_step_init_scheme: "random", time_step_max: 0.1, time_step_min: 0.001,
  time_step_rank: "auto", time_step_scale: 1.0, torch_dtype: "bfloat16", use_bias: false, use_cache: true,
  use_conv_bias: true, vocab_size: 300,
};

/** [name, shape] of every parameter of MambaForCausalLM, in state-dict order. */
export function mambaParameters(c: Config): [string, number[]][] {
  const D = c.hidden_size, DI = c.intermediate_size ?? (c.expand ?? 2) * D, N = c.state_size ?? 16, K = c.conv_kernel ?? 4;
  const R = (c.time_step_rank ?? "auto") === "auto" ? Math.ceil(D / 16) : c.time_step_rank;
  const bias = c.use_bias ?? true, convBias = c.use_conv_bias ?? true;
  const out: [string, number[]][] = [["backbone.embeddings.weight", [c.vocab_size, D]]];
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `backbone.layers.${l}`;
    out.push([`${p}.norm.weight`, [D]], [`${p}.mixer.A_log`, [DI, N]], [`${p}.mixer.D`, [DI]]);
    out.push([`${p}.mixer.in_proj.weight`, [2 * DI, D]]);
    if (bias) out.push([`${p}.mixer.in_proj.bias`, [2 * DI]]);
    out.push([`${p}.mixer.conv1d.weight`, [DI, 1, K]]);
    if (convBias) out.push([`${p}.mixer.conv1d.bias`, [DI]]);
    out.push([`${p}.mixer.x_proj.weight`, [R + 2 * N, DI]], [`${p}.mixer.dt_proj.weight`, [DI, R]], [`${p}.mixer.dt_proj.bias`, [DI]]);
    out.push([`${p}.mixer.out_proj.weight`, [D, DI]]);
    if (bias) out.push([`${p}.mixer.out_proj.bias`, [D]]);
  }
  out.push(["backbone.norm_f.weight", [D]]);
  if (c.tie_word_embeddings === false) out.push(["lm_head.weight", [c.vocab_size, D]]);
  return out;
}

export function randomMamba(c: Config, seed: number, dtype: StDtype): Map<string, NamedTensor> {
  const rnd = mulberry32(seed);
  const u = (a: number, b: number) => a + (b - a) * rnd();
  const m = new Map<string, NamedTensor>();
  for (const [name, shape] of mambaParameters(c)) {
    const n = shape.reduce((a, b) => a * b, 1), cols = shape[shape.length - 1]!;
    const leaf = name.split(".").slice(-2).join(".");
    let gen: (i: number) => number;
    if (leaf.endsWith("A_log")) gen = (i) => Math.log(1 + (i % cols)) + u(-0.1, 0.1);
    else if (leaf === "mixer.D") gen = () => u(0.8, 1.2);
    else if (leaf === "dt_proj.bias") gen = () => { const dt = Math.exp(u(Math.log(0.01), 0)); return dt + Math.log(-Math.expm1(-dt)); };
    else if (leaf.startsWith("norm") || leaf === "norm_f.weight") gen = () => u(0.8, 1.2);
    else if (leaf.endsWith("bias")) gen = () => u(-0.1, 0.1);
    else if (name.includes("embeddings") || name === "lm_head.weight") gen = () => u(-1, 1) * Math.sqrt(3);
    else gen = () => u(-1, 1) * Math.sqrt(3 / cols);
    m.set(name, { shape, data: roundTo(dtype, Float32Array.from({ length: n }, (_, i) => gen(i))) });
  }
  return m;
}

export function writeMambaCheckpoint(dir: string, c: Config, opts: { dtype: StDtype; shards?: number; seed?: number; tensors?: Map<string, NamedTensor> }): WrittenCheckpoint {
  return writeHfCheckpoint(dir, c, { dtype: opts.dtype, shards: opts.shards ?? 1, tensors: opts.tensors ?? randomMamba(c, opts.seed ?? 1, opts.dtype) });
}

/** config.json of an original state-spaces/mamba-* repo (mamba_ssm's MambaConfig) for MAMBA_CONFIG's shapes. */
export const MAMBA_SSM_CONFIG: Config = {
  d_model: 64, d_intermediate: 0, n_layer: 2, vocab_size: 298, ssm_cfg: {}, attn_layer_idx: [], attn_cfg: {}, rms_norm: true,
  residual_in_fp32: true, fused_add_norm: true, pad_vocab_size_multiple: 8, tie_embeddings: true,
};

/**
 * An original state-spaces/mamba-* repo as its safetensors PR has it: mamba_ssm's config.json and
 * `model.safetensors` (`backbone.embedding.weight`, vocabulary padded to 304, no lm_head), no
 * tokenizer — whose files go to `tokenizerDir` (the GPT-NeoX tokenizer repo's part).
 */
export function writeMambaSsmRepo(dir: string, tokenizerDir: string, seed = 1): Map<string, NamedTensor> {
  const tensors = randomMamba({ ...MAMBA_CONFIG, vocab_size: 304 }, seed, "F32");
  const stored = new Map([...tensors].map(([n, t]) => [n === "backbone.embeddings.weight" ? "backbone.embedding.weight" : n, t] as const));
  writeHfCheckpoint(dir, MAMBA_SSM_CONFIG, { dtype: "F32", tensors: stored });
  mkdirSync(tokenizerDir, { recursive: true });
  for (const f of ["tokenizer.json", "tokenizer_config.json"]) renameSync(join(dir, f), join(tokenizerDir, f));
  rmSync(join(dir, "generation_config.json"));
  return tensors;
}
