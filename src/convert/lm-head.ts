/**
 * The classifier every family graph ends with, and the `num_logits_to_keep` input in front of it
 * (docs/convert.md, "Graph contract"). A prefill of S tokens needs the logits of its last position
 * only, but a graph that always returns `logits` [B, S, vocab] runs the lm_head S times and hands
 * back B·S·vocab floats (Llama 3, vocab 128256: ~1 GB for a 2000-token prompt), which
 * onnxruntime-node copies into a new JS buffer. So the final norm's output is sliced to its last N
 * positions before the lm_head, N an int64 scalar input under the name transformers.js 4.x feeds
 * when a session declares it (setNumLogitsToKeep: 1 in generate(), 0 in a plain forward call):
 *   N = 0 → every position (Slice from −0 = 0), N ≥ 1 → the last min(N, S) positions.
 * Each position's norm and logits are computed exactly as before; only the row count of the
 * lm_head's product changes (S → N), which dense MatMul reduces identically
 * (test/convert/logits-to-keep.test.ts) and the engine's load-time probe checks for MatMulNBits.
 */
import { LOGITS_TO_KEEP } from "../engine/kv-batch.ts";
import type { GraphOps } from "./ops.ts";

export interface LmHeadSpec {
  vocab: number;
  hidden: number;
  /** Tied to the embedding: its initializer (dense variants reuse it through a Transpose) and checkpoint name. */
  tied: { embed: string; name: string } | null;
  /** Checkpoint name of an untied classifier. */
  weight?: string;
}

/** `final` [B, S, hidden] → declares `num_logits_to_keep` and writes the `logits` output [B, N, vocab]. */
export function writeLmHead(ops: GraphOps, final: string, s: LmHeadSpec): void {
  const { g } = ops;
  const keep = g.input(LOGITS_TO_KEEP, "int64", []);
  const start = g.op("Unsqueeze", [g.op("Neg", [keep]), g.i64([0])]);
  const kept = g.op("Slice", [final, start, g.i64([Number.MAX_SAFE_INTEGER]), g.i64([1])]);
  if (s.tied && !ops.spec.bits) {
    // Tied: reuse the embedding initializer through a Transpose (ORT folds it) instead of a second copy.
    g.op("MatMul", [kept, g.op("Transpose", [s.tied.embed], { perm: [1, 0] })], {}, { outputs: ["logits"] });
  } else {
    // Quantised variants quantise the classifier too; the embedding table stays dense for Gather.
    const name = s.tied ? s.tied.name : (s.weight ?? "lm_head.weight");
    g.op("Identity", [ops.linear(kept, name, s.vocab, s.hidden)], {}, { outputs: ["logits"] });
  }
  g.output("logits", ops.T, ["batch_size", "num_logits", s.vocab]);
}
