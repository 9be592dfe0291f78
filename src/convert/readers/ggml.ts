/**
 * GGML `ggjt` v3 reader — llama.cpp's model file before GGUF (TheBloke's `*.ggmlv3.q4_0.bin`).
 * Layout (little-endian): u32 magic "ggjt" (0x67676a74), u32 version 3; seven i32 hyper-parameters
 * n_vocab, n_embd, n_mult, n_head, n_layer, n_rot, ftype; n_vocab × (u32 length, piece bytes, f32
 * score); then tensors to the end of the file, each i32 n_dims, i32 name length, i32 ggml type,
 * n_dims × i32 dims (innermost first), the name, padding to a 32-byte file offset, the data.
 * Versions 1 and 2 stored Q4/Q8 blocks differently and are refused. The file records neither the
 * KV-head count (70B files need the seed table's `gqa`), the feed-forward size (taken from the
 * tensor shapes) nor the RMSNorm epsilon and context length (Llama 2's 1e-5 and 4096 by default).
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import type { HfConfig } from "../families/common.ts";
import { ggmlType, tensorBytes } from "../quant/ggml-types.ts";
import { ConvertError } from "../tensors.ts";
import { BlockTensorSource } from "./block-source.ts";
import { mapLlamaCppTensors, type FileTensor } from "./llama-cpp-names.ts";

const MAGIC_GGJT = 0x67676a74;
const OLD_MAGICS: Record<number, string> = { 0x67676d6c: "ggml (unversioned)", 0x67676d66: "ggmf", 0x46554747: "GGUF (use `models import gguf`)" };
const ALIGN = 32;
const MAX_NAME = 512;

export interface GgmlOptions {
  /** Query heads per KV head (the seed table's `gqa`: 8 for Llama-2-70B); default: from the K shape. */
  gqa?: number;
  rmsNormEps?: number;
  contextLength?: number;
}

export interface GgmlModel {
  path: string;
  hparams: { nVocab: number; nEmbd: number; nMult: number; nHead: number; nLayer: number; nRot: number; ftype: number };
  /** Vocabulary pieces as stored (spaces, not ▁) and their scores. */
  pieces: string[];
  scores: number[];
  config: HfConfig;
  source: BlockTensorSource;
  dataBytes: number;
}

class Cursor {
  private buf = Buffer.alloc(1 << 16);
  constructor(private readonly fd: number, readonly size: number, readonly path: string, public pos = 0) {}
  bytes(n: number, what: string): Buffer {
    if (this.pos + n > this.size) throw new ConvertError(`${this.path}: ${what} at byte ${this.pos} runs past the end of the ${this.size}-byte file (truncated)`);
    const b = n <= this.buf.length ? this.buf.subarray(0, n) : Buffer.alloc(n);
    for (let done = 0; done < n; ) done += readSync(this.fd, b, done, n - done, this.pos + done);
    this.pos += n;
    return b;
  }
  i32(what: string): number { return this.bytes(4, what).readInt32LE(0); }
  u32(what: string): number { return this.bytes(4, what).readUInt32LE(0); }
  f32(what: string): number { return this.bytes(4, what).readFloatLE(0); }
}

