/**
 * GGUF reader: files written by the tests from random weights, one per ggml type (and both GGUF
 * versions 2 and 3), read back through the product reader. Every tensor must equal the reference
 * dequantization bit for bit, under its Hugging Face name and with llama.cpp's Q/K row permutation
 * undone; the metadata must become the config.json transformers would use.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openGguf } from "../../src/convert/readers/gguf.ts";
import { REF_TYPES, type RefType } from "../support/ggml-reference.ts";
import { writeLlamaGguf } from "../support/gguf-llama.ts";
import { randomLlama } from "../support/random-llama.ts";

const root = mkdtempSync(join(tmpdir(), "atoma-gguf-reader-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Rows of 256 values so every type (K-quants have 256-value super-blocks) tiles them. */
const SHAPE = { hiddenSize: 256, intermediateSize: 512, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 64, vocabSize: 96, tied: false };

function bitsEqual(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return -2;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length), ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

describe("GGUF tensor data", () => {
  const weights = randomLlama(SHAPE, 11);
  for (const type of REF_TYPES) {
    for (const version of type === "Q4_0" ? ([2, 3] as const) : ([3] as const)) {
      test(`${type} (GGUF v${version}): every tensor dequantizes bit-exactly to the reference, under HF names, Q/K un-permuted`, async () => {
        const path = join(root, `${type}-v${version}.gguf`);
        const w = writeLlamaGguf(path, weights, { typeOf: () => type, version });
        const m = await openGguf(path);
        try {
          expect(m.version).toBe(version);
          expect(m.source.names().sort()).toEqual([...w.expected.keys()].sort());
          for (const [name, want] of w.expected) {
            const got = m.source.read(name);
            const at = bitsEqual(got, want);
            if (at !== -1) throw new Error(`${type} ${name}: first differing value at ${at}: ${got[at]} vs ${want[at]}`);
          }
          expect(m.source.info("model.layers.0.self_attn.q_proj.weight")).toEqual({ dtype: type, shape: [256, 256] });
          expect(m.source.info("model.layers.0.mlp.down_proj.weight")!.shape).toEqual([256, 512]);
        } finally {
          m.source.close();
        }
      });
    }
  }

  test("the quantized values are not trivially equal to the fp32 weights (the test would be vacuous)", async () => {
    const path = join(root, "q4k-check.gguf");
    const w = writeLlamaGguf(path, weights, { typeOf: () => "Q4_K" as RefType });
    const q = w.expected.get("model.layers.0.mlp.up_proj.weight")!;
    let diff = 0, norm = 0;
    weights.layers[0]!.up.forEach((v, i) => { diff += (v - q[i]!) ** 2; norm += v * v; });
    const rel = Math.sqrt(diff / norm);
    expect(rel).toBeGreaterThan(0.01);
    expect(rel).toBeLessThan(0.2);
  });
});

describe("GGUF metadata → config.json", () => {
  test("llama.* keys map onto LlamaConfig keys; an absent output.weight means tied embeddings", async () => {
    const shape = { ...SHAPE, tied: true };
    const path = join(root, "tied.gguf");
    writeLlamaGguf(path, randomLlama(shape, 3), { typeOf: () => "F16" });
    const m = await openGguf(path);
    m.source.close();
    expect(m.config).toMatchObject({
      model_type: "llama", hidden_size: 256, intermediate_size: 512, num_attention_heads: 4, num_key_value_heads: 2,
      head_dim: 64, num_hidden_layers: 2, vocab_size: 96, max_position_embeddings: 128, rope_theta: 10000,
      bos_token_id: 1, eos_token_id: 2, tie_word_embeddings: true,
    });
    expect(m.config.rms_norm_eps as number).toBeCloseTo(1e-5, 9);
    expect(m.source.info("lm_head.weight")).toBeUndefined();
  });
});
