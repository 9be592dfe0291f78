import { describe, expect, test } from "bun:test";
import { parseU64, U64_MAX } from "../../src/protocol/u64.ts";

describe("parseU64", () => {
  test("integers, bigints and decimal text within 0..2^64-1", () => {
    expect(parseU64(0)).toBe(0n);
    expect(parseU64(42)).toBe(42n);
    expect(parseU64(7n)).toBe(7n);
    expect(parseU64("18446744073709551615")).toBe(U64_MAX);
    expect(parseU64("00012")).toBe(12n);
  });
  test("hex only when asked", () => {
    expect(parseU64("0xffffffffffffffff")).toBeNull();
    expect(parseU64("0xffffffffffffffff", { hex: true })).toBe(U64_MAX);
    expect(parseU64("0x000000ff", { hex: true })).toBe(255n);
  });
  test("rejects negatives, fractions, overflow, junk and untrimmed text", () => {
    for (const v of [-1, 1.5, 2 ** 53, -1n, 1n << 64n, "18446744073709551616", "1".repeat(30), "0x1ffffffffffffffff", "-1", "1e3", " 1", "", null, undefined, {}, true]) {
      expect(parseU64(v, { hex: true })).toBeNull();
    }
  });
});
