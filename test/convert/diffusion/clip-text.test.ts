/**
 * CLIP text encoder conversion (src/convert/diffusion): tiny random checkpoints in transformers'
 * exact layout, converted to the diffusers ONNX component folder, run on onnxruntime-node and
 * compared with the float64 TypeScript reference (test/support/reference-clip.ts), output by output.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { convertClipText } from "../../../src/convert/diffusion/convert-clip.ts";
import { loadOrtNode } from "../../../src/engine/runtime/ort-native.ts";
import { tinyClipConfig, writeClipCheckpoint, type ClipConfig } from "../../support/clip-checkpoint.ts";
import { clipTextReference } from "../../support/reference-clip.ts";
import { safetensorsBytes } from "../../support/safetensors-writer.ts";

setDefaultTimeout(120_000);
const ROOT = resolve(import.meta.dir, "../../..");
const work = mkdtempSync(join(tmpdir(), "atoma-clip-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Token rows as the CLIP tokenizer makes them: BOS, words, EOS, then pad (eos or "!" = 0). */
function rows(c: ClipConfig, pad: number): number[][] {
  const S = c.max_position_embeddings, bos = 518, eos = 519;
  const mk = (words: number[]) => [bos, ...words, eos, ...new Array(S - words.length - 2).fill(pad)];
  return [mk([300, 17, 402]), mk(Array.from({ length: 20 }, (_, i) => 260 + ((i * 37) % 240)))];
}

async function run(dir: string, ids: number[][]) {
  const ort = await loadOrtNode();
  const s = await ort.InferenceSession.create(join(dir, "model.onnx"));
  const S = ids[0]!.length;
  const out = await s.run({ input_ids: new ort.Tensor("int64", BigInt64Array.from(ids.flat(), BigInt), [ids.length, S]) });
  return { names: s.outputNames, get: (n: string) => out[n]!.data as Float32Array, dims: (n: string) => out[n]!.dims };
}

function maxErr(got: Float32Array, want: number[]): number {
  expect(got.length).toBe(want.length);
  let m = 0;
  for (let i = 0; i < got.length; i++) m = Math.max(m, Math.abs(got[i]! - want[i]!));
  return m;
}

async function checkAgainstReference(c: ClipConfig, opts: { pad: number; variant?: "fp32" | "fp16"; positionIds?: boolean; external?: boolean; name: string }) {
  const src = join(work, `${opts.name}-src`), out = join(work, `${opts.name}-onnx`);
  const tensors = writeClipCheckpoint(src, c, { seed: 7, ...(opts.positionIds ? { positionIds: true } : {}) });
  const r = await convertClipText(src, out, { ...(opts.variant ? { variant: opts.variant } : {}), ...(opts.external ? { externalAboveBytes: 0 } : {}) });
  expect(r.externalChunks).toBe(opts.external ? 1 : 0);
  const ids = rows(c, opts.pad);
  const o = await run(out, ids);
  const L = c.num_hidden_layers, D = c.hidden_size, S = ids[0]!.length;
  const proj = c.architectures.includes("CLIPTextModelWithProjection");
  const head = proj ? ["text_embeds", "last_hidden_state"] : ["last_hidden_state", "pooler_output"];
  expect(o.names).toEqual([...head, ...Array.from({ length: L + 1 }, (_, i) => `hidden_states.${i}`)]);
  const refs = ids.map((row) => clipTextReference(c, tensors, row));
  const tol = opts.variant === "fp16" ? 2e-2 : 1e-4;
  expect(o.dims("last_hidden_state")).toEqual([2, S, D]);
  expect(maxErr(o.get("last_hidden_state"), refs.flatMap((x) => x.lastHiddenState.flat()))).toBeLessThan(tol);
  for (let l = 0; l <= L; l++) expect(maxErr(o.get(`hidden_states.${l}`), refs.flatMap((x) => x.hiddenStates[l]!.flat()))).toBeLessThan(tol);
  if (proj) {
    expect(o.dims("text_embeds")).toEqual([2, c.projection_dim]);
    expect(maxErr(o.get("text_embeds"), refs.flatMap((x) => x.textEmbeds!))).toBeLessThan(tol);
  } else {
    expect(maxErr(o.get("pooler_output"), refs.flatMap((x) => x.pooled))).toBeLessThan(tol);
  }
  return { out, refs, o };
}

