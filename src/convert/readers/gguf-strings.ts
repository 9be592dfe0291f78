/**
 * Exact re-read of one GGUF string-array metadata value. `@huggingface/gguf` decodes strings with
 * a default TextDecoder, which drops a leading U+FEFF — and Llama-2's vocabulary has the piece
 * "\uFEFF" (id 30143), which would become "" and collide with other pieces. The tokenizer needs
 * every piece exactly, so the array is located by its key in the header (GGUF v2/v3 layout: u64
 * key length, key, u32 type 9 = array, u32 element type 8 = string, u64 count, then u64-length
 * strings) and decoded keeping a BOM. Returns undefined when it is not found as expected.
 */
import { readSync } from "node:fs";

export function readStringArray(fd: number, headerEnd: number, key: string, count: number): string[] | undefined {
  const head = Buffer.alloc(headerEnd);
  readSync(fd, head, 0, headerEnd, 0);
  const k = Buffer.from(key, "utf8");
  const needle = Buffer.alloc(8 + k.length + 16);
  needle.writeBigUInt64LE(BigInt(k.length), 0);
  k.copy(needle, 8);
  needle.writeUInt32LE(9, 8 + k.length);
  needle.writeUInt32LE(8, 12 + k.length);
  needle.writeBigUInt64LE(BigInt(count), 16 + k.length);
  const at = head.indexOf(needle);
  if (at < 0) return undefined;
  const dec = new TextDecoder("utf-8", { ignoreBOM: true });
  const out: string[] = [];
  let o = at + needle.length;
  for (let i = 0; i < count; i++) {
    if (o + 8 > headerEnd) return undefined;
    const len = Number(head.readBigUInt64LE(o));
    if (o + 8 + len > headerEnd) return undefined;
    out.push(dec.decode(head.subarray(o + 8, o + 8 + len)));
    o += 8 + len;
  }
  return out;
}
