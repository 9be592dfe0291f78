/**
 * A Mixtral GGUF (llama.cpp's layout: `llama` architecture with `llama.expert_count`, router
 * `ffn_gate_inp`, experts stacked in `ffn_{gate,up,down}_exps` [D, I, E]) written by the test from
 * random weights, imported (experts split into `block_sparse_moe.experts.E.w1|w2|w3`), and run on
 * onnxruntime-node (transformers.js has no Mixtral class) against the independent reference.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { importGguf } from "../../src/convert/import-llama-cpp.ts";
import { quantizeRef, TYPE_IDS } from "../support/ggml-reference.ts";
import { llamaTokenizerMetadata, permuteForGguf } from "../support/gguf-llama.ts";
import { writeGguf, type GgufTensor, type MetaValue } from "../support/gguf-writer.ts";
import { maxAbsDiff, OrtLlama } from "../support/ort-llama.ts";
import { mulberry32 } from "../support/random-llama.ts";
import { ReferenceHf } from "../support/reference-hf.ts";
import type { NamedTensor } from "../support/safetensors-writer.ts";

const root = mkdtempSync(join(tmpdir(), "atoma-gguf-moe-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const D = 64, I = 96, H = 4, KVH = 2, HD = 16, L = 2, V = 300, E = 4;

test("Mixtral GGUF (stacked experts, Q8_0) → ONNX: logits equal the reference on the dequantized weights, greedy tokens equal", async () => {
  const rnd = mulberry32(41);
  const mat = (rows: number, cols: number, scale = 1 / Math.sqrt(cols)) => Float32Array.from({ length: rows * cols }, () => (rnd() * 2 - 1) * Math.sqrt(3) * scale);
  const norm = (n: number) => Float32Array.from({ length: n }, () => 0.8 + 0.4 * rnd());
  const tensors: GgufTensor[] = [];
  const hf = new Map<string, NamedTensor>();
  /** One matrix (or E stacked) quantized row-wise; expected values under the HF name(s). */
  const add = (gguf: string, type: "Q8_0" | "F32", parts: { hf: string; data: Float32Array; rows: number; cols: number }[], permute?: number) => {
    const bytes: Uint8Array[] = [];
    for (const p of parts) {
      const q = quantizeRef(type, p.data);
      bytes.push(permute ? permuteForGguf(q.bytes, p.rows, permute) : q.bytes);
      hf.set(p.hf, { shape: p.rows === 1 ? [p.cols] : [p.rows, p.cols], data: q.expected });
    }
    const all = new Uint8Array(bytes.reduce((a, b) => a + b.byteLength, 0));
    let o = 0;
    for (const b of bytes) { all.set(b, o); o += b.byteLength; }
    const { rows, cols } = parts[0]!;
    const dims = rows === 1 ? [cols] : parts.length > 1 ? [cols, rows, parts.length] : [cols, rows];
    tensors.push({ name: gguf, dims, type: TYPE_IDS[type], bytes: all });
  };
  add("token_embd.weight", "Q8_0", [{ hf: "model.embed_tokens.weight", data: mat(V, D, 1), rows: V, cols: D }]);
  for (let l = 0; l < L; l++) {
    const b = `blk.${l}`, p = `model.layers.${l}`;
    add(`${b}.attn_norm.weight`, "F32", [{ hf: `${p}.input_layernorm.weight`, data: norm(D), rows: 1, cols: D }]);
    add(`${b}.attn_q.weight`, "Q8_0", [{ hf: `${p}.self_attn.q_proj.weight`, data: mat(H * HD, D), rows: H * HD, cols: D }], H);
    add(`${b}.attn_k.weight`, "Q8_0", [{ hf: `${p}.self_attn.k_proj.weight`, data: mat(KVH * HD, D), rows: KVH * HD, cols: D }], KVH);
    add(`${b}.attn_v.weight`, "Q8_0", [{ hf: `${p}.self_attn.v_proj.weight`, data: mat(KVH * HD, D), rows: KVH * HD, cols: D }]);
    add(`${b}.attn_output.weight`, "Q8_0", [{ hf: `${p}.self_attn.o_proj.weight`, data: mat(D, H * HD), rows: D, cols: H * HD }]);
    add(`${b}.ffn_norm.weight`, "F32", [{ hf: `${p}.post_attention_layernorm.weight`, data: norm(D), rows: 1, cols: D }]);
    add(`${b}.ffn_gate_inp.weight`, "F32", [{ hf: `${p}.block_sparse_moe.gate.weight`, data: mat(E, D, 3 / Math.sqrt(D)), rows: E, cols: D }]);
    const experts = (w: "w1" | "w2" | "w3", rows: number, cols: number) =>
      Array.from({ length: E }, (_, e) => ({ hf: `${p}.block_sparse_moe.experts.${e}.${w}.weight`, data: mat(rows, cols), rows, cols }));
    add(`${b}.ffn_gate_exps.weight`, "Q8_0", experts("w1", I, D));
    add(`${b}.ffn_down_exps.weight`, "Q8_0", experts("w2", D, I));
    add(`${b}.ffn_up_exps.weight`, "Q8_0", experts("w3", I, D));
  }
  add("output_norm.weight", "F32", [{ hf: "model.norm.weight", data: norm(D), rows: 1, cols: D }]);
  add("output.weight", "Q8_0", [{ hf: "lm_head.weight", data: mat(V, D, 1), rows: V, cols: D }]);
  const meta: Record<string, MetaValue> = {
    "general.architecture": { t: "str", v: "llama" },
    "llama.context_length": { t: "u32", v: 256 }, "llama.embedding_length": { t: "u32", v: D }, "llama.block_count": { t: "u32", v: L },
    "llama.feed_forward_length": { t: "u32", v: I }, "llama.rope.dimension_count": { t: "u32", v: HD },
    "llama.attention.head_count": { t: "u32", v: H }, "llama.attention.head_count_kv": { t: "u32", v: KVH },
    "llama.attention.layer_norm_rms_epsilon": { t: "f32", v: 1e-5 }, "llama.rope.freq_base": { t: "f32", v: 1e6 },
    "llama.expert_count": { t: "u32", v: E }, "llama.expert_used_count": { t: "u32", v: 2 },
    "tokenizer.ggml.bos_token_id": { t: "u32", v: 1 }, "tokenizer.ggml.eos_token_id": { t: "u32", v: 2 },
    ...llamaTokenizerMetadata(V),
  };
  const file = join(root, "mixtral.gguf");
  writeGguf(file, meta, tensors);
  const out = join(root, "mixtral");
  const r = await importGguf({ file, out, dtypes: ["fp32"] });
  expect(r.modelType).toBe("mixtral");
  const config = JSON.parse(readFileSync(join(out, "config.json"), "utf8"));
  expect(config).toMatchObject({ model_type: "mixtral", num_local_experts: E, num_experts_per_tok: 2, rope_theta: 1e6, num_key_value_heads: KVH });

  const ids = [1, 17, 250, 3, 99, 140, 41, 7];
  const ort = await OrtLlama.load(join(out, "onnx", "model.onnx"), {
    hiddenSize: D, intermediateSize: I, numLayers: L, numHeads: H, numKvHeads: KVH, headDim: HD, vocabSize: V, maxPositions: 256,
    rmsNormEps: 1e-5, ropeTheta: 1e6, tieWordEmbeddings: false, bosTokenId: 1, eosTokenId: 2,
  });
  const got = await ort.forward([ids], [ids.map(() => 1)], ort.emptyCache());
  const ref = new ReferenceHf(config, hf);
  const rows = ref.forward(ids);
  const err = Math.max(...rows.map((row, i) => maxAbsDiff(got.logits.subarray(i * V, (i + 1) * V), row)));
  console.log(`Mixtral GGUF → fp32: max |logit error| ${err.toExponential(2)}`);
  expect(err).toBeLessThan(1e-4);
  ref.reset();
  expect(await ort.greedy(ids, 8)).toEqual(ref.greedy(ids, 8));
});
