/**
 * A TensorSource over a llama.cpp-format file (GGUF or GGML `ggjt`): every tensor is a byte span
 * of one ggml type, already mapped to its Hugging Face name and row-major shape by the format
 * reader. A tensor is read from disk with one positioned read when the writer asks for it, its
 * rows put back in Hugging Face order where llama.cpp's converter permuted them (Q/K), and then
 * either dequantized to fp32 (`read`) or, where the block format is MatMulNBits' own, repacked
 * without loss (`nbits`). Memory holds one tensor at a time.
 */
import { closeSync, readSync } from "node:fs";
import type { QBits, QMatrix } from "../../engine/models/quantize-nbits.ts";
import { dequantize } from "../quant/dequantize.ts";
import type { GgmlType } from "../quant/ggml-types.ts";
import { canRepack, repackNBits } from "../quant/nbits-repack.ts";
import { ConvertError, type TensorInfo, type TensorSource } from "../tensors.ts";

export interface BlockTensor {
  /** Name in the file (for messages). */
  fileName: string;
  type: GgmlType;
  /** Hugging Face row-major shape: [rows, rowLength] for matrices. */
  shape: number[];
  /** Absolute byte position in the file and byte length. */
  start: number;
  bytes: number;
  /**
   * llama.cpp stores Llama Q/K rows per head in interleaved-pair RoPE order; `heads` undoes it
   * (rows at in-head position 2i+t move to t·headDim/2 + i, the inverse of its `permute`).
   */
  unpermuteHeads?: number;
}

/** Undo llama.cpp's Q/K permutation on whole rows of bytes (any block type: blocks run along rows). */
export function unpermuteRows(raw: Uint8Array, rows: number, heads: number): Uint8Array {
  const rowBytes = raw.byteLength / rows, headDim = rows / heads, half = headDim / 2;
  const out = new Uint8Array(raw.byteLength);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let t = 0; t < 2; t++) {
        const src = (h * headDim + 2 * i + t) * rowBytes;
        out.set(raw.subarray(src, src + rowBytes), (h * headDim + t * half + i) * rowBytes);
      }
    }
  }
  return out;
}

export class BlockTensorSource implements TensorSource {
  constructor(private readonly path: string, private fd: number | undefined, private readonly tensors: Map<string, BlockTensor>) {}

  names(): string[] {
    return [...this.tensors.keys()];
  }

  info(name: string): TensorInfo | undefined {
    const t = this.tensors.get(name);
    return t && { dtype: t.type.name, shape: t.shape };
  }

  /** The stored ggml type of a tensor (conversion log, repack decisions). */
  typeOf(name: string): GgmlType | undefined {
    return this.tensors.get(name)?.type;
  }

  private raw(name: string): { t: BlockTensor; raw: Uint8Array } {
    const t = this.tensors.get(name);
    if (!t) throw new ConvertError(`${this.path} has no tensor for ${name}`);
    if (this.fd === undefined) throw new Error(`${this.path} is closed`);
    const raw = new Uint8Array(t.bytes);
    for (let done = 0; done < t.bytes; ) {
      const n = readSync(this.fd, raw, done, t.bytes - done, t.start + done);
      if (n === 0) throw new ConvertError(`${this.path}: tensor ${t.fileName} ends past the end of the file (truncated)`);
      done += n;
    }
    return { t, raw: t.unpermuteHeads ? unpermuteRows(raw, t.shape[0]!, t.unpermuteHeads) : raw };
  }

  read(name: string): Float32Array {
    const { t, raw } = this.raw(name);
    return dequantize(t.type, raw, t.shape.reduce((a, b) => a * b, 1));
  }

  /** MatMulNBits blocks equal to the stored ones, or undefined when the type does not map exactly. */
  nbits(name: string, bits: QBits): QMatrix | undefined {
    const t = this.tensors.get(name);
    if (!t || t.shape.length !== 2) return undefined;
    if (!canRepack(t.type, bits) || t.shape[1]! % 32 !== 0) return undefined;
    const { raw } = this.raw(name);
    return repackNBits(t.type, raw, t.shape[0]!, t.shape[1]!, bits);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
