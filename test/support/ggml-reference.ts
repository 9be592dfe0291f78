/**
 * Test-only reference quantizer for the ggml block types, written from the block layouts in
 * ggml-common.h: each type first chooses its logical numbers (scales, mins, integer codes per
 * value), then packs them into bytes. The expected fp32 weights are computed from the logical
 * numbers — never from the bytes — with ggml's float32 formulas, so a reader that unpacks bytes
 * wrongly (nibble order, high bits, 6-bit scale packing) cannot agree with it by accident.
 */
import { fromFloat16Bits, toFloat16Bits } from "../../src/engine/models/float16.ts";

export type RefType = "F32" | "F16" | "BF16" | "Q4_0" | "Q4_1" | "Q5_0" | "Q5_1" | "Q8_0" | "Q4_K" | "Q5_K" | "Q6_K";
export const REF_TYPES: RefType[] = ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K"];
export const TYPE_IDS: Record<RefType, number> = { F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q5_0: 6, Q5_1: 7, Q8_0: 8, Q4_K: 12, Q5_K: 13, Q6_K: 14, BF16: 30 };
export const BLOCK: Record<RefType, number> = { F32: 1, F16: 1, BF16: 1, Q4_0: 32, Q4_1: 32, Q5_0: 32, Q5_1: 32, Q8_0: 32, Q4_K: 256, Q5_K: 256, Q6_K: 256 };

export interface Quantized {
  bytes: Uint8Array;
  /** What ggml's dequantize_row_* yields for these bytes. */
  expected: Float32Array;
}

const f32 = Math.fround;
const h = (x: number) => toFloat16Bits(x);
const hv = (bits: number) => fromFloat16Bits(bits);
const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

class Bytes {
  readonly b: Uint8Array;
  private o = 0;
  constructor(n: number) { this.b = new Uint8Array(n); }
  u8(v: number) { this.b[this.o++] = v & 255; }
  half(bits: number) { this.u8(bits); this.u8(bits >> 8); }
  u32(v: number) { for (let i = 0; i < 4; i++) this.u8(v >>> (8 * i)); }
}

function extremes(x: Float32Array, from: number, n: number) {
  let min = Infinity, max = -Infinity, amax = 0, signedMax = 0;
  for (let i = from; i < from + n; i++) {
    const v = x[i]!;
    min = Math.min(min, v); max = Math.max(max, v);
    if (Math.abs(v) > amax) { amax = Math.abs(v); signedMax = v; }
  }
  return { min, max, amax, signedMax };
}

/** Type-0/1 32-value blocks: codes q, value = (q − offset)·d (+ m). */
function small(x: Float32Array, kind: "Q4_0" | "Q4_1" | "Q5_0" | "Q5_1" | "Q8_0"): Quantized {
  const blocks = x.length / 32;
  const size = { Q4_0: 18, Q4_1: 20, Q5_0: 22, Q5_1: 24, Q8_0: 34 }[kind];
  const out = new Bytes(blocks * size), expected = new Float32Array(x.length);
  for (let b = 0; b < blocks; b++) {
    const e = extremes(x, b * 32, 32);
    let dBits: number, mBits = 0, offset = 0, maxQ: number;
    if (kind === "Q4_1" || kind === "Q5_1") {
      maxQ = kind === "Q4_1" ? 15 : 31;
      dBits = h((e.max - e.min) / maxQ); mBits = h(e.min);
    } else if (kind === "Q8_0") {
      maxQ = 127; dBits = h(e.amax / 127);
    } else {
      offset = kind === "Q4_0" ? 8 : 16; maxQ = 2 * offset - 1;
      dBits = h(e.signedMax / -offset);
    }
    const d = hv(dBits), m = hv(mBits);
    const q: number[] = [];
    for (let j = 0; j < 32; j++) {
      const v = x[b * 32 + j]!;
      const code = d === 0 ? offset : Math.round((v - m) / d) + offset;
      q.push(kind === "Q8_0" ? clamp(code, -128, 127) : clamp(code, 0, maxQ));
      // ggml: x = (q − offset)·d for type 0, q·d + m for type 1 (float32).
      expected[b * 32 + j] = kind === "Q4_1" || kind === "Q5_1" ? f32(q[j]! * d) + m : (q[j]! - offset) * d;
    }
    out.half(dBits);
    if (kind === "Q4_1" || kind === "Q5_1") out.half(mBits);
    if (kind === "Q5_0" || kind === "Q5_1") {
      let qh = 0;
      for (let j = 0; j < 32; j++) qh |= ((q[j]! >> 4) & 1) << j;
      out.u32(qh >>> 0);
    }
    if (kind === "Q8_0") for (let j = 0; j < 32; j++) out.u8(q[j]!);
    else for (let j = 0; j < 16; j++) out.u8((q[j]! & 15) | ((q[j + 16]! & 15) << 4));
  }
  return { bytes: out.b, expected };
}

