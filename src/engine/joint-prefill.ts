/**
 * Prompts of the same length that arrive between the same two decode steps are prefilled in one
 * forward pass (batching.ts), instead of one run per prompt: the weights are read once for all of
 * them and ONNX Runtime's matrix kernels run at more rows (docs/performance.md, "Bandwidth-bound
 * model"). What keeps each row's logits and cache bytes equal to its prefill alone:
 *  - no padding: every row's attention is the same [n × n] problem as alone, in both graph forms.
 *    Padding is not enough, measured: a fused (GroupQueryAttention) prefill of n = 16k + 1 tokens
 *    alone gives its last position other bits than the same row padded to any wider run (the
 *    kernel's tiling of the prompt's positions depends on the run's width; stories260K f32, this
 *    CPU; every other n ≤ 40 matched), and the standard form's softmax spans the whole mask width;
 *  - the linear layers see B·n rows instead of n: dense MatMul reduces each output over K in an
 *    order that does not depend on the row count (as for decode batches; asserted by
 *    test/engine/batching.test.ts), and for quantised (MatMulNBits) graphs the load-time probe runs
 *    joint prefills of 1- and 9-token prompts against each alone (invariance-probe.ts) and the
 *    engine turns joint prefill off where they differ.
 * A group of one row is exactly the prefill alone.
 */
import type { OrtTensor, TensorCtor } from "./kv-batch.ts";

/**
 * Tokens (rows × prompt length) one joint prefill may hold; longer prompts prefill alone. Set when
 * graphs returned logits for every position; graphs with `num_logits_to_keep` return one row each,
 * so what this bounds now is the step's activations and the KV it appends, and it has not been
 * re-measured since (a larger bound may pay off).
 */
export const JOINT_PREFILL_TOKENS = 256;

/**
 * Splits rows waiting for prefill into groups run together: equal prompt lengths, at most
 * `maxRows` rows and JOINT_PREFILL_TOKENS tokens per group (a prompt longer than that alone), in
 * arrival order within a length.
 */
export function prefillGroups<T extends { readonly input: readonly number[] }>(rows: readonly T[], maxRows: number): T[][] {
  const byLength = new Map<number, T[][]>();
  for (const r of rows) {
    const n = r.input.length;
    const gs = byLength.get(n) ?? [];
    const g = gs[gs.length - 1];
    if (g && g.length < maxRows && (g.length + 1) * n <= JOINT_PREFILL_TOKENS) g.push(r);
    else gs.push([r]);
    byLength.set(n, gs);
  }
  return [...byLength.values()].flat();
}

/** input_ids, attention_mask (all ones) and position_ids [B, n] for prompts of one length n. */
export function prefillFeeds(Tensor: TensorCtor, inputs: readonly (readonly number[])[]): { input_ids: OrtTensor; attention_mask: OrtTensor; position_ids: OrtTensor } {
  const B = inputs.length;
  const n = inputs[0]!.length;
  const ids = new BigInt64Array(B * n);
  const pos = new BigInt64Array(B * n);
  inputs.forEach((input, b) => {
    if (input.length !== n) throw new Error(`prefillFeeds: prompts of ${n} and ${input.length} tokens in one run`);
    for (let i = 0; i < n; i++) {
      ids[b * n + i] = BigInt(input[i]!);
      pos[b * n + i] = BigInt(i);
    }
  });
  return { input_ids: new Tensor("int64", ids, [B, n]), attention_mask: new Tensor("int64", new BigInt64Array(B * n).fill(1n), [B, n]), position_ids: new Tensor("int64", pos, [B, n]) };
}
