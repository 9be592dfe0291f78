/**
 * The int64 inputs of one batched decode step (input_ids [B, 1], position_ids [B, 1],
 * attention_mask [B, T]) written into buffers kept across steps, so a step allocates three small
 * tensor objects and no arrays: the mask is filled with native `fill` runs (padding zeros, then
 * ones) instead of being built value by value and converted to BigInt. ONNX Runtime reads the
 * buffers only while the step's run() executes, and steps of one decoder never overlap.
 */
import type { OrtTensor, TensorCtor } from "./kv-batch.ts";

/** One row of a step: its last token, its position, and how many leading cache slots are padding. */
export interface StepRow {
  readonly last: number;
  readonly cached: number;
  readonly pad: number;
}

export class StepFeeds {
  private ids = new BigInt64Array(8);
  private pos = new BigInt64Array(8);
  private mask = new BigInt64Array(256);

  /** `leftAligned`: fused (GroupQueryAttention) graphs, whose rows' slots start at 0 (kv-batch.ts). */
  constructor(private readonly Tensor: TensorCtor, private readonly leftAligned = false) {}

  /**
   * Feeds for `rows` plus `idle` fully masked rows (token 0 at position 0, attending only to the
   * step's own slot: the last one, or slot 0 when left-aligned), with T = slots + 1 mask columns.
   */
  build(rows: readonly StepRow[], idle: number, slots: number): { input_ids: OrtTensor; attention_mask: OrtTensor; position_ids: OrtTensor } {
    const B = rows.length + idle;
    const T = slots + 1;
    if (this.ids.length < B) {
      this.ids = new BigInt64Array(B * 2);
      this.pos = new BigInt64Array(B * 2);
    }
    if (this.mask.length < B * T) this.mask = new BigInt64Array(B * T * 2);
    const { ids, pos, mask, leftAligned } = this;
    rows.forEach((r, b) => {
      ids[b] = BigInt(r.last);
      pos[b] = BigInt(r.cached);
      if (leftAligned) mask.fill(1n, b * T, b * T + r.cached + 1).fill(0n, b * T + r.cached + 1, (b + 1) * T);
      else mask.fill(0n, b * T, b * T + r.pad).fill(1n, b * T + r.pad, (b + 1) * T);
    });
    for (let b = rows.length; b < B; b++) {
      ids[b] = 0n;
      pos[b] = 0n;
      if (leftAligned) mask.fill(0n, b * T, (b + 1) * T)[b * T] = 1n;
      else mask.fill(0n, b * T, (b + 1) * T - 1)[(b + 1) * T - 1] = 1n;
    }
    return {
      input_ids: new this.Tensor("int64", ids.subarray(0, B), [B, 1]),
      attention_mask: new this.Tensor("int64", mask.subarray(0, B * T), [B, T]),
      position_ids: new this.Tensor("int64", pos.subarray(0, B), [B, 1]),
    };
  }
}
