/**
 * safetensors reader (single `model.safetensors` or sharded through `model.safetensors.index.json`).
 * Only headers are parsed up front; each tensor is read from disk on demand with one positioned
 * read and widened to fp32, so a conversion holds one tensor at a time, never the checkpoint.
 * Every header is checked against its file before any tensor is used (dtype known, shape × dtype
 * size = byte span, spans inside the file and not overlapping), so a truncated or lying file fails
 * with a line naming the file and tensor instead of producing garbage weights.
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync } from "node:fs";
import { join } from "node:path";
import { fromFloat16Bits } from "../engine/models/float16.ts";
import { ConvertError, type TensorInfo, type TensorSource } from "./tensors.ts";

const DTYPE_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };
/**
 * Integer buffers some checkpoints carry beside the weights (older transformers saved CLIP's
 * `text_model.embeddings.position_ids` as I64, e.g. in SD 1.5's text_encoder): validated like any
 * tensor so the file is accepted, but never widened — a writer asking for one gets a clear error.
 */
const INT_BYTES: Record<string, number> = { I64: 8, I32: 4 };
/** Header JSON larger than this is not a real checkpoint (the format itself caps it at 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

interface Entry extends TensorInfo {
  file: string;
  /** Absolute byte position of the data in `file`. */
  start: number;
  bytes: number;
}

/** fp16 bit pattern → fp32, by table: a 7B checkpoint has billions of values. */
let f16Table: Float32Array | undefined;
function halfTable(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) f16Table[i] = fromFloat16Bits(i);
  }
  return f16Table;
}

function parseHeader(path: string, fd: number, into: Map<string, Entry>, only?: Set<string>): void {
  const size = fstatSync(fd).size;
  const name = path.split("/").pop()!;
  if (size < 8) throw new ConvertError(`${path}: ${size} bytes, too short for a safetensors file (8-byte header length first)`);
  const lenBuf = Buffer.alloc(8);
  readSync(fd, lenBuf, 0, 8, 0);
  const headerLen = Number(lenBuf.readBigUInt64LE(0));
  if (headerLen > MAX_HEADER_BYTES || 8 + headerLen > size) {
    throw new ConvertError(`${path}: header length ${headerLen} does not fit the ${size}-byte file (truncated or not safetensors)`);
  }
  const hbuf = Buffer.alloc(headerLen);
  readSync(fd, hbuf, 0, headerLen, 8);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(hbuf.toString("utf8"));
  } catch {
    throw new ConvertError(`${path}: header is not valid JSON (not a safetensors file)`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) throw new ConvertError(`${path}: header is not a JSON object`);
  const dataStart = 8 + headerLen, dataBytes = size - dataStart;
  const spans: [number, number, string][] = [];
  for (const [tensor, raw] of Object.entries(header)) {
    if (tensor === "__metadata__") continue;
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const where = `${name}: tensor ${tensor}`;
    if (typeof e?.dtype !== "string" || !Array.isArray(e.shape) || !Array.isArray(e.data_offsets) || e.data_offsets.length !== 2) {
      throw new ConvertError(`${where}: header entry needs dtype, shape and data_offsets [begin, end]`);
    }
    const width = DTYPE_BYTES[e.dtype] ?? INT_BYTES[e.dtype];
    if (!width) throw new ConvertError(`${where}: dtype ${e.dtype} is not supported (expected F32, F16 or BF16)`);
    const shape = e.shape as unknown[];
    if (!shape.every((d) => Number.isInteger(d) && (d as number) >= 0)) throw new ConvertError(`${where}: shape ${JSON.stringify(shape)} is not a list of sizes`);
    const [begin, end] = e.data_offsets as number[];
    if (!Number.isInteger(begin) || !Number.isInteger(end) || begin! < 0 || end! < begin!) throw new ConvertError(`${where}: data_offsets ${JSON.stringify(e.data_offsets)} are not a byte range`);
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if ((end! - begin!) !== count * width) {
      throw new ConvertError(`${where}: data_offsets span ${end! - begin!} bytes but ${e.dtype} [${shape.join(", ")}] needs ${count * width}`);
    }
    if (end! > dataBytes) {
      throw new ConvertError(`${where}: data ends at byte ${dataStart + end!} but the file has ${size} bytes (truncated)`);
    }
    if (only && !only.has(tensor)) continue;
    if (into.has(tensor)) throw new ConvertError(`${where}: tensor appears in two shards (${into.get(tensor)!.file.split("/").pop()} and ${name})`);
    spans.push([begin!, end!, tensor]);
    into.set(tensor, { dtype: e.dtype, shape: shape as number[], file: path, start: dataStart + begin!, bytes: end! - begin! });
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i]![0] < spans[i - 1]![1]) throw new ConvertError(`${name}: tensors ${spans[i - 1]![2]} and ${spans[i]![2]} overlap in the data section`);
  }
}

