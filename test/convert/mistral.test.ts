/**
 * Mistral checkpoints (Hugging Face layout, config keys as in mistralai/Mistral-7B-v0.1) → ONNX,
 * against the independent reference: sliding window 5 with a 16-token prompt and 32 generated
 * tokens, so most attention rows are cut by the window; plus `sliding_window: null` (v0.2+).
 */
import { setDefaultTimeout } from "bun:test";
import { describeFamily } from "../support/convert-check.ts";

setDefaultTimeout(120_000);

const base = {
  architectures: ["MistralForCausalLM"], model_type: "mistral", bos_token_id: 1, eos_token_id: 2, hidden_act: "silu",
  hidden_size: 64, initializer_range: 0.02, intermediate_size: 128, max_position_embeddings: 256, num_attention_heads: 4,
  num_hidden_layers: 2, num_key_value_heads: 2, rms_norm_eps: 1e-5, rope_theta: 10000.0, tie_word_embeddings: false,
  torch_dtype: "bfloat16", transformers_version: "4.34.0", use_cache: true, vocab_size: 300,
};

describeFamily("mistral (GQA 4:2, sliding window 5 < 16-token prompt, BF16)", { dtype: "BF16", promptLength: 16, config: { ...base, sliding_window: 5 } });
describeFamily("mistral v0.2 style (sliding_window null, rope_theta 1e6, F16)", { dtype: "F16", config: { ...base, sliding_window: null, rope_theta: 1000000.0 } });
