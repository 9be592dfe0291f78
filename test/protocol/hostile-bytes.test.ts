/**
 * Hostile bytes through the node's decoders (issue 8, defects 1 and 2): MessagePack size bombs in
 * prompts / `output_destination`, BCS vector-length bombs in events, and a seeded fuzz run. Peak
 * RSS is measured in a child process (test/support/hostile-probe.ts) so nothing else in this test
 * run can hide or inflate it. Before the fix, `dd 07 ff ff ff` cost ~1 GiB per decode and the
 * 83-byte event peaked at 1.09 GB.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { decode } from "@msgpack/msgpack";
import { scanMsgpack, MAX_DEPTH } from "../../src/protocol/msgpack-scan.ts";
import { decodeEventBcs, encodeEventBcs } from "../../src/chain/events/decode.ts";
import { decodeInputSource, decodeOutputDestination } from "../../src/protocol/msgpack.ts";

const PROBE = join(import.meta.dir, "../support/hostile-probe.ts");
/** "A few MB above baseline". */
const BOUND_KIB = 8 * 1024;

async function probe(...args: string[]): Promise<{ beforeKiB: number; afterKiB: number; results: any }> {
  const p = Bun.spawn([process.execPath, PROBE, ...args], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`probe ${args.join(" ")} exited ${code}: ${err}`);
  return JSON.parse(out.trim().split("\n").pop()!);
}

describe("MessagePack size bombs (defect 1)", () => {
  test("20 rounds of length-claim bombs through every prompt/destination decoder stay within a few MB", async () => {
    const r = await probe("msgpack-bombs");
    expect(r.afterKiB - r.beforeKiB).toBeLessThan(BOUND_KIB);
    expect(r.results.destination).toEqual({ kind: "nowhere", reason: "not MessagePack (a container claims 134217727 elements with 0 byte(s) left)" });
  }, 60_000);

  test("the scan accepts exactly what the library decodes for real payloads, rejects lies before allocating", () => {
    const hex = (s: string) => Uint8Array.from(Buffer.from(s.replaceAll(" ", ""), "hex"));
    for (const ok of ["81a352617791a26869", "81a44970667392a3516d58a454657874", "a84669726562617365", "c0", "cb3ff0000000000000", "d6ff00000001", "92c3c2"]) {
      expect(scanMsgpack(hex(ok))).toBeNull();
      expect(() => decode(hex(ok))).not.toThrow();
    }
    expect(scanMsgpack(hex("dd07ffffff"))).toBe("a container claims 134217727 elements with 0 byte(s) left");
    expect(scanMsgpack(hex("db ffffffff"))).toContain("beyond the end");
    expect(scanMsgpack(hex("c1"))).toContain("not MessagePack");
    expect(scanMsgpack(hex("a26869 00"))).toBe("1 trailing byte(s)");
    expect(scanMsgpack(new Uint8Array(MAX_DEPTH + 2).fill(0x91))).toBe(`nested deeper than ${MAX_DEPTH}`);
    // A megabyte of nesting is refused without building a million arrays.
    expect(decodeOutputDestination(new Uint8Array(1 << 20).fill(0x91))).toMatchObject({ kind: "nowhere", reason: expect.stringContaining("nested deeper") });
    expect(decodeInputSource(hex("81a3526177 dd07ffffff"))).toBeNull();
  });
});

describe("BCS vector-length bombs (defect 2)", () => {
  test("an 83-byte Text2TextPromptEvent claiming 2^27−1 pre_prompt_tokens is rejected within a few MB", async () => {
    const r = await probe("bcs-bombs");
    expect(r.afterKiB - r.beforeKiB).toBeLessThan(BOUND_KIB);
    expect(r.results.text2text.message).toBe("malformed Text2TextPromptEvent (bcs): vector<u32> claims 134217727 elements but only 37 byte(s) remain");
    expect(r.results.newlySampled.message).toContain("vector<MapNodeToChunk> claims 134217727 elements but only 0 byte(s) remain");
  }, 60_000);

  test("a length prefix is checked against the bytes that remain, whatever the vector", () => {
    const params = { maxTokens: 1n, model: "m", prePromptTokens: [], prependOutputWithInput: false, prompt: new Uint8Array(), randomSeed: 0n, repeatLastN: 0n, repeatPenalty: 1, shouldStreamOutput: false, temperature: 0, topK: 0n, topP: 1 };
    const ok = encodeEventBcs({ kind: "Text2TextPromptEvent", ticketId: "0x" + "11".repeat(32), params, chunksCount: 1n, nodes: [], outputDestination: new Uint8Array() });
    expect(decodeEventBcs("Text2TextPromptEvent", ok).ok).toBe(true);
    // The last two bytes are the empty `nodes` and `output_destination` lengths: claim 1000 nodes.
    const bytes = Uint8Array.from([...ok.subarray(0, ok.length - 2), 0xe8, 0x07, 0x00]);
    const r = decodeEventBcs("Text2TextPromptEvent", bytes);
    expect(r).toMatchObject({ ok: false, message: expect.stringContaining("vector<SmallId> claims 1000 elements") });
  });
});

describe("fuzz: mutated MessagePack and BCS payloads", () => {
  test("3000 of each through the decoders: nothing throws, peak RSS stays bounded, same seed same outcome", async () => {
    const a = await probe("fuzz", "20261201", "3000");
    const b = await probe("fuzz", "20261201", "3000");
    expect(a.afterKiB - a.beforeKiB).toBeLessThan(2 * BOUND_KIB);
    expect(b.results).toEqual(a.results);
    // The mutations are not all rejected outright: some still decode, so the decoders were exercised.
    expect(a.results.msgpackDecoded).toBeGreaterThan(0);
    expect(a.results.bcsDecoded).toBeGreaterThan(0);
    expect(a.results.count).toBe(3000);
  }, 120_000);
});
