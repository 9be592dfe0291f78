/**
 * Block quantisation in the layout of ONNX Runtime's `com.microsoft::MatMulNBits` (block_size 32,
 * no zero-point input ⇒ implicit zero point 2^(bits−1), i.e. 8 for 4-bit, 128 for 8-bit):
 *   B uint8 [N, ceil(K/32), 32·bits/8] — for 4 bits, element 2j of a block in the low nibble of
 *   byte j and 2j+1 in the high nibble; scales [N · ceil(K/32)]; value = (q − zero) · scale.
 * Symmetric: per block the element of largest magnitude maps exactly to q = 0 (−zero·scale), the
 * convention of ORT's own quantiser, which uses the full signed range.
 */

export const QBLOCK = 32;
export type QBits = 4 | 8;

export interface QMatrix {
  bits: QBits;
  /** Rows (output features). */
  n: number;
  /** Columns (input features). */
  k: number;
  blocksPerRow: number;
  /** Bytes per block: 16 for 4-bit, 32 for 8-bit. */
  blobSize: number;
  data: Uint8Array; // [n, blocksPerRow, blobSize]
  /** Per-block scales, already rounded to the precision the graph stores them in. */
  scales: Float32Array; // [n * blocksPerRow]
}

/**
 * Quantises a row-major [n, k] matrix (PyTorch Linear layout, which is MatMulNBits' B layout).
 * `roundScale` rounds scales to the stored precision (fp16 graphs) before quantising against them.
 */
export function quantizeNBits(w: Float32Array, n: number, k: number, bits: QBits, roundScale: (s: number) => number = Math.fround): QMatrix {
  if (w.length !== n * k) throw new Error(`quantize: ${w.length} values for [${n}, ${k}]`);
  const zero = 1 << (bits - 1), maxQ = (1 << bits) - 1;
  const blocksPerRow = Math.ceil(k / QBLOCK);
  const blobSize = (QBLOCK * bits) / 8;
  const data = new Uint8Array(n * blocksPerRow * blobSize);
  const scales = new Float32Array(n * blocksPerRow);
  const q = new Uint8Array(QBLOCK);
  for (let r = 0; r < n; r++) {
    for (let b = 0; b < blocksPerRow; b++) {
      const start = b * QBLOCK, end = Math.min(k, start + QBLOCK);
      let maxAbs = 0, maxVal = 0;
      for (let c = start; c < end; c++) {
        const v = w[r * k + c]!;
        if (Math.abs(v) > maxAbs) { maxAbs = Math.abs(v); maxVal = v; }
      }
      const scale = roundScale(maxVal / -zero);
      const inv = scale === 0 ? 0 : 1 / scale;
      q.fill(zero);
      for (let c = start; c < end; c++) q[c - start] = Math.min(maxQ, Math.max(0, Math.round(w[r * k + c]! * inv) + zero));
      const blockIdx = r * blocksPerRow + b;
      scales[blockIdx] = scale;
      const base = blockIdx * blobSize;
      if (bits === 8) data.set(q, base);
      else for (let j = 0; j < QBLOCK / 2; j++) data[base + j] = q[2 * j]! | (q[2 * j + 1]! << 4);
    }
  }
  return { bits, n, k, blocksPerRow, blobSize, data, scales };
}

/** The exact values MatMulNBits multiplies with (before its own arithmetic rounding): [n, k]. */
export function dequantizeNBits(m: QMatrix): Float32Array {
  const zero = 1 << (m.bits - 1);
  const out = new Float32Array(m.n * m.k);
  for (let r = 0; r < m.n; r++) {
    for (let c = 0; c < m.k; c++) {
      const blockIdx = r * m.blocksPerRow + Math.floor(c / QBLOCK);
      const inBlock = c % QBLOCK, base = blockIdx * m.blobSize;
      const q = m.bits === 8 ? m.data[base + inBlock]! : (m.data[base + (inBlock >> 1)]! >> ((inBlock & 1) * 4)) & 15;
      out[r * m.k + c] = (q - zero) * m.scales[blockIdx]!;
    }
  }
  return out;
}
