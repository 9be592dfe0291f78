/**
 * Writes a large BF16 safetensors checkpoint tensor by tensor (never held whole in memory), with
 * the config and tokenizer files beside it, for the memory test and the conversion benchmark.
 * Contents are a fixed block of small bf16 values rotated per tensor: numerics do not matter there.
 */
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { hfParameters, type Config } from "./hf-checkpoints.ts";
import { syntheticVocab } from "./random-llama.ts";
import { llama2cToHfTokenizer, llama2cTokenizerConfig } from "../../src/engine/models/tokenizer-llama2c.ts";

/** Returns the safetensors file's size in bytes. */
export function writeStreamingCheckpoint(dir: string, config: Config): number {
  mkdirSync(dir, { recursive: true });
  const size = writeStreamingSafetensors(join(dir, "model.safetensors"), hfParameters(config));
  writeFileSync(join(dir, "config.json"), JSON.stringify(config));
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(llama2cToHfTokenizer(syntheticVocab(config.vocab_size))));
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify(llama2cTokenizerConfig(config.max_position_embeddings ?? 512)));
  return size;
}

/** One BF16 safetensors file of these [name, shape] tensors, written tensor by tensor; its size. */
export function writeStreamingSafetensors(file: string, params: readonly (readonly [string, number[], ...unknown[]])[]): number {
  const header: Record<string, unknown> = {};
  let off = 0;
  for (const [name, shape] of params) {
    const bytes = 2 * shape.reduce((a, b) => a * b, 1);
    header[name] = { dtype: "BF16", shape, data_offsets: [off, off + bytes] };
    off += bytes;
  }
  const h = new TextEncoder().encode(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.byteLength));
  const fd = openSync(file, "w");
  writeSync(fd, len);
  writeSync(fd, h);
  // ±(1 … 2)·2^-7 with varying mantissas and signs.
  const block = Uint16Array.from({ length: 1 << 20 }, (_, i) => (0x3c00 + ((i * 2654435761) >>> 24)) | (i & 1 ? 0x8000 : 0));
  const bytes = new Uint8Array(block.buffer);
  params.forEach(([, shape], t) => {
    let n = shape.reduce((a, b) => a * b, 1);
    const start = (t * 4096) % (block.length / 2);
    while (n > 0) {
      const take = Math.min(n, block.length - start);
      writeSync(fd, bytes, start * 2, take * 2);
      n -= take;
    }
  });
  closeSync(fd);
  return 8 + h.byteLength + off;
}
