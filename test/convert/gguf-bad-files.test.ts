/**
 * Hostile and broken GGUF files: each fails in openGguf with one ConvertError line that names the
 * file and what is wrong — before any tensor is used — instead of a crash or garbage weights.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openGguf } from "../../src/convert/readers/gguf.ts";
import { ConvertError } from "../../src/convert/tensors.ts";
import { quantizeRef, TYPE_IDS } from "../support/ggml-reference.ts";
import { llamaMetadata } from "../support/gguf-llama.ts";
import { encodeGguf, type GgufTensor, type MetaValue } from "../support/gguf-writer.ts";
import { randomLlama } from "../support/random-llama.ts";

const root = mkdtempSync(join(tmpdir(), "atoma-gguf-bad-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const weights = randomLlama({ hiddenSize: 32, intermediateSize: 64, numLayers: 1, numHeads: 2, numKvHeads: 2, headDim: 16, vocabSize: 40, tied: true }, 5);
const c = weights.config;

function tensors(override: Partial<Record<string, Partial<GgufTensor>>> = {}): GgufTensor[] {
  const l = weights.layers[0]!;
  const t = (name: string, data: Float32Array, dims: number[], type: "F16" | "F32" | "Q8_0" = dims.length === 1 ? "F32" : "Q8_0"): GgufTensor =>
    ({ name, dims, type: TYPE_IDS[type], bytes: quantizeRef(type, data).bytes, ...override[name] });
  return [
    t("token_embd.weight", weights.embed, [32, 40]),
    t("blk.0.attn_norm.weight", l.attnNorm, [32]),
    t("blk.0.attn_q.weight", l.wq, [32, 32]),
    t("blk.0.attn_k.weight", l.wk, [32, 32]),
    t("blk.0.attn_v.weight", l.wv, [32, 32]),
    t("blk.0.attn_output.weight", l.wo, [32, 32]),
    t("blk.0.ffn_norm.weight", l.ffnNorm, [32]),
    t("blk.0.ffn_gate.weight", l.gate, [32, 64]),
    t("blk.0.ffn_up.weight", l.up, [32, 64]),
    t("blk.0.ffn_down.weight", l.down, [64, 32]),
    t("output_norm.weight", weights.finalNorm, [32]),
  ];
}

function write(name: string, bytes: Uint8Array): string {
  const path = join(root, name);
  writeFileSync(path, bytes);
  return path;
}

async function failure(path: string): Promise<string> {
  try {
    const m = await openGguf(path);
    m.source.close();
  } catch (e) {
    expect(e).toBeInstanceOf(ConvertError);
    const msg = (e as Error).message;
    expect(msg).not.toContain("\n");
    expect(msg).toContain(path);
    return msg;
  }
  throw new Error(`${path} was accepted`);
}

const good = () => encodeGguf(llamaMetadata(weights), tensors());

describe("bad GGUF files are one ConvertError line", () => {
  test("the well-formed file opens (the corruptions below are the only difference)", async () => {
    const m = await openGguf(write("good.gguf", good()));
    m.source.close();
    expect(m.config.hidden_size).toBe(32);
  });

  test("bad magic", async () => {
    const b = good();
    b.set(new TextEncoder().encode("GGJT"), 0);
    expect(await failure(write("magic.gguf", b))).toMatch(/not a GGUF file \(expected the magic "GGUF" at byte 0, found "GGJT"\)/);
  });

  test("empty and tiny files", async () => {
    expect(await failure(write("empty.gguf", new Uint8Array(0)))).toMatch(/not a GGUF file .* only 0 bytes/);
    expect(await failure(write("tiny.gguf", new TextEncoder().encode("GGUF\x03\0\0\0")))).toMatch(/only 8 bytes/);
  });

  test("unsupported version", async () => {
    const b = good();
    b[4] = 9;
    expect(await failure(write("version.gguf", b))).toMatch(/unreadable GGUF header: .*version/);
  });

  test("truncated in the tensor data", async () => {
    const b = good();
    expect(await failure(write("trunc-data.gguf", b.subarray(0, b.byteLength - 700)))).toMatch(/tensor .* needs bytes \d+…\d+ but the file has \d+ bytes \(truncated/);
  });

  test("truncated in the header (mid-metadata)", async () => {
    const b = good();
    expect(await failure(write("trunc-head.gguf", b.subarray(0, 300)))).toMatch(/unreadable GGUF header|truncated/);
  });

  test("unknown tensor type ids and known-but-unsupported ones", async () => {
    expect(await failure(write("type99.gguf", encodeGguf(llamaMetadata(weights), tensors({ "blk.0.attn_v.weight": { type: 99 } })))))
      .toMatch(/tensor blk\.0\.attn_v\.weight: tensor type 99 is not a ggml type is not supported \(supported: F32, F16, Q4_0/);
    expect(await failure(write("iq2.gguf", encodeGguf(llamaMetadata(weights), tensors({ "blk.0.attn_v.weight": { type: 16 } })))))
      .toMatch(/tensor type IQ2_XXS \(16\) is not supported/);
  });

  test("metadata lies about sizes: embedding length, layer count, feed-forward length", async () => {
    const lie = (k: string, v: MetaValue, more: Record<string, MetaValue> = {}) => encodeGguf({ ...llamaMetadata(weights), [k]: v, ...more }, tensors());
    expect(await failure(write("embd-rope.gguf", lie("llama.embedding_length", { t: "u32", v: 64 }))))
      .toMatch(/llama\.rope\.dimension_count 16 differs from the head size 32/);
    expect(await failure(write("embd.gguf", lie("llama.embedding_length", { t: "u32", v: 64 }, { "llama.attention.key_length": { t: "u32", v: 16 } }))))
      .toMatch(/tensor token_embd\.weight is \[32, 40\] but the metadata implies \[64, 40\]/);
    expect(await failure(write("blocks.gguf", lie("llama.block_count", { t: "u32", v: 3 })))).toMatch(/llama\.block_count is 3 but the file holds 1 blocks/);
    expect(await failure(write("ffn.gguf", lie("llama.feed_forward_length", { t: "u32", v: 65 })))).toMatch(/ffn_up\.weight is \[32, 64\] but the metadata implies \[32, 65\]/);
    expect(await failure(write("heads.gguf", lie("llama.attention.head_count", { t: "u32", v: 3 })))).toMatch(/not a multiple of llama\.attention\.head_count 3/);
  });

  test("tensor infos lie: shape larger than the data, offsets out of the file, overlapping, misaligned", async () => {
    const big = tensors({ "blk.0.ffn_down.weight": { dims: [64, 3200] } });
    expect(await failure(write("dims.gguf", encodeGguf(llamaMetadata(weights), big)))).toMatch(/ffn_down\.weight: Q8_0 \[64, 3200\] needs bytes .* \(truncated, or the shape is wrong\)/);
    const partial = tensors({ "blk.0.ffn_down.weight": { dims: [48, 32] } });
    expect(await failure(write("block.gguf", encodeGguf(llamaMetadata(weights), partial)))).toMatch(/rows of 48 values do not fill whole Q8_0 blocks of 32/);
    // Point one tensor's offset into its neighbour: patch the u64 after the last tensor info's type.
    const b = good();
    const name = new TextEncoder().encode("output_norm.weight");
    const at = indexOf(b, name) + name.byteLength + 4 + 8 + 4; // n_dims, one dim, type
    new DataView(b.buffer).setBigUint64(at, 0n, true);
    expect(await failure(write("overlap.gguf", b))).toMatch(/overlap in the data section/);
    new DataView(b.buffer).setBigUint64(at, 3n, true);
    expect(await failure(write("misaligned.gguf", b))).toMatch(/data offset 3 is not a multiple of the alignment 32/);
  });

  test("a metadata string whose length runs past the end of the file", async () => {
    const b = good();
    const key = new TextEncoder().encode("general.name");
    const at = indexOf(b, key) + key.byteLength + 4; // value type, then the u64 string length
    new DataView(b.buffer).setBigUint64(at, 1n << 40n, true);
    expect(await failure(write("strlen.gguf", b))).toMatch(/unreadable GGUF header/);
  });

  test("an architecture other than llama, and a file without tensors", async () => {
    const meta: Record<string, MetaValue> = { ...llamaMetadata(weights), "general.architecture": { t: "str", v: "gpt2" } };
    expect(await failure(write("arch.gguf", encodeGguf(meta, tensors())))).toMatch(/architecture "gpt2" is not supported/);
    expect(await failure(write("none.gguf", encodeGguf(llamaMetadata(weights), [])))).toMatch(/no token_embd\.weight tensor/);
  });
  void c;
});

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  throw new Error("needle not found");
}
