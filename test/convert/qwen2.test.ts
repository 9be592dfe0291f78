/**
 * Qwen1.5 / Qwen2 checkpoints (`model_type: qwen2`, config keys as in Qwen/Qwen1.5-0.5B) → ONNX,
 * against the independent reference: q/k/v biases, tied embeddings (as the 0.5B has), and the
 * `use_sliding_window` variant where only layers ≥ max_window_layers slide.
 */
import { setDefaultTimeout } from "bun:test";
import { describeFamily } from "../support/convert-check.ts";

setDefaultTimeout(120_000);

const base = {
  architectures: ["Qwen2ForCausalLM"], model_type: "qwen2", attention_dropout: 0.0, bos_token_id: 1, eos_token_id: 2,
  hidden_act: "silu", hidden_size: 64, initializer_range: 0.02, intermediate_size: 176, max_position_embeddings: 256,
  max_window_layers: 21, num_attention_heads: 4, num_hidden_layers: 2, num_key_value_heads: 4, rms_norm_eps: 1e-6,
  rope_theta: 1000000.0, sliding_window: 32768, tie_word_embeddings: true, torch_dtype: "bfloat16",
  transformers_version: "4.37.0", use_cache: true, use_sliding_window: false, vocab_size: 320,
};

describeFamily("qwen1.5 (q/k/v bias, tied, MHA, BF16)", { dtype: "BF16", config: base });
describeFamily("qwen2 (GQA 4:1, untied, use_sliding_window with layer 1 ≥ max_window_layers sliding at 6, 2 shards, BF16)", {
  dtype: "BF16",
  shards: 2,
  promptLength: 14,
  config: { ...base, num_key_value_heads: 1, tie_word_embeddings: false, use_sliding_window: true, sliding_window: 6, max_window_layers: 1 },
});
