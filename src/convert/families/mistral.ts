/**
 * Mistral (`MistralForCausalLM`): Llama with sliding-window attention — a query at position q sees
 * keys k with q − k < sliding_window (transformers' `sliding_window_overlay`), null = full
 * attention. Defaults: transformers' MistralConfig (8 KV heads, window 4096).
 */
import { decoderPlan, llamaLike, windowOf, type Family } from "./common.ts";

export const mistral: Family = {
  modelType: "mistral",
  architectures: ["MistralForCausalLM"],
  plan(c) {
    const window = windowOf(c, 4096);
    return decoderPlan(llamaLike(
      c,
      { vocab: 32000, hidden: 4096, intermediate: 14336, layers: 32, heads: 32, kvHeads: 8, maxPositions: 4096 * 32, rmsEps: 1e-6, ropeTheta: 10000 },
      { slidingWindow: () => window },
    ));
  },
};
