/** fp16 conversion used for fp16/q4f16 initializers, checked against the runtime's own Float16Array. */
import { expect, test } from "bun:test";
import { fromFloat16Bits, toFloat16Bits } from "../../../src/engine/models/float16.ts";
import { mulberry32 } from "../../support/random-llama.ts";

const F16 = (globalThis as { Float16Array?: new (v: number[]) => { buffer: ArrayBuffer } }).Float16Array;

test.skipIf(!F16)("toFloat16Bits rounds like Float16Array (nearest, ties to even, subnormals, overflow)", () => {
  const rnd = mulberry32(16);
  const values = [0, -0, 1, -1, 65504, 65519, 65520, 1e6, -1e6, 6e-8, 2.98e-8, 5.96e-8, 1e-10, Infinity, -Infinity, 1 + 2 ** -11, 1 + 3 * 2 ** -11];
  for (let i = 0; i < 50_000; i++) values.push(Math.fround((rnd() - 0.5) * 2 ** (Math.floor(rnd() * 60) - 30)));
  for (const v of values) {
    const want = new Uint16Array(new F16!([v]).buffer)[0]!;
    if (toFloat16Bits(v) !== want) expect({ v, bits: toFloat16Bits(v) }).toEqual({ v, bits: want });
  }
  expect(toFloat16Bits(NaN) & 0x7c00).toBe(0x7c00);
});

test("fromFloat16Bits decodes every finite pattern and round-trips", () => {
  for (let h = 0; h < 0x10000; h++) {
    const v = fromFloat16Bits(h);
    if (Number.isNaN(v)) continue;
    if (toFloat16Bits(v) !== h) expect({ h, back: toFloat16Bits(v) }).toEqual({ h, back: h });
  }
  expect(fromFloat16Bits(0x3c00)).toBe(1);
  expect(fromFloat16Bits(0x7bff)).toBe(65504);
  expect(fromFloat16Bits(0x0001)).toBe(2 ** -24);
});
