/**
 * What every reader hands the graph writers: tensors under their Hugging Face names, read one at a
 * time as fp32. Writers ask for a tensor with the shape the architecture needs; a missing tensor or
 * a wrong shape is a ConvertError naming it, raised before anything is written as a model.
 */

import type { QBits, QMatrix } from "../engine/models/quantize-nbits.ts";

/** A conversion problem the user can fix (bad checkpoint, unsupported config): one line, exit 2. */
export class ConvertError extends Error {
  override name = "ConvertError";
}

export interface TensorInfo {
  /** Stored dtype as the source names it (F32, F16, BF16). */
  dtype: string;
  shape: number[];
}

export interface TensorSource {
  names(): string[];
  info(name: string): TensorInfo | undefined;
  /** The tensor widened to fp32 (a fresh array the caller may keep or drop). */
  read(name: string): Float32Array;
  /**
   * Optional: a [out, in] matrix as MatMulNBits blocks, when the stored format is exactly that
   * (GGUF/GGML Q4_0, Q8_0), so quantised variants take it without requantising; else undefined.
   */
  nbits?(name: string, bits: QBits): QMatrix | undefined;
}

/** A source over arrays already in memory (the llama2.c importer, tests). */
export function memorySource(tensors: Map<string, { shape: number[]; data: Float32Array }>): TensorSource {
  return {
    names: () => [...tensors.keys()],
    info: (n) => (tensors.has(n) ? { dtype: "F32", shape: tensors.get(n)!.shape } : undefined),
    read: (n) => {
      const t = tensors.get(n);
      if (!t) throw new ConvertError(`checkpoint has no tensor ${n}`);
      return t.data;
    },
  };
}

/** Shape-checked access for writers, counting what was read for progress reports. */
export class Weights {
  readBytes = 0;
  /** Tensor reads a graph will make and their fp32 bytes, as counted by `check` in a dry run. */
  checks = 0;
  checkedBytes = 0;
  constructor(private readonly src: TensorSource, private readonly onRead?: (name: string, bytes: number) => void) {}

  has(name: string): boolean {
    return this.src.info(name) !== undefined;
  }

  shape(name: string): number[] {
    const i = this.src.info(name);
    if (!i) throw new ConvertError(`checkpoint is missing tensor ${name}`);
    return i.shape;
  }

  /** Checks presence and shape against what the config implies, then reads. */
  get(name: string, shape: number[]): Float32Array {
    const got = this.shape(name);
    if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) {
      throw new ConvertError(`tensor ${name} has shape [${got.join(", ")}] but config.json implies [${shape.join(", ")}]`);
    }
    const data = this.src.read(name);
    this.readBytes += data.byteLength;
    this.onRead?.(name, data.byteLength);
    return data;
  }

  /**
   * Called after each linear layer is quantised: its blocks and the fp32 weights they were made
   * from (undefined when the source's own blocks were taken as they are).
   */
  onQuantized?: (name: string, q: QMatrix, from: Float32Array | undefined) => void;

  /** The source's own MatMulNBits blocks for this matrix, shape-checked, or undefined. */
  nbits(name: string, shape: [number, number], bits: QBits): QMatrix | undefined {
    const got = this.src.info(name)?.shape;
    // Anything unusual falls through to get(), which reports it.
    if (!this.src.nbits || got?.length !== 2 || got[0] !== shape[0] || got[1] !== shape[1]) return undefined;
    const q = this.src.nbits(name, bits);
    if (q) {
      this.readBytes += 4 * shape[0] * shape[1];
      this.onRead?.(name, 4 * shape[0] * shape[1]);
    }
    return q;
  }

  /** Checks a tensor exists with this shape without reading it (validation pass). */
  check(name: string, shape: number[]): void {
    const got = this.shape(name);
    this.checks++;
    this.checkedBytes += 4 * shape.reduce((a, b) => a * b, 1);
    if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) {
      throw new ConvertError(`tensor ${name} has shape [${got.join(", ")}] but config.json implies [${shape.join(", ")}]`);
    }
  }
}
