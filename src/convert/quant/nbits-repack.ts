/**
 * Lossless moves from ggml blocks into ONNX Runtime's MatMulNBits layout (quantize-nbits.ts),
 * where the two formats describe the same numbers:
 *   Q4_0 → 4-bit: both are 32-value blocks with one scale and zero point 8, value = (q − 8)·d;
 *          only the nibble order differs (ggml keeps values j and j+16 in byte j, MatMulNBits
 *          values 2j and 2j+1), so the nibbles are reshuffled and the fp16 scale is kept.
 *   Q4_0 → 8-bit: q − 8 + 128 in a byte, same scale.
 *   Q8_0 → 8-bit: the int8 q + 128 in a byte (MatMulNBits' implicit zero point is 128), same scale.
 * Both formats block along a row (input features), so ggml row r is MatMulNBits row N = r.
 * Returns undefined for any other pairing: the caller requantizes the dequantized weights.
 */
import type { QBits, QMatrix } from "../../engine/models/quantize-nbits.ts";
import { f16Table } from "./dequantize.ts";
import type { GgmlType } from "./ggml-types.ts";

export function canRepack(ty: GgmlType, bits: QBits): boolean {
  return ty.name === "Q4_0" || (ty.name === "Q8_0" && bits === 8);
}

/** `raw` holds `n` rows of `k` values (k a multiple of 32) in type `ty`. */
export function repackNBits(ty: GgmlType, raw: Uint8Array, n: number, k: number, bits: QBits): QMatrix | undefined {
  if (!canRepack(ty, bits) || k % 32 !== 0) return undefined;
  const blocks = (n * k) / 32, blocksPerRow = k / 32, blobSize = bits * 4;
  const data = new Uint8Array(blocks * blobSize);
  const scales = new Float32Array(blocks);
  const h = f16Table();
  for (let b = 0; b < blocks; b++) {
    const o = b * ty.typeSize, base = b * blobSize;
    scales[b] = h[raw[o]! | (raw[o + 1]! << 8)]!;
    if (ty.name === "Q8_0") {
      for (let j = 0; j < 32; j++) data[base + j] = (raw[o + 2 + j]! + 128) & 255;
    } else if (bits === 8) {
      for (let j = 0; j < 16; j++) {
        const q = raw[o + 2 + j]!;
        data[base + j] = (q & 15) + 120;
        data[base + j + 16] = (q >> 4) + 120;
      }
    } else {
      // Value e of a Q4_0 block: e < 16 → low nibble of qs[e], else high nibble of qs[e − 16].
      const nib = (e: number) => (e < 16 ? raw[o + 2 + e]! & 15 : raw[o + 2 + e - 16]! >> 4);
      for (let j = 0; j < 16; j++) data[base + j] = nib(2 * j) | (nib(2 * j + 1) << 4);
    }
  }
  return { bits, n, k, blocksPerRow, blobSize, data, scales };
}
