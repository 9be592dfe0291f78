/**
 * llama.cpp tensor names → Hugging Face names, for GGUF (`token_embd`, `blk.N.attn_q`, …) and the
 * older GGML `ggjt` files (`tok_embeddings`, `layers.N.attention.wq`, …). ggml lists dimensions
 * innermost first, so [ne0, ne1] is ne1 rows of ne0 values: reversed, that is the PyTorch
 * `[out, in]` shape. Q and K are marked for un-permuting (llama.cpp's converters store them in
 * Meta's interleaved RoPE order); Mixtral's stacked expert tensors [D, I, E] are split per expert.
 */
import type { GgmlType } from "../quant/ggml-types.ts";
import { ConvertError } from "../tensors.ts";
import type { BlockTensor } from "./block-source.ts";

export interface FileTensor {
  name: string;
  /** ggml order, innermost first. */
  dims: number[];
  type: GgmlType;
  start: number;
  bytes: number;
}

type Role = { hf: (layer: string) => string; permute?: "q" | "k" };

const L = (layer: string) => `model.layers.${layer}`;
const ROLES: Record<string, Role> = {
  // GGUF
  attn_norm: { hf: (l) => `${L(l)}.input_layernorm.weight` },
  attn_q: { hf: (l) => `${L(l)}.self_attn.q_proj.weight`, permute: "q" },
  attn_k: { hf: (l) => `${L(l)}.self_attn.k_proj.weight`, permute: "k" },
  attn_v: { hf: (l) => `${L(l)}.self_attn.v_proj.weight` },
  attn_output: { hf: (l) => `${L(l)}.self_attn.o_proj.weight` },
  ffn_norm: { hf: (l) => `${L(l)}.post_attention_layernorm.weight` },
  ffn_gate: { hf: (l) => `${L(l)}.mlp.gate_proj.weight` },
  ffn_up: { hf: (l) => `${L(l)}.mlp.up_proj.weight` },
  ffn_down: { hf: (l) => `${L(l)}.mlp.down_proj.weight` },
  ffn_gate_inp: { hf: (l) => `${L(l)}.block_sparse_moe.gate.weight` },
  // GGML ggjt (llama.cpp before GGUF)
  "attention.wq": { hf: (l) => `${L(l)}.self_attn.q_proj.weight`, permute: "q" },
  "attention.wk": { hf: (l) => `${L(l)}.self_attn.k_proj.weight`, permute: "k" },
  "attention.wv": { hf: (l) => `${L(l)}.self_attn.v_proj.weight` },
  "attention.wo": { hf: (l) => `${L(l)}.self_attn.o_proj.weight` },
  attention_norm: { hf: (l) => `${L(l)}.input_layernorm.weight` },
  "feed_forward.w1": { hf: (l) => `${L(l)}.mlp.gate_proj.weight` },
  "feed_forward.w2": { hf: (l) => `${L(l)}.mlp.down_proj.weight` },
  "feed_forward.w3": { hf: (l) => `${L(l)}.mlp.up_proj.weight` },
};

const GLOBAL: Record<string, string> = {
  "token_embd.weight": "model.embed_tokens.weight",
  "output_norm.weight": "model.norm.weight",
  "output.weight": "lm_head.weight",
  "tok_embeddings.weight": "model.embed_tokens.weight",
  "norm.weight": "model.norm.weight",
};

/** Mixtral experts: GGUF per-expert `ffn_gate.E` (early files) and stacked `ffn_gate_exps`. */
const EXPERT_PART: Record<string, string> = { gate: "w1", down: "w2", up: "w3" };

export interface Heads {
  heads: number;
  kvHeads: number;
}

export function mapLlamaCppTensors(path: string, tensors: FileTensor[], heads: Heads): Map<string, BlockTensor> {
  const out = new Map<string, BlockTensor>();
  const put = (hf: string, t: FileTensor, shape: number[], start: number, bytes: number, permute?: "q" | "k") => {
    if (out.has(hf)) throw new ConvertError(`${path}: tensors ${out.get(hf)!.fileName} and ${t.name} both map to ${hf}`);
    const entry: BlockTensor = { fileName: t.name, type: t.type, shape, start, bytes };
    if (permute) {
      const h = permute === "q" ? heads.heads : heads.kvHeads;
      if (shape.length !== 2 || shape[0]! % (2 * h) !== 0) {
        throw new ConvertError(`${path}: tensor ${t.name} has shape [${t.dims.join(", ")}], which does not split into ${h} heads of even size`);
      }
      entry.unpermuteHeads = h;
    }
    out.set(hf, entry);
  };
  for (const t of tensors) {
    const shape = [...t.dims].reverse();
    const global = GLOBAL[t.name];
    if (global) { put(global, t, shape, t.start, t.bytes); continue; }
    if (t.name === "rope_freqs.weight") {
      throw new ConvertError(`${path}: tensor rope_freqs.weight (per-frequency RoPE factors, Llama 3.1 style) is not supported by the importer`);
    }
    const m = /^(?:blk|layers)\.(\d+)\.(.+)\.weight$/.exec(t.name);
    if (!m) throw new ConvertError(`${path}: tensor ${t.name} is not part of a Llama-family checkpoint (unknown name)`);
    const [, layer, role] = m as unknown as [string, string, string];
    const known = ROLES[role];
    if (known) { put(known.hf(layer), t, shape, t.start, t.bytes, known.permute); continue; }
    const single = /^ffn_(gate|down|up)\.(\d+)$/.exec(role);
    if (single) {
      put(`${L(layer)}.block_sparse_moe.experts.${single[2]}.${EXPERT_PART[single[1]!]}.weight`, t, shape, t.start, t.bytes);
      continue;
    }
    const stacked = /^ffn_(gate|down|up)_exps$/.exec(role);
    if (stacked && t.dims.length === 3) {
      const experts = t.dims[2]!, each = t.bytes / experts;
      for (let e = 0; e < experts; e++) {
        put(`${L(layer)}.block_sparse_moe.experts.${e}.${EXPERT_PART[stacked[1]!]}.weight`, t, [t.dims[1]!, t.dims[0]!], t.start + e * each, each);
      }
      continue;
    }
    throw new ConvertError(`${path}: tensor ${t.name} is not part of a Llama-family checkpoint (unknown role ${role})`);
  }
  return out;
}
