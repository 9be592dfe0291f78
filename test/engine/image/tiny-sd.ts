/**
 * A tiny random-weight Stable Diffusion folder in the diffusers ONNX layout, written by the tests:
 * the real tensor names, ranks and dtypes of the export (input_ids int32 [B, 77]; unet sample
 * [B, 4, h, w], timestep float [1], encoder_hidden_states [B, 77, D] → out_sample; vae_decoder
 * latent_sample → sample [1, 3, 8h, 8w]; vae_encoder sample → latent_parameters (mean ‖ logvar)),
 * with small stand-in bodies whose math `reference` below repeats in plain TypeScript.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GraphBuilder } from "../../../src/engine/models/onnx-graph.ts";
import { Xoshiro256StarStar } from "../../../src/engine/prng.ts";

export const D = 8;
export const C = 4;

function rand(seed: bigint, n: number, scale: number): Float32Array {
  const r = new Xoshiro256StarStar(seed);
  return Float32Array.from({ length: n }, () => (r.nextDouble() * 2 - 1) * scale);
}

/** Byte-level vocabulary: 256 byte symbols, their "</w>" forms, a few merges, specials. */
export function tinyVocab(): { vocab: Record<string, number>; merges: string[] } {
  const keep: number[] = [];
  for (let b = 33; b <= 126; b++) keep.push(b);
  for (let b = 161; b <= 172; b++) keep.push(b);
  for (let b = 174; b <= 255; b++) keep.push(b);
  let extra = 0;
  const sym = Array.from({ length: 256 }, (_, b) => String.fromCodePoint(keep.includes(b) ? b : 256 + extra++));
  const vocab: Record<string, number> = {};
  sym.forEach((s, i) => (vocab[s] = i));
  sym.forEach((s, i) => (vocab[s + "</w>"] = 256 + i));
  const merges = ["c a", "ca t</w>", "d o", "do g</w>", "r e", "re d</w>"];
  let id = 512;
  for (const m of merges) vocab[m.replace(" ", "")] = id++;
  vocab["<|startoftext|>"] = id++;
  vocab["<|endoftext|>"] = id++;
  return { vocab, merges };
}

export interface TinyWeights {
  emb: Float32Array; // [V, D]
  unetW: Float32Array; // [C, C]
  unetB: Float32Array; // [C]
  decW: Float32Array; // [3, C]
  encW: Float32Array; // [2C, 3]
}

export function tinyWeights(vocabSize: number): TinyWeights {
  return {
    emb: rand(1n, vocabSize * D, 1),
    unetW: rand(2n, C * C, 0.5),
    unetB: rand(3n, C, 0.1),
    decW: rand(4n, 3 * C, 0.02),
    encW: rand(5n, 2 * C * 3, 0.5),
  };
}

function save(dir: string, sub: string, g: GraphBuilder): void {
  mkdirSync(join(dir, sub), { recursive: true });
  writeFileSync(join(dir, sub, "model.onnx"), g.encode(sub, "atoma-node test").model);
}

/** Writes the folder; returns its weights for the reference. */
export function writeTinySd(dir: string, scheduler: Record<string, unknown>, opts: { encoder?: boolean } = {}): TinyWeights {
  const { vocab, merges } = tinyVocab();
  const V = Object.keys(vocab).length;
  const w = tinyWeights(V);
  mkdirSync(join(dir, "tokenizer"), { recursive: true });
  writeFileSync(join(dir, "tokenizer", "vocab.json"), JSON.stringify(vocab));
  writeFileSync(join(dir, "tokenizer", "merges.txt"), ["#version: 0.2", ...merges].join("\n") + "\n");
  writeFileSync(join(dir, "tokenizer", "special_tokens_map.json"), JSON.stringify({ pad_token: "<|endoftext|>" }));
  mkdirSync(join(dir, "scheduler"), { recursive: true });
  writeFileSync(join(dir, "scheduler", "scheduler_config.json"), JSON.stringify(scheduler));
  writeFileSync(join(dir, "model_index.json"), JSON.stringify({ _class_name: "OnnxStableDiffusionPipeline", _diffusers_version: "0.30.0" }));

  // text_encoder: last_hidden_state = tanh(emb[input_ids]); pooler_output = mean over tokens.
  let g = new GraphBuilder();
  g.input("input_ids", "int64", ["batch", 77]);
  const e = g.op("Gather", [g.initializer("emb", w.emb, [V, D]), "input_ids"], { axis: 0 });
  g.op("Tanh", [e], {}, { outputs: ["last_hidden_state"] });
  g.op("ReduceMean", ["last_hidden_state"], { axes: [1], keepdims: 0 }, { outputs: ["pooler_output"] });
  g.output("last_hidden_state", "float32", ["batch", 77, D]);
  g.output("pooler_output", "float32", ["batch", D]);
  save(dir, "text_encoder", g);

  // unet: out = conv1x1(sample) + 0.5·mean(encoder_hidden_states[b]) + 0.1·sin(0.01·t)
  g = new GraphBuilder();
  g.input("sample", "float32", ["batch", C, "height", "width"]);
  g.input("timestep", "float32", [1]);
  g.input("encoder_hidden_states", "float32", ["batch", 77, D]);
  const conv = g.op("Conv", ["sample", g.initializer("uw", w.unetW, [C, C, 1, 1]), g.initializer("ub", w.unetB, [C])]);
  const ctx = g.op("ReduceMean", ["encoder_hidden_states"], { axes: [1, 2], keepdims: 1 });
  const ctx4 = g.op("Unsqueeze", [ctx, g.i64([3])]);
  const temb = g.op("Sin", [g.op("Mul", ["timestep", g.float([0.01])])]);
  const sum = g.op("Add", [conv, g.op("Mul", [ctx4, g.float([0.5])])]);
  g.op("Add", [sum, g.op("Mul", [temb, g.float([0.1])])], {}, { outputs: ["out_sample"] });
  g.output("out_sample", "float32", ["batch", C, "height", "width"]);
  save(dir, "unet", g);
  writeFileSync(join(dir, "unet", "config.json"), JSON.stringify({ in_channels: C, sample_size: 2 }));

  // vae_decoder: sample = tanh(nearest×8(conv1x1(latent)))
  g = new GraphBuilder();
  g.input("latent_sample", "float32", ["batch", C, "h", "w"]);
  const d = g.op("Conv", ["latent_sample", g.initializer("dw", w.decW, [3, C, 1, 1])]);
  const up = g.op("Resize", [d, "", g.float([1, 1, 8, 8])], { mode: "nearest", coordinate_transformation_mode: "asymmetric", nearest_mode: "floor" });
  g.op("Tanh", [up], {}, { outputs: ["sample"] });
  g.output("sample", "float32", ["batch", 3, "H", "W"]);
  save(dir, "vae_decoder", g);
  writeFileSync(join(dir, "vae_decoder", "config.json"), JSON.stringify({ scaling_factor: 0.5, latent_channels: C }));

  if (opts.encoder !== false) {
    // vae_encoder: latent_parameters = conv1x1(avgpool8(sample)) with 2C channels (mean ‖ logvar)
    g = new GraphBuilder();
    g.input("sample", "float32", ["batch", 3, "H", "W"]);
    const p = g.op("AveragePool", ["sample"], { kernel_shape: [8, 8], strides: [8, 8] });
    g.op("Conv", [p, g.initializer("ew", w.encW, [2 * C, 3, 1, 1])], {}, { outputs: ["latent_parameters"] });
    g.output("latent_parameters", "float32", ["batch", 2 * C, "h", "w"]);
    save(dir, "vae_encoder", g);
  }
  return w;
}
