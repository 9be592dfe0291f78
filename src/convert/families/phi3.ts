/**
 * Phi-3 (`Phi3ForCausalLM`): Llama with fused projections — `qkv_proj` [(H + 2·KVH)·hd, D] (q rows,
 * then k, then v) and `gate_up_proj` [2·I, D] (gate half first) — optional sliding window
 * (Phi-3-mini-4k: 2047), `partial_rotary_factor`, and `longrope`/`su` scaling (128k models: short
 * factors up to `original_max_position_embeddings`, long beyond, cos/sin scaled by the attention
 * factor). Defaults: transformers' Phi3Config.
 */
import { decoderPlan, llamaLike, windowOf, type Family } from "./common.ts";
import { ConvertError } from "../tensors.ts";

export const phi3: Family = {
  modelType: "phi3",
  architectures: ["Phi3ForCausalLM"],
  plan(c) {
    const window = windowOf(c, null);
    for (const k of ["attention_bias", "mlp_bias"]) if (c[k] === true) throw new ConvertError(`config.json: Phi-3 with ${k} = true is not supported`);
    return decoderPlan(llamaLike(
      { original_max_position_embeddings: 4096, ...c },
      { vocab: 32064, hidden: 3072, intermediate: 8192, layers: 32, heads: 32, maxPositions: 4096, rmsEps: 1e-5, ropeTheta: 10000 },
      { fusedQkv: true, slidingWindow: () => window, mlp: (_, intermediate) => ({ kind: "gated", prefix: "mlp", intermediate, fused: true, bias: false }) },
    ));
  },
};
