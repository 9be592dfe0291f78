/**
 * The per-family conversion check: a random checkpoint in Hugging Face layout is converted by the
 * node, loaded by transformers.js on onnxruntime-node (what the engine runs), and compared with the
 * independent pure-TS reference — logits at every prompt position within `tol`, then 32 greedy
 * tokens through transformers.js's own generate() (KV cache, position ids) equal to the reference.
 * Both graph forms are checked where the family has the fused one (the default form gets the
 * engine test too).
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AutoModelForCausalLM, env, Tensor } from "@huggingface/transformers";
import { convertCheckpoint } from "../../src/convert/index.ts";
import { familyOf } from "../../src/convert/support.ts";
import { DEFAULT_GRAPH_FORM } from "../../src/convert/write-folder.ts";
import type { GraphForm, Variant } from "../../src/convert/ops.ts";
import { writeHfCheckpoint, type Config } from "./hf-checkpoints.ts";
import { ReferenceHf } from "./reference-hf.ts";
import { ReferenceFalcon } from "./reference-falcon.ts";
import type { NamedTensor, StDtype } from "./safetensors-writer.ts";
import { maxAbsDiff, OrtLlama } from "./ort-llama.ts";
import type { LlamaConfig } from "../../src/engine/models/llama-weights.ts";
import { mulberry32 } from "./random-llama.ts";
import { loadTextEngine } from "../../src/engine/engine.ts";
import { DEFAULT_SAMPLING_PARAMS } from "../../src/engine/sampler.ts";

env.allowRemoteModels = false;

export interface FamilyCase {
  config: Config;
  dtype: StDtype;
  shards?: number;
  seed?: number;
  promptLength?: number;
  /** Replace generated parameters (e.g. routers with near-ties). */
  edit?: (t: Map<string, NamedTensor>) => void;
  /** Extra variant checked for greedy equality against the reference on its stored weights is not done here; fp32 only. */
  variants?: Variant[];
  tol?: number;
  /**
   * "transformers.js" (default): logits and generate() through transformers.js, plus the engine.
   * "ort": onnxruntime-node sessions driven directly on the same KV-cache contract, for families
   * transformers.js 4.3.1 has no model class for (mixtral).
   */
  runner?: "transformers.js" | "ort";
  /** Graph form to convert to (default: the converter's). */
  form?: GraphForm;
}

export const GREEDY_TOKENS = 32;

export async function convertCase(k: FamilyCase): Promise<{ src: string; out: string; tensors: Map<string, NamedTensor>; root: string }> {
  const root = mkdtempSync(join(tmpdir(), `atoma-convert-${k.config.model_type}-`));
  const { tensors } = writeHfCheckpoint(join(root, "hf"), k.config, { dtype: k.dtype, shards: k.shards ?? 1, seed: k.seed ?? 7 });
  if (k.edit) {
    k.edit(tensors);
    writeHfCheckpoint(join(root, "hf"), k.config, { dtype: k.dtype, shards: k.shards ?? 1, tensors });
  }
  const out = join(root, "onnx-model");
  await convertCheckpoint({ src: join(root, "hf"), out, dtypes: k.variants ?? ["fp32"], ...(k.form ? { form: k.form } : {}) });
  return { src: join(root, "hf"), out, tensors, root };
}

export function prompt(k: FamilyCase): number[] {
  const rnd = mulberry32(k.seed ?? 7);
  return [1, ...Array.from({ length: (k.promptLength ?? 8) - 1 }, () => 3 + Math.floor(rnd() * (k.config.vocab_size - 3)))];
}

export function describeFamily(name: string, k: FamilyCase, extra?: (ctx: () => Promise<Awaited<ReturnType<typeof convertCase>>>) => void): void {
  describe(name, () => {
    let converted: ReturnType<typeof convertCase> | undefined;
    const ctx = () => (converted ??= convertCase(k));
    const ids = prompt(k);
    // The default form is fused where the family has one: the standard form stays checked too.
    const alsoStandard = k.form === undefined && DEFAULT_GRAPH_FORM !== "standard" && familyOf(k.config as never).plan(k.config as never).fusedUnsupported === null;
    let standard: ReturnType<typeof convertCase> | undefined;
    const standardCtx = () => (standard ??= convertCase({ ...k, form: "standard" }));
    if (k.runner === "ort") {
      ortTests(name, k, ctx, ids);
      if (alsoStandard) ortTests(`${name} (standard form)`, k, standardCtx, ids, "standard form: ");
      engineTest(name, k, ctx);
      extra?.(ctx);
      return;
    }
    tjsTests(name, k, ctx, ids);
    if (alsoStandard) tjsTests(`${name} (standard form)`, k, standardCtx, ids, "standard form: ");
    engineTest(name, k, ctx);
    extra?.(ctx);
  });
}

