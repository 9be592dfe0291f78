/**
 * The KV cache of one decode batch: per layer a key and a value tensor [rows, kvHeads, slots,
 * headDim], every row right-aligned (its real tokens are the last `cached` slots; the slots before
 * are zero padding, masked out) for the standard graph form, or left-aligned (tokens in the first
 * `cached` slots, padding after) for the fused form, whose GroupQueryAttention writes a row's new
 * token at slot Σ mask − 1 (src/convert/attention-gqa.ts). Between membership changes the graph's
 * `present.*` outputs are fed straight back (no copy here); `assemble` copies rows into a new
 * layout only when rows join or leave. Works on raw bytes, so f32 and f16 caches take the same path.
 */

/**
 * config.json key the converter writes with the graph form of the folder's ONNX files
 * ("standard" | "fused"). The cache layout is read from the graph itself (src/engine/graph-form.ts:
 * a GroupQueryAttention node means left-aligned rows); this key only decides when the file cannot be read.
 */
export const GRAPH_FORM_KEY = "atoma_graph_form";

/**
 * Optional output of fused graphs (src/convert/attention-gqa.ts): the step's new queries, keys
 * and values, [B, S, layers · (heads + 2·kvHeads) · headDim] (per layer and token: heads × headDim
 * queries, then kvHeads × headDim keys, then values). With it the loop keeps the cache in buffers of its own with room to grow (`capacity`
 * slots), writes each step's slots itself (`writeStep`), and never fetches `present.*`.
 */
export const STEP_KV = "step_key_values";

/**
 * int64 scalar input of graphs converted since it exists (src/convert/lm-head.ts): logits for the
 * last N positions only (0 = all), the name transformers.js 4.x feeds. The loops feed 1.
 */
export const LOGITS_TO_KEEP = "num_logits_to_keep";
import type { DecodeRow } from "./decode-row.ts";

/** onnxruntime tensor as far as this file needs it. */
export interface OrtTensor {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
}

export type TensorCtor = new (type: string, data: unknown, dims: readonly number[]) => OrtTensor;

export interface KvShape {
  layers: number;
  kvHeads: number;
  headDim: number;
  /** "float32" | "float16" */
  type: string;
  /** Rows start at slot 0 (fused graphs) instead of ending at the last slot. */
  leftAligned?: boolean;
}

/** Names in graph order: past_key_values.{l}.key, .value, ... */
export function pastNames(layers: number): string[] {
  const out: string[] = [];
  for (let l = 0; l < layers; l++) out.push(`past_key_values.${l}.key`, `past_key_values.${l}.value`);
  return out;
}

export function bytesOf(t: OrtTensor): Uint8Array {
  const d = t.data as ArrayBufferView;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/**
 * onnxruntime-node's binding cannot read a Float16Array (runtime-notes §5), which is what Bun's
 * onnxruntime-common hands back for fp16 outputs; re-view the same bytes as raw bits before feeding.
 */
export function feedable<T extends OrtTensor>(t: T): T {
  const o = t as unknown as { cpuData?: ArrayBufferView & { length: number } };
  const d = o.cpuData;
  if (d && typeof Float16Array !== "undefined" && d instanceof Float16Array) o.cpuData = new Uint16Array(d.buffer, d.byteOffset, d.length) as never;
  return t;
}

/**
 * Where a member's keys/values come from: row `index` of `tensors`, which hold `slots` slots of
 * data in a buffer of `tensors[i].dims[2]` slots (more when the loop keeps room to grow; left-aligned only).
 */
export interface KvSource {
  tensors: OrtTensor[];
  index: number;
  slots: number;
}

/**
 * Builds [rows.length + idle, kvHeads, capacity, headDim] tensors with each row's `cached` slots
 * copied from its source, right- or left-aligned as the shape says; `idle` extra rows are padding.
 * `capacity` > `slots` (room for later steps) only for left-aligned caches.
 */
export function assemble(Tensor: TensorCtor, shape: KvShape, members: { row: DecodeRow; src: KvSource }[], idle: number, slots: number, capacity = slots): OrtTensor[] {
  if (capacity !== slots && !shape.leftAligned) throw new Error("a right-aligned cache has exactly `slots` slots");
  const B = members.length + idle;
  const bpe = shape.type === "float16" ? 2 : 4;
  const { kvHeads: H, headDim: HD } = shape;
  const out: OrtTensor[] = [];
  for (let i = 0; i < shape.layers * 2; i++) {
    const buf = new ArrayBuffer(B * H * capacity * HD * bpe);
    const dst = new Uint8Array(buf);
    members.forEach(({ row, src }, b) => {
      const from = bytesOf(src.tensors[i]!);
      const stride = src.tensors[i]!.dims[2]!;
      const n = row.cached;
      for (let h = 0; h < H; h++) {
        const s0 = ((src.index * H + h) * stride + (shape.leftAligned ? 0 : stride - n)) * HD * bpe;
        const d0 = ((b * H + h) * capacity + (shape.leftAligned ? 0 : capacity - n)) * HD * bpe;
        dst.set(from.subarray(s0, s0 + n * HD * bpe), d0);
      }
    });
    const data = bpe === 2 ? new Uint16Array(buf) : new Float32Array(buf);
    out.push(feedable(new Tensor(shape.type, data, [B, H, capacity, HD])));
  }
  return out;
}

/**
 * Copies the keys and values of a step output (STEP_KV) into left-aligned cache tensors
 * [≥ B, kvHeads, capacity, headDim]: row b's S new slots start at slot `at[b]` (its cached count
 * before the step). Rows past `at.length` (idle rows) are not written.
 */
export function writeStep(shape: KvShape, kv: OrtTensor[], step: OrtTensor, at: readonly number[]): void {
  const S = step.dims[1]!;
  // Copied as 16-bit lanes (one view type whatever the float type, and bits kept exactly), a head
  // at a time: a step writes a few hundred values, and a subarray()+set() pair per head (two view
  // objects each) cost more than the copying. Loops kept shallow and monomorphic: JSC's optimising
  // tier spent 20–60 ms compiling deeper or two-typed versions of this function.
  const H = shape.kvHeads;
  const n = (shape.headDim * (shape.type === "float16" ? 2 : 4)) / 2;
  const from = lanes(step);
  const width = from.length / (step.dims[0]! * S);
  const layer = width / (kv.length / 2);
  // Queries first in each layer's part; what is left is kvHeads keys and kvHeads values.
  const queries = layer - 2 * H * n;
  for (let i = 0; i < kv.length; i++) {
    const to = lanes(kv[i]!);
    const cap = kv[i]!.dims[2]!;
    const part = (i >> 1) * layer + queries + (i & 1) * H * n;
    for (let r = 0; r < at.length * S; r++) {
      const b = Math.floor(r / S);
      const slot = at[b]! + r - b * S;
      for (let h = 0; h < H; h++) copyRun(to, ((b * H + h) * cap + slot) * n, from, r * width + part + h * n, n);
    }
  }
}

function copyRun(to: Uint16Array, at: number, from: Uint16Array, start: number, n: number): void {
  for (let e = 0; e < n; e++) to[at + e] = from[start + e]!;
}

/** A tensor's bytes as 16-bit lanes. */
function lanes(t: OrtTensor): Uint16Array {
  const d = t.data as ArrayBufferView;
  return new Uint16Array(d.buffer, d.byteOffset, d.byteLength / 2);
}
