/**
 * Move has no floats: Atoma stores every f32 parameter as the u32 of its IEEE-754 bit pattern
 * (spec atoma-protocol.md §3.3). These helpers convert both ways without losing f32 precision.
 */

const view = new DataView(new ArrayBuffer(4));

/** u32 bit pattern → f32 value (as a JS number holding exactly that f32). */
export function u32BitsToF32(bits: number): number {
  if (!Number.isInteger(bits) || bits < 0 || bits > 0xffff_ffff) {
    throw new RangeError(`f32 bit pattern must be an integer in 0..4294967295, got ${bits}`);
  }
  view.setUint32(0, bits, true);
  return view.getFloat32(0, true);
}

/** f32 value → u32 bit pattern. The value is rounded to f32 first (Math.fround semantics). */
export function f32ToU32Bits(value: number): number {
  view.setFloat32(0, value, true);
  return view.getUint32(0, true);
}