describe("CLIP text encoder → ONNX", () => {
  test("CLIPTextModel (SD 1.5 text_encoder: quick_gelu, pad = EOS): every output matches the reference; I64 position_ids buffer ignored", async () => {
    await checkAgainstReference(tinyClipConfig(), { pad: 519, positionIds: true, name: "sd15" });
  });

  test("CLIPTextModelWithProjection (SDXL text_encoder_2: gelu, pad '!' = 0): text_embeds = text_projection(state at the first EOS)", async () => {
    const c = tinyClipConfig({ architectures: ["CLIPTextModelWithProjection"], hidden_act: "gelu", num_hidden_layers: 4 });
    const { refs } = await checkAgainstReference(c, { pad: 0, name: "sdxl2" });
    // pooled really is the EOS row (position 4 in the first sequence), not the last or the max id's
    expect(refs[0]!.pooled).toEqual(refs[0]!.lastHiddenState[4]!);
  });

  test("legacy config (eos_token_id 2): pooled at argmax(input_ids), as transformers keeps for such configs", async () => {
    const c = tinyClipConfig({ eos_token_id: 2, hidden_act: "gelu_new" });
    await checkAgainstReference(c, { pad: 0, name: "legacy" });
  });

  test("fp16 weights (float32 outputs) and external data beside model.onnx", async () => {
    await checkAgainstReference(tinyClipConfig({ architectures: ["CLIPTextModelWithProjection"] }), { pad: 519, variant: "fp16", name: "half" });
    const { out } = await checkAgainstReference(tinyClipConfig(), { pad: 519, external: true, name: "ext" });
    expect(readdirSync(out).sort()).toEqual(["config.json", "model.onnx", "model.onnx_data"]);
  });

  function cli(args: string[]) {
    const r = Bun.spawnSync([process.execPath, "src/cli/main.ts", "models", "convert", ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    return { code: r.exitCode, stderr: r.stderr.toString() };
  }

  test("models convert on a text_encoder folder; bad checkpoints: one line, exit 2, nothing written", () => {
    const good = join(work, "cli-src");
    writeClipCheckpoint(good, tinyClipConfig(), { seed: 3 });
    const ok = cli([good, "--out", join(work, "cli-out"), "--dtypes", "f32"]);
    expect(ok.code).toBe(0);
    expect(ok.stderr).toMatch(/converted CLIPTextModel checkpoint to .*cli-out \(fp32\)/);
    expect(existsSync(join(work, "cli-out", "model.onnx"))).toBe(true);

    const bad = (name: string, c: ClipConfig, edit?: (dir: string) => void) => {
      const dir = join(work, name);
      writeClipCheckpoint(dir, c, { seed: 3 });
      edit?.(dir);
      const r = cli([dir, "--out", join(work, `${name}-out`)]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split("\n").length).toBe(1);
      expect(existsSync(join(work, `${name}-out`))).toBe(false);
      expect(readdirSync(work).some((f) => f.startsWith(`.${name}-out.converting-`))).toBe(false);
      return r.stderr.trim();
    };
    expect(bad("act", tinyClipConfig({ hidden_act: "relu" }))).toBe('error: config.json: hidden_act "relu" is not supported for CLIP text encoders (expected quick_gelu, gelu, gelu_new, gelu_pytorch_tanh)');
    expect(bad("heads", tinyClipConfig({ num_attention_heads: 5 }))).toBe("error: config.json: hidden_size 16 is not divisible by num_attention_heads 5");
    // config says 3 layers' width 16; a fc1 of the wrong shape
    expect(bad("shape", tinyClipConfig({ intermediate_size: 48 }), (dir) => {
      const c = tinyClipConfig({ intermediate_size: 48 });
      writeFileSync(join(dir, "config.json"), JSON.stringify({ ...c, intermediate_size: 40 }));
    })).toBe("error: tensor text_model.encoder.layers.0.mlp.fc1.weight has shape [48, 16] but config.json implies [40, 16]");
    expect(bad("missing", tinyClipConfig({ architectures: ["CLIPTextModelWithProjection"] }), (dir) => {
      writeFileSync(join(dir, "model.safetensors"), safetensorsBytes([["text_model.embeddings.token_embedding.weight", { shape: [520, 16], data: new Float32Array(520 * 16) }]], "F32"));
    })).toBe("error: checkpoint is missing tensor text_model.embeddings.position_embedding.weight");
    const q4 = cli([good, "--out", join(work, "q4-out"), "--dtypes", "q4"]);
    expect([q4.code, q4.stderr.trim()]).toEqual([2, "error: CLIP text encoders convert to f32 or f16 only, not q4"]);
  });
});
