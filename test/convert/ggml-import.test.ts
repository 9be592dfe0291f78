/**
 * GGML `ggjt` v3 import: files written by the tests from random weights (Q4_0 as TheBloke's
 * Llama-2 files, plus Q8_0 and F16), imported with a Hugging Face tokenizer folder, compared with
 * the pure-TypeScript reference on the reference-dequantized weights; GQA inferred from the K
 * shape and checked against --gqa; broken files are one line.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AutoModelForCausalLM, env, Tensor } from "@huggingface/transformers";
import { importGgml } from "../../src/convert/import-llama-cpp.ts";
import { openGgml } from "../../src/convert/readers/ggml.ts";
import { ConvertError } from "../../src/convert/tensors.ts";
import type { Variant } from "../../src/convert/ops.ts";
import { llama2cToHfTokenizer, llama2cTokenizerConfig } from "../../src/engine/models/tokenizer-llama2c.ts";
import type { RefType } from "../support/ggml-reference.ts";
import { encodeGgjt, writeLlamaGgjt } from "../support/ggml-writer.ts";
import { maxAbsDiff } from "../support/ort-llama.ts";
import { randomLlama, syntheticVocab } from "../support/random-llama.ts";
import { ReferenceLlama } from "../support/reference-llama.ts";

env.allowRemoteModels = false;
const root = mkdtempSync(join(tmpdir(), "atoma-ggml-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const V = 300;
const SHAPE = { hiddenSize: 64, intermediateSize: 160, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 16, vocabSize: V, tied: false };
const weights = randomLlama(SHAPE, 33);
const tokDir = join(root, "tokenizer");
mkdirSync(tokDir);
const tokJson = llama2cToHfTokenizer(syntheticVocab(V)) as { model: { vocab: Record<string, number> } };
writeFileSync(join(tokDir, "tokenizer.json"), JSON.stringify(tokJson));
writeFileSync(join(tokDir, "tokenizer_config.json"), JSON.stringify(llama2cTokenizerConfig(512)));
const hfPieces: string[] = [];
for (const [p, id] of Object.entries(tokJson.model.vocab)) hfPieces[id] = p;

const PROMPT = [1, 270, 280, 265, 299, 4, 263];

async function run(dir: string, dtype: Variant): Promise<{ logits: Float32Array; greedy: number[] }> {
  const lm = await AutoModelForCausalLM.from_pretrained(dir, { dtype, device: "cpu" });
  try {
    const input_ids = new Tensor("int64", BigInt64Array.from(PROMPT.map(BigInt)), [1, PROMPT.length]);
    const attention_mask = new Tensor("int64", new BigInt64Array(PROMPT.length).fill(1n), [1, PROMPT.length]);
    const r = (await lm({ input_ids, attention_mask })) as { logits: { data: Float32Array } };
    const gen = (await lm.generate({ input_ids, attention_mask, max_new_tokens: 10, min_new_tokens: 10, do_sample: false })) as unknown as { data: BigInt64Array };
    return { logits: r.logits.data.slice(), greedy: Array.from(gen.data, Number).slice(PROMPT.length) };
  } finally {
    await lm.dispose();
  }
}

describe("GGML ggjt v3 → ONNX", () => {
  const cases: [RefType, Variant][] = [["Q4_0", "q4"], ["Q4_0", "fp32"], ["Q8_0", "q8"], ["F16", "fp32"]];
  for (const [type, variant] of cases) {
    test(`${type} file → ${variant}: logits equal the reference on the dequantized weights, greedy tokens equal`, async () => {
      const file = join(root, `${type}.bin`);
      const expected = writeLlamaGgjt(file, weights, type, hfPieces);
      const log: string[] = [];
      const out = join(root, `${type}-${variant}`);
      const r = await importGgml({ file, out, tokenizer: tokDir, dtypes: [variant], gqa: 2, log: (l) => log.push(l) });
      expect(log[0]).toMatch(new RegExp(`tokenizer .*: ${V} of ${V} pieces equal the model file's vocabulary`));
      if (variant !== "fp32") expect(r.quantization).toEqual([{ variant, exact: 15, requantized: 0, maxAbs: 0, rms: 0, relRms: 0 }]);
      const config = JSON.parse(readFileSync(join(out, "config.json"), "utf8"));
      expect(config).toMatchObject({ num_key_value_heads: 2, intermediate_size: 160, rms_norm_eps: 1e-5, max_position_embeddings: 4096 });
      const got = await run(out, variant);
      // q8/q4 graphs compute at accuracy_level 4: the reference rounds activations to int8 as ONNX Runtime does.
      const ref = new ReferenceLlama(expected, "half", variant === "q8" || variant === "q4");
      const rows = PROMPT.map((t) => ref.step(t));
      const err = Math.max(...rows.map((row, i) => maxAbsDiff(got.logits.subarray(i * V, (i + 1) * V), row)));
      console.log(`ggjt ${type} → ${variant}: max |logit error| ${err.toExponential(2)}`);
      expect(err).toBeLessThan(1e-4);
      const greedy: number[] = [];
      let last = rows.at(-1)!;
      while (greedy.length < 10) {
        let best = -1;
        for (let i = 0; i < V; i++) if (i !== 2 && (best < 0 || last[i]! > last[best]!)) best = i;
        greedy.push(best);
        last = ref.step(best);
      }
      expect(got.greedy).toEqual(greedy);
    });
  }
});

describe("bad GGML files are one ConvertError line", () => {
  const good = join(root, "good.bin");
  writeLlamaGgjt(good, weights, "Q4_0", hfPieces);
  const bytes = readFileSync(good);
  const fails = (name: string, data: Uint8Array, re: RegExp, gqa?: number) => {
    const path = join(root, name);
    writeFileSync(path, data);
    try {
      openGgml(path, gqa !== undefined ? { gqa } : {}).source.close();
    } catch (e) {
      expect(e).toBeInstanceOf(ConvertError);
      expect((e as Error).message).not.toContain("\n");
      expect((e as Error).message).toMatch(re);
      return;
    }
    throw new Error(`${name} was accepted`);
  };

  test("magic, version, truncation, unknown tensor type, --gqa disagreeing with the K shape", () => {
    const b = Uint8Array.from(bytes);
    b.set(new TextEncoder().encode("GGUF"), 0);
    fails("magic.bin", b, /not a GGML ggjt file \(magic 0x46554747: GGUF \(use `models import gguf`\); expected "ggjt" v3\)/);
    const v1 = Uint8Array.from(bytes);
    v1[4] = 1;
    fails("v1.bin", v1, /ggjt version 1 is not supported \(only v3/);
    fails("trunc.bin", bytes.subarray(0, bytes.byteLength - 100), /needs bytes \d+…\d+ but the file has \d+ bytes \(truncated/);
    fails("trunc-vocab.bin", bytes.subarray(0, 2000), /vocabulary entry \d+ .*runs past the end|truncated/);
    fails("type.bin", encodeGgjt([1, 64, 256, 4, 1, 16, 2], [{ piece: Uint8Array.of(97), score: 0 }], [{ name: "tok_embeddings.weight", dims: [64, 1], type: 11, bytes: new Uint8Array(0) }]), /tensor type Q3_K \(11\) is not supported/);
    fails("gqa.bin", bytes, /--gqa 8 means 0\.5 KV heads, but attention\.wk holds 2 \(gqa 2\)/, 8);
  });
});
