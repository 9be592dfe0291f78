/**
 * Drives a transformers.js-contract Llama graph directly through onnxruntime-node (no
 * transformers.js), so tests see raw logits and the KV cache exactly as the graph produces them.
 */
import * as ort from "onnxruntime-node";
import type { LlamaConfig } from "../../src/engine/models/llama-weights.ts";
import { fromFloat16Bits } from "../../src/engine/models/float16.ts";
import { argmax } from "./reference-llama.ts";

export type Cache = Record<string, ort.Tensor>;

const i64 = (values: number[], dims: number[]) => new ort.Tensor("int64", BigInt64Array.from(values.map(BigInt)), dims);

export class OrtLlama {
  private constructor(readonly session: ort.InferenceSession, readonly config: LlamaConfig, readonly float: "float32" | "float16") {}

  /** `float`: the graph's activation/KV type (fp16 for fp16 and q4f16 variants). */
  static async load(model: string | Uint8Array, config: LlamaConfig, float: "float32" | "float16" = "float32"): Promise<OrtLlama> {
    const opts: ort.InferenceSession.SessionOptions = { intraOpNumThreads: 1, executionProviders: ["cpu"] };
    const s = typeof model === "string" ? await ort.InferenceSession.create(model, opts) : await ort.InferenceSession.create(model, opts);
    return new OrtLlama(s, config, float);
  }

  emptyCache(batch = 1): Cache {
    const c = this.config, cache: Cache = {};
    for (let l = 0; l < c.numLayers; l++) {
      for (const kv of ["key", "value"]) {
        const dims = [batch, c.numKvHeads, 0, c.headDim];
        cache[`past_key_values.${l}.${kv}`] = this.float === "float32" ? new ort.Tensor("float32", new Float32Array(0), dims) : new ort.Tensor("float16", new Uint16Array(0), dims);
      }
    }
    return cache;
  }

  /**
   * One forward over `ids` [batch][seq] with full `mask` [batch][past+seq]; position ids are
   * cumsum(mask) − 1 as transformers.js computes them (so left padding works).
   * Returns logits [batch, seq, vocab] flattened and the new cache.
   */
  async forward(ids: number[][], mask: number[][], cache: Cache): Promise<{ logits: Float32Array; cache: Cache }> {
    const B = ids.length, S = ids[0]!.length, T = mask[0]!.length;
    const positions = mask.map((row) => {
      let acc = 0;
      const pos = row.map((m) => (acc += m) - 1);
      return pos.slice(T - S).map((p) => Math.max(p, 0));
    });
    // onnxruntime-node's binding cannot read Float16Array (runtime-notes §5); hand it the raw bits
    // as transformers.js 4.3.1 does in sessionRun.
    for (const t of Object.values(cache) as unknown as { cpuData?: unknown }[]) {
      const d = t.cpuData as { buffer: ArrayBuffer; byteOffset: number; length: number } | undefined;
      if (d && typeof Float16Array !== "undefined" && d instanceof Float16Array) t.cpuData = new Uint16Array(d.buffer, d.byteOffset, d.length);
    }
    const r = await this.session.run({
      ...cache,
      input_ids: i64(ids.flat(), [B, S]),
      attention_mask: i64(mask.flat(), [B, T]),
      position_ids: i64(positions.flat(), [B, S]),
      // Every position's logits (0 = all; src/convert/lm-head.ts), for graphs that have the input.
      ...(this.session.inputNames.includes("num_logits_to_keep") ? { num_logits_to_keep: i64([0], []) } : {}),
    });
    const next: Cache = {};
    for (const k of Object.keys(cache)) next[k] = r[k.replace("past_key_values", "present")]!;
    return { logits: toFloat32(r.logits!), cache: next };
  }

  /** Greedy continuation of one sequence using the KV cache (prompt in one pass, then one token per step). */
  async greedy(prompt: number[], maxNew: number, stopToken?: number): Promise<number[]> {
    const V = this.config.vocabSize;
    let { logits, cache } = await this.forward([prompt], [prompt.map(() => 1)], this.emptyCache());
    let last = logits.subarray((prompt.length - 1) * V);
    const out: number[] = [];
    while (out.length < maxNew) {
      const next = argmax(last);
      if (next === stopToken) break;
      out.push(next);
      const total = prompt.length + out.length;
      ({ logits, cache } = await this.forward([[next]], [new Array(total).fill(1)], cache));
      last = logits;
    }
    return out;
  }
}

/** Largest |a − b| over two equal-length vectors. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} ≠ ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** fp16 outputs arrive as raw bits (Uint16Array) or a Float16Array depending on the runtime. */
export function toFloat32(t: { type: string; data: unknown }): Float32Array {
  if (t.type === "float32") return t.data as Float32Array;
  const d = t.data as ArrayLike<number>;
  return d instanceof Uint16Array ? Float32Array.from(d, fromFloat16Bits) : Float32Array.from(d);
}
