/**
 * The fused graph form (GroupQueryAttention, RotaryEmbedding, SkipSimplifiedLayerNormalization,
 * SimplifiedLayerNormalization; docs/convert.md "Graph forms") against the same independent
 * references as the standard form: fp32 logits at every prompt position within 1e-4, 32 greedy
 * tokens through transformers.js's generate(), and the node's engine. Cases: Llama 3 (rotary inside
 * GQA), head_dim 8 as stories260K has (rotary in a separate RotaryEmbedding node over the q|k
 * heads of one packed MatMul; with Qwen2's biases too), Mistral with a
 * sliding window shorter than the prompt (GQA local_window_size), Qwen2 (q/k/v biases, GQA 4:1,
 * sliding layers) and Phi-3 longrope (two cos/sin caches switched by length). Configs a fused graph
 * cannot express are refused when the form is asked for.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { convertCase, cleanup, describeFamily } from "../support/convert-check.ts";
import { GRAPH_FORM_KEY } from "../../src/convert/write-folder.ts";
import { mulberry32 } from "../support/random-llama.ts";

setDefaultTimeout(120_000);

const llama = {
  architectures: ["LlamaForCausalLM"], model_type: "llama", hidden_size: 64, intermediate_size: 160, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, vocab_size: 300, max_position_embeddings: 256,
  rms_norm_eps: 1e-5, rope_theta: 500000, hidden_act: "silu", tie_word_embeddings: false,
  rope_scaling: { factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64, rope_type: "llama3" },
  bos_token_id: 1, eos_token_id: 2, torch_dtype: "bfloat16",
};
describeFamily("fused llama 3 (GQA 4:2, rotary inside GroupQueryAttention, BF16)", { dtype: "BF16", form: "fused", config: llama });
describeFamily("fused llama, head_dim 8 as stories260K (q|k packed, one RotaryEmbedding outside GQA, tied, F32)", {
  dtype: "F32", form: "fused", promptLength: 12,
  config: { ...llama, hidden_size: 32, head_dim: 8, num_attention_heads: 4, num_key_value_heads: 2, rope_scaling: null, rope_theta: 10000, tie_word_embeddings: true, torch_dtype: "float32" },
});

describeFamily("fused mistral (sliding window 5 < 16-token prompt → local_window_size 5, BF16)", {
  dtype: "BF16", form: "fused", promptLength: 16,
  config: {
    architectures: ["MistralForCausalLM"], model_type: "mistral", bos_token_id: 1, eos_token_id: 2, hidden_act: "silu",
    hidden_size: 64, intermediate_size: 128, max_position_embeddings: 256, num_attention_heads: 4, num_hidden_layers: 2,
    num_key_value_heads: 2, rms_norm_eps: 1e-5, rope_theta: 10000.0, sliding_window: 5, tie_word_embeddings: false,
    torch_dtype: "bfloat16", vocab_size: 300,
  },
});

describeFamily("fused qwen2 (q/k/v biases, GQA 4:1, layer 1 sliding at 6, BF16)", {
  dtype: "BF16", form: "fused", promptLength: 14,
  config: {
    architectures: ["Qwen2ForCausalLM"], model_type: "qwen2", bos_token_id: 1, eos_token_id: 2, hidden_act: "silu",
    hidden_size: 64, intermediate_size: 176, max_position_embeddings: 256, max_window_layers: 1, num_attention_heads: 4,
    num_hidden_layers: 2, num_key_value_heads: 1, rms_norm_eps: 1e-6, rope_theta: 1000000.0, sliding_window: 6,
    tie_word_embeddings: false, torch_dtype: "bfloat16", use_sliding_window: true, vocab_size: 320,
  },
});

describeFamily("fused qwen2, head_dim 8 (q|k packed into one MatMul with their biases, RotaryEmbedding outside GQA, F32)", {
  dtype: "F32", form: "fused", promptLength: 12,
  config: {
    architectures: ["Qwen2ForCausalLM"], model_type: "qwen2", bos_token_id: 1, eos_token_id: 2, hidden_act: "silu",
    hidden_size: 32, intermediate_size: 64, max_position_embeddings: 256, num_attention_heads: 4,
    num_hidden_layers: 2, num_key_value_heads: 2, rms_norm_eps: 1e-6, rope_theta: 10000.0,
    tie_word_embeddings: false, torch_dtype: "float32", use_sliding_window: false, vocab_size: 320,
  },
});

const falcon = {
  architectures: ["FalconForCausalLM"], model_type: "falcon", hidden_size: 64, num_attention_heads: 4, num_hidden_layers: 2,
  vocab_size: 300, bias: false, multi_query: true, parallel_attn: true, new_decoder_architecture: false, torch_dtype: "float32",
};

const rnd = mulberry32(5);
const factors = (lo: number, hi: number) => Array.from({ length: 8 }, () => lo + (hi - lo) * rnd());
describeFamily("fused phi3 128k (fused qkv, longrope caches switched past 24 tokens, F32)", {
  dtype: "F32", form: "fused", promptLength: 10,
  config: {
    architectures: ["Phi3ForCausalLM"], model_type: "phi3", bos_token_id: 1, eos_token_id: 2, hidden_act: "silu",
    hidden_size: 64, intermediate_size: 128, max_position_embeddings: 256, original_max_position_embeddings: 24,
    num_attention_heads: 4, num_hidden_layers: 2, num_key_value_heads: 2, rms_norm_eps: 1e-5, rope_theta: 10000.0,
    sliding_window: 262144, tie_word_embeddings: false, torch_dtype: "float32", vocab_size: 320,
    rope_scaling: { type: "longrope", short_factor: factors(1, 1.2), long_factor: factors(1.5, 8) },
  },
});

test("config.json records the graph form the engine lays the KV cache out by; fused is the default where the family has it", async () => {
  const form = async (config: Record<string, unknown>, asked?: "standard" | "fused") => {
    const c = await convertCase({ dtype: "F32", config: config as never, ...(asked ? { form: asked } : {}) });
    try {
      return JSON.parse(readFileSync(join(c.out, "config.json"), "utf8"))[GRAPH_FORM_KEY];
    } finally {
      cleanup(c.root);
    }
  };
  const f32 = { ...llama, torch_dtype: "float32" };
  expect(await form(f32)).toBe("fused");
  expect(await form(f32, "standard")).toBe("standard");
  expect(await form({ ...f32, hidden_size: 48, head_dim: 12 })).toBe("standard");
  expect(await form(falcon)).toBe("standard");
});

test("asking for the fused form where GroupQueryAttention cannot express the model is one clear error", async () => {
  const odd = { ...llama, hidden_size: 48, head_dim: 12 };
  await expect(convertCase({ dtype: "F32", form: "fused", config: odd })).rejects.toThrow("--graph fused: GroupQueryAttention needs head_dim a multiple of 8 (got 12)");
  await expect(convertCase({ dtype: "F32", form: "fused", config: falcon })).rejects.toThrow("--graph fused: Falcon");
});
