/**
 * Mamba checkpoints (MambaForCausalLM layout and config keys as in state-spaces/mamba-130m-hf, and
 * the original mamba_ssm layout of the state-spaces/mamba-* repos) → ONNX, against the independent
 * reference (test/support/reference-mamba.ts): logits of the whole prompt in one run, the same
 * prompt split across runs through the carried states, 32 greedy tokens through the node's own
 * recurrent engine, every dtype loading and generating, and the 16-jobs byte identity of batching.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { convertCheckpoint, type Variant } from "../../src/convert/index.ts";
import { loadTextEngine } from "../../src/engine/engine.ts";
import { DEFAULT_SAMPLING_PARAMS } from "../../src/engine/sampler.ts";
import type { DType, GenerateRequest, GenerationResult, TextEngine } from "../../src/engine/types.ts";
import type { Config } from "../support/hf-checkpoints.ts";
import { MAMBA_CONFIG, randomMamba, writeMambaCheckpoint, writeMambaSsmRepo } from "../support/mamba-checkpoint.ts";
import { maxAbsDiff } from "../support/ort-llama.ts";
import { mulberry32 } from "../support/random-llama.ts";
import { ReferenceMamba } from "../support/reference-mamba.ts";
import type { NamedTensor, StDtype } from "../support/safetensors-writer.ts";

setDefaultTimeout(120_000);
const GREEDY = 32;
const roots: string[] = [];
afterAll(() => { for (const r of roots) rmSync(r, { recursive: true, force: true }); });

interface Case { config: Config; dtype: StDtype; shards?: number; seed?: number; variants?: Variant[]; written?: Config; rename?: Record<string, string> }

async function convert(k: Case): Promise<{ out: string; tensors: Map<string, NamedTensor> }> {
  const root = mkdtempSync(join(tmpdir(), "atoma-convert-mamba-"));
  roots.push(root);
  const tensors = randomMamba(k.config, k.seed ?? 7, k.dtype);
  // The file may use other names (mamba_ssm's) for the same tensors; the reference reads HF's.
  const stored = new Map([...tensors].flatMap(([n, t]) => (k.rename?.[n] === "" ? [] : [[k.rename?.[n] ?? n, t] as const])));
  writeMambaCheckpoint(join(root, "hf"), k.written ?? k.config, { dtype: k.dtype, shards: k.shards ?? 1, tensors: stored });
  const out = join(root, "onnx-model");
  await convertCheckpoint({ src: join(root, "hf"), out, dtypes: k.variants ?? ["fp32"] });
  return { out, tensors };
}

const prompt = (V: number, n = 9, seed = 7) => { const r = mulberry32(seed); return [1, ...Array.from({ length: n - 1 }, () => 3 + Math.floor(r() * (V - 3)))]; };

/** Drives the fp32 graph directly: zero states, then whatever `runs` splits the ids into. */
async function ortLogits(file: string, runs: number[][]): Promise<Float32Array[]> {
  const s = await ort.InferenceSession.create(file, { executionProviders: ["cpu"], intraOpNumThreads: 1 });
  let states: Record<string, ort.Tensor> = {};
  for (const m of s.inputMetadata as unknown as { name: string; shape: (number | string)[] }[]) {
    if (m.name === "input_ids" || m.name === "num_logits_to_keep") continue;
    const dims = [1, ...(m.shape.slice(1) as number[])];
    states[m.name] = new ort.Tensor("float32", new Float32Array(dims.reduce((a, b) => a * b, 1)), dims);
  }
  const rows: Float32Array[] = [];
  for (const ids of runs) {
    const out = await s.run({ input_ids: new ort.Tensor("int64", BigInt64Array.from(ids.map(BigInt)), [1, ids.length]), num_logits_to_keep: new ort.Tensor("int64", BigInt64Array.of(0n), []), ...states });
    const V = out.logits!.dims[2]!, data = out.logits!.data as Float32Array;
    for (let i = 0; i < ids.length; i++) rows.push(data.slice(i * V, (i + 1) * V));
    states = Object.fromEntries(Object.keys(states).map((n) => [n, out[`present.${n}`]!]));
  }
  await s.release();
  return rows;
}

