/**
 * GGUF reader (versions 1–3). `@huggingface/gguf` parses the header, metadata and tensor infos;
 * everything after that is checked here before any tensor is used: each tensor's ggml type is one
 * this importer decodes, its shape fills whole blocks, its offset is aligned, its bytes lie inside
 * the file and do not overlap another's, and the architecture metadata agrees with the tensor
 * shapes. A bad file is one ConvertError line naming the file and what is wrong.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { gguf } from "@huggingface/gguf";
import type { HfConfig } from "../families/common.ts";
import { ggmlType, tensorBytes } from "../quant/ggml-types.ts";
import { ConvertError } from "../tensors.ts";
import { BlockTensorSource } from "./block-source.ts";
import { readStringArray } from "./gguf-strings.ts";
import { mapLlamaCppTensors, type FileTensor } from "./llama-cpp-names.ts";

export type GgufMetadata = Record<string, unknown>;

export interface GgufModel {
  path: string;
  version: number;
  metadata: GgufMetadata;
  config: HfConfig;
  source: BlockTensorSource;
  /** Bytes of tensor data in the file. */
  dataBytes: number;
}

const MAGIC = "GGUF";

/** A metadata number (u64 values arrive as bigint) or undefined; anything else is a ConvertError. */
export function metaNumber(meta: GgufMetadata, key: string, path: string): number | undefined {
  const v = meta[key];
  if (v === undefined) return undefined;
  const n = typeof v === "bigint" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isFinite(n)) throw new ConvertError(`${path}: metadata ${key} is ${JSON.stringify(String(v))}, expected a number`);
  return n;
}

function metaInt(meta: GgufMetadata, key: string, path: string, required: boolean, min = 1): number | undefined {
  const n = metaNumber(meta, key, path);
  if (n === undefined) {
    if (required) throw new ConvertError(`${path}: metadata has no ${key}`);
    return undefined;
  }
  if (!Number.isSafeInteger(n) || n < min) throw new ConvertError(`${path}: metadata ${key} is ${n}, expected an integer ≥ ${min}`);
  return n;
}

/** The shortest decimal that is the same float32 (f32 metadata: 1e-5, not 9.999999747378752e-6). */
function shortest(x: number): number {
  for (let p = 1; p <= 9; p++) {
    const y = Number(x.toPrecision(p));
    if (Math.fround(y) === Math.fround(x)) return y;
  }
  return x;
}

/** config.json (transformers' LlamaConfig / MixtralConfig keys) from `llama.*` metadata. */
export function configFromGguf(meta: GgufMetadata, path: string, vocabFromEmbedding: number): HfConfig {
  const arch = meta["general.architecture"];
  if (typeof arch !== "string") throw new ConvertError(`${path}: metadata has no general.architecture`);
  if (arch !== "llama") throw new ConvertError(`${path}: architecture "${arch}" is not supported by the GGUF importer (supported: llama, which covers Llama, Mistral and Mixtral files)`);
  const req = (k: string) => metaInt(meta, `${arch}.${k}`, path, true)!;
  const opt = (k: string) => metaInt(meta, `${arch}.${k}`, path, false);
  const hidden = req("embedding_length"), heads = req("attention.head_count");
  const kvHeads = opt("attention.head_count_kv") ?? heads;
  const headDim = opt("attention.key_length") ?? hidden / heads;
  if (!Number.isInteger(headDim)) throw new ConvertError(`${path}: ${arch}.embedding_length ${hidden} is not a multiple of ${arch}.attention.head_count ${heads}`);
  const ropeDim = opt("rope.dimension_count") ?? headDim;
  if (ropeDim !== headDim) throw new ConvertError(`${path}: ${arch}.rope.dimension_count ${ropeDim} differs from the head size ${headDim} (partial rotary is not a Llama layout)`);
  const eps = shortest(metaNumber(meta, `${arch}.attention.layer_norm_rms_epsilon`, path) ?? 1e-5);
  const theta = shortest(metaNumber(meta, `${arch}.rope.freq_base`, path) ?? 10000);
  const experts = opt("expert_count") ?? 0;
  const config: HfConfig = {
    model_type: experts > 1 ? "mixtral" : "llama",
    architectures: [experts > 1 ? "MixtralForCausalLM" : "LlamaForCausalLM"],
    hidden_size: hidden,
    intermediate_size: req("feed_forward_length"),
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    head_dim: headDim,
    num_hidden_layers: req("block_count"),
    vocab_size: opt("vocab_size") ?? vocabFromEmbedding,
    max_position_embeddings: opt("context_length") ?? 2048,
    rms_norm_eps: eps,
    rope_theta: theta,
    hidden_act: "silu",
    torch_dtype: "float32",
  };
  if (experts > 1) {
    config.num_local_experts = experts;
    config.num_experts_per_tok = opt("expert_used_count") ?? 2;
    config.sliding_window = null;
  }
  const scaling = meta[`${arch}.rope.scaling.type`];
  if (scaling !== undefined && scaling !== "none") {
    const factor = metaNumber(meta, `${arch}.rope.scaling.factor`, path);
    if (scaling !== "linear" || !factor) throw new ConvertError(`${path}: ${arch}.rope.scaling.type "${String(scaling)}" is not supported (supported: none, linear)`);
    config.rope_scaling = { rope_type: "linear", factor };
  }
  for (const [key, hf] of [["bos_token_id", "bos_token_id"], ["eos_token_id", "eos_token_id"], ["padding_token_id", "pad_token_id"]] as const) {
    const id = metaInt(meta, `tokenizer.ggml.${key}`, path, false, 0);
    if (id !== undefined) config[hf] = id;
  }
  return config;
}

