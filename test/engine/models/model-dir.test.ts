/**
 * The transformers.js directory writer on random-weight models: transformers.js loads what we
 * write (fp32 and q4) and its greedy generate() matches the reference; external-data mode gives
 * identical logits; onnxruntime-web (wasm) runs the same graphs as onnxruntime-node.
 */
import { afterAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { existsSync, readFileSync, statSync } from "node:fs";
import { rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import * as ortWeb from "onnxruntime-web";
import { AutoModelForCausalLM, AutoTokenizer, env, Tensor } from "@huggingface/transformers";
import { VARIANT_FILES, writeModelDir } from "../../../src/engine/models/model-dir.ts";
import { LLAMA_VARIANTS, VARIANT_SPECS } from "../../../src/engine/models/llama-onnx.ts";
import { llama2cToHfTokenizer, llama2cTokenizerConfig } from "../../../src/engine/models/tokenizer-llama2c.ts";
import { ReferenceLlama, variantWeights } from "../../support/reference-llama.ts";
import { randomLlama, syntheticVocab, writeRandomLlamaDir } from "../../support/random-llama.ts";
import { maxAbsDiff, OrtLlama, toFloat32 } from "../../support/ort-llama.ts";

// ONNX sessions and subprocesses are slow on a loaded 2-core CI machine; bunfig's [test] timeout is not applied.
setDefaultTimeout(60_000);

env.allowRemoteModels = false;

const weights = randomLlama(
  { hiddenSize: 32, intermediateSize: 80, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 8, vocabSize: 320, tied: false },
  7,
);
const prompt = [1, 300, 17, 250, 99, 4];
const cleanup: string[] = [];
afterAll(async () => { for (const d of cleanup) await rm(dirname(d), { recursive: true, force: true }); });

describe("random Llama written as a transformers.js directory", () => {
  // accuracy_level 0: at 4 onnxruntime-web's and onnxruntime-node's MatMulNBits differ (q8 by > 1e-4,
  // measured); the cross-runtime check is for the graph, not for one runtime's int8 kernel.
  const dirP = writeRandomLlamaDir(weights, LLAMA_VARIANTS, undefined, { accuracyLevel: 0 }).then((d) => (cleanup.push(d), d));

  test("transformers.js greedy generate() equals the reference for every variant", async () => {
    const dir = await dirP;
    for (const dtype of LLAMA_VARIANTS) {
      const ref = variantWeights(weights, dtype);
      const lm = await AutoModelForCausalLM.from_pretrained(dir, { dtype, device: "cpu" });
      const input_ids = new Tensor("int64", BigInt64Array.from(prompt.map(BigInt)), [1, prompt.length]);
      const attention_mask = new Tensor("int64", new BigInt64Array(prompt.length).fill(1n), [1, prompt.length]);
      // min_new_tokens keeps EOS (id 2) from ending random-weight output early.
      const out = (await lm.generate({ input_ids, attention_mask, max_new_tokens: 20, min_new_tokens: 20, do_sample: false })) as unknown as { data: BigInt64Array };
      const got = Array.from(out.data, Number).slice(prompt.length);
      const want = new ReferenceLlama(ref).greedy(prompt, 20);
      expect({ dtype, got }).toEqual({ dtype, got: want });
      await lm.dispose();
    }
  });

  test("its synthetic tokenizer loads and round-trips text", async () => {
    const tok = await AutoTokenizer.from_pretrained(await dirP);
    const ids = Array.from(tok("the cat sat").input_ids.data as BigInt64Array, Number);
    expect(ids[0]).toBe(1);
    expect(tok.decode(ids, { skip_special_tokens: true })).toBe("the cat sat");
  });

  test("external-data mode: side files, same logits, transformers.js loads it", async () => {
    const dir = join(dirname(await dirP), "external");
    const vocab = syntheticVocab(weights.config.vocabSize);
    await writeModelDir(dir, { weights, tokenizer: llama2cToHfTokenizer(vocab), tokenizerConfig: llama2cTokenizerConfig(128), externalDataAboveBytes: 0 });
    for (const f of ["model.onnx", "model_q4.onnx"]) {
      expect(existsSync(join(dir, "onnx", `${f}_data`))).toBe(true);
      expect(statSync(join(dir, "onnx", f)).size).toBeLessThan(statSync(join(dir, "onnx", `${f}_data`)).size);
    }
    const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
    expect(config["transformers.js_config"].use_external_data_format).toEqual({ "model.onnx": 1, "model_q4.onnx": 1 });
    const inline = await OrtLlama.load(join(await dirP, "onnx/model.onnx"), weights.config);
    const ext = await OrtLlama.load(join(dir, "onnx/model.onnx"), weights.config);
    const mask = [prompt.map(() => 1)];
    const a = await inline.forward([prompt], mask, inline.emptyCache());
    const b = await ext.forward([prompt], mask, ext.emptyCache());
    expect(maxAbsDiff(a.logits, b.logits)).toBe(0);
    const lm = await AutoModelForCausalLM.from_pretrained(dir, { dtype: "q4", device: "cpu" });
    await lm.dispose();
  });

  test("onnxruntime-web (wasm) runs every variant like onnxruntime-node", async () => {
    const dir = await dirP;
    for (const variant of LLAMA_VARIANTS) {
      const f = VARIANT_FILES[variant], float = VARIANT_SPECS[variant].float;
      const node = await OrtLlama.load(join(dir, "onnx", f), weights.config, float);
      const { logits } = await node.forward([prompt], [prompt.map(() => 1)], node.emptyCache());
      const web = await ortWeb.InferenceSession.create(new Uint8Array(readFileSync(join(dir, "onnx", f))), { executionProviders: ["wasm"] });
      const i64 = (v: number[]) => new ortWeb.Tensor("int64", BigInt64Array.from(v.map(BigInt)), [1, v.length]);
      const feeds: Record<string, ortWeb.Tensor> = { input_ids: i64(prompt), attention_mask: i64(prompt.map(() => 1)), position_ids: i64(prompt.map((_, i) => i)), num_logits_to_keep: new ortWeb.Tensor("int64", BigInt64Array.of(0n), []) };
      for (let l = 0; l < weights.config.numLayers; l++) {
        for (const kv of ["key", "value"]) {
          feeds[`past_key_values.${l}.${kv}`] =
            float === "float32" ? new ortWeb.Tensor("float32", new Float32Array(0), [1, 2, 0, 8]) : new ortWeb.Tensor("float16", new Uint16Array(0), [1, 2, 0, 8]);
        }
      }
      const r = await web.run(feeds);
      const webLogits = toFloat32(r.logits!);
      expect({ variant, close: maxAbsDiff(webLogits, logits) < (float === "float32" ? 1e-4 : 2e-2) }).toEqual({ variant, close: true });
      await web.release();
    }
  }, 60_000); // wasm compiles each graph: ~0.5 s per variant on 2 cores
});
