/**
 * 4-bit block quantisation in the layout of ONNX Runtime's `com.microsoft::MatMulNBits`
 * (bits=4, block_size=32, no zero-point input ⇒ implicit zero point 8):
 *   B uint8 [N, ceil(K/32), 16] — element 2j of a block in the low nibble of byte j, 2j+1 in the high;
 *   scales float [N * ceil(K/32)]; value = (q − 8) · scale.
 * Symmetric: per block the element of largest magnitude maps exactly to q = 0 (i.e. −8·scale), the
 * same convention as ORT's own quantiser, which uses the full [−8, 7] range.
 */

export const Q4_BLOCK = 32;

export interface Q4Matrix {
  /** Rows (output features). */
  n: number;
  /** Columns (input features). */
  k: number;
  blocksPerRow: number;
  data: Uint8Array; // [n, blocksPerRow, 16]
  scales: Float32Array; // [n * blocksPerRow]
}

/** Quantises a row-major [n, k] matrix (PyTorch Linear layout, which is MatMulNBits' B layout). */
export function quantizeQ4(w: Float32Array, n: number, k: number): Q4Matrix {
  if (w.length !== n * k) throw new Error(`quantizeQ4: ${w.length} values for [${n}, ${k}]`);
  const blocksPerRow = Math.ceil(k / Q4_BLOCK);
  const data = new Uint8Array(n * blocksPerRow * (Q4_BLOCK / 2));
  const scales = new Float32Array(n * blocksPerRow);
  const q = new Uint8Array(Q4_BLOCK);
  for (let r = 0; r < n; r++) {
    for (let b = 0; b < blocksPerRow; b++) {
      const start = b * Q4_BLOCK, end = Math.min(k, start + Q4_BLOCK);
      let maxAbs = 0, maxVal = 0;
      for (let c = start; c < end; c++) {
        const v = w[r * k + c]!;
        if (Math.abs(v) > maxAbs) { maxAbs = Math.abs(v); maxVal = v; }
      }
      const scale = Math.fround(maxVal / -8);
      const inv = scale === 0 ? 0 : 1 / scale;
      q.fill(8);
      for (let c = start; c < end; c++) {
        q[c - start] = Math.min(15, Math.max(0, Math.round(w[r * k + c]! * inv) + 8));
      }
      const blockIdx = r * blocksPerRow + b;
      scales[blockIdx] = scale;
      for (let j = 0; j < Q4_BLOCK / 2; j++) data[blockIdx * 16 + j] = q[2 * j]! | (q[2 * j + 1]! << 4);
    }
  }
  return { n, k, blocksPerRow, data, scales };
}

/** The exact float values MatMulNBits computes with: [n, k] row-major. */
export function dequantizeQ4(m: Q4Matrix): Float32Array {
  const out = new Float32Array(m.n * m.k);
  for (let r = 0; r < m.n; r++) {
    for (let c = 0; c < m.k; c++) {
      const blockIdx = r * m.blocksPerRow + Math.floor(c / Q4_BLOCK);
      const inBlock = c % Q4_BLOCK;
      const byte = m.data[blockIdx * 16 + (inBlock >> 1)]!;
      const nib = inBlock & 1 ? byte >> 4 : byte & 15;
      out[r * m.k + c] = (nib - 8) * m.scales[blockIdx]!;
    }
  }
  return out;
}
