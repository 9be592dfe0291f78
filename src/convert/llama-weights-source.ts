/**
 * In-memory Llama weights (the llama2.c reader's output, test models) as one more pipeline source:
 * the tensors under their Hugging Face names plus the config.json a LlamaForCausalLM checkpoint
 * with these shapes would carry.
 */
import { validateLlamaWeights, type LlamaWeights } from "../engine/models/llama-weights.ts";
import type { HfConfig } from "./families/common.ts";
import { memorySource, type TensorSource } from "./tensors.ts";

export function llamaHfConfig(w: LlamaWeights): HfConfig {
  const c = w.config;
  return {
    model_type: "llama",
    architectures: ["LlamaForCausalLM"],
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_attention_heads: c.numHeads,
    num_key_value_heads: c.numKvHeads,
    head_dim: c.headDim,
    num_hidden_layers: c.numLayers,
    vocab_size: c.vocabSize,
    max_position_embeddings: c.maxPositions,
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    hidden_act: "silu",
    bos_token_id: c.bosTokenId,
    eos_token_id: c.eosTokenId,
    tie_word_embeddings: c.tieWordEmbeddings,
    torch_dtype: "float32",
  };
}

export function llamaWeightsSource(w: LlamaWeights): { config: HfConfig; source: TensorSource } {
  validateLlamaWeights(w);
  const c = w.config, D = c.hiddenSize, I = c.intermediateSize, Q = c.numHeads * c.headDim, KV = c.numKvHeads * c.headDim;
  const t = new Map<string, { shape: number[]; data: Float32Array }>();
  const put = (name: string, data: Float32Array, shape: number[]) => t.set(name, { shape, data });
  put("model.embed_tokens.weight", w.embed, [c.vocabSize, D]);
  w.layers.forEach((l, i) => {
    const p = `model.layers.${i}`;
    put(`${p}.input_layernorm.weight`, l.attnNorm, [D]);
    put(`${p}.self_attn.q_proj.weight`, l.wq, [Q, D]);
    put(`${p}.self_attn.k_proj.weight`, l.wk, [KV, D]);
    put(`${p}.self_attn.v_proj.weight`, l.wv, [KV, D]);
    put(`${p}.self_attn.o_proj.weight`, l.wo, [D, Q]);
    put(`${p}.post_attention_layernorm.weight`, l.ffnNorm, [D]);
    put(`${p}.mlp.gate_proj.weight`, l.gate, [I, D]);
    put(`${p}.mlp.up_proj.weight`, l.up, [I, D]);
    put(`${p}.mlp.down_proj.weight`, l.down, [D, I]);
  });
  put("model.norm.weight", w.finalNorm, [D]);
  if (w.lmHead) put("lm_head.weight", w.lmHead, [c.vocabSize, D]);
  return { config: llamaHfConfig(w), source: memorySource(t) };
}
