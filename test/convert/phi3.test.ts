/**
 * Phi-3 checkpoints (config keys as in microsoft/Phi-3-mini-4k-instruct and -128k-instruct) → ONNX,
 * against the independent reference: fused qkv_proj and gate_up_proj, the 4k model's sliding
 * window, and longrope scaling where the prompt starts below original_max_position_embeddings and
 * generation crosses it (short factors, then long ones, as transformers switches per call).
 */
import { setDefaultTimeout } from "bun:test";
import { describeFamily } from "../support/convert-check.ts";
import { mulberry32 } from "../support/random-llama.ts";

setDefaultTimeout(120_000);

const base = {
  architectures: ["Phi3ForCausalLM"], model_type: "phi3", attention_bias: false, attention_dropout: 0.0, bos_token_id: 1,
  embd_pdrop: 0.0, eos_token_id: 2, hidden_act: "silu", hidden_size: 64, initializer_range: 0.02, intermediate_size: 128,
  max_position_embeddings: 64, num_attention_heads: 4, num_hidden_layers: 2, num_key_value_heads: 4,
  original_max_position_embeddings: 64, pad_token_id: 0, resid_pdrop: 0.0, rms_norm_eps: 1e-5, rope_scaling: null,
  rope_theta: 10000.0, sliding_window: 7, tie_word_embeddings: false, torch_dtype: "bfloat16", transformers_version: "4.40.2",
  use_cache: true, vocab_size: 320,
};

describeFamily("phi3 mini 4k style (fused qkv/gate_up, sliding window 7 < 12-token prompt, BF16)", { dtype: "BF16", promptLength: 12, config: base });

const rnd = mulberry32(5);
const factors = (lo: number, hi: number) => Array.from({ length: 8 }, () => lo + (hi - lo) * rnd());
describeFamily("phi3 128k style (longrope: prompt below original_max_position_embeddings 24, generation crosses it; GQA; F32)", {
  dtype: "F32",
  promptLength: 10,
  config: {
    ...base, max_position_embeddings: 256, original_max_position_embeddings: 24, sliding_window: 262144, num_key_value_heads: 2,
    rope_scaling: { type: "longrope", short_factor: factors(1, 1.2), long_factor: factors(1.5, 8) },
  },
});