/** Which safetensors files a Hugging Face folder holds, and which tensors each one is meant to carry. */
function shardsOf(dir: string, base: string): Map<string, Set<string> | undefined> {
  const index = join(dir, `${base}.safetensors.index.json`);
  if (existsSync(index)) {
    let weightMap: Record<string, unknown>;
    try {
      weightMap = JSON.parse(readFileSync(index, "utf8")).weight_map;
    } catch {
      throw new ConvertError(`${index} is not valid JSON`);
    }
    if (typeof weightMap !== "object" || weightMap === null) throw new ConvertError(`${index} has no "weight_map" object`);
    const shards = new Map<string, Set<string>>();
    for (const [tensor, file] of Object.entries(weightMap)) {
      if (typeof file !== "string" || file.includes("/") || file.includes("\\")) throw new ConvertError(`${index}: tensor ${tensor} maps to ${JSON.stringify(file)}, expected a shard file name`);
      if (!shards.has(file)) shards.set(file, new Set());
      shards.get(file)!.add(tensor);
    }
    for (const file of shards.keys()) {
      if (!existsSync(join(dir, file))) throw new ConvertError(`${index} names shard ${file}, which is missing from ${dir}`);
    }
    return shards;
  }
  if (existsSync(join(dir, `${base}.safetensors`))) return new Map([[`${base}.safetensors`, undefined]]);
  throw new ConvertError(`${dir} has no ${base}.safetensors or ${base}.safetensors.index.json`);
}

/**
 * Opens every shard's header; tensors are read later, one at a time. `base` is the file stem:
 * `model` for transformers checkpoints, `diffusion_pytorch_model` for diffusers' unet/ and vae/.
 */
export function openSafetensors(dir: string, base = "model"): TensorSource & { close(): void } {
  const entries = new Map<string, Entry>();
  const fds = new Map<string, number>();
  try {
    for (const [file, tensors] of shardsOf(dir, base)) {
      const path = join(dir, file);
      const fd = openSync(path, "r");
      fds.set(path, fd);
      parseHeader(path, fd, entries, tensors);
      for (const t of tensors ?? []) {
        if (!entries.has(t)) throw new ConvertError(`${base}.safetensors.index.json places tensor ${t} in ${file}, but that shard does not hold it`);
      }
    }
  } catch (e) {
    for (const fd of fds.values()) closeSync(fd);
    throw e;
  }
  return {
    names: () => [...entries.keys()],
    info: (name) => entries.get(name),
    read(name: string): Float32Array {
      const e = entries.get(name);
      if (!e) throw new ConvertError(`checkpoint has no tensor ${name}`);
      if (!DTYPE_BYTES[e.dtype]) throw new ConvertError(`${e.file}: tensor ${name} is ${e.dtype}, expected a float tensor (F32, F16 or BF16)`);
      const raw = new Uint8Array(e.bytes);
      const fd = fds.get(e.file)!;
      for (let done = 0; done < e.bytes; ) {
        const n = readSync(fd, raw, done, e.bytes - done, e.start + done);
        if (n === 0) throw new ConvertError(`${e.file}: tensor ${name} ends past the end of the file (truncated)`);
        done += n;
      }
      return widen(raw, e.dtype);
    },
    close() {
      for (const fd of fds.values()) closeSync(fd);
      fds.clear();
    },
  };
}

function widen(raw: Uint8Array, dtype: string): Float32Array {
  if (dtype === "F32") return new Float32Array(raw.buffer, 0, raw.byteLength / 4);
  const bits = new Uint16Array(raw.buffer, 0, raw.byteLength / 2);
  const out = new Float32Array(bits.length);
  if (dtype === "BF16") {
    // bf16 is the top half of an fp32: shifting the bits back up is exact.
    const u = new Uint32Array(out.buffer);
    for (let i = 0; i < bits.length; i++) u[i] = bits[i]! << 16;
  } else {
    const t = halfTable();
    for (let i = 0; i < bits.length; i++) out[i] = t[bits[i]!]!;
  }
  return out;
}
