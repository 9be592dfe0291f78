import { describe, expect, test } from "bun:test";
import { fromHex } from "@mysten/bcs";
import { f32ToU32Bits, u32BitsToF32 } from "../../src/protocol/floats.ts";
import { decodeInputSource, decodeOutputDestination, decodePrompt, promptText } from "../../src/protocol/msgpack.ts";
import { renderJson, toJsonValue } from "../../src/protocol/render.ts";

const hex = (s: string) => fromHex(s.replaceAll(" ", ""));

describe("f32 ⇄ u32 bit patterns (spec §3.3)", () => {
  const table: [number, number, number][] = [
    [0.0, 0, 0],
    [0.25, 1048576000, 0.25],
    [0.5, 1056964608, 0.5],
    [0.7, 1060320051, 0.699999988079071],
    [0.9, 1063675494, 0.8999999761581421],
    [1.0, 1065353216, 1],
    [1.1, 1066192077, 1.100000023841858],
    [7.5, 1089470464, 7.5],
  ];
  for (const [f, bits, decoded] of table) {
    test(`${f} ⇄ ${bits}`, () => {
      expect(f32ToU32Bits(f)).toBe(bits);
      expect(u32BitsToF32(bits)).toBe(decoded);
    });
  }
  test("out-of-range bit patterns are rejected", () => {
    expect(() => u32BitsToF32(-1)).toThrow("0..4294967295");
    expect(() => u32BitsToF32(2 ** 32)).toThrow();
  });
});

describe("OutputDestination (spec §6.2)", () => {
  test("mid-2024 forms", () => {
    expect(decodeOutputDestination(hex("a8 46 69 72 65 62 61 73 65"))).toEqual({ kind: "Firebase" });
    expect(decodeOutputDestination(hex("81 a7 47 61 74 65 77 61 79 91 a6 75 73 65 72 2d 31")))
      .toEqual({ kind: "Gateway", gatewayUserId: "user-1" });
  });
  test("September 2024 forms", () => {
    expect(decodeOutputDestination(hex("81 a8 46 69 72 65 62 61 73 65 91 a5 72 65 71 2d 31"))).toEqual({ kind: "Firebase", requestId: "req-1" });
    expect(decodeOutputDestination(hex("81 a4 49 70 66 73 91 a5 72 65 71 2d 31"))).toEqual({ kind: "Ipfs", requestId: "req-1" });
    expect(decodeOutputDestination(hex("81 a8 53 75 70 61 62 61 73 65 91 a5 72 65 71 2d 31"))).toEqual({ kind: "Supabase", requestId: "req-1" });
  });
  test("map-form body accepted", () => {
    // { "Gateway": { "gateway_user_id": "u" } }
    const bytes = hex("81 a7 47617465776179 81 af 676174657761795f757365725f6964 a1 75");
    expect(decodeOutputDestination(bytes)).toEqual({ kind: "Gateway", gatewayUserId: "u" });
  });
  test("empty / undecodable → nowhere, never throws", () => {
    expect(decodeOutputDestination(new Uint8Array())).toMatchObject({ kind: "nowhere" });
    expect(decodeOutputDestination(hex("c1"))).toMatchObject({ kind: "nowhere" });
    expect(decodeOutputDestination(hex("a3 46 6f 6f"))).toMatchObject({ kind: "nowhere", reason: expect.stringContaining("Foo") });
    expect(decodeOutputDestination(hex("81 a7 47 61 74 65 77 61 79 91 05"))).toMatchObject({ kind: "nowhere" });
    expect(decodeOutputDestination(hex("a8 46 69 72 65"))).toMatchObject({ kind: "nowhere" }); // truncated
    expect(decodeOutputDestination(hex("07"))).toMatchObject({ kind: "nowhere" });
  });
});

describe("InputSource (spec §6.3)", () => {
  test("compact and map-form bodies", () => {
    expect(decodeInputSource(hex("81 a3 52 61 77 91 a2 68 69"))).toEqual({ kind: "Raw", prompt: "hi" });
    expect(decodeInputSource(hex("81 a3 52 61 77 81 a6 70 72 6f 6d 70 74 a2 68 69"))).toEqual({ kind: "Raw", prompt: "hi" });
    expect(decodeInputSource(hex("81 a4 49 70 66 73 92 a3 51 6d 58 a4 54 65 78 74"))).toEqual({ kind: "Ipfs", cid: "QmX", format: "Text" });
    expect(decodeInputSource(hex("81 a8 46 69 72 65 62 61 73 65 91 a5 72 65 71 2d 31"))).toEqual({ kind: "Firebase", requestId: "req-1" });
  });
  test("legacy UTF-8 prompt falls back to text; garbage is reported", () => {
    expect(decodePrompt(new TextEncoder().encode("Tell me a joke"))).toEqual({ text: "Tell me a joke" });
    expect(decodePrompt(hex("81 a3 52 61 77 91 a2 68 69"))).toEqual({ source: { kind: "Raw", prompt: "hi" } });
    expect(decodePrompt(hex("ff fe"))).toMatchObject({ invalid: expect.any(String) });
    // Pinned generations. (InputSource bytes start with a fixmap byte 0x81, never valid UTF-8, so
    // `auto` cannot misread one as the other.)
    expect(decodePrompt(hex("81 a3 52 61 77 91 a2 68 69"), "text")).toMatchObject({ invalid: expect.any(String) });
    expect(decodePrompt(new TextEncoder().encode("plain"), "text")).toEqual({ text: "plain" });
    expect(decodePrompt(new TextEncoder().encode("plain"), "input_source")).toMatchObject({ invalid: expect.any(String) });
    expect(decodeInputSource(hex("81 a4 49 70 66 73 92 a3 51 6d 58 a3 42 61 64"))).toBeNull(); // format "Bad"
  });
  test("invalid UTF-8 is still text (U+FFFD) flagged invalid; a leading BOM is stripped either way", () => {
    expect(decodePrompt(hex("68 69 ff"))).toMatchObject({ text: "hi\uFFFD", invalid: expect.any(String) });
    expect(promptText(hex("ef bb bf 68 69"))).toEqual({ text: "hi" });
    expect(promptText(hex("ef bb bf 68 69 ff"))).toEqual({ text: "hi\uFFFD" });
    expect(promptText(hex("81 a3 52 61 77 91 a2 68 69"))).toEqual({ text: "hi" });
    expect(promptText(hex("81 a8 46 69 72 65 62 61 73 65 91 a5 72 65 71 2d 31"))).toMatchObject({ error: expect.stringContaining("Firebase") });
    expect(promptText(new TextEncoder().encode("plain"), "input_source")).toMatchObject({ error: expect.any(String) });
  });
});

describe("JSON rendering", () => {
  test("bigint → decimal string, bytes → hex", () => {
    expect(toJsonValue({ a: 18446744073709551615n, b: Uint8Array.from([0, 255]), c: [1n], d: null, e: 0.5 }))
      .toEqual({ a: "18446744073709551615", b: "00ff", c: ["1"], d: null, e: 0.5 });
    expect(renderJson({ x: 1n })).toBe('{\n  "x": "1"\n}');
  });
});
