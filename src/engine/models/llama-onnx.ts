/**
 * One Llama ONNX graph from in-memory weights, in memory (tests, the llama2.c importer's checks).
 * The graph itself is the converter's shared decoder writer (src/convert/decoder.ts): these
 * weights enter it as one more source under their Hugging Face names.
 */
import { GraphBuilder, type EncodedOnnx } from "./onnx-graph.ts";
import type { LlamaWeights } from "./llama-weights.ts";
import { GraphOps, VARIANTS, VARIANT_SPECS, type AccuracyLevel, type GraphForm, type Variant, type VariantSpec } from "../../convert/ops.ts";
import { llamaWeightsSource } from "../../convert/llama-weights-source.ts";
import { llama } from "../../convert/families/llama.ts";
import { Weights } from "../../convert/tensors.ts";

export type LlamaVariant = Variant;
export const LLAMA_VARIANTS: readonly LlamaVariant[] = VARIANTS;
export { VARIANT_SPECS, type VariantSpec };

export interface BuildOptions {
  /** Store large initializers in this side file (name relative to the .onnx file) instead of inline. */
  externalData?: string;
  /** Graph form (default standard). */
  form?: GraphForm;
  /** MatMulNBits accuracy_level of quantised variants (default: defaultAccuracyLevel per variant). */
  accuracyLevel?: AccuracyLevel;
}

export function buildLlamaOnnx(weights: LlamaWeights, variant: LlamaVariant, opts: BuildOptions = {}): EncodedOnnx {
  const { config, source } = llamaWeightsSource(weights);
  const g = new GraphBuilder();
  const ops = new GraphOps(g, new Weights(source), variant, false, opts.form ?? "standard");
  ops.accuracyLevel = opts.accuracyLevel;
  llama.plan(config).write(ops);
  return g.encode("llama", "atoma-node", opts.externalData);
}