export function openGgml(path: string, o: GgmlOptions = {}): GgmlModel {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const c = new Cursor(fd, size, path);
    if (size < 8) throw new ConvertError(`${path}: ${size} bytes, too short for a GGML file (magic and version first)`);
    const magic = c.u32("magic");
    if (magic !== MAGIC_GGJT) {
      const old = OLD_MAGICS[magic];
      throw new ConvertError(`${path}: not a GGML ggjt file (magic 0x${magic.toString(16).padStart(8, "0")}${old ? `: ${old}` : ""}; expected "ggjt" v3)`);
    }
    const version = c.u32("version");
    if (version !== 3) throw new ConvertError(`${path}: ggjt version ${version} is not supported (only v3: earlier versions stored Q4/Q8 blocks differently)`);
    const h = {
      nVocab: c.i32("n_vocab"), nEmbd: c.i32("n_embd"), nMult: c.i32("n_mult"), nHead: c.i32("n_head"),
      nLayer: c.i32("n_layer"), nRot: c.i32("n_rot"), ftype: c.i32("ftype"),
    };
    for (const [k, v] of Object.entries(h)) {
      if (k !== "ftype" && (v < 1 || v > 1 << 24)) throw new ConvertError(`${path}: hyper-parameter ${k} is ${v} (not a llama ggjt header)`);
    }
    if (h.nEmbd % h.nHead !== 0) throw new ConvertError(`${path}: n_embd ${h.nEmbd} is not a multiple of n_head ${h.nHead}`);
    const headDim = h.nEmbd / h.nHead;
    if (h.nRot !== headDim) throw new ConvertError(`${path}: n_rot ${h.nRot} differs from the head size ${headDim}`);
    const dec = new TextDecoder("utf-8", { ignoreBOM: true });
    const pieces: string[] = [], scores: number[] = [];
    for (let i = 0; i < h.nVocab; i++) {
      const len = c.u32(`vocabulary entry ${i} length`);
      if (len > 1024) throw new ConvertError(`${path}: vocabulary entry ${i} claims ${len} bytes (corrupt vocabulary)`);
      pieces.push(dec.decode(c.bytes(len, `vocabulary entry ${i}`)));
      scores.push(c.f32(`vocabulary entry ${i} score`));
    }
    const files: FileTensor[] = [];
    let dataBytes = 0;
    while (c.pos < size) {
      const nDims = c.i32("tensor header"), nameLen = c.i32("tensor header"), typeId = c.i32("tensor header");
      if (nDims < 1 || nDims > 3 || nameLen < 1 || nameLen > MAX_NAME) throw new ConvertError(`${path}: tensor header at byte ${c.pos - 12} is corrupt (n_dims ${nDims}, name length ${nameLen})`);
      const dims = Array.from({ length: nDims }, () => c.i32("tensor dims"));
      const name = dec.decode(c.bytes(nameLen, "tensor name"));
      const where = `${path}: tensor ${name}`;
      if (dims.some((d) => d < 1)) throw new ConvertError(`${where}: dimensions [${dims.join(", ")}] are not positive sizes`);
      const type = ggmlType(typeId, where);
      const bytes = tensorBytes(type, dims[0]!, dims.reduce((a, b) => a * b, 1), where);
      c.pos = Math.ceil(c.pos / ALIGN) * ALIGN;
      if (c.pos + bytes > size) throw new ConvertError(`${where}: ${type.name} [${dims.join(", ")}] needs bytes ${c.pos}…${c.pos + bytes} but the file has ${size} bytes (truncated, or the shape is wrong)`);
      if (files.some((f) => f.name === name)) throw new ConvertError(`${where} appears twice`);
      files.push({ name, dims, type, start: c.pos, bytes });
      c.pos += bytes;
      dataBytes += bytes;
    }
    const config = configFromGgml(path, h, files, o);
    const tensors = mapLlamaCppTensors(path, files, { heads: h.nHead, kvHeads: config.num_key_value_heads as number });
    return { path, hparams: h, pieces, scores, config, source: new BlockTensorSource(path, fd, tensors), dataBytes };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

function configFromGgml(path: string, h: GgmlModel["hparams"], files: FileTensor[], o: GgmlOptions): HfConfig {
  const dims = (n: string) => files.find((f) => f.name === n)?.dims;
  const embed = dims("tok_embeddings.weight"), wk = dims("layers.0.attention.wk.weight"), w1 = dims("layers.0.feed_forward.w1.weight");
  if (!embed || !wk || !w1) throw new ConvertError(`${path}: missing ${!embed ? "tok_embeddings.weight" : !wk ? "layers.0.attention.wk.weight" : "layers.0.feed_forward.w1.weight"} (not a llama ggjt model)`);
  if (embed[0] !== h.nEmbd || embed[1] !== h.nVocab) throw new ConvertError(`${path}: tok_embeddings.weight is [${embed.join(", ")}] but the header says n_embd ${h.nEmbd}, n_vocab ${h.nVocab}`);
  const headDim = h.nEmbd / h.nHead;
  const kvHeads = wk[1]! / headDim;
  if (!Number.isInteger(kvHeads) || h.nHead % kvHeads !== 0) throw new ConvertError(`${path}: attention.wk rows ${wk[1]} are not a whole number of ${headDim}-wide KV heads dividing n_head ${h.nHead}`);
  if (o.gqa !== undefined && h.nHead / o.gqa !== kvHeads) {
    throw new ConvertError(`${path}: --gqa ${o.gqa} means ${h.nHead / o.gqa} KV heads, but attention.wk holds ${kvHeads} (gqa ${h.nHead / kvHeads})`);
  }
  const layers = Math.max(-1, ...files.map((f) => Number(/^layers\.(\d+)\./.exec(f.name)?.[1] ?? -1))) + 1;
  if (layers !== h.nLayer) throw new ConvertError(`${path}: header n_layer is ${h.nLayer} but the file holds ${layers} layers of tensors`);
  return {
    model_type: "llama",
    architectures: ["LlamaForCausalLM"],
    hidden_size: h.nEmbd,
    intermediate_size: w1[1],
    num_attention_heads: h.nHead,
    num_key_value_heads: kvHeads,
    head_dim: headDim,
    num_hidden_layers: h.nLayer,
    vocab_size: h.nVocab,
    max_position_embeddings: o.contextLength ?? 4096,
    rms_norm_eps: o.rmsNormEps ?? 1e-5,
    rope_theta: 10000,
    hidden_act: "silu",
    bos_token_id: 1,
    eos_token_id: 2,
    tie_word_embeddings: !files.some((f) => f.name === "output.weight"),
    torch_dtype: "float32",
  };
}