/** Q4_K / Q5_K: 8 sub-blocks of 32 with 6-bit scales and mins under fp16 d and dmin. */
function kQuant(x: Float32Array, bits: 4 | 5): Quantized {
  const blocks = x.length / 256, maxQ = (1 << bits) - 1;
  const out = new Bytes(blocks * (bits === 4 ? 144 : 176)), expected = new Float32Array(x.length);
  for (let b = 0; b < blocks; b++) {
    const scales: number[] = [], mins: number[] = [];
    for (let s = 0; s < 8; s++) {
      const e = extremes(x, b * 256 + 32 * s, 32);
      mins.push(Math.max(0, -e.min));
      scales.push((e.max - Math.min(0, e.min)) / maxQ);
    }
    const dBits = h(Math.max(...scales) / 63), dminBits = h(Math.max(...mins) / 63);
    const d = hv(dBits), dmin = hv(dminBits);
    const sc = scales.map((s) => (d === 0 ? 0 : clamp(Math.round(s / d), 0, 63)));
    const mn = mins.map((m) => (dmin === 0 ? 0 : clamp(Math.round(m / dmin), 0, 63)));
    const q = new Array<number>(256);
    for (let i = 0; i < 256; i++) {
      const s = i >> 5, d1 = f32(d * sc[s]!), m1 = f32(dmin * mn[s]!);
      q[i] = d1 === 0 ? 0 : clamp(Math.round((x[b * 256 + i]! + m1) / d1), 0, maxQ);
      expected[b * 256 + i] = f32(d1 * q[i]!) - m1;
    }
    out.half(dBits); out.half(dminBits);
    for (let j = 0; j < 4; j++) out.u8((sc[j]! & 63) | ((sc[j + 4]! >> 4) << 6));
    for (let j = 0; j < 4; j++) out.u8((mn[j]! & 63) | ((mn[j + 4]! >> 4) << 6));
    for (let j = 0; j < 4; j++) out.u8((sc[j + 4]! & 15) | ((mn[j + 4]! & 15) << 4));
    if (bits === 5) {
      // qh[l] bit s: 5th bit of value l of sub-block s.
      for (let l = 0; l < 32; l++) {
        let v = 0;
        for (let s = 0; s < 8; s++) v |= ((q[32 * s + l]! >> 4) & 1) << s;
        out.u8(v);
      }
    }
    // Sub-blocks 2p and 2p+1 share 32 bytes: low nibble from 2p, high from 2p+1.
    for (let p = 0; p < 4; p++) for (let l = 0; l < 32; l++) out.u8((q[64 * p + l]! & 15) | ((q[64 * p + 32 + l]! & 15) << 4));
  }
  return { bytes: out.b, expected };
}

/** Q6_K: 16 sub-blocks of 16, int8 scales under one fp16 d, 6-bit codes offset by 32. */
function q6k(x: Float32Array): Quantized {
  const blocks = x.length / 256;
  const out = new Bytes(blocks * 210), expected = new Float32Array(x.length);
  for (let b = 0; b < blocks; b++) {
    const sub: number[] = [];
    for (let s = 0; s < 16; s++) sub.push(extremes(x, b * 256 + 16 * s, 16).signedMax / -32);
    const dBits = h(Math.max(...sub.map(Math.abs)) / 127), d = hv(dBits);
    const sc = sub.map((s) => (d === 0 ? 0 : clamp(Math.round(s / d), -128, 127)));
    const q = new Array<number>(256);
    for (let i = 0; i < 256; i++) {
      const ds = f32(d * sc[i >> 4]!);
      q[i] = ds === 0 ? 32 : clamp(Math.round(x[b * 256 + i]! / ds) + 32, 0, 63);
      expected[b * 256 + i] = ds * (q[i]! - 32);
    }
    const ql = new Uint8Array(128), qh = new Uint8Array(64);
    for (let i = 0; i < 256; i++) {
      // Value i = 128p + 32r + l (r = 0..3): low 4 bits in ql[64p + 32(r&1) + l] (nibble r>>1), high 2 in qh[32p + l] bits 2r.
      const p = i >> 7, r = (i >> 5) & 3, l = i & 31;
      ql[64 * p + 32 * (r & 1) + l]! |= (q[i]! & 15) << (4 * (r >> 1));
      qh[32 * p + l]! |= (q[i]! >> 4) << (2 * r);
    }
    for (const v of ql) out.u8(v);
    for (const v of qh) out.u8(v);
    for (const v of sc) out.u8(v);
    out.half(dBits);
  }
  return { bytes: out.b, expected };
}

function bf16Bits(v: number): number {
  const u = new Uint32Array(new Float32Array([v]).buffer)[0]!;
  return ((u + 0x7fff + ((u >> 16) & 1)) >>> 16) & 0xffff;
}

/** Quantizes row-major values (row length a multiple of BLOCK[type]) into ggml bytes. */
export function quantizeRef(type: RefType, x: Float32Array): Quantized {
  switch (type) {
    case "F32": return { bytes: new Uint8Array(x.slice().buffer), expected: x.slice() };
    case "F16": {
      const bits = Uint16Array.from(x, (v) => h(v));
      return { bytes: new Uint8Array(bits.buffer), expected: Float32Array.from(bits, hv) };
    }
    case "BF16": {
      const bits = Uint16Array.from(x, bf16Bits);
      return { bytes: new Uint8Array(bits.buffer), expected: new Float32Array(Uint32Array.from(bits, (b) => b << 16).buffer) };
    }
    case "Q4_K": return kQuant(x, 4);
    case "Q5_K": return kQuant(x, 5);
    case "Q6_K": return q6k(x);
    default: return small(x, type);
  }
}
