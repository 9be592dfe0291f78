/**
 * A non-allocating walk over MessagePack bytes that rejects what would make a decoder allocate far
 * more than the input: a container, string, binary or extension whose claimed size exceeds the bytes
 * that are left (the 5 bytes `dd 07 ff ff ff` claim 2^27−1 array elements, and `@msgpack/msgpack`
 * allocates them before noticing the data is missing), nesting deeper than MAX_DEPTH, or more than
 * MAX_ITEMS values. The payloads we read (`InputSource`, `OutputDestination`, spec §6) are a handful
 * of values at most three levels deep, so these limits never reject a real one.
 */

/** Deepest container nesting accepted (real payloads: 3). */
export const MAX_DEPTH = 32;
/** Most values accepted in one payload (real payloads: under 10; a string of any length is one). */
export const MAX_ITEMS = 4096;

/** Bytes following the type byte that hold a length (str/bin/ext/array/map) or a fixed-size body. */
function head(t: number): { fixed: number } | { lenBytes: number; kind: "bytes" | "ext" | "array" | "map" } | null {
  if (t <= 0x7f || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) return { fixed: 0 };
  if (t === 0xc1) return null; // never used
  switch (t) {
    case 0xc4: case 0xd9: return { lenBytes: 1, kind: "bytes" };
    case 0xc5: case 0xda: return { lenBytes: 2, kind: "bytes" };
    case 0xc6: case 0xdb: return { lenBytes: 4, kind: "bytes" };
    case 0xc7: return { lenBytes: 1, kind: "ext" };
    case 0xc8: return { lenBytes: 2, kind: "ext" };
    case 0xc9: return { lenBytes: 4, kind: "ext" };
    case 0xca: return { fixed: 4 };
    case 0xcb: return { fixed: 8 };
    case 0xcc: case 0xd0: return { fixed: 1 };
    case 0xcd: case 0xd1: return { fixed: 2 };
    case 0xce: case 0xd2: return { fixed: 4 };
    case 0xcf: case 0xd3: return { fixed: 8 };
    case 0xd4: return { fixed: 2 }; // fixext 1: type byte + 1
    case 0xd5: return { fixed: 3 };
    case 0xd6: return { fixed: 5 };
    case 0xd7: return { fixed: 9 };
    case 0xd8: return { fixed: 17 };
    case 0xdc: return { lenBytes: 2, kind: "array" };
    case 0xdd: return { lenBytes: 4, kind: "array" };
    case 0xde: return { lenBytes: 2, kind: "map" };
    case 0xdf: return { lenBytes: 4, kind: "map" };
  }
  return null;
}

/** Null when `bytes` hold exactly one well-formed value within the limits, else why not. */
export function scanMsgpack(bytes: Uint8Array): string | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Values still expected by each open container (innermost last); the root expects one.
  const pending: number[] = [1];
  let pos = 0;
  let items = 0;
  const uint = (at: number, n: number) => (n === 1 ? view.getUint8(at) : n === 2 ? view.getUint16(at) : view.getUint32(at));
  while (pending.length > 0) {
    if (pending[pending.length - 1] === 0) {
      pending.pop();
      continue;
    }
    pending[pending.length - 1]!--;
    if (pos >= bytes.length) return `data ends at byte ${pos} inside a value`;
    if (++items > MAX_ITEMS) return `more than ${MAX_ITEMS} values`;
    const t = bytes[pos++]!;
    let count = -1; // elements of a container opened by this value
    if (t >= 0x80 && t <= 0x8f) count = (t & 0x0f) * 2;
    else if (t >= 0x90 && t <= 0x9f) count = t & 0x0f;
    else if (t >= 0xa0 && t <= 0xbf) pos += t & 0x1f;
    else {
      const h = head(t);
      if (!h) return `type byte 0x${t.toString(16)} at ${pos - 1} is not MessagePack`;
      if ("fixed" in h) pos += h.fixed;
      else {
        if (pos + h.lenBytes > bytes.length) return `data ends inside a length at byte ${pos}`;
        const len = uint(pos, h.lenBytes);
        pos += h.lenBytes;
        if (h.kind === "bytes") pos += len;
        else if (h.kind === "ext") pos += 1 + len;
        else count = h.kind === "map" ? len * 2 : len;
      }
    }
    if (pos > bytes.length) return `a value claims ${pos - bytes.length} byte(s) beyond the end`;
    if (count > 0) {
      // Every element takes at least one byte: a claim beyond the rest is a lie, caught before
      // anything is allocated for it.
      if (count > bytes.length - pos) return `a container claims ${count} elements with ${bytes.length - pos} byte(s) left`;
      if (pending.length > MAX_DEPTH) return `nested deeper than ${MAX_DEPTH}`;
      pending.push(count);
    }
  }
  if (pos !== bytes.length) return `${bytes.length - pos} trailing byte(s)`;
  return null;
}
