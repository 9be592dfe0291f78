/**
 * Llama checkpoints in Hugging Face layout → ONNX, against the independent reference: Llama-3-style
 * (GQA, llama3 rope scaling, BF16, untied) and Llama-2-style (MHA, tied, linear scaling, q/k/v/o and
 * MLP biases, F32, three shards).
 */
import { setDefaultTimeout } from "bun:test";
import { describeFamily } from "../support/convert-check.ts";

setDefaultTimeout(120_000);

describeFamily("llama 3 (GQA 4:2, llama3 rope scaling, BF16)", {
  dtype: "BF16",
  config: {
    architectures: ["LlamaForCausalLM"], model_type: "llama", hidden_size: 64, intermediate_size: 160, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, vocab_size: 300, max_position_embeddings: 256,
    rms_norm_eps: 1e-5, rope_theta: 500000, hidden_act: "silu", attention_bias: false, mlp_bias: false, tie_word_embeddings: false,
    rope_scaling: { factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64, rope_type: "llama3" },
    bos_token_id: 1, eos_token_id: 2, torch_dtype: "bfloat16",
  },
});

describeFamily("llama 2 style (MHA, tied, linear scaling, attention and MLP biases, F32, 3 shards)", {
  dtype: "F32",
  shards: 3,
  config: {
    architectures: ["LlamaForCausalLM"], model_type: "llama", hidden_size: 48, intermediate_size: 96, num_hidden_layers: 3,
    num_attention_heads: 4, vocab_size: 280, max_position_embeddings: 128, rms_norm_eps: 1e-6,
    attention_bias: true, mlp_bias: true, tie_word_embeddings: true, rope_scaling: { type: "linear", factor: 2 },
    bos_token_id: 1, eos_token_id: 2, torch_dtype: "float32",
  },
});
