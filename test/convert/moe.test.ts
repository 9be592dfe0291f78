/**
 * Mixture-of-experts checkpoints → ONNX, against the independent reference: Mixtral (top-2 of 4,
 * renormalised) and Qwen1.5-MoE (`qwen2_moe`: top-2 of 4 without renormalisation plus the
 * sigmoid-gated shared expert; a dense layer from mlp_only_layers; and a renormalised, sharded
 * variant). Router rows of three experts are made near-equal (logits 1e-3 apart), so which experts
 * a token gets is decided by small differences, as in real routers with close calls.
 * transformers.js 4.3.1 has no Mixtral class, so Mixtral's graph runs on onnxruntime-node directly.
 */
import { setDefaultTimeout } from "bun:test";
import { describeFamily } from "../support/convert-check.ts";
import { mulberry32 } from "../support/random-llama.ts";
import type { NamedTensor } from "../support/safetensors-writer.ts";
import { roundTo } from "../support/safetensors-writer.ts";

setDefaultTimeout(120_000);

/** Experts 1..3 of each router get row 1 plus a perturbation of relative size 1e-3. */
function closeRouters(suffix: string, dtype: "BF16" | "F32") {
  return (t: Map<string, NamedTensor>) => {
    const rnd = mulberry32(17);
    for (const [name, x] of t) {
      if (!name.endsWith(suffix)) continue;
      const D = x.shape[1]!;
      const row1 = x.data.slice(D, 2 * D);
      for (let e = 2; e < 4; e++) for (let i = 0; i < D; i++) x.data[e * D + i] = row1[i]! + 1e-3 * (rnd() * 2 - 1);
      x.data.set(roundTo(dtype, x.data));
    }
  };
}

describeFamily("mixtral (top-2 of 4 experts, renormalised, close router calls, GQA, F32)", {
  runner: "ort",
  dtype: "F32",
  edit: closeRouters("block_sparse_moe.gate.weight", "F32"),
  config: {
    architectures: ["MixtralForCausalLM"], model_type: "mixtral", attention_dropout: 0.0, bos_token_id: 1, eos_token_id: 2,
    hidden_act: "silu", hidden_size: 64, initializer_range: 0.02, intermediate_size: 96, max_position_embeddings: 256,
    num_attention_heads: 4, num_experts_per_tok: 2, num_hidden_layers: 2, num_key_value_heads: 2, num_local_experts: 4,
    output_router_logits: false, rms_norm_eps: 1e-5, rope_theta: 1000000.0, router_aux_loss_coef: 0.02, sliding_window: null,
    tie_word_embeddings: false, torch_dtype: "bfloat16", transformers_version: "4.36.0", use_cache: true, vocab_size: 300,
  },
});

const qwenMoe = {
  architectures: ["Qwen2MoeForCausalLM"], model_type: "qwen2_moe", attention_dropout: 0.0, bos_token_id: 1, eos_token_id: 2,
  decoder_sparse_step: 1, hidden_act: "silu", hidden_size: 64, initializer_range: 0.02, intermediate_size: 160,
  max_position_embeddings: 256, max_window_layers: 21, moe_intermediate_size: 48, norm_topk_prob: false,
  num_attention_heads: 4, num_experts: 4, num_experts_per_tok: 2, num_hidden_layers: 3, num_key_value_heads: 4,
  output_router_logits: false, rms_norm_eps: 1e-6, rope_theta: 1000000.0, router_aux_loss_coef: 0.001,
  shared_expert_intermediate_size: 128, sliding_window: 32768, tie_word_embeddings: false, torch_dtype: "bfloat16",
  transformers_version: "4.40.0.dev0", use_cache: true, use_sliding_window: false, vocab_size: 300, mlp_only_layers: [1],
};

describeFamily("qwen1.5-moe (top-2 of 4, no renormalisation, shared expert with sigmoid gate, layer 1 dense, close router calls, BF16)", {
  dtype: "BF16",
  edit: closeRouters("mlp.gate.weight", "BF16"),
  config: qwenMoe,
});

describeFamily("qwen2-moe (norm_topk_prob, every layer sparse, 2 shards, BF16)", {
  dtype: "BF16",
  shards: 2,
  seed: 9,
  config: { ...qwenMoe, norm_topk_prob: true, mlp_only_layers: [], num_hidden_layers: 2 },
});
