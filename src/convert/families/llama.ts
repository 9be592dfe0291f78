/**
 * Llama (`LlamaForCausalLM`): RMSNorm, rotary attention with grouped KV heads, gated SiLU MLP.
 * `attention_bias` adds q/k/v/o biases, `mlp_bias` gate/up/down biases; rope scaling `linear` and
 * `llama3` (Llama 3.1+) are static frequency rescalings. Defaults: transformers' LlamaConfig.
 */
import { decoderPlan, bool, llamaLike, type Family } from "./common.ts";

export const llama: Family = {
  modelType: "llama",
  architectures: ["LlamaForCausalLM"],
  plan(c) {
    const attnBias = bool(c, "attention_bias", false), mlpBias = bool(c, "mlp_bias", false);
    return decoderPlan(llamaLike(
      c,
      { vocab: 32000, hidden: 4096, intermediate: 11008, layers: 32, heads: 32, maxPositions: 2048, rmsEps: 1e-6, ropeTheta: 10000 },
      { qkvBias: attnBias, oBias: attnBias, mlp: (_, intermediate) => ({ kind: "gated", prefix: "mlp", intermediate, fused: false, bias: mlpBias }) },
    ));
  },
};
