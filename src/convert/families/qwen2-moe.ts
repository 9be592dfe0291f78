/**
 * Qwen1.5-MoE / Qwen2-MoE (`Qwen2MoeForCausalLM`): Qwen2 attention (q/k/v biases, optional
 * sliding layers) with, in layers l where l ∉ mlp_only_layers and (l + 1) % decoder_sparse_step = 0,
 * a sparse block: router `mlp.gate` softmax (fp32) → top-k, renormalised only if `norm_topk_prob`,
 * experts of `moe_intermediate_size`, plus `shared_expert` (`shared_expert_intermediate_size`)
 * scaled by sigmoid(`shared_expert_gate` x). Other layers use a dense Qwen2 MLP of
 * `intermediate_size`. Defaults: transformers' Qwen2MoeConfig.
 */
import { decoderPlan, bool, int, llamaLike, windowOf, type Family } from "./common.ts";
import { ConvertError } from "../tensors.ts";
import type { MlpSpec } from "../mlp.ts";

export const qwen2Moe: Family = {
  modelType: "qwen2_moe",
  architectures: ["Qwen2MoeForCausalLM"],
  plan(c) {
    const sliding = bool(c, "use_sliding_window", false) ? windowOf(c, 4096) : null;
    const firstSliding = int(c, "max_window_layers", 28, 0);
    const experts = int(c, "num_experts", 60, 0), topK = int(c, "num_experts_per_tok", 4);
    const step = int(c, "decoder_sparse_step", 1), normalize = bool(c, "norm_topk_prob", false);
    const expertI = int(c, "moe_intermediate_size", 1408), sharedI = int(c, "shared_expert_intermediate_size", 5632);
    const dense = c.mlp_only_layers ?? [];
    if (!Array.isArray(dense) || !dense.every(Number.isInteger)) throw new ConvertError(`config.json: "mlp_only_layers" is ${JSON.stringify(dense)}, expected a list of layer indices`);
    if (experts > 0 && topK > experts) throw new ConvertError(`config.json: num_experts_per_tok ${topK} exceeds num_experts ${experts}`);
    const mlp = (l: number, intermediate: number): MlpSpec =>
      !dense.includes(l) && experts > 0 && (l + 1) % step === 0
        ? {
          kind: "moe", router: "mlp.gate", experts, topK, normalize, intermediate: expertI,
          expert: (e) => ({ gate: `mlp.experts.${e}.gate_proj`, up: `mlp.experts.${e}.up_proj`, down: `mlp.experts.${e}.down_proj` }),
          shared: { prefix: "mlp.shared_expert", intermediate: sharedI, gate: "mlp.shared_expert_gate" },
        }
        : { kind: "gated", prefix: "mlp", intermediate, fused: false, bias: false };
    return decoderPlan(llamaLike(
      c,
      { vocab: 151936, hidden: 2048, intermediate: 5632, layers: 24, heads: 16, maxPositions: 32768, rmsEps: 1e-6, ropeTheta: 10000 },
      { qkvBias: true, slidingWindow: (l) => (sliding !== null && l >= firstSliding ? sliding : null), mlp },
    ));
  },
};
