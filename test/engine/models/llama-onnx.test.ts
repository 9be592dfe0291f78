/**
 * The ONNX Llama writer against the pure-TS reference forward on random-weight models of several
 * shapes: full-prompt logits, incremental decode through the KV cache, left-padded batches, greedy
 * generation token for token; every variant (fp32, fp16, q8, q4, q4f16), the reference running on
 * the weights as that variant stores them (fp16-rounded, block-dequantised).
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { buildLlamaOnnx, LLAMA_VARIANTS, VARIANT_SPECS, type LlamaVariant } from "../../../src/engine/models/llama-onnx.ts";
import { ReferenceLlama, variantWeights } from "../../support/reference-llama.ts";
import { mulberry32, randomLlama, type RandomLlamaShape } from "../../support/random-llama.ts";
import { maxAbsDiff, OrtLlama } from "../../support/ort-llama.ts";

// ONNX sessions and subprocesses are slow on a loaded 2-core CI machine; bunfig's [test] timeout is not applied.
setDefaultTimeout(60_000);

const SHAPES: Record<string, RandomLlamaShape> = {
  "MHA, tied, head_dim 8": { hiddenSize: 16, intermediateSize: 40, numLayers: 2, numHeads: 2, numKvHeads: 2, headDim: 8, vocabSize: 300, tied: true },
  "GQA 2:1, untied, FFN not a multiple of 32": { hiddenSize: 32, intermediateSize: 72, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 8, vocabSize: 320, tied: false },
  "GQA 4:1, tied, head_dim 16, heads·head_dim ≠ hidden": { hiddenSize: 48, intermediateSize: 96, numLayers: 3, numHeads: 4, numKvHeads: 1, headDim: 16, vocabSize: 280, tied: true },
};
const FP32_TOL = 1e-4;
/** fp32-activation variants hold fp32 arithmetic; fp16 ones round every activation to 11 bits. */
const TOL: Record<LlamaVariant, number> = { fp32: FP32_TOL, q8: FP32_TOL, q4: FP32_TOL, fp16: 5e-2, q4f16: 5e-2 };
const GREEDY_TOKENS = 20;

const maxErr: Record<string, number> = {};

for (const [name, shape] of Object.entries(SHAPES)) {
  describe(`random Llama (${name})`, () => {
    const weights = randomLlama(shape, 1234 + shape.hiddenSize);
    const V = shape.vocabSize;
    const rnd = mulberry32(99);
    const prompt = Array.from({ length: 7 }, () => 3 + Math.floor(rnd() * (V - 3)));

    for (const variant of LLAMA_VARIANTS) {
      const tol = TOL[variant];
      const refWeights = variantWeights(weights, variant);
      const model = OrtLlama.load(buildLlamaOnnx(weights, variant).model, weights.config, VARIANT_SPECS[variant].float);

      test(`${variant}: full-prompt logits equal the reference at every position`, async () => {
        const ort = await model;
        const { logits } = await ort.forward([prompt], [prompt.map(() => 1)], ort.emptyCache());
        const ref = new ReferenceLlama(refWeights);
        let err = 0;
        prompt.forEach((t, i) => { err = Math.max(err, maxAbsDiff(logits.subarray(i * V, (i + 1) * V), ref.step(t))); });
        maxErr[`${name} ${variant} full`] = err;
        expect(err).toBeLessThan(tol);
        if (variant === "q4" || variant === "q4f16") {
          // The 4-bit graph really is quantised: far from the unquantised reference.
          const fresh = new ReferenceLlama(weights);
          let last: Float64Array = new Float64Array(0);
          for (const t of prompt) last = fresh.step(t);
          expect(maxAbsDiff(logits.subarray((prompt.length - 1) * V), last)).toBeGreaterThan(0.1);
        }
      });

      test(`${variant}: incremental decode through the KV cache equals the reference`, async () => {
        const ort = await model;
        const ref = new ReferenceLlama(refWeights);
        // Chunked prefill (4 + 3 tokens) then single tokens: exercises past_sequence_length > 0 with S > 1.
        let r = await ort.forward([prompt.slice(0, 4)], [[1, 1, 1, 1]], ort.emptyCache());
        prompt.slice(0, 4).forEach((t) => ref.step(t));
        r = await ort.forward([prompt.slice(4)], [prompt.map(() => 1)], r.cache);
        let err = 0;
        prompt.slice(4).forEach((t, i) => { err = Math.max(err, maxAbsDiff(r.logits.subarray(i * V, (i + 1) * V), ref.step(t))); });
        for (let step = 0; step < 5; step++) {
          const tok = 3 + ((step * 37) % (V - 3));
          r = await ort.forward([[tok]], [new Array(prompt.length + step + 1).fill(1)], r.cache);
          err = Math.max(err, maxAbsDiff(r.logits, ref.step(tok)));
        }
        maxErr[`${name} ${variant} incremental`] = err;
        expect(err).toBeLessThan(tol);
      });

      test(`${variant}: greedy generation equals the reference token for token`, async () => {
        const ort = await model;
        const got = await ort.greedy(prompt, GREEDY_TOKENS);
        const want = new ReferenceLlama(refWeights).greedy(prompt, GREEDY_TOKENS);
        expect(got).toEqual(want);
        expect(got).toHaveLength(GREEDY_TOKENS);
      });
    }

    test("fp32: a left-padded batch row equals the unpadded single run", async () => {
      const ort = await OrtLlama.load(buildLlamaOnnx(weights, "fp32").model, weights.config);
      const short = prompt.slice(0, 4);
      const ids = [prompt, [0, 0, 0, ...short]];
      const mask = [prompt.map(() => 1), [0, 0, 0, 1, 1, 1, 1]];
      let r = await ort.forward(ids, mask, ort.emptyCache(2));
      const ref = new ReferenceLlama(weights);
      let want: Float64Array = new Float64Array(0);
      for (const t of short) want = ref.step(t);
      const S = prompt.length;
      const row1Last = r.logits.subarray((S + S - 1) * V, (S + S) * V);
      let err = maxAbsDiff(row1Last, want);
      // One cached decode step for both rows.
      r = await ort.forward([[5], [5]], [[...mask[0]!, 1], [...mask[1]!, 1]], r.cache);
      err = Math.max(err, maxAbsDiff(r.logits.subarray(V, 2 * V), ref.step(5)));
      expect(r.logits.every(Number.isFinite)).toBe(true);
      expect(err).toBeLessThan(FP32_TOL);
    });
  });
}

test("the writer is deterministic: same weights ⇒ byte-identical ONNX files", () => {
  const shape = Object.values(SHAPES)[1]!;
  for (const variant of LLAMA_VARIANTS) {
    const a = buildLlamaOnnx(randomLlama(shape, 5), variant).model;
    const b = buildLlamaOnnx(randomLlama(shape, 5), variant).model;
    expect(Buffer.compare(Buffer.from(a), Buffer.from(b))).toBe(0);
  }
});

test("report measured max logit errors", () => {
  for (const [k, v] of Object.entries(maxErr)) console.log(`max |logit error| ${k}: ${v.toExponential(2)}`);
  expect(Object.keys(maxErr).length).toBe(Object.keys(SHAPES).length * LLAMA_VARIANTS.length * 2);
});
