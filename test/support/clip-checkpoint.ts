/**
 * Random-weight CLIP text encoders in the exact layout a diffusers repo's text_encoder/ and
 * text_encoder_2/ hold: transformers' `CLIPTextModel` / `CLIPTextModelWithProjection` state-dict
 * names and shapes (written from modeling_clip.py's module tree, independently of the converter),
 * a config.json with the keys those folders carry, safetensors weights.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { mulberry32 } from "./random-llama.ts";
import { roundTo, writeSafetensors, type NamedTensor, type StDtype } from "./safetensors-writer.ts";

export type ClipConfig = Record<string, any>;

export function tinyClipConfig(over: ClipConfig = {}): ClipConfig {
  return {
    architectures: ["CLIPTextModel"], model_type: "clip_text_model", hidden_act: "quick_gelu",
    hidden_size: 16, intermediate_size: 40, num_attention_heads: 4, num_hidden_layers: 3,
    max_position_embeddings: 77, vocab_size: 520, layer_norm_eps: 1e-5, projection_dim: 12,
    bos_token_id: 518, eos_token_id: 519, pad_token_id: 1, torch_dtype: "float32", ...over,
  };
}

/** [name, shape, kind] in state-dict order. */
export function clipParameters(c: ClipConfig): [string, number[], "linear" | "bias" | "norm" | "embed"][] {
  const D = c.hidden_size, I = c.intermediate_size;
  const out: [string, number[], "linear" | "bias" | "norm" | "embed"][] = [
    ["text_model.embeddings.token_embedding.weight", [c.vocab_size, D], "embed"],
    ["text_model.embeddings.position_embedding.weight", [c.max_position_embeddings, D], "embed"],
  ];
  const lin = (n: string, rows: number, cols: number) => out.push([`${n}.weight`, [rows, cols], "linear"], [`${n}.bias`, [rows], "bias"]);
  const ln = (n: string) => out.push([`${n}.weight`, [D], "norm"], [`${n}.bias`, [D], "bias"]);
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `text_model.encoder.layers.${l}`;
    for (const n of ["k_proj", "v_proj", "q_proj", "out_proj"]) lin(`${p}.self_attn.${n}`, D, D);
    ln(`${p}.layer_norm1`);
    lin(`${p}.mlp.fc1`, I, D);
    lin(`${p}.mlp.fc2`, D, I);
    ln(`${p}.layer_norm2`);
  }
  ln("text_model.final_layer_norm");
  if (c.architectures?.includes("CLIPTextModelWithProjection")) out.push(["text_projection.weight", [c.projection_dim, D], "linear"]);
  return out;
}

export function randomClipTensors(c: ClipConfig, seed: number, dtype: StDtype = "F32"): Map<string, NamedTensor> {
  const rnd = mulberry32(seed);
  const m = new Map<string, NamedTensor>();
  for (const [name, shape, kind] of clipParameters(c)) {
    const n = shape.reduce((a, b) => a * b, 1), cols = shape[shape.length - 1]!;
    const scale = kind === "linear" ? Math.sqrt(3 / cols) : kind === "embed" ? 1 : 0.1;
    const data = Float32Array.from({ length: n }, () => (kind === "norm" ? 0.8 + 0.4 * rnd() : (rnd() * 2 - 1) * scale));
    m.set(name, { shape, data: roundTo(dtype, data) });
  }
  return m;
}

/**
 * Writes `dir/config.json` + `dir/model.safetensors`; `positionIds` adds the I64
 * `text_model.embeddings.position_ids` buffer older transformers saved (SD 1.5's text_encoder).
 */
export function writeClipCheckpoint(dir: string, c: ClipConfig, opts: { seed?: number; dtype?: StDtype; positionIds?: boolean } = {}): Map<string, NamedTensor> {
  mkdirSync(dir, { recursive: true });
  const tensors = randomClipTensors(c, opts.seed ?? 1, opts.dtype ?? "F32");
  writeFileSync(join(dir, "config.json"), JSON.stringify(c, null, 2));
  writeSafetensors(dir, [...tensors.entries()], opts.dtype ?? "F32");
  if (opts.positionIds) appendI64PositionIds(join(dir, "model.safetensors"), c.max_position_embeddings);
  return tensors;
}

/** Rewrites a single-file safetensors with an extra I64 [1, P] tensor 0..P-1 at the end. */
function appendI64PositionIds(file: string, P: number): void {
  const bytes = new Uint8Array(readFileSync(file));
  const hlen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + hlen)));
  const data = bytes.subarray(8 + hlen);
  header["text_model.embeddings.position_ids"] = { dtype: "I64", shape: [1, P], data_offsets: [data.length, data.length + 8 * P] };
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((8 + json.length) % 8)) % 8);
  const h = new TextEncoder().encode(json);
  const ids = new BigInt64Array(P).map((_, i) => BigInt(i));
  const out = new Uint8Array(8 + h.length + data.length + 8 * P);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  out.set(new Uint8Array(ids.buffer), 8 + h.length + data.length);
  writeFileSync(file, out);
}
