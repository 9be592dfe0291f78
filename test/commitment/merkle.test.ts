import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { toHex } from "@mysten/bcs";
import { blake2b256, commit, commitText } from "../../src/commitment/merkle.ts";

const ROOT = join(import.meta.dir, "../..");
const enc = (s: string) => new TextEncoder().encode(s);

describe("merkle (spec §8.2 vectors)", () => {
  test("blake2b256('abc')", () => {
    expect(toHex(blake2b256(enc("abc")))).toBe("bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
  });

  test("hello world, n = 3: leaves and root", () => {
    const c = commitText("hello world", 3, 1);
    expect(c.leaves.map(toHex)).toEqual([
      "5f54187a599ea0dd8ec06a3b3011503ffdc2f95f6484db33779c50987e436e8a",
      "96d1c15353d91458e5da46a82f42c77bab683a85d5032ec74e37c50ab5185cb9",
      "2d5438f1881b616c824252c8b7a08debb70a4b764deeeac5bc6be4565dd4125f",
    ]);
    expect(toHex(c.root)).toBe("815448441fafe86866ca32713f34ae6add4730fd362b8caa669d7e096154e0a0");
    expect(toHex(c.leaf)).toBe("96d1c15353d91458e5da46a82f42c77bab683a85d5032ec74e37c50ab5185cb9");
    // Leaf 2 independently: blake2b256("hello world" ‖ u64_le(2)).
    expect(toHex(blake2b256(new Uint8Array([...enc("hello world"), 2, 0, 0, 0, 0, 0, 0, 0])))).toBe(toHex(c.leaves[2]!));
  });

  test("hello world, n = 1 and n = 11 roots", () => {
    expect(toHex(commitText("hello world", 1, 0).root)).toBe("86c329ea02f24b7ac16b009eebfbdf1f7491f70119b2705bc1b6ef118ed17531");
    expect(toHex(commitText("hello world", 11, 10).root)).toBe("508cd47ce53122643e8a517ba8a38f43d06d9eefbabab28ebc49229bcdfffb99");
  });

  test("empty output commits to the index alone (never throws)", () => {
    const c = commit(new Uint8Array(0), 2, 0);
    const idx0 = new Uint8Array(8);
    expect(toHex(c.leaf)).toBe(toHex(blake2b256(idx0)));
    expect(c.leaves).toHaveLength(2);
  });

  test("bad leaf count / index are range errors", () => {
    expect(() => commitText("x", 0, 0)).toThrow(/leaf count 0/);
    expect(() => commitText("x", 2, 2)).toThrow(/leaf index 2/);
    expect(() => commitText("x", 1.5, 0)).toThrow(RangeError);
  });
});

describe("atoma-node commitment CLI", () => {
  const run = (...args: string[]) =>
    Bun.spawnSync([process.execPath, join(ROOT, "src/cli/main.ts"), "commitment", ...args], { cwd: ROOT });

  test("reproduces the spec vector", () => {
    const r = run("--data", "hello world", "--leaves", "3", "--index", "2");
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout.toString())).toEqual({
      root: "815448441fafe86866ca32713f34ae6add4730fd362b8caa669d7e096154e0a0",
      leaf: "2d5438f1881b616c824252c8b7a08debb70a4b764deeeac5bc6be4565dd4125f",
    });
  });

  test("--hex form gives the same answer", () => {
    const r = run("--hex", Buffer.from("hello world").toString("hex"), "--leaves", "1");
    expect(JSON.parse(r.stdout.toString()).root).toBe("86c329ea02f24b7ac16b009eebfbdf1f7491f70119b2705bc1b6ef118ed17531");
  });

  test("bad input: one-line error, exit 2", () => {
    const r = run("--data", "x", "--leaves", "3", "--index", "3");
    expect(r.exitCode).toBe(2);
    expect(r.stderr.toString().trim()).toBe("error: --index 3 is out of range; expected 0..2");
    const r2 = run("--data", "x", "--leaves", "abc");
    expect(r2.exitCode).toBe(2);
    expect(r2.stderr.toString()).toContain("--leaves");
    const r3 = run("--leaves", "2");
    expect(r3.exitCode).toBe(2);
  });
});
