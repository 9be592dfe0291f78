/**
 * The MatMulNBits block quantiser (src/engine/models/quantize-nbits.ts) against values computed by
 * hand from its documented rule, and an error bound against fp32. The test reference
 * (test/support/reference-llama.ts) uses this quantiser to know what a q4/q8 graph stores, so the
 * quantiser itself must be pinned independently here.
 */
import { describe, expect, test } from "bun:test";
import { dequantizeNBits, quantizeNBits } from "../../../src/engine/models/quantize-nbits.ts";
import { mulberry32 } from "../../support/random-llama.ts";

describe("4-bit block quantiser", () => {
  // Row 0, block 0: w_i = 4 − 0.25·i (i = 0 … 31). Largest magnitude: +4 at i = 0, so
  // scale = 4 / −8 = −0.5 and q_i = round(w_i / −0.5) + 8 = round(0.5·i) (halves round up):
  // 0, 1, 1, 2, 2, …, 15, 15, and i = 31 gives round(15.5) = 16, clamped to 15.
  // Row 0, block 1 (k = 40, 8 real values): −2, 1, 0.5, −1, 0, 0, 0, 0; largest magnitude −2, so
  // scale = −2 / −8 = 0.25 and q = 0, 12, 10, 4, 8, 8, 8, 8; the 24 missing elements are q = 8 (zero).
  const k = 40;
  const w = new Float32Array(k);
  for (let i = 0; i < 32; i++) w[i] = 4 - 0.25 * i;
  w.set([-2, 1, 0.5, -1, 0, 0, 0, 0], 32);
  const m = quantizeNBits(w, 1, k, 4);

  test("layout, scales and packed nibbles are the hand-computed ones", () => {
    expect({ bits: m.bits, n: m.n, k: m.k, blocksPerRow: m.blocksPerRow, blobSize: m.blobSize, bytes: m.data.length }).toEqual({ bits: 4, n: 1, k, blocksPerRow: 2, blobSize: 16, bytes: 32 });
    expect(Array.from(m.scales)).toEqual([-0.5, 0.25]);
    // Block 0: byte j = q[2j] | q[2j+1] << 4 = j | (j + 1) << 4, the last one 15 | 15 << 4.
    const block0 = [0x10, 0x21, 0x32, 0x43, 0x54, 0x65, 0x76, 0x87, 0x98, 0xa9, 0xba, 0xcb, 0xdc, 0xed, 0xfe, 0xff];
    // Block 1: 0 | 12 << 4, 10 | 4 << 4, then 8 | 8 << 4.
    const block1 = [0xc0, 0x4a, ...Array(14).fill(0x88)];
    expect(Array.from(m.data)).toEqual([...block0, ...block1]);
  });

  test("dequantised values are (q − 8) · scale, error ≤ |scale| / 2", () => {
    const d = Array.from(dequantizeNBits(m), (v) => v + 0); // (8 − 8) · −0.5 is −0; compare as 0
    // Block 0: 4 − 0.5·q; even i are exact, odd i are off by 0.25 (i = 31 by clamping).
    const want0 = Array.from({ length: 32 }, (_, i) => 4 - 0.5 * Math.min(15, Math.ceil(i / 2)));
    expect(d.slice(0, 32)).toEqual(want0);
    expect(d.slice(32)).toEqual([-2, 1, 0.5, -1, 0, 0, 0, 0]);
    for (let i = 0; i < 32; i++) expect(Math.abs(d[i]! - w[i]!)).toBe(i % 2 === 0 ? 0 : 0.25);
  });

  test("an all-zero block has scale 0 and dequantises to zeros", () => {
    const z = quantizeNBits(new Float32Array(32), 1, 32, 4);
    expect(Array.from(z.scales, Math.abs)).toEqual([0]);
    expect(Array.from(z.data)).toEqual(Array(16).fill(0x88));
    expect(Array.from(dequantizeNBits(z), Math.abs)).toEqual(Array(32).fill(0));
  });
});

describe("error against fp32 on random matrices", () => {
  for (const bits of [4, 8] as const) {
    test(`${bits}-bit: each element within half a step (one step where clamped); matmul error bounded`, () => {
      const rnd = mulberry32(bits);
      const n = 24, k = 100; // 4 blocks per row, the last one partial (4 values)
      const w = Float32Array.from({ length: n * k }, () => (rnd() - 0.5) * 2 * (1 + 10 * rnd()));
      const d = dequantizeNBits(quantizeNBits(w, n, k, bits));
      // Symmetric: the largest magnitude is −zero·scale (zero = 8 or 128); the opposite side reaches
      // only (zero − 1) steps, so values beyond zero − ½ steps there clamp, off by at most one step.
      const zero = 1 << (bits - 1);
      let worstRatio = 0, worstClamped = 0, clamped = 0;
      for (let r = 0; r < n; r++) {
        for (let b = 0; b * 32 < k; b++) {
          const cols = Array.from({ length: Math.min(32, k - b * 32) }, (_, j) => r * k + b * 32 + j);
          const maxAbs = Math.max(...cols.map((i) => Math.abs(w[i]!)));
          const step = maxAbs / zero;
          const maxVal = w[cols.find((i) => Math.abs(w[i]!) === maxAbs)!]!;
          for (const i of cols) {
            const ratio = Math.abs(d[i]! - w[i]!) / step;
            if (Math.sign(w[i]!) === -Math.sign(maxVal) && Math.abs(w[i]!) / step > zero - 0.5) (clamped++, (worstClamped = Math.max(worstClamped, ratio)));
            else worstRatio = Math.max(worstRatio, ratio);
          }
        }
      }
      // Half a step, plus fp32 rounding of the scale and the product.
      expect(worstRatio).toBeLessThanOrEqual(0.5 + 1e-5);
      expect(worstClamped).toBeLessThanOrEqual(1 + 1e-5);
      expect(clamped).toBeLessThan((n * k) / 20); // rare: only near the block's extreme, opposite sign
      // y = W·x: |Δy_r| ≤ Σ_c |Δw_rc|·|x_c|, and the relative error stays small.
      const x = Float64Array.from({ length: k }, () => rnd() - 0.5);
      let num = 0, den = 0;
      for (let r = 0; r < n; r++) {
        let y = 0, yq = 0;
        for (let c = 0; c < k; c++) (y += w[r * k + c]! * x[c]!), (yq += d[r * k + c]! * x[c]!);
        num += (y - yq) ** 2;
        den += y ** 2;
      }
      expect(Math.sqrt(num / den)).toBeLessThan(bits === 4 ? 0.15 : 0.01);
    });
  }
});
