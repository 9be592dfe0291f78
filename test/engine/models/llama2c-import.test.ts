/**
 * `atoma-node models import llama2c` on the trained stories260K model: the CLI writes a
 * transformers.js directory; its ONNX graph (rotate_half, permuted Q/K rows) must continue a prompt
 * exactly as the reference forward does on the ORIGINAL llama2.c weights with interleaved-pair RoPE
 * (an independent path, so this proves the permutation), and its tokenizer.json must tokenize and
 * detokenize as llama2.c does. The original weights for that reference are read here with a
 * DataView at the byte offsets documented in docs/engine.md (llama2c import), not through the
 * production parser.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { existsSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { AutoModelForCausalLM, AutoTokenizer, env } from "@huggingface/transformers";
import { parseLlama2cModel } from "../../../src/engine/models/llama2c.ts";
import type { LlamaWeights } from "../../../src/engine/models/llama-weights.ts";
import { buildLlamaOnnx, LLAMA_VARIANTS, VARIANT_SPECS } from "../../../src/engine/models/llama-onnx.ts";
import { defaultAccuracyLevel } from "../../../src/convert/ops.ts";
import { VARIANT_FILES } from "../../../src/engine/models/model-dir.ts";
import { parseLlama2cTokenizer } from "../../../src/engine/models/tokenizer-llama2c.ts";
import { checkStories260kInputs, ensureStories260k, STORIES260K } from "../../support/models.ts";
import { ReferenceLlama, variantWeights } from "../../support/reference-llama.ts";
import { maxAbsDiff, OrtLlama } from "../../support/ort-llama.ts";
import { mulberry32 } from "../../support/random-llama.ts";
import { llama2cDecode, llama2cEncode } from "../../support/llama2c-bpe.ts";

// ONNX sessions and subprocesses are slow on a loaded 2-core CI machine; bunfig's [test] timeout is not applied.
setDefaultTimeout(60_000);

const ROOT = resolve(import.meta.dir, "../../..");
const BUN = process.execPath;
const PROMPT = "Once upon a time";
const NEW_TOKENS = 40;
const EOS = 2;

env.allowRemoteModels = false;

function cli(args: string[]) {
  const r = Bun.spawnSync([BUN, "src/cli/main.ts", ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

let work: string;
let dir: string;
const model = parseLlama2cModel(new Uint8Array(readFileSync(STORIES260K.weights)), "stories260K.bin");

/**
 * stories260K.bin read directly (llama2.c legacy layout, offsets in docs/engine.md): seven
 * int32 header values, then fp32 arrays back to back; the documented byte offsets are asserted.
 * Weights stay in llama2.c's own order (interleaved-pair RoPE rows, no permutation).
 */
