/**
 * Falcon checkpoints (config keys as in tiiuae/falcon-7b and falcon-40b) → ONNX, against the
 * independent reference (test/support/reference-falcon.ts): multi-query + parallel attention (7B),
 * new_decoder_architecture with grouped KV heads and ln_attn/ln_mlp (40B/180B), and the sequential
 * multi-head layout with biases; LayerNorm with bias, exact GELU, tied embeddings.
 */
import { setDefaultTimeout } from "bun:test";
import { describeFamily } from "../support/convert-check.ts";

setDefaultTimeout(120_000);

const base = {
  architectures: ["FalconForCausalLM"], model_type: "falcon", alibi: false, apply_residual_connection_post_layernorm: false,
  attention_dropout: 0.0, bias: false, bos_token_id: 1, eos_token_id: 2, hidden_dropout: 0.0, hidden_size: 64,
  initializer_range: 0.02, layer_norm_epsilon: 1e-5, max_position_embeddings: 256, multi_query: true,
  new_decoder_architecture: false, num_attention_heads: 4, num_hidden_layers: 2, num_kv_heads: null, parallel_attn: true,
  torch_dtype: "bfloat16", transformers_version: "4.33.0", use_cache: true, vocab_size: 300,
};

describeFamily("falcon 7b style (multi-query, parallel attention, tied, BF16)", { dtype: "BF16", config: base });
describeFamily("falcon 40b style (new_decoder_architecture, 4 heads in 2 KV groups, ln_attn/ln_mlp, untied, 2 shards, BF16)", {
  dtype: "BF16",
  shards: 2,
  config: { ...base, new_decoder_architecture: true, num_kv_heads: 2, tie_word_embeddings: false },
});
describeFamily("falcon sequential (multi-head, post_attention_layernorm, biases, ffn_hidden_size, F32)", {
  dtype: "F32",
  config: { ...base, multi_query: false, parallel_attn: false, bias: true, ffn_hidden_size: 96 },
});