function tjsTests(name: string, k: FamilyCase, ctx: () => ReturnType<typeof convertCase>, ids: number[], label = ""): void {
  const V = k.config.vocab_size;
  test(`${label}transformers.js logits on the converted fp32 model equal the reference at every prompt position`, async () => {
    const { out, tensors } = await ctx();
    const lm = await AutoModelForCausalLM.from_pretrained(out, { dtype: "fp32", device: "cpu" });
    try {
      const input_ids = new Tensor("int64", BigInt64Array.from(ids.map(BigInt)), [1, ids.length]);
      const attention_mask = new Tensor("int64", new BigInt64Array(ids.length).fill(1n), [1, ids.length]);
      const r = (await lm({ input_ids, attention_mask })) as { logits: { data: Float32Array } };
      const ref = reference(k.config, tensors).forward(ids);
      let err = 0;
      ref.forEach((row, i) => { err = Math.max(err, maxAbsDiff(r.logits.data.subarray(i * V, (i + 1) * V), row)); });
      console.log(`${name}: max |logit error| ${err.toExponential(2)} over ${ids.length} positions`);
      expect(err).toBeLessThan(k.tol ?? 1e-4);
    } finally {
      await lm.dispose();
    }
  });

  test(`${label}transformers.js greedy generate() equals the reference for ${GREEDY_TOKENS} tokens`, async () => {
    const { out, tensors } = await ctx();
    const lm = await AutoModelForCausalLM.from_pretrained(out, { dtype: "fp32", device: "cpu" });
    try {
      const input_ids = new Tensor("int64", BigInt64Array.from(ids.map(BigInt)), [1, ids.length]);
      const attention_mask = new Tensor("int64", new BigInt64Array(ids.length).fill(1n), [1, ids.length]);
      // min_new_tokens keeps EOS (id 2) from ending random-weight output early.
      const gen = (await lm.generate({ input_ids, attention_mask, max_new_tokens: GREEDY_TOKENS, min_new_tokens: GREEDY_TOKENS, do_sample: false })) as unknown as { data: BigInt64Array };
      const got = Array.from(gen.data, Number).slice(ids.length);
      const want = greedyNoEos(reference(k.config, tensors), ids);
      expect(got).toEqual(want);
    } finally {
      await lm.dispose();
    }
  });
}

function engineTest(name: string, k: FamilyCase, ctx: () => ReturnType<typeof convertCase>): void {
  test("the node's engine (loadTextEngine, f32, greedy) generates the reference's tokens", async () => {
    const { out, tensors } = await ctx();
    const engine = await loadTextEngine({ id: name, dir: out, device: "cpu", dtype: "f32" });
    try {
      const r = await engine.generate({ prompt: "the cat sat", params: { ...DEFAULT_SAMPLING_PARAMS, maxTokens: GREEDY_TOKENS, temperature: 0 } });
      const input = r.tokens.slice(0, r.inputTokens);
      const want = reference(k.config, tensors).greedy(input, GREEDY_TOKENS);
      const eos = want.indexOf(2);
      console.log(`${name}: engine generated ${r.outputTokens} tokens`);
      expect(r.tokens.slice(r.inputTokens)).toEqual(eos < 0 ? want : want.slice(0, eos));
    } finally {
      await engine.dispose();
    }
  });
}

function ortTests(name: string, k: FamilyCase, ctx: () => ReturnType<typeof convertCase>, ids: number[], label = ""): void {
  const c = k.config, V = c.vocab_size;
  const shape = {
    numLayers: c.num_hidden_layers, numKvHeads: c.num_key_value_heads ?? c.num_attention_heads,
    headDim: c.head_dim ?? c.hidden_size / c.num_attention_heads, vocabSize: V,
  } as LlamaConfig;
  test(`${label}onnxruntime-node logits on the converted fp32 model equal the reference at every prompt position`, async () => {
    const { out, tensors } = await ctx();
    const ort = await OrtLlama.load(join(out, "onnx", "model.onnx"), shape);
    const { logits } = await ort.forward([ids], [ids.map(() => 1)], ort.emptyCache());
    const ref = reference(c, tensors).forward(ids);
    let err = 0;
    ref.forEach((row, i) => { err = Math.max(err, maxAbsDiff(logits.subarray(i * V, (i + 1) * V), row)); });
    console.log(`${name}: max |logit error| ${err.toExponential(2)} over ${ids.length} positions`);
    expect(err).toBeLessThan(k.tol ?? 1e-4);
  });
  test(`${label}greedy decoding through the KV cache equals the reference for ${GREEDY_TOKENS} tokens`, async () => {
    const { out, tensors } = await ctx();
    const ort = await OrtLlama.load(join(out, "onnx", "model.onnx"), shape);
    expect(await ort.greedy(ids, GREEDY_TOKENS)).toEqual(reference(c, tensors).greedy(ids, GREEDY_TOKENS));
  });
}

/** The independent reference of the checkpoint's architecture. */
function reference(config: Config, tensors: Map<string, NamedTensor>): ReferenceHf | ReferenceFalcon {
  return config.model_type === "falcon" ? new ReferenceFalcon(config, tensors) : new ReferenceHf(config, tensors);
}

/** Reference greedy with EOS suppressed, as min_new_tokens does in transformers.js. */
function greedyNoEos(ref: ReferenceHf | ReferenceFalcon, ids: number[]): number[] {
  ref.reset();
  let last = ref.forward(ids).at(-1)!;
  const out: number[] = [];
  while (out.length < GREEDY_TOKENS) {
    let best = -1;
    for (let i = 0; i < last.length; i++) if (i !== 2 && (best < 0 || last[i]! > last[best]!)) best = i;
    out.push(best);
    last = ref.forward([best])[0]!;
  }
  return out;
}

export function cleanup(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