async function parseHeader(path: string): Promise<Awaited<ReturnType<typeof gguf>>> {
  const fd = openSync(path, "r");
  let size: number;
  const head = Buffer.alloc(4);
  try {
    size = fstatSync(fd).size;
    readSync(fd, head, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  if (size < 24 || head.toString("latin1") !== MAGIC) {
    throw new ConvertError(`${path}: not a GGUF file (expected the magic "GGUF" at byte 0${size < 24 ? `; the file has only ${size} bytes` : `, found ${JSON.stringify(head.toString("latin1"))}`})`);
  }
  try {
    return await gguf(path, { allowLocalFile: true });
  } catch (e) {
    const msg = e instanceof RangeError ? "the header runs past the end of the file (truncated, or a length in it is wrong)" : (e as Error).message;
    throw new ConvertError(`${path}: unreadable GGUF header: ${msg.split("\n")[0]}`);
  }
}

export async function openGguf(path: string): Promise<GgufModel> {
  const parsed = await parseHeader(path);
  const meta = parsed.metadata as unknown as GgufMetadata;
  const version = Number(meta.version);
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const tokens = meta["tokenizer.ggml.tokens"];
    if (Array.isArray(tokens) && version >= 2) {
      meta["tokenizer.ggml.tokens"] = readStringArray(fd, parsed.tensorInfoByteRange[0], "tokenizer.ggml.tokens", tokens.length) ?? tokens;
    }
    const dataStart = Number(parsed.tensorDataOffset);
    const alignment = metaInt(meta, "general.alignment", path, false) ?? 32;
    if (dataStart > size) throw new ConvertError(`${path}: tensor data would start at byte ${dataStart} but the file has ${size} bytes (truncated)`);
    const files: FileTensor[] = [];
    const spans: [number, number, string][] = [];
    const seen = new Set<string>();
    for (const info of parsed.tensorInfos) {
      const where = `${path}: tensor ${info.name}`;
      if (seen.has(info.name)) throw new ConvertError(`${where} appears twice`);
      seen.add(info.name);
      const type = ggmlType(info.dtype, where);
      const dims = info.shape.map(Number);
      if (dims.length === 0 || dims.some((d) => !Number.isSafeInteger(d) || d < 1)) throw new ConvertError(`${where}: dimensions [${info.shape.join(", ")}] are not positive sizes`);
      const count = dims.reduce((a, b) => a * b, 1);
      const bytes = tensorBytes(type, dims[0]!, count, where);
      const offset = Number(info.offset);
      if (offset % alignment !== 0) throw new ConvertError(`${where}: data offset ${offset} is not a multiple of the alignment ${alignment}`);
      if (dataStart + offset + bytes > size) {
        throw new ConvertError(`${where}: ${type.name} [${dims.join(", ")}] needs bytes ${dataStart + offset}…${dataStart + offset + bytes} but the file has ${size} bytes (truncated, or the shape is wrong)`);
      }
      spans.push([offset, offset + bytes, info.name]);
      files.push({ name: info.name, dims, type, start: dataStart + offset, bytes });
    }
    spans.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) {
      if (spans[i]![0] < spans[i - 1]![1]) throw new ConvertError(`${path}: tensors ${spans[i - 1]![2]} and ${spans[i]![2]} overlap in the data section`);
    }
    const embed = files.find((f) => f.name === "token_embd.weight");
    if (!embed) throw new ConvertError(`${path}: no token_embd.weight tensor (not a Llama-family model)`);
    const config = configFromGguf(meta, path, embed.dims[1] ?? 0);
    checkShapes(path, config, files);
    const tensors = mapLlamaCppTensors(path, files, { heads: config.num_attention_heads as number, kvHeads: config.num_key_value_heads as number });
    if (!tensors.has("lm_head.weight")) config.tie_word_embeddings = true;
    else config.tie_word_embeddings = false;
    return { path, version, metadata: meta, config, source: new BlockTensorSource(path, fd, tensors), dataBytes: spans.reduce((a, s) => a + s[1] - s[0], 0) };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** The metadata must describe the tensors: otherwise the message names the metadata key, not a graph. */
function checkShapes(path: string, c: HfConfig, files: FileTensor[]): void {
  const D = c.hidden_size as number, hd = c.head_dim as number, V = c.vocab_size as number;
  const expect: Record<string, [number[], string]> = {
    "token_embd.weight": [[D, V], "llama.embedding_length × vocabulary size"],
    "blk.0.attn_q.weight": [[D, (c.num_attention_heads as number) * hd], "llama.embedding_length × attention.head_count·head size"],
    "blk.0.attn_k.weight": [[D, (c.num_key_value_heads as number) * hd], "llama.embedding_length × attention.head_count_kv·head size"],
    "blk.0.ffn_up.weight": [[D, c.intermediate_size as number], "llama.embedding_length × llama.feed_forward_length"],
  };
  for (const f of files) {
    const e = expect[f.name];
    if (e && (f.dims.length !== 2 || f.dims[0] !== e[0][0] || f.dims[1] !== e[0][1])) {
      throw new ConvertError(`${path}: tensor ${f.name} is [${f.dims.join(", ")}] but the metadata implies [${e[0].join(", ")}] (${e[1]})`);
    }
  }
  const layers = c.num_hidden_layers as number;
  const maxLayer = Math.max(-1, ...files.map((f) => Number(/^blk\.(\d+)\./.exec(f.name)?.[1] ?? -1)));
  if (maxLayer + 1 !== layers) throw new ConvertError(`${path}: metadata llama.block_count is ${layers} but the file holds ${maxLayer + 1} blocks of tensors`);
}
