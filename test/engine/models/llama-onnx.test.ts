/**
 * The ONNX Llama writer against the pure-TS reference forward on random-weight models of several
 * shapes: full-prompt logits, incremental decode through the KV cache, left-padded batches, greedy
 * generation token for token; every variant (fp32, fp16, q8, q4, q4f16), the reference running on
 * the weights as that variant stores them (fp16-rounded, block-dequantised). Quantised variants are
 * checked at both MatMulNBits accuracy levels the converter writes: 0 (fp32 compute) against that
 * reference, 4 (int8 compute, the default) against it with every linear layer's input rounded to
 * int8 as ONNX Runtime's CPU kernel does (int8Activations in reference-llama.ts).
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { buildLlamaOnnx, LLAMA_VARIANTS, VARIANT_SPECS, type LlamaVariant } from "../../../src/engine/models/llama-onnx.ts";
import { ReferenceLlama, variantWeights } from "../../support/reference-llama.ts";
import { defaultAccuracyLevel, type AccuracyLevel } from "../../../src/convert/ops.ts";
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
/**
 * accuracy_level 4 against the int8-rounding reference. With fp32 activations (q8, q4) the rounding
 * is modelled exactly: measured errors stay at fp32 level (≤ 1e-5), so FP32_TOL holds at these
 * widths (a value within fp32 noise of a rounding boundary is rare here; at K ≥ 256 a few flip by
 * one int8 step, which moved logits by up to 0.6 on the GGUF test's model). With fp16
 * activations (q4f16) the graph's inputs to each rounding already differ from the float64
 * reference's by fp16 rounding (2⁻¹¹ relative), so a few percent of the values land on the
 * neighbouring int8 — a different, equally valid rounding, each value off by at most one step where
 * one rounding is off by at most half. The bound is therefore twice the measured effect of one
 * rounding (|int8 reference − plain reference|) plus the fp16 tolerance; greedy tokens still agree.
 */
/** Every variant at the converter's default level, plus each quantised one at the other level. */
const CASES: [LlamaVariant, AccuracyLevel][] = [...LLAMA_VARIANTS.map((v): [LlamaVariant, AccuracyLevel] => [v, defaultAccuracyLevel(v)]), ["q8", 0], ["q4", 0], ["q4f16", 4]];
const GREEDY_TOKENS = 20;

const maxErr: Record<string, number> = {};

for (const [name, shape] of Object.entries(SHAPES)) {
  describe(`random Llama (${name})`, () => {
    const weights = randomLlama(shape, 1234 + shape.hiddenSize);
    const V = shape.vocabSize;
    const rnd = mulberry32(99);
    const prompt = Array.from({ length: 7 }, () => 3 + Math.floor(rnd() * (V - 3)));

    for (const [v, level] of CASES) {
      const int8 = VARIANT_SPECS[v].bits !== undefined && level === 4;
      const variant = `${v}${VARIANT_SPECS[v].bits ? ` (accuracy_level ${level})` : ""}`;
      const halfInt8 = int8 && VARIANT_SPECS[v].float === "float16";
      const tol = TOL[v];
      const refWeights = variantWeights(weights, v);
      const model = OrtLlama.load(buildLlamaOnnx(weights, v, { accuracyLevel: level }).model, weights.config, VARIANT_SPECS[v].float);
      const reference = () => new ReferenceLlama(refWeights, "half", int8);
      /** How far one int8 rounding of the activations moves the logits (max over prompt + steps). */
      const roundingEffect = () => {
        const a = reference(), b = new ReferenceLlama(refWeights);
        let e = 0;
        for (const t of [...prompt, ...Array.from({ length: 5 }, (_, s) => 3 + ((s * 37) % (V - 3)))]) e = Math.max(e, maxAbsDiff(a.step(t), b.step(t)));
        return e;
      };

      test(`${variant}: full-prompt logits equal the reference at every position`, async () => {
        const ort = await model;
        const { logits } = await ort.forward([prompt], [prompt.map(() => 1)], ort.emptyCache());
        const ref = reference();
        let err = 0;
        prompt.forEach((t, i) => { err = Math.max(err, maxAbsDiff(logits.subarray(i * V, (i + 1) * V), ref.step(t))); });
        maxErr[`${name} ${variant} full`] = err;
        expect(err).toBeLessThan(halfInt8 ? 2 * roundingEffect() + tol : tol);
        if (int8 && !halfInt8) {
          // The int8 rounding is real and modelled: against the plain reference the error is far larger.
          const plain = new ReferenceLlama(refWeights);
          let plainErr = 0;
          prompt.forEach((t, i) => { plainErr = Math.max(plainErr, maxAbsDiff(logits.subarray(i * V, (i + 1) * V), plain.step(t))); });
          expect(plainErr).toBeGreaterThan(100 * err);
        }
        if (v === "q4" || v === "q4f16") {
          // The 4-bit graph really is quantised: far from the unquantised reference.
          const fresh = new ReferenceLlama(weights);
          let last: Float64Array = new Float64Array(0);
          for (const t of prompt) last = fresh.step(t);
          expect(maxAbsDiff(logits.subarray((prompt.length - 1) * V), last)).toBeGreaterThan(0.1);
        }
      });

      test(`${variant}: incremental decode through the KV cache equals the reference`, async () => {
        const ort = await model;
        const ref = reference();
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
        expect(err).toBeLessThan(halfInt8 ? 2 * roundingEffect() + tol : tol);
      });

      test(`${variant}: greedy generation equals the reference token for token`, async () => {
        const ort = await model;
        const got = await ort.greedy(prompt, GREEDY_TOKENS);
        const want = reference().greedy(prompt, GREEDY_TOKENS);
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
  expect(Object.keys(maxErr).length).toBe(Object.keys(SHAPES).length * CASES.length * 2);
});
