/**
 * Mixtral (`MixtralForCausalLM`): Mistral attention with a sparse MoE feed-forward
 * (`block_sparse_moe`): router `gate` [E, D], softmax over experts in fp32, top-k (k =
 * num_experts_per_tok), weights renormalised to sum 1, experts `w2(silu(w1 x) · w3 x)`.
 * Defaults: transformers' MixtralConfig (8 experts, top-2, rope_theta 1e6, no sliding window).
 * transformers.js 4.3.1 has no mixtral class: the graph keeps the Llama KV-cache contract, so a
 * decode loop for Llama graphs runs it (config.json still says mixtral).
 */
import { decoderPlan, int, llamaLike, windowOf, type Family } from "./common.ts";
import { ConvertError } from "../tensors.ts";

export const mixtral: Family = {
  modelType: "mixtral",
  architectures: ["MixtralForCausalLM"],
  plan(c) {
    const window = windowOf(c, null);
    const experts = int(c, "num_local_experts", 8), topK = int(c, "num_experts_per_tok", 2);
    if (topK > experts) throw new ConvertError(`config.json: num_experts_per_tok ${topK} exceeds num_local_experts ${experts}`);
    return decoderPlan(llamaLike(
      c,
      { vocab: 32000, hidden: 4096, intermediate: 14336, layers: 32, heads: 32, kvHeads: 8, maxPositions: 4096 * 32, rmsEps: 1e-5, ropeTheta: 1e6 },
      {
        slidingWindow: () => window,
        mlp: (_, intermediate) => ({
          kind: "moe", router: "block_sparse_moe.gate", experts, topK, normalize: true, intermediate,
          expert: (e) => ({ gate: `block_sparse_moe.experts.${e}.w1`, up: `block_sparse_moe.experts.${e}.w3`, down: `block_sparse_moe.experts.${e}.w2` }),
        }),
      },
    ));
  },
};
