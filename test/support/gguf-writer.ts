/**
 * Test-only GGUF writer (versions 2 and 3, little-endian), written from the GGUF specification:
 * magic "GGUF", u32 version, u64 tensor count, u64 metadata count; metadata (u64-length string key,
 * u32 value type, value); tensor infos (name, u32 n_dims, u64 dims innermost first, u32 ggml type,
 * u64 offset into the data section); padding to `general.alignment` (default 32); tensor data, each
 * tensor starting at an aligned offset. Independent of the reader under test.
 */
import { writeFileSync } from "node:fs";

export type MetaValue =
  | { t: "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "f32" | "u64" | "i64" | "f64"; v: number | bigint }
  | { t: "bool"; v: boolean }
  | { t: "str"; v: string }
  | { t: "arr"; of: "str"; v: string[] }
  | { t: "arr"; of: "f32" | "i32" | "u32"; v: number[] };

export interface GgufTensor {
  name: string;
  /** ggml order: innermost (row length) first. */
  dims: number[];
  type: number;
  bytes: Uint8Array;
}

const TYPE_ID = { u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, str: 8, arr: 9, u64: 10, i64: 11, f64: 12 } as const;

class Out {
  private parts: Uint8Array[] = [];
  length = 0;
  push(b: Uint8Array) { this.parts.push(b); this.length += b.byteLength; }
  num(kind: keyof typeof TYPE_ID, v: number | bigint | boolean) {
    const size = { u8: 1, i8: 1, bool: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, u64: 8, i64: 8, f64: 8, str: 0, arr: 0 }[kind];
    const dv = new DataView(new ArrayBuffer(size));
    switch (kind) {
      case "u8": case "bool": dv.setUint8(0, Number(v)); break;
      case "i8": dv.setInt8(0, Number(v)); break;
      case "u16": dv.setUint16(0, Number(v), true); break;
      case "i16": dv.setInt16(0, Number(v), true); break;
      case "u32": dv.setUint32(0, Number(v), true); break;
      case "i32": dv.setInt32(0, Number(v), true); break;
      case "f32": dv.setFloat32(0, Number(v), true); break;
      case "f64": dv.setFloat64(0, Number(v), true); break;
      case "u64": dv.setBigUint64(0, BigInt(v), true); break;
      case "i64": dv.setBigInt64(0, BigInt(v), true); break;
    }
    this.push(new Uint8Array(dv.buffer));
  }
  str(s: string) {
    const b = new TextEncoder().encode(s);
    this.num("u64", b.byteLength);
    this.push(b);
  }
  concat(): Uint8Array {
    const all = new Uint8Array(this.length);
    let o = 0;
    for (const p of this.parts) { all.set(p, o); o += p.byteLength; }
    return all;
  }
}

export function encodeGguf(metadata: Record<string, MetaValue>, tensors: GgufTensor[], version: 2 | 3 = 3): Uint8Array {
  const alignment = metadata["general.alignment"] ? Number(metadata["general.alignment"].v) : 32;
  const o = new Out();
  o.push(new TextEncoder().encode("GGUF"));
  o.num("u32", version);
  o.num("u64", tensors.length);
  o.num("u64", Object.keys(metadata).length);
  for (const [key, value] of Object.entries(metadata)) {
    o.str(key);
    o.num("u32", TYPE_ID[value.t]);
    if (value.t === "str") o.str(value.v);
    else if (value.t === "arr") {
      o.num("u32", TYPE_ID[value.of]);
      o.num("u64", value.v.length);
      for (const x of value.v) value.of === "str" ? o.str(x as string) : o.num(value.of, x as number);
    } else o.num(value.t, value.v);
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    offsets.push(offset);
    offset += t.bytes.byteLength;
    offset = Math.ceil(offset / alignment) * alignment;
  }
  tensors.forEach((t, i) => {
    o.str(t.name);
    o.num("u32", t.dims.length);
    for (const d of t.dims) o.num("u64", d);
    o.num("u32", t.type);
    o.num("u64", offsets[i]!);
  });
  const pad = (Math.ceil(o.length / alignment) * alignment) - o.length;
  o.push(new Uint8Array(pad));
  tensors.forEach((t, i) => {
    o.push(t.bytes);
    const end = offsets[i]! + t.bytes.byteLength;
    const next = i + 1 < tensors.length ? offsets[i + 1]! : end;
    o.push(new Uint8Array(next - end));
  });
  return o.concat();
}

export function writeGguf(path: string, metadata: Record<string, MetaValue>, tensors: GgufTensor[], version: 2 | 3 = 3): Uint8Array {
  const bytes = encodeGguf(metadata, tensors, version);
  writeFileSync(path, bytes);
  return bytes;
}
