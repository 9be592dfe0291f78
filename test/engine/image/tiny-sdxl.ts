/**
 * A tiny random-weight SDXL folder in the diffusers ONNX layout, written by the tests: the SD
 * folder of tiny-sd.ts (tokenizer, scheduler, vae_decoder) with real CLIP text encoders converted
 * by our writer from random transformers-layout checkpoints — text_encoder/ (CLIPTextModel,
 * quick_gelu) and text_encoder_2/ (CLIPTextModelWithProjection, gelu) — tokenizer_2/ padding with
 * "!" as SDXL's does, and a stand-in UNet with the SDXL export's inputs (sample, timestep,
 * encoder_hidden_states [B, 77, D1 + D2], text_embeds [B, P], time_ids [B, 6] → out_sample),
 * whose math `unetReference` repeats in plain TypeScript.
 */
import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { convertClipText } from "../../../src/convert/diffusion/convert-clip.ts";
import { GraphBuilder } from "../../../src/engine/models/onnx-graph.ts";
import { Xoshiro256StarStar } from "../../../src/engine/prng.ts";
import { tinyClipConfig, writeClipCheckpoint, type ClipConfig } from "../../support/clip-checkpoint.ts";
import type { NamedTensor } from "../../support/safetensors-writer.ts";
import { C, writeTinySd } from "./tiny-sd.ts";

export const D1 = 16, D2 = 24, P = 12, DT = D1 + D2;

function rand(seed: bigint, n: number, scale: number): Float32Array {
  const r = new Xoshiro256StarStar(seed);
  return Float32Array.from({ length: n }, () => (r.nextDouble() * 2 - 1) * scale);
}

export interface TinySdxl {
  te1: { config: ClipConfig; tensors: Map<string, NamedTensor> };
  te2: { config: ClipConfig; tensors: Map<string, NamedTensor> };
  unet: { convW: Float32Array; convB: Float32Array; V: Float32Array; U: Float32Array; W: Float32Array };
  /** vae_decoder 1×1 conv [3, C] (tiny-sd.ts) and the VAE scaling factor. */
  decW: Float32Array;
  scaling: number;
}

