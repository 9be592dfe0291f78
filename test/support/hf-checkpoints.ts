/**
 * Random-weight checkpoints in the exact Hugging Face layout of each architecture — the tensor
 * names and shapes its transformers `*ForCausalLM` state dict has, the config.json keys its hub
 * repos carry — written as safetensors (BF16, F16 or F32; optionally sharded) with a synthetic
 * tokenizer.json. Written from the architectures' module structure, independently of the converter.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { mulberry32, syntheticVocab } from "./random-llama.ts";
import { llama2cToHfTokenizer, llama2cTokenizerConfig } from "../../src/engine/models/tokenizer-llama2c.ts";
import { roundTo, writeSafetensors, type NamedTensor, type StDtype } from "./safetensors-writer.ts";

export type Config = Record<string, any>;
type Kind = "linear" | "norm" | "bias" | "embed";

/** [name, shape, kind] of every parameter, in state-dict order. */
export function hfParameters(c: Config): [string, number[], Kind][] {
  const t = c.model_type as string;
  if (t === "falcon") return falconParameters(c);
  const D = c.hidden_size, H = c.num_attention_heads, KVH = c.num_key_value_heads ?? H;
  const HD = c.head_dim ?? D / H, I = c.intermediate_size, V = c.vocab_size;
  const out: [string, number[], Kind][] = [["model.embed_tokens.weight", [V, D], "embed"]];
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    out.push([`${p}.input_layernorm.weight`, [D], "norm"]);
    if (t === "phi3") {
      out.push([`${p}.self_attn.qkv_proj.weight`, [(H + 2 * KVH) * HD, D], "linear"]);
    } else {
      const bias = t === "qwen2" || t === "qwen2_moe" || c.attention_bias === true;
      for (const [n, rows] of [["q_proj", H * HD], ["k_proj", KVH * HD], ["v_proj", KVH * HD]] as const) {
        out.push([`${p}.self_attn.${n}.weight`, [rows, D], "linear"]);
        if (bias) out.push([`${p}.self_attn.${n}.bias`, [rows], "bias"]);
      }
    }
    out.push([`${p}.self_attn.o_proj.weight`, [D, H * HD], "linear"]);
    if (c.attention_bias === true && t === "llama") out.push([`${p}.self_attn.o_proj.bias`, [D], "bias"]);
    out.push([`${p}.post_attention_layernorm.weight`, [D], "norm"]);
    const gated = (prefix: string, inter: number) => {
      out.push([`${prefix}.gate_proj.weight`, [inter, D], "linear"], [`${prefix}.up_proj.weight`, [inter, D], "linear"], [`${prefix}.down_proj.weight`, [D, inter], "linear"]);
      if (t === "llama" && c.mlp_bias === true) out.push([`${prefix}.gate_proj.bias`, [inter], "bias"], [`${prefix}.up_proj.bias`, [inter], "bias"], [`${prefix}.down_proj.bias`, [D], "bias"]);
    };
    if (t === "phi3") {
      out.push([`${p}.mlp.gate_up_proj.weight`, [2 * I, D], "linear"], [`${p}.mlp.down_proj.weight`, [D, I], "linear"]);
    } else if (t === "mixtral") {
      out.push([`${p}.block_sparse_moe.gate.weight`, [c.num_local_experts, D], "linear"]);
      for (let e = 0; e < c.num_local_experts; e++) {
        const q = `${p}.block_sparse_moe.experts.${e}`;
        out.push([`${q}.w1.weight`, [I, D], "linear"], [`${q}.w2.weight`, [D, I], "linear"], [`${q}.w3.weight`, [I, D], "linear"]);
      }
    } else if (t === "qwen2_moe" && !(c.mlp_only_layers ?? []).includes(l) && (l + 1) % (c.decoder_sparse_step ?? 1) === 0) {
      out.push([`${p}.mlp.gate.weight`, [c.num_experts, D], "linear"]);
      for (let e = 0; e < c.num_experts; e++) gated(`${p}.mlp.experts.${e}`, c.moe_intermediate_size);
      gated(`${p}.mlp.shared_expert`, c.shared_expert_intermediate_size);
      out.push([`${p}.mlp.shared_expert_gate.weight`, [1, D], "linear"]);
    } else {
      gated(`${p}.mlp`, I);
    }
  }
  out.push(["model.norm.weight", [D], "norm"]);
  if (!c.tie_word_embeddings) out.push(["lm_head.weight", [V, D], "embed"]);
  return out;
}

