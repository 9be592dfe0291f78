/**
 * How error messages quote a value someone else sent (a JSON-RPC param, a config value): a short,
 * escaped prefix, never the whole thing. A 1 MB string is not echoed back, a 50,000-deep array is
 * rendered without recursing into it, control and bidirectional-override characters cannot reach a
 * terminal or log raw, and numbers JSON cannot carry are shown as they were written (RawNumber).
 */

/** A JSON number whose text a JS number cannot hold (1e309, 9007199254740993): kept as sent, so
 * messages show it faithfully; it serialises back to the same text. See src/api/json-body.ts. */
export class RawNumber {
  constructor(readonly source: string) {}
  toJSON(): unknown {
    // JSON.rawJSON (Bun, JSC): JSON.stringify writes the source text verbatim.
    return (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON(this.source);
  }
  toString(): string {
    return this.source;
  }
}

// C0/C1 controls, DEL, line/paragraph separators, bidi embeddings/overrides/isolates, BOM.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;
const esc = (ch: string) => {
  const c = ch.charCodeAt(0);
  return c <= 0xff ? `\\x${c.toString(16).padStart(2, "0")}` : `\\u${c.toString(16).padStart(4, "0")}`;
};

/** `text` with every unsafe character written as an escape (`\x00`, `\u202e`). */
export function escapeControl(text: string): string {
  return text.replace(UNSAFE, esc);
}

const MAX_DEPTH = 3;

function quote(s: string, max: number): string {
  const cut = s.length > max;
  const body = JSON.stringify(cut ? s.slice(0, max) : s).slice(1, -1);
  return `"${escapeControl(body)}${cut ? `…" (${s.length} chars)` : '"'}`;
}

function render(v: unknown, budget: number, depth: number): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (typeof v === "string") return quote(v, budget);
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (v instanceof RawNumber) return v.source.length > budget ? `${v.source.slice(0, budget)}… (${v.source.length} chars)` : v.source;
  if (v instanceof Uint8Array) return `<${v.length} bytes>`;
  if (Array.isArray(v) || typeof v === "object") {
    const entries: [string | null, unknown][] = Array.isArray(v) ? v.map((x) => [null, x]) : Object.entries(v as object);
    const [open, close] = Array.isArray(v) ? ["[", "]"] : ["{", "}"];
    if (entries.length === 0) return open + close;
    if (depth >= MAX_DEPTH || budget < 4) return `${open}…${close}`;
    let out = open;
    for (const [i, [k, x]] of entries.entries()) {
      const left = budget - out.length;
      if (left < 4) return `${out}…${close}${Array.isArray(v) ? ` (${entries.length} items)` : ""}`;
      out += (i ? ", " : "") + (k === null ? "" : `${quote(k, 20)}: `) + render(x, left, depth + 1);
    }
    return out + close;
  }
  return typeof v;
}

/** A short, escaped rendering of `v` for an error message: at most about `max` characters. */
export function showValue(v: unknown, max = 40): string {
  return render(v, max, 0);
}