export async function writeTinySdxl(dir: string, scheduler: Record<string, unknown>, opts: { forceZeros?: boolean } = {}): Promise<TinySdxl> {
  const sd = writeTinySd(dir, scheduler, { encoder: false });
  const scaling = 0.13025;
  writeFileSync(join(dir, "vae_decoder", "config.json"), JSON.stringify({ scaling_factor: scaling, latent_channels: C }));
  writeFileSync(join(dir, "model_index.json"), JSON.stringify({
    _class_name: "StableDiffusionXLPipeline", _diffusers_version: "0.30.0",
    ...(opts.forceZeros === undefined ? {} : { force_zeros_for_empty_prompt: opts.forceZeros }),
  }));
  cpSync(join(dir, "tokenizer"), join(dir, "tokenizer_2"), { recursive: true });
  writeFileSync(join(dir, "tokenizer_2", "special_tokens_map.json"), JSON.stringify({ pad_token: "!" }));

  const src = `${dir}-checkpoints`;
  const c1 = tinyClipConfig({ hidden_size: D1, num_hidden_layers: 3 });
  const c2 = tinyClipConfig({ architectures: ["CLIPTextModelWithProjection"], hidden_act: "gelu", hidden_size: D2, intermediate_size: 48, num_attention_heads: 4, num_hidden_layers: 4, projection_dim: P });
  const t1 = writeClipCheckpoint(join(src, "text_encoder"), c1, { seed: 11 });
  const t2 = writeClipCheckpoint(join(src, "text_encoder_2"), c2, { seed: 12 });
  await convertClipText(join(src, "text_encoder"), join(dir, "text_encoder"), { force: true });
  await convertClipText(join(src, "text_encoder_2"), join(dir, "text_encoder_2"), { force: true });
  rmSync(src, { recursive: true, force: true });

  // unet: out = conv1x1(sample) + 0.5·mean_t(ehs·V) + 0.3·(text_embeds·U) + 0.2·(sin(0.003·time_ids)·W) + 0.1·sin(0.01·t)
  const u = { convW: rand(21n, C * C, 0.5), convB: rand(22n, C, 0.1), V: rand(23n, DT * C, 0.5), U: rand(24n, P * C, 0.5), W: rand(25n, 6 * C, 1) };
  const g = new GraphBuilder();
  g.input("sample", "float32", ["batch", C, "height", "width"]);
  g.input("timestep", "float32", [1]);
  g.input("encoder_hidden_states", "float32", ["batch", 77, DT]);
  g.input("text_embeds", "float32", ["batch", P]);
  g.input("time_ids", "float32", ["batch", 6]);
  const conv = g.op("Conv", ["sample", g.initializer("uw", u.convW, [C, C, 1, 1]), g.initializer("ub", u.convB, [C])]);
  const ctx = g.op("ReduceMean", [g.op("MatMul", ["encoder_hidden_states", g.initializer("V", u.V, [DT, C])])], { axes: [1], keepdims: 0 });
  const te = g.op("MatMul", ["text_embeds", g.initializer("U", u.U, [P, C])]);
  const ti = g.op("MatMul", [g.op("Sin", [g.op("Mul", ["time_ids", g.float([0.003])])]), g.initializer("W", u.W, [6, C])]);
  const vec = g.op("Add", [g.op("Add", [g.op("Mul", [ctx, g.float([0.5])]), g.op("Mul", [te, g.float([0.3])])]), g.op("Mul", [ti, g.float([0.2])])]);
  const temb = g.op("Mul", [g.op("Sin", [g.op("Mul", ["timestep", g.float([0.01])])]), g.float([0.1])]);
  g.op("Add", [g.op("Add", [conv, g.op("Unsqueeze", [vec, g.i64([2, 3])])]), temb], {}, { outputs: ["out_sample"] });
  g.output("out_sample", "float32", ["batch", C, "height", "width"]);
  rmSync(join(dir, "unet"), { recursive: true, force: true });
  mkdirSync(join(dir, "unet"), { recursive: true });
  writeFileSync(join(dir, "unet", "model.onnx"), g.encode("unet", "atoma-node test").model);
  writeFileSync(join(dir, "unet", "config.json"), JSON.stringify({ in_channels: C, sample_size: 8, addition_embed_type: "text_time", addition_time_embed_dim: 4, projection_class_embeddings_input_dim: 6 * 4 + P, cross_attention_dim: DT }));
  return { te1: { config: c1, tensors: t1 }, te2: { config: c2, tensors: t2 }, unet: u, decW: sd.decW, scaling };
}

/** The stand-in UNet in float64 for one batch row: x [C·h·w], hidden [77][DT], pooled [P], time ids [6]. */
export function unetReference(w: TinySdxl["unet"], x: ArrayLike<number>, hw: number, t: number, hidden: number[][], pooled: number[], timeIds: number[]): number[] {
  const vec = Array.from({ length: C }, (_, c) => {
    let ctx = 0;
    for (const row of hidden) for (let d = 0; d < DT; d++) ctx += row[d]! * w.V[d * C + c]!;
    ctx /= hidden.length;
    let te = 0;
    for (let p = 0; p < P; p++) te += pooled[p]! * w.U[p * C + c]!;
    let ti = 0;
    for (let k = 0; k < 6; k++) ti += Math.sin(Math.fround(Math.fround(0.003) * timeIds[k]!)) * w.W[k * C + c]!;
    return 0.5 * ctx + 0.3 * te + 0.2 * ti;
  });
  const temb = 0.1 * Math.sin(Math.fround(Math.fround(0.01) * Math.fround(t)));
  return Array.from({ length: C * hw }, (_, i) => {
    const c = Math.floor(i / hw), p = i % hw;
    let s = w.convB[c]!;
    for (let j = 0; j < C; j++) s += w.convW[c * C + j]! * x[j * hw + p]!;
    return s + vec[c]! + temb;
  });
}