function describeMamba(name: string, k: Case): void {
  describe(name, () => {
    let ctx: ReturnType<typeof convert> | undefined;
    const get = () => (ctx ??= convert(k));
    const V = k.config.vocab_size, ids = prompt(V);

    test("onnxruntime logits of the fp32 graph equal the reference at every prompt position, in one run and split across runs", async () => {
      const { out, tensors } = await get();
      const ref = new ReferenceMamba(k.config, tensors).forward(ids);
      for (const runs of [[ids], [ids.slice(0, 4), ids.slice(4, 5), ids.slice(5)]]) {
        const got = await ortLogits(join(out, "onnx", "model.onnx"), runs);
        const err = Math.max(...ref.map((row, i) => maxAbsDiff(got[i]!, row)));
        console.log(`${name}: max |logit error| ${err.toExponential(2)} over ${ids.length} positions in ${runs.length} run(s)`);
        expect(err).toBeLessThan(1e-4);
      }
    });

    test(`the node's engine (loadTextEngine, f32, greedy) generates the reference's ${GREEDY} tokens`, async () => {
      const { out, tensors } = await get();
      const engine = await loadTextEngine({ id: name, dir: out, device: "cpu", dtype: "f32" });
      try {
        expect(engine.info.modelType).toBe("mamba");
        const r = await engine.generate({ prompt: "the cat sat", params: { ...DEFAULT_SAMPLING_PARAMS, maxTokens: GREEDY, temperature: 0 } });
        const want = new ReferenceMamba(k.config, tensors).greedy(r.tokens.slice(0, r.inputTokens), GREEDY);
        const eos = want.indexOf(2);
        console.log(`${name}: engine generated ${r.outputTokens} tokens (${r.finishReason})`);
        expect(r.tokens.slice(r.inputTokens)).toEqual(eos < 0 ? want : want.slice(0, eos));
      } finally {
        await engine.dispose();
      }
    });
  });
}

describeMamba("mamba-130m-hf style (no projection bias, tied, BF16, 2 shards)", { config: MAMBA_CONFIG, dtype: "BF16", shards: 2 });
describeMamba("mamba with biases, untied lm_head, explicit time_step_rank, conv_kernel 3, no conv bias, residual in model dtype (F32)", {
  config: { ...MAMBA_CONFIG, use_bias: true, tie_word_embeddings: false, time_step_rank: 6, use_conv_bias: false, residual_in_fp32: false, state_size: 8, conv_kernel: 3 },
  dtype: "F32",
  seed: 5,
});

const SSM_VOCAB = 298; // mamba_ssm rounds it up to 304 (pad_vocab_size_multiple 8), as the embedding has
describeMamba("original mamba_ssm layout (d_model, n_layer, ssm_cfg, padded vocab, backbone.embedding, no lm_head; F16)", {
  config: { ...MAMBA_CONFIG, vocab_size: 304 },
  written: {
    d_model: 64, d_intermediate: 0, n_layer: 2, vocab_size: SSM_VOCAB, ssm_cfg: {}, attn_layer_idx: [], attn_cfg: {}, rms_norm: true,
    residual_in_fp32: true, fused_add_norm: true, pad_vocab_size_multiple: 8, tie_embeddings: true,
  },
  rename: { "backbone.embeddings.weight": "backbone.embedding.weight" },
  dtype: "F16",
  seed: 3,
});

test("a mamba_ssm config is written out as transformers' MambaConfig (model_type mamba), so the engine knows the folder", async () => {
  const { out } = await convert({ config: { ...MAMBA_CONFIG, vocab_size: 304 }, written: { d_model: 64, n_layer: 2, vocab_size: SSM_VOCAB, ssm_cfg: { d_state: 16 } }, rename: { "backbone.embeddings.weight": "backbone.embedding.weight" }, dtype: "F32" });
  const c = JSON.parse(readFileSync(join(out, "config.json"), "utf8"));
  expect(c).toMatchObject({ model_type: "mamba", architectures: ["MambaForCausalLM"], hidden_size: 64, num_hidden_layers: 2, vocab_size: 304, intermediate_size: 128, state_size: 16, conv_kernel: 4, time_step_rank: 4, use_bias: false, use_conv_bias: true, tie_word_embeddings: true });
});