/** FalconForCausalLM's state dict (transformer.* names; LayerNorms with biases). */
function falconParameters(c: Config): [string, number[], Kind][] {
  const D = c.hidden_size, H = c.num_attention_heads ?? c.n_head, HD = D / H, V = c.vocab_size, F = c.ffn_hidden_size ?? 4 * D;
  const newArch = c.new_decoder_architecture === true, mq = c.multi_query ?? true, parallel = c.parallel_attn ?? true;
  const G = newArch ? (c.num_kv_heads ?? H) : mq ? 1 : H;
  const lns = c.num_ln_in_parallel_attn ?? (newArch ? 2 : 1);
  const out: [string, number[], Kind][] = [["transformer.word_embeddings.weight", [V, D], "embed"]];
  const ln = (n: string) => out.push([`${n}.weight`, [D], "norm"], [`${n}.bias`, [D], "bias"]);
  const lin = (n: string, rows: number, cols: number) => {
    out.push([`${n}.weight`, [rows, cols], "linear"]);
    if (c.bias === true) out.push([`${n}.bias`, [rows], "bias"]);
  };
  for (let l = 0; l < (c.num_hidden_layers ?? c.n_layer); l++) {
    const p = `transformer.h.${l}`;
    if (!parallel) { ln(`${p}.input_layernorm`); ln(`${p}.post_attention_layernorm`); }
    else if (lns === 2) { ln(`${p}.ln_attn`); ln(`${p}.ln_mlp`); }
    else ln(`${p}.input_layernorm`);
    lin(`${p}.self_attention.query_key_value`, (H + 2 * G) * HD, D);
    lin(`${p}.self_attention.dense`, D, D);
    lin(`${p}.mlp.dense_h_to_4h`, F, D);
    lin(`${p}.mlp.dense_4h_to_h`, D, F);
  }
  ln("transformer.ln_f");
  if (c.tie_word_embeddings === false) out.push(["lm_head.weight", [V, D], "embed"]);
  return out;
}

/** Seeded random parameters with activations of order 1, rounded to what `dtype` stores. */
export function randomParameters(c: Config, seed: number, dtype: StDtype): Map<string, NamedTensor> {
  const rnd = mulberry32(seed);
  const m = new Map<string, NamedTensor>();
  for (const [name, shape, kind] of hfParameters(c)) {
    const n = shape.reduce((a, b) => a * b, 1), cols = shape[shape.length - 1]!;
    const scale = kind === "linear" ? Math.sqrt(3 / cols) : kind === "embed" ? Math.sqrt(3) : 0.1;
    const data = Float32Array.from({ length: n }, () => (kind === "norm" ? 0.8 + 0.4 * rnd() : (rnd() * 2 - 1) * scale));
    m.set(name, { shape, data: roundTo(dtype, data) });
  }
  return m;
}

export interface WrittenCheckpoint { dir: string; tensors: Map<string, NamedTensor> }

/** A Hugging Face model folder: config.json, safetensors weights, tokenizer files. */
export function writeHfCheckpoint(dir: string, config: Config, opts: { dtype: StDtype; shards?: number; seed?: number; tensors?: Map<string, NamedTensor> }): WrittenCheckpoint {
  mkdirSync(dir, { recursive: true });
  const tensors = opts.tensors ?? randomParameters(config, opts.seed ?? 1, opts.dtype);
  writeFileSync(join(dir, "config.json"), JSON.stringify(config, null, 2));
  writeSafetensors(dir, [...tensors.entries()], opts.dtype, opts.shards ?? 1);
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(llama2cToHfTokenizer(syntheticVocab(config.vocab_size))));
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify(llama2cTokenizerConfig(config.max_position_embeddings ?? 128)));
  writeFileSync(join(dir, "generation_config.json"), JSON.stringify({ bos_token_id: 1, eos_token_id: 2 }));
  return { dir, tensors };
}
