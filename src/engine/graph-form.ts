/**
 * Which KV-cache layout a decoder graph needs, read from the graph itself: a graph with
 * `com.microsoft.GroupQueryAttention` nodes writes each row's new key/value at slot
 * seqlens_k = Σ attention_mask − 1, so its rows must be left-aligned (kv-batch.ts); any other
 * graph of the converter's input contract attends through the mask and takes right-aligned rows.
 *
 * The converter also records the form in config.json (GRAPH_FORM_KEY), but a GQA model exported
 * by another tool (onnxruntime-genai's builder, optimum) has no such key, and batched
 * right-aligned it gives wrong tokens as soon as rows of different lengths share a batch. So the
 * graph decides; the key only speaks where the file cannot be read (then it is logged).
 *
 * Reading: the ONNX protobuf is walked field by field with positional reads, keeping only the
 * nodes' op_type and domain and seeking over everything else, so a graph with its weights inline
 * (up to protobuf's 2 GB) is never read into memory. `onnx-proto` decodes whole messages only,
 * which here would mean the whole file.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";

export type GraphForm = "standard" | "fused";

export interface GraphFormDecision {
  form: GraphForm;
  /** One line: what in the file (or config.json) decided it. */
  because: string;
  /** false: the file could not be scanned and config.json's key decided. */
  scanned: boolean;
}

/** ModelProto.graph, ModelProto.functions; GraphProto.node; FunctionProto.node; NodeProto.op_type, .domain. */
const MODEL_GRAPH = 7, MODEL_FUNCTIONS = 25, GRAPH_NODE = 1, FUNCTION_NODE = 7, NODE_OP_TYPE = 4, NODE_DOMAIN = 7;

class Unreadable extends Error {}

/** Buffered positional reads over one file. */
class FileBytes {
  private readonly buf = Buffer.alloc(1 << 16);
  private start = 0;
  private end = 0;
  readonly size: number;

  constructor(private readonly fd: number) {
    this.size = fstatSync(fd).size;
  }

  byte(pos: number): number {
    if (pos < this.start || pos >= this.end) {
      if (pos >= this.size) throw new Unreadable("truncated protobuf");
      this.start = pos;
      this.end = pos + readSync(this.fd, this.buf, 0, this.buf.length, pos);
    }
    return this.buf[pos - this.start]!;
  }

  text(pos: number, len: number): string {
    if (len > 256) return ""; // no op_type or domain is this long
    const out = Buffer.alloc(len);
    for (let i = 0; i < len; i++) out[i] = this.byte(pos + i);
    return out.toString("utf8");
  }
}

/** Calls `field` for each field of the message in [pos, end); length-delimited ones get their body's range. */
function walk(f: FileBytes, pos: number, end: number, field: (n: number, start: number, stop: number) => void): void {
  const varint = (): number => {
    let v = 0, scale = 1, b: number;
    do {
      if (scale > 2 ** 63) throw new Unreadable("bad varint");
      b = f.byte(pos++);
      v += (b & 0x7f) * scale;
      scale *= 128;
    } while (b & 0x80);
    return v;
  };
  while (pos < end) {
    const tag = varint();
    const wire = tag % 8, n = Math.floor(tag / 8);
    if (wire === 0) varint();
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const len = varint();
      if (pos + len > end) throw new Unreadable("field runs past its message");
      field(n, pos, pos + len);
      pos += len;
    } else throw new Unreadable(`wire type ${wire}`);
  }
  if (pos !== end) throw new Unreadable("field runs past its message");
}

/** `domain:op_type` of every node of the main graph and of the model's local functions. */
export function graphOps(file: string): Set<string> {
  const fd = openSync(file, "r");
  try {
    const f = new FileBytes(fd);
    const ops = new Set<string>();
    const node = (start: number, stop: number) => {
      let op = "", domain = "";
      walk(f, start, stop, (n, s, e) => {
        if (n === NODE_OP_TYPE) op = f.text(s, e - s);
        else if (n === NODE_DOMAIN) domain = f.text(s, e - s);
      });
      ops.add(`${domain}:${op}`);
    };
    walk(f, 0, f.size, (n, s, e) => {
      if (n === MODEL_GRAPH) walk(f, s, e, (gn, gs, ge) => gn === GRAPH_NODE && node(gs, ge));
      else if (n === MODEL_FUNCTIONS) walk(f, s, e, (fn, fs, fe) => fn === FUNCTION_NODE && node(fs, fe));
    });
    return ops;
  } finally {
    closeSync(fd);
  }
}

/** The cache layout `file` needs; `recorded` is config.json's GRAPH_FORM_KEY value, if any. */
export function graphFormOf(file: string, recorded: unknown): GraphFormDecision {
  let ops: Set<string>;
  try {
    ops = graphOps(file);
  } catch (e) {
    const form: GraphForm = recorded === "fused" ? "fused" : "standard";
    return { form, because: `${file} could not be scanned for attention nodes (${e instanceof Error ? e.message : String(e)}); config.json's form (${String(recorded ?? "none")}) used`, scanned: false };
  }
  const gqa = ops.has("com.microsoft:GroupQueryAttention");
  const form: GraphForm = gqa ? "fused" : "standard";
  const what = gqa ? "has com.microsoft GroupQueryAttention nodes (rows left-aligned)" : "has no GroupQueryAttention node (rows right-aligned)";
  const note = recorded === undefined ? "; config.json records no graph form" : recorded !== form ? `; config.json says ${JSON.stringify(recorded)}, the graph wins` : "";
  return { form, because: `${file} ${what}${note}`, scanned: true };
}
