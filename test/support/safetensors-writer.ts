/**
 * Writes safetensors files as Hugging Face's `safetensors` library does (8-byte little-endian
 * header length, JSON header with dtype/shape/data_offsets, data back to back), single or sharded
 * with a `model.safetensors.index.json` — test-only, written from the format's definition, so the
 * product reader is checked against an independent writer.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export type StDtype = "F32" | "F16" | "BF16";
export interface NamedTensor { shape: number[]; data: Float32Array }

const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);

/** fp32 → bf16 bits, round to nearest even (torch's `.to(torch.bfloat16)`). */
export function bf16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}
export const fromBf16Bits = (b: number): number => { u32[0] = b << 16; return f32[0]!; };

/** fp32 → fp16 bits, round to nearest even (normal range only; test values stay small). */
export function f16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0]!, sign = (x >>> 16) & 0x8000, exp = ((x >>> 23) & 0xff) - 127 + 15;
  if (exp <= 0) return sign;
  let h = sign | (exp << 10) | ((x >>> 13) & 0x3ff);
  const rest = x & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++;
  return h;
}
export function fromF16Bits(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >>> 10) & 0x1f, m = h & 0x3ff;
  return e === 0 ? s * m * 2 ** -24 : s * (1 + m / 1024) * 2 ** (e - 15);
}

/** The values a tensor holds after storing it as `dtype` (what a reader must return). */
export function roundTo(dtype: StDtype, data: Float32Array): Float32Array {
  if (dtype === "F32") return data;
  return Float32Array.from(data, dtype === "BF16" ? (v) => fromBf16Bits(bf16Bits(v)) : (v) => fromF16Bits(f16Bits(v)));
}

function encode(dtype: StDtype, data: Float32Array): Uint8Array {
  if (dtype === "F32") return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  const bits = Uint16Array.from(data, dtype === "BF16" ? bf16Bits : f16Bits);
  return new Uint8Array(bits.buffer);
}

export function safetensorsBytes(tensors: [string, NamedTensor][], dtype: StDtype): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  const blobs: Uint8Array[] = [];
  let off = 0;
  for (const [name, t] of tensors) {
    const b = encode(dtype, t.data);
    header[name] = { dtype, shape: t.shape, data_offsets: [off, off + b.byteLength] };
    blobs.push(b);
    off += b.byteLength;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((8 + json.length) % 8)) % 8); // the library pads the header to 8 bytes
  const h = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + h.byteLength + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.byteLength), true);
  out.set(h, 8);
  let p = 8 + h.byteLength;
  for (const b of blobs) { out.set(b, p); p += b.byteLength; }
  return out;
}

/** Writes `model.safetensors`, or `shards` files `model-0000i-of-0000n.safetensors` plus the index. */
export function writeSafetensors(dir: string, tensors: [string, NamedTensor][], dtype: StDtype, shards = 1): void {
  if (shards === 1) {
    writeFileSync(join(dir, "model.safetensors"), safetensorsBytes(tensors, dtype));
    return;
  }
  const per = Math.ceil(tensors.length / shards);
  const weightMap: Record<string, string> = {};
  let total = 0;
  for (let s = 0; s < shards; s++) {
    const part = tensors.slice(s * per, (s + 1) * per);
    const file = `model-${String(s + 1).padStart(5, "0")}-of-${String(shards).padStart(5, "0")}.safetensors`;
    writeFileSync(join(dir, file), safetensorsBytes(part, dtype));
    for (const [n, t] of part) { weightMap[n] = file; total += t.data.length * (dtype === "F32" ? 4 : 2); }
  }
  writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2));
}
