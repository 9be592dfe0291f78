/**
 * ggml block formats → fp32, producing the same float32 values ggml's own `dequantize_row_*`
 * produces. ggml computes in float32; here each product or sum of two float32 values is done in
 * float64 and stored to a Float32Array, which rounds it exactly as one float32 operation would
 * (a double has more than 2·24+2 bits), and chained operations are rounded in between with
 * Math.fround, so the results match bit for bit.
 *
 * Block layouts (ggml-common.h), all little-endian, `d`/`m`/`dmin` fp16:
 *   Q4_0 {d, qs[16]}           x = (nibble − 8)·d; value j in the low nibble of qs[j], j+16 in the high one
 *   Q4_1 {d, m, qs[16]}        x = nibble·d + m
 *   Q5_0 {d, qh u32, qs[16]}   5th bit of value j is bit j of qh; x = (q − 16)·d
 *   Q5_1 {d, m, qh, qs[16]}    x = q·d + m
 *   Q8_0 {d, qs int8[32]}      x = q·d
 *   Q4_K {d, dmin, scales[12], qs[128]}          8 sub-blocks of 32, 6-bit scale/min each: x = d·sc·q − dmin·m
 *   Q5_K {d, dmin, scales[12], qh[32], qs[128]}  as Q4_K with a 5th bit per value from qh
 *   Q6_K {ql[128], qh[64], scales int8[16], d}   16 sub-blocks of 16: x = d·sc·(q − 32)
 */
import { fromFloat16Bits } from "../../engine/models/float16.ts";
import type { GgmlType } from "./ggml-types.ts";

let table: Float32Array | undefined;
/** fp16 bit pattern → fp32 by lookup (F16 tensors have billions of values). */
export function f16Table(): Float32Array {
  if (!table) {
    table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) table[i] = fromFloat16Bits(i);
  }
  return table;
}

type Decoder = (raw: Uint8Array, out: Float32Array, blocks: number) => void;

const half = (raw: Uint8Array, o: number, h: Float32Array) => h[raw[o]! | (raw[o + 1]! << 8)]!;

/** Q4_K/Q5_K: the 6-bit scale and min of sub-block j from the 12 packed bytes at `s`. */
function scaleMin(raw: Uint8Array, s: number, j: number): [number, number] {
  if (j < 4) return [raw[s + j]! & 63, raw[s + j + 4]! & 63];
  return [(raw[s + j + 4]! & 0xf) | ((raw[s + j - 4]! >> 6) << 4), (raw[s + j + 4]! >> 4) | ((raw[s + j]! >> 6) << 4)];
}