describe("every dtype", () => {
  const variants: Variant[] = ["fp32", "fp16", "q8", "q4", "q4f16"];
  const dtypes: DType[] = ["f32", "f16", "bf16", "q8", "q4", "q4f16"];
  let ctx: ReturnType<typeof convert> | undefined;
  const get = () => (ctx ??= convert({ config: { ...MAMBA_CONFIG, hidden_size: 96, intermediate_size: 192 }, dtype: "BF16", variants, seed: 11 }));
  for (const dtype of dtypes) {
    test(`${dtype}: loads through loadTextEngine and generates (agreement with the fp64 reference logged)`, async () => {
      const { out, tensors } = await get();
      const engine = await loadTextEngine({ id: `mamba-${dtype}`, dir: out, device: "cpu", dtype });
      try {
        const r = await engine.generate({ prompt: "once upon a time", params: { ...DEFAULT_SAMPLING_PARAMS, maxTokens: 16, temperature: 0 } });
        const want = new ReferenceMamba({ ...MAMBA_CONFIG, hidden_size: 96, intermediate_size: 192 }, tensors).greedy(r.tokens.slice(0, r.inputTokens), 16);
        const got = r.tokens.slice(r.inputTokens);
        let same = 0;
        while (same < got.length && got[same] === want[same]) same++;
        console.log(`mamba ${dtype} (${engine.info.loadedDtype}): ${r.outputTokens} tokens, first ${same} equal the reference's greedy tokens`);
        expect(r.finishReason === "eos" || r.outputTokens === 16).toBe(true);
        expect(r.outputTokens + (r.finishReason === "eos" ? 1 : 0)).toBeGreaterThan(0);
        if (dtype === "f32") expect(same).toBe(got.length);
      } finally {
        await engine.dispose();
      }
    });
  }
});

describe("bad Mamba checkpoints through `models convert`: one line naming the tensor, exit 2, nothing written", () => {
  const ROOT = join(import.meta.dir, "../..");
  const cli = (src: string, out: string) => {
    const r = Bun.spawnSync([process.execPath, "src/cli/main.ts", "models", "convert", src, "--out", out], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    return { code: r.exitCode, stderr: r.stderr.toString() };
  };
  const cases: [string, (t: Map<string, NamedTensor>) => void, string][] = [
    ["missing A_log", (t) => t.delete("backbone.layers.1.mixer.A_log"), "checkpoint is missing tensor backbone.layers.1.mixer.A_log"],
    ["conv1d.weight of the wrong shape", (t) => t.set("backbone.layers.0.mixer.conv1d.weight", { shape: [128, 4], data: new Float32Array(512) }), "tensor backbone.layers.0.mixer.conv1d.weight has shape [128, 4] but config.json implies [128, 1, 4]"],
  ];
  test("a mamba_ssm checkpoint without tokenizer files: the line says whose tokenizer it needs", () => {
    const root = mkdtempSync(join(tmpdir(), "atoma-convert-mamba-bad-"));
    roots.push(root);
    writeMambaSsmRepo(join(root, "hf"), join(root, "tok"));
    const r = cli(join(root, "hf"), join(root, "out"));
    expect(r.stderr.trimEnd().split("\n")).toEqual([`error: ${join(root, "hf")} has no tokenizer.json (transformers.js needs the fast tokenizer file); this mamba_ssm checkpoint uses EleutherAI/gpt-neox-20b's tokenizer: copy its tokenizer.json and tokenizer_config.json into the folder`]);
    expect(r.code).toBe(2);
  });
  for (const [what, edit, line] of cases) {
    test(what, () => {
      const root = mkdtempSync(join(tmpdir(), "atoma-convert-mamba-bad-"));
      roots.push(root);
      const tensors = randomMamba(MAMBA_CONFIG, 1, "BF16");
      edit(tensors);
      writeMambaCheckpoint(join(root, "hf"), MAMBA_CONFIG, { dtype: "BF16", tensors });
      const r = cli(join(root, "hf"), join(root, "out"));
      expect(r.stderr.trimEnd().split("\n")).toEqual([`error: ${line}`]);
      expect(r.code).toBe(2);
      expect(readdirSync(root)).toEqual(["hf"]);
    });
  }
});
