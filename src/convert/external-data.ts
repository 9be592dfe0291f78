/**
 * Side files for ONNX initializers, written as the graph is built. transformers.js names the chunks
 * of `model.onnx` as `model.onnx_data`, `model.onnx_data_1`, … (and is told their count through
 * config.json's `use_external_data_format`); a chunk is closed before it would pass `maxChunkBytes`
 * (default 1.5 GiB: browsers and onnxruntime-web cannot hold a 2 GB ArrayBuffer). A single tensor
 * larger than the limit gets a chunk of its own, since ONNX cannot split one tensor across files.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { EXTERNAL_ALIGN, type ExternalSink } from "../engine/models/onnx-graph.ts";

export const DEFAULT_MAX_CHUNK_BYTES = 1536 * 1024 * 1024;

export function chunkName(modelFile: string, i: number): string {
  return `${modelFile}_data${i === 0 ? "" : `_${i}`}`;
}

export class ChunkedExternalData implements ExternalSink {
  private fd: number | undefined;
  private offset = 0;
  /** Number of chunk files opened so far. */
  chunks = 0;
  bytes = 0;

  constructor(private readonly dir: string, private readonly modelFile: string, private readonly maxChunkBytes = DEFAULT_MAX_CHUNK_BYTES) {}

  write(data: Uint8Array): { location: string; offset: number } {
    let pad = (EXTERNAL_ALIGN - (this.offset % EXTERNAL_ALIGN)) % EXTERNAL_ALIGN;
    if (this.fd === undefined || (this.offset > 0 && this.offset + pad + data.byteLength > this.maxChunkBytes)) {
      this.close();
      this.fd = openSync(join(this.dir, chunkName(this.modelFile, this.chunks)), "w");
      this.chunks++;
      this.offset = 0;
      pad = 0;
    }
    if (pad) this.offset += writeAll(this.fd, new Uint8Array(pad));
    const at = this.offset;
    this.offset += writeAll(this.fd, data);
    this.bytes += data.byteLength;
    return { location: chunkName(this.modelFile, this.chunks - 1), offset: at };
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

function writeAll(fd: number, data: Uint8Array): number {
  for (let done = 0; done < data.byteLength; ) done += writeSync(fd, data, done, data.byteLength - done);
  return data.byteLength;
}