const DECODERS: Record<string, Decoder> = {
  F32(raw, out) {
    out.set(new Float32Array(raw.buffer, raw.byteOffset, out.length));
  },
  F16(raw, out) {
    const h = f16Table();
    for (let i = 0; i < out.length; i++) out[i] = h[raw[2 * i]! | (raw[2 * i + 1]! << 8)]!;
  },
  BF16(raw, out) {
    // bf16 is the top half of an fp32: shifting the bits back up is exact.
    const u = new Uint32Array(out.buffer, out.byteOffset, out.length);
    for (let i = 0; i < out.length; i++) u[i] = (raw[2 * i]! | (raw[2 * i + 1]! << 8)) << 16;
  },
  Q4_0(raw, out, blocks) {
    const h = f16Table();
    for (let b = 0; b < blocks; b++) {
      const o = b * 18, y = b * 32, d = half(raw, o, h);
      for (let j = 0; j < 16; j++) {
        const q = raw[o + 2 + j]!;
        out[y + j] = ((q & 15) - 8) * d;
        out[y + j + 16] = ((q >> 4) - 8) * d;
      }
    }
  },
  Q4_1(raw, out, blocks) {
    const h = f16Table();
    for (let b = 0; b < blocks; b++) {
      const o = b * 20, y = b * 32, d = half(raw, o, h), m = half(raw, o + 2, h);
      for (let j = 0; j < 16; j++) {
        const q = raw[o + 4 + j]!;
        out[y + j] = (q & 15) * d + m;
        out[y + j + 16] = (q >> 4) * d + m;
      }
    }
  },
  Q5_0(raw, out, blocks) {
    const h = f16Table();
    for (let b = 0; b < blocks; b++) {
      const o = b * 22, y = b * 32, d = half(raw, o, h);
      const qh = (raw[o + 2]! | (raw[o + 3]! << 8) | (raw[o + 4]! << 16) | (raw[o + 5]! << 24)) >>> 0;
      for (let j = 0; j < 16; j++) {
        const q = raw[o + 6 + j]!;
        out[y + j] = (((q & 15) | (((qh >>> j) & 1) << 4)) - 16) * d;
        out[y + j + 16] = (((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) - 16) * d;
      }
    }
  },
  Q5_1(raw, out, blocks) {
    const h = f16Table();
    for (let b = 0; b < blocks; b++) {
      const o = b * 24, y = b * 32, d = half(raw, o, h), m = half(raw, o + 2, h);
      const qh = (raw[o + 4]! | (raw[o + 5]! << 8) | (raw[o + 6]! << 16) | (raw[o + 7]! << 24)) >>> 0;
      for (let j = 0; j < 16; j++) {
        const q = raw[o + 8 + j]!;
        out[y + j] = ((q & 15) | (((qh >>> j) & 1) << 4)) * d + m;
        out[y + j + 16] = ((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) * d + m;
      }
    }
  },
  Q8_0(raw, out, blocks) {
    const h = f16Table();
    const s = new Int8Array(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let b = 0; b < blocks; b++) {
      const o = b * 34, y = b * 32, d = half(raw, o, h);
      for (let j = 0; j < 32; j++) out[y + j] = s[o + 2 + j]! * d;
    }
  },
  Q4_K(raw, out, blocks) {
    const h = f16Table();
    for (let b = 0; b < blocks; b++) {
      const o = b * 144, y0 = b * 256, d = half(raw, o, h), dmin = half(raw, o + 2, h);
      for (let sub = 0; sub < 4; sub++) {
        const [sc1, m1] = scaleMin(raw, o + 4, 2 * sub), [sc2, m2] = scaleMin(raw, o + 4, 2 * sub + 1);
        // d·sc and dmin·m are exact in float32 (11 + 6 significant bits).
        const d1 = d * sc1, min1 = dmin * m1, d2 = d * sc2, min2 = dmin * m2;
        const q = o + 16 + 32 * sub, y = y0 + 64 * sub;
        for (let l = 0; l < 32; l++) {
          out[y + l] = d1 * (raw[q + l]! & 15) - min1;
          out[y + l + 32] = d2 * (raw[q + l]! >> 4) - min2;
        }
      }
    }
  },
  Q5_K(raw, out, blocks) {
    const h = f16Table();
    for (let b = 0; b < blocks; b++) {
      const o = b * 176, y0 = b * 256, d = half(raw, o, h), dmin = half(raw, o + 2, h);
      const qh = o + 16;
      for (let sub = 0; sub < 4; sub++) {
        const [sc1, m1] = scaleMin(raw, o + 4, 2 * sub), [sc2, m2] = scaleMin(raw, o + 4, 2 * sub + 1);
        const d1 = d * sc1, min1 = dmin * m1, d2 = d * sc2, min2 = dmin * m2;
        const q = o + 48 + 32 * sub, y = y0 + 64 * sub, lowBit = 2 * sub, highBit = 2 * sub + 1;
        for (let l = 0; l < 32; l++) {
          const hb = raw[qh + l]!;
          out[y + l] = d1 * ((raw[q + l]! & 15) | (((hb >> lowBit) & 1) << 4)) - min1;
          out[y + l + 32] = d2 * ((raw[q + l]! >> 4) | (((hb >> highBit) & 1) << 4)) - min2;
        }
      }
    }
  },
  Q6_K(raw, out, blocks) {
    const h = f16Table();
    const sc = new Int8Array(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let b = 0; b < blocks; b++) {
      const o = b * 210, d = half(raw, o + 208, h);
      for (let part = 0; part < 2; part++) {
        const ql = o + 64 * part, qh = o + 128 + 32 * part, s = o + 192 + 8 * part, y = b * 256 + 128 * part;
        for (let l = 0; l < 32; l++) {
          const is = l >> 4, hb = raw[qh + l]!, lo = raw[ql + l]!, lo2 = raw[ql + l + 32]!;
          out[y + l] = Math.fround(d * sc[s + is]!) * (((lo & 15) | ((hb & 3) << 4)) - 32);
          out[y + l + 32] = Math.fround(d * sc[s + is + 2]!) * (((lo2 & 15) | (((hb >> 2) & 3) << 4)) - 32);
          out[y + l + 64] = Math.fround(d * sc[s + is + 4]!) * (((lo >> 4) | (((hb >> 4) & 3) << 4)) - 32);
          out[y + l + 96] = Math.fround(d * sc[s + is + 6]!) * (((lo2 >> 4) | (((hb >> 6) & 3) << 4)) - 32);
        }
      }
    }
  },
};

/** `count` values of type `ty` stored in `raw` (exactly count/blockSize·typeSize bytes) → fp32. */
export function dequantize(ty: GgmlType, raw: Uint8Array, count: number): Float32Array {
  const blocks = count / ty.blockSize;
  if (!Number.isInteger(blocks) || raw.byteLength !== blocks * ty.typeSize) {
    throw new Error(`dequantize ${ty.name}: ${raw.byteLength} bytes for ${count} values`);
  }
  const out = new Float32Array(count);
  DECODERS[ty.name]!(ty.name === "F32" && raw.byteOffset % 4 !== 0 ? raw.slice() : raw, out, blocks);
  return out;
}