function readStories260kByOffsets(): LlamaWeights {
  const buf = readFileSync(STORIES260K.weights);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const header = Array.from({ length: 7 }, (_, i) => dv.getInt32(4 * i, true));
  if (header.join() !== "64,172,5,8,4,512,512") throw new Error(`stories260K header ${header}, expected 64,172,5,8,4,512,512`);
  let at = 28;
  const floats = (count: number, documentedOffset?: number) => {
    if (documentedOffset !== undefined && at !== documentedOffset) throw new Error(`array at byte ${at}, documented at ${documentedOffset}`);
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = dv.getFloat32(at + 4 * i, true);
    at += 4 * count;
    return out;
  };
  const perLayer = (size: number, documentedOffset: number) => {
    const all = floats(5 * size, documentedOffset);
    return Array.from({ length: 5 }, (_, l) => all.subarray(l * size, (l + 1) * size));
  };
  const embed = floats(512 * 64, 28);
  const attnNorm = perLayer(64, 131_100), wq = perLayer(64 * 64, 132_380), wk = perLayer(32 * 64, 214_300);
  const wv = perLayer(32 * 64, 255_260), wo = perLayer(64 * 64, 296_220), ffnNorm = perLayer(64, 378_140);
  const w1 = perLayer(172 * 64, 379_420), w2 = perLayer(64 * 172, 599_580), w3 = perLayer(172 * 64, 819_740);
  const finalNorm = floats(64, 1_039_900);
  floats(2 * 512 * 4, 1_040_156); // legacy freq_cis_real/imag tables, unused
  if (at !== 1_056_540 || buf.byteLength !== at) throw new Error(`stories260K ends at ${buf.byteLength}, layout ends at ${at}, documented 1,056,540`);
  return {
    config: { hiddenSize: 64, intermediateSize: 172, numLayers: 5, numHeads: 8, numKvHeads: 4, headDim: 8, vocabSize: 512, maxPositions: 512, rmsNormEps: 1e-5, ropeTheta: 10000, tieWordEmbeddings: true, bosTokenId: 1, eosTokenId: 2 },
    embed,
    finalNorm,
    layers: Array.from({ length: 5 }, (_, l) => ({ attnNorm: attnNorm[l]!, wq: wq[l]!, wk: wk[l]!, wv: wv[l]!, wo: wo[l]!, ffnNorm: ffnNorm[l]!, gate: w1[l]!, down: w2[l]!, up: w3[l]! })),
  };
}
const original = readStories260kByOffsets();
const vocab = parseLlama2cTokenizer(new Uint8Array(readFileSync(STORIES260K.tokenizer)), 512, "tok512.bin");

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "atoma-llama2c-import-"));
  dir = join(work, "stories260K");
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe("models import llama2c stories260K", () => {
  test("inputs are the documented files", () => {
    expect(() => checkStories260kInputs()).not.toThrow();
  });

  test("the CLI writes a transformers.js directory with fp32 and q4 graphs", async () => {
    const r = cli(["models", "import", "llama2c", "--weights", STORIES260K.weights, "--tokenizer", STORIES260K.tokenizer, "--out", dir]);
    expect(r.stderr).toContain("imported 5-layer");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    for (const f of ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "onnx/model.onnx", "onnx/model_q4.onnx"]) {
      expect(existsSync(join(dir, f))).toBe(true);
    }
    const config = JSON.parse(await readFile(join(dir, "config.json"), "utf8"));
    expect(config).toMatchObject({
      model_type: "llama", architectures: ["LlamaForCausalLM"], hidden_size: 64, intermediate_size: 172,
      num_attention_heads: 8, num_key_value_heads: 4, head_dim: 8, num_hidden_layers: 5, vocab_size: 512,
      max_position_embeddings: 512, rms_norm_eps: 1e-5, rope_theta: 10000, bos_token_id: 1, eos_token_id: 2,
      tie_word_embeddings: true,
    });
    expect(JSON.parse(await readFile(join(dir, "generation_config.json"), "utf8"))).toEqual({ bos_token_id: 1, eos_token_id: [2, 1] });
  });

  test("the tokenizer encodes like llama2.c", async () => {
    const tok = await AutoTokenizer.from_pretrained(dir);
    const texts = [PROMPT, "Lily and Tom went to the park.", "  two  spaces\nand a newline", "café ☃ 日本!", "x"];
    for (const text of texts) {
      const ids = Array.from(tok(text).input_ids.data as BigInt64Array, Number);
      expect({ text, ids }).toEqual({ text, ids: llama2cEncode(vocab, text, true) });
    }
    expect(llama2cEncode(vocab, PROMPT, true).length).toBeGreaterThan(2);
  });

  test("tokenizer parity on 300 random texts and random token sequences (encode and decode)", async () => {
    const tok = await AutoTokenizer.from_pretrained(dir);
    const rnd = mulberry32(2024);
    const alphabet = [..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789      .,!?'\"-\n", "é", "ß", "€", "☃", "日", "🙂"];
    const words = ["the", " the", "Lily", " Tom", " happy", " ball", " said", " park", "ing", "ed"];
    for (let n = 0; n < 300; n++) {
      let text = "";
      const len = 1 + Math.floor(rnd() * 40);
      while (Array.from(text).length < len) text += rnd() < 0.3 ? words[Math.floor(rnd() * words.length)]! : alphabet[Math.floor(rnd() * alphabet.length)]!;
      const ids = Array.from(tok(text).input_ids.data as BigInt64Array, Number);
      expect({ text, ids }).toEqual({ text, ids: llama2cEncode(vocab, text, true) });
    }
    for (let n = 0; n < 200; n++) {
      const ids = Array.from({ length: 1 + Math.floor(rnd() * 20) }, () => 259 + Math.floor(rnd() * 253));
      expect(tok.decode([1, ...ids], { skip_special_tokens: true })).toBe(llama2cDecode(vocab, ids, 1));
    }
  });

  const measured: Record<string, number> = {};

  test("fp32 greedy continuation equals the reference forward on the original interleaved-RoPE weights", async () => {
    const prompt = llama2cEncode(vocab, PROMPT, true);
    const ort = await OrtLlama.load(join(dir, "onnx/model.onnx"), model.hf.config);
    const ref = new ReferenceLlama(original, "interleaved");
    const want = ref.greedy(prompt, NEW_TOKENS, EOS);
    const got = await ort.greedy(prompt, NEW_TOKENS, EOS);
    expect(got).toEqual(want);
    expect(got.length).toBeGreaterThan(20);

    // Logits along the whole sequence, one pass, vs the reference.
    const seq = [...prompt, ...got];
    const V = 512;
    const { logits } = await ort.forward([seq], [seq.map(() => 1)], ort.emptyCache());
    ref.reset();
    let err = 0;
    seq.forEach((t, i) => { err = Math.max(err, maxAbsDiff(logits.subarray(i * V, (i + 1) * V), ref.step(t))); });
    measured.fp32 = err;
    expect(err).toBeLessThan(1e-4);

    // The continuation decodes to text as llama2.c would print it, and it reads as English words.
    const tok = await AutoTokenizer.from_pretrained(dir);
    const text = tok.decode(seq, { skip_special_tokens: true });
    expect(text).toBe(PROMPT + llama2cDecode(vocab, got, prompt.at(-1)!));
    expect(text).toMatch(/^Once upon a time[A-Za-z ,.'"!?\n]+$/);
    expect(text.split(/\s+/).length).toBeGreaterThan(15);
  });

  test("q4 greedy continuation equals the reference on the q4-dequantised weights", async () => {
    const prompt = llama2cEncode(vocab, PROMPT, true);
    // The same writer's q4 graph at accuracy_level 0: the CLI's file is at 4 (int8 activations), whose
    // rounding flips a value by one int8 step now and then against a float64 reference and so
    // changes a greedy pick on this trained model; llama-onnx.test.ts checks level 4 with that rounding.
    const ort = await OrtLlama.load(buildLlamaOnnx(model.hf, "q4", { accuracyLevel: 0 }).model, model.hf.config);
    const ref = new ReferenceLlama(variantWeights(model.hf, "q4"), "half");
    const want = ref.greedy(prompt, NEW_TOKENS, EOS);
    expect(await ort.greedy(prompt, NEW_TOKENS, EOS)).toEqual(want);
    const seq = [...prompt, ...want];
    const { logits } = await ort.forward([seq], [seq.map(() => 1)], ort.emptyCache());
    ref.reset();
    let err = 0;
    seq.forEach((t, i) => { err = Math.max(err, maxAbsDiff(logits.subarray(i * 512, (i + 1) * 512), ref.step(t))); });
    measured.q4 = err;
    expect(err).toBeLessThan(1e-3);
    console.log(`stories260K max |logit error|: fp32 ${measured.fp32?.toExponential(2)}, q4 ${err.toExponential(2)}`);
  });

  test("transformers.js loads the directory (fp32 and q4) and greedy generate() matches", async () => {
    const tok = await AutoTokenizer.from_pretrained(dir);
    const inputs = tok(PROMPT);
    const prompt = llama2cEncode(vocab, PROMPT, true);
    for (const [dtype, weights, rope] of [["fp32", original, "interleaved"], ["q4", variantWeights(model.hf, "q4"), "half"]] as const) {
      const lm = await AutoModelForCausalLM.from_pretrained(dir, { dtype, device: "cpu" });
      const out = (await lm.generate({ ...inputs, max_new_tokens: 20, do_sample: false })) as unknown as { data: BigInt64Array };
      const ids = Array.from(out.data, Number).slice(prompt.length);
      expect({ dtype, ids }).toEqual({ dtype, ids: new ReferenceLlama(weights, rope).greedy(prompt, 20, EOS) });
      await lm.dispose();
    }
  });
});

test("--dtypes all writes every variant; each continues the prompt exactly as the reference on its stored weights", async () => {
  const all = join(work, "all");
  const r = cli(["models", "import", "llama2c", "--weights", STORIES260K.weights, "--tokenizer", STORIES260K.tokenizer, "--out", all, "--dtypes", "all"]);
  expect(r.code).toBe(0);
  const prompt = llama2cEncode(vocab, PROMPT, true);
  for (const v of LLAMA_VARIANTS) {
    // q8/q4 files compute at accuracy_level 4, whose int8 activation rounding a float64 reference
    // cannot follow pick for pick on this model (see the q4 test above): their stored weights are
    // checked through the same writer's level-0 graph.
    const int8 = defaultAccuracyLevel(v) === 4 && VARIANT_SPECS[v].bits !== undefined;
    const graph = int8 ? buildLlamaOnnx(model.hf, v, { accuracyLevel: 0 }).model : join(all, "onnx", VARIANT_FILES[v]);
    const ort = await OrtLlama.load(graph, model.hf.config, VARIANT_SPECS[v].float);
    const want = new ReferenceLlama(variantWeights(model.hf, v)).greedy(prompt, NEW_TOKENS, EOS);
    expect({ v, tokens: await ort.greedy(prompt, NEW_TOKENS, EOS) }).toEqual({ v, tokens: want });
  }
  // fp16 and q8 stay on the fp32 model's greedy path for this prompt (rounding never flips an argmax here).
  const fp32 = new ReferenceLlama(original, "interleaved").greedy(prompt, NEW_TOKENS, EOS);
  for (const v of ["fp16", "q8"] as const) {
    const ort = await OrtLlama.load(join(all, "onnx", VARIANT_FILES[v]), model.hf.config, VARIANT_SPECS[v].float);
    expect(await ort.greedy(prompt, NEW_TOKENS, EOS)).toEqual(fp32);
  }
});

test("--dtypes q4 alone: only model_q4.onnx, and config.json makes it transformers.js's default dtype", async () => {
  const only = join(work, "q4only");
  expect(cli(["models", "import", "llama2c", "--weights", STORIES260K.weights, "--tokenizer", STORIES260K.tokenizer, "--out", only, "--dtypes", "q4"]).code).toBe(0);
  expect(existsSync(join(only, "onnx/model.onnx"))).toBe(false);
  expect(JSON.parse(readFileSync(join(only, "config.json"), "utf8"))["transformers.js_config"].dtype).toBe("q4");
  // No dtype asked for: transformers.js must pick the q4 graph and continue the prompt exactly as the
  // reference does on the q4-dequantised weights.
  const lm = await AutoModelForCausalLM.from_pretrained(only, { device: "cpu" });
  const tok = await AutoTokenizer.from_pretrained(only);
  const prompt = llama2cEncode(vocab, PROMPT, true);
  const out = (await lm.generate({ ...tok(PROMPT), max_new_tokens: 20, do_sample: false })) as unknown as { data: BigInt64Array };
  const ids = Array.from(out.data, Number).slice(prompt.length);
  expect(ids).toEqual(new ReferenceLlama(variantWeights(model.hf, "q4"), "half").greedy(prompt, 20, EOS));
  expect(ids).toHaveLength(20);
  await lm.dispose();
});

test("ensureStories260k returns a complete imported directory, the same path on every call", async () => {
  const a = await ensureStories260k();
  expect(await ensureStories260k()).toBe(a);
  for (const f of ["config.json", "tokenizer.json", "onnx/model.onnx", "onnx/model_q4.onnx"]) expect(existsSync(join(a, f))).toBe(true);
  expect(existsSync(join(a, "onnx/model_fp16.onnx"))).toBe(false);
  const all = await ensureStories260k({ dtypes: "all" });
  expect(all).not.toBe(a);
  for (const v of LLAMA_VARIANTS) expect(existsSync(join(all, "onnx", VARIANT_FILES[v]))).toBe(true);
});
