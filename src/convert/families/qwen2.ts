/**
 * Qwen2 / Qwen1.5 (`Qwen2ForCausalLM`): Llama with biases on q/k/v (not o); sliding-window
 * attention only when `use_sliding_window`, and then only in layers ≥ `max_window_layers`
 * (transformers' `layer_types`). Defaults: transformers' Qwen2Config.
 */
import { decoderPlan, bool, int, llamaLike, windowOf, type Family } from "./common.ts";

export const qwen2: Family = {
  modelType: "qwen2",
  architectures: ["Qwen2ForCausalLM"],
  plan(c) {
    const sliding = bool(c, "use_sliding_window", false) ? windowOf(c, 4096) : null;
    const firstSliding = int(c, "max_window_layers", 28, 0);
    return decoderPlan(llamaLike(
      c,
      { vocab: 151936, hidden: 4096, intermediate: 22016, layers: 32, heads: 32, maxPositions: 32768, rmsEps: 1e-6, ropeTheta: 10000 },
      { qkvBias: true, slidingWindow: (l) => (sliding !== null && l >= firstSliding ? sliding : null) },
    ));
  },
};
