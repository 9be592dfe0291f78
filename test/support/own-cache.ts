/**
 * The comparison both own-cache tests make (test/engine/own-cache*.test.ts): the same jobs decoded
 * together by the batched loop keeping the KV cache itself (the session's STEP_KV output) and by
 * the loop feeding `present.*` back (the same session with STEP_KV hidden from it).
 */
import { BatchDecoder, type DecoderSession } from "../../src/engine/batching.ts";
import { DecodeRow, streamRow } from "../../src/engine/decode-row.ts";
import { STEP_KV, type TensorCtor } from "../../src/engine/kv-batch.ts";
import type { loadModelDir } from "../../src/engine/loader.ts";
import { loadOrtNode } from "../../src/engine/runtime/ort-native.ts";
import type { GenerateRequest, GenerationChunk } from "../../src/engine/types.ts";

type Loaded = Awaited<ReturnType<typeof loadModelDir>>;
export interface Decoded {
  tokens: number[];
  finish: string;
  /** Every chunk's log-probability and its alternatives', in order: any last-bit logit change shows here. */
  lp: number[];
}

/** The same session as far as running goes; the loop just does not see the step output. */
export function withoutStepOutput(s: DecoderSession): DecoderSession {
  return { inputNames: s.inputNames, inputMetadata: s.inputMetadata, outputNames: s.outputNames.filter((n) => n !== STEP_KV), run: s.run, runSync: s.runSync };
}

/** All `jobs` submitted at once to one BatchDecoder over `session` (left-aligned, the fused form). */
export async function decodeTogether(session: DecoderSession, m: Loaded, jobs: GenerateRequest[], opts: { maxBatch: number; minRows: number; jointPrefill?: boolean }): Promise<Decoded[]> {
  const ort = await loadOrtNode();
  const b = new BatchDecoder(session, ort.Tensor as unknown as TensorCtor, { ...opts, leftAligned: true });
  return Promise.all(
    jobs.map(async (j) => {
      const row = new DecodeRow(m, j);
      b.submit(row);
      const lp: number[] = [];
      const it = streamRow(row);
      for (;;) {
        const n = await it.next();
        if (n.done) return { tokens: n.value.tokens, finish: n.value.finishReason, lp };
        const c = n.value as GenerationChunk;
        if (c.logprob) lp.push(c.logprob.logprob, ...c.logprob.top.map((t) => t.logprob));
      }
    }),
  );
}
