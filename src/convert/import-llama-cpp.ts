/**
 * `models import gguf|ggml`: a llama.cpp model file → transformers.js folder, through the same
 * family writers as `models convert`. The reader (gguf.ts / ggml.ts) yields tensors under Hugging
 * Face names + config.json; the tokenizer comes from the GGUF metadata or, when given (and always
 * for GGML files, which carry only a bare vocabulary), from a Hugging Face tokenizer folder,
 * checked piece by piece against the file's vocabulary. Quantised variants take Q4_0/Q8_0 blocks
 * as they are; every other pairing is dequantised and requantised, and the error against the
 * dequantised weights is reported per variant.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { dequantizeNBits, type QMatrix } from "../engine/models/quantize-nbits.ts";
import type { HfConfig } from "./families/common.ts";
import type { AccuracyLevel, Variant } from "./ops.ts";
import type { BlockTensorSource } from "./readers/block-source.ts";
import { openGgml } from "./readers/ggml.ts";
import { openGguf } from "./readers/gguf.ts";
import { SPEC_STOP_TOKENS, tokenizerFromGguf } from "./readers/gguf-tokenizer.ts";
import { ConvertError } from "./tensors.ts";
import { writeConvertedFolder, type FolderResult, type Progress } from "./write-folder.ts";

/** Tokenizer-folder files copied verbatim when present. */
const TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json", "chat_template.jinja", "added_tokens.json", "tokenizer.model"];

export interface LlamaCppImportOptions {
  file: string;
  out: string;
  dtypes?: readonly Variant[];
  /** MatMulNBits accuracy_level of the quantised variants (converter default when absent). */
  accuracyLevel?: AccuracyLevel;
  /** A Hugging Face tokenizer folder (tokenizer.json …) to use instead of the file's vocabulary. */
  tokenizer?: string;
  force?: boolean;
  onProgress?: (p: Progress) => void;
  /** Conversion log lines (stderr in the CLI). */
  log?: (line: string) => void;
}

export interface RequantStats {
  variant: Variant;
  /** Linear layers taken exactly from the file's blocks. */
  exact: number;
  /** Linear layers dequantised and requantised. */
  requantized: number;
  maxAbs: number;
  /** RMS of (requantised − dequantised) over all requantised weights, and that relative to RMS of the weights. */
  rms: number;
  relRms: number;
}

export interface LlamaCppImportResult extends FolderResult {
  format: "gguf" | "ggml";
  /** Stored ggml type → tensor count. */
  sourceTypes: Record<string, number>;
  /** Tensor-data bytes in the file. */
  dataBytes: number;
  seconds: number;
  quantization: RequantStats[];
  tokenizerSource: string;
}

/** Default variants from what the file mostly stores: its 8-bit, 4-bit or float type. */
function defaultVariants(source: BlockTensorSource): Variant[] {
  const count: Record<string, number> = {};
  for (const n of source.names()) if (n.endsWith("_proj.weight")) { const t = source.typeOf(n)!.name; count[t] = (count[t] ?? 0) + 1; }
  const top = Object.entries(count).sort((a, b) => b[1] - a[1])[0]?.[0] ?? "F32";
  if (top === "F32") return ["fp32"];
  if (top === "F16" || top === "BF16") return ["fp16"];
  if (top === "Q8_0") return ["q8"];
  return ["q4"];
}

function readJson(path: string): Record<string, unknown> {
  try {
    const v = JSON.parse(readFileSync(path, "utf8"));
    if (typeof v === "object" && v !== null && !Array.isArray(v)) return v;
  } catch { /* reported below */ }
  throw new ConvertError(`${path} is not a JSON object`);
}

/** Piece → id of a tokenizer.json (model vocab plus added tokens). */
function tokenizerVocab(json: Record<string, unknown>): Map<string, number> {
  const model = json.model as { vocab?: unknown } | undefined;
  const vocab = new Map<string, number>();
  if (model && typeof model.vocab === "object" && model.vocab !== null && !Array.isArray(model.vocab)) {
    for (const [p, id] of Object.entries(model.vocab as Record<string, number>)) vocab.set(p, id);
  }
  for (const t of (json.added_tokens as { content: string; id: number }[] | undefined) ?? []) vocab.set(t.content, t.id);
  return vocab;
}

/**
 * Does a model file's piece name the same token as a tokenizer.json piece? GGUF stores pieces as
 * SentencePiece does; llama.cpp's ggjt converter wrote spaces for `▁`, the raw byte for `<0xNN>`,
 * "" for control and " ⁇ " for the unknown token.
 */
function samePiece(file: string, hf: string | undefined): boolean {
  if (hf === undefined) return false;
  if (file === hf || file === hf.replaceAll("\u2581", " ")) return true;
  const byte = /^<0x([0-9A-F]{2})>$/.exec(hf);
  if (byte) { const b = parseInt(byte[1]!, 16); return file === (b < 0x80 ? String.fromCharCode(b) : "\ufffd"); }
  return file === "" || file === " \u2047 ";
}

interface TokenizerChoice {
  files: Record<string, Uint8Array | string>;
  stops: number[];
  source: string;
}

function tokenizerFromFolder(dir: string, config: HfConfig, filePieces: string[] | undefined, log: (l: string) => void): TokenizerChoice {
  const d = resolve(dir);
  if (!existsSync(join(d, "tokenizer.json"))) throw new ConvertError(`${d} has no tokenizer.json (--tokenizer needs a Hugging Face tokenizer folder)`);
  const files: Record<string, Uint8Array> = {};
  for (const f of TOKENIZER_FILES) if (existsSync(join(d, f))) files[f] = readFileSync(join(d, f));
  const vocab = tokenizerVocab(readJson(join(d, "tokenizer.json")));
  const maxId = Math.max(-1, ...vocab.values());
  const V = config.vocab_size as number;
  if (maxId >= V) throw new ConvertError(`${d}/tokenizer.json has token id ${maxId} but the model's embedding has only ${V} rows (tokenizer of another model?)`);
  if (filePieces) {
    let same = 0;
    const byId = new Map([...vocab].map(([p, id]) => [id, p]));
    filePieces.forEach((p, id) => { if (samePiece(p, byId.get(id))) same++; });
    log(`tokenizer ${d}: ${same} of ${filePieces.length} pieces equal the model file's vocabulary`);
    if (same < filePieces.length * 0.9) throw new ConvertError(`${d}/tokenizer.json matches only ${same} of the model file's ${filePieces.length} vocabulary pieces (tokenizer of another model?)`);
  }
  const eos = typeof config.eos_token_id === "number" ? [config.eos_token_id] : [];
  const stops = [...new Set([...eos, ...SPEC_STOP_TOKENS.map((t) => vocab.get(t)).filter((x): x is number => x !== undefined)])];
  return { files, stops, source: d };
}

/** Folder for an opened llama.cpp-format model (shared by the GGUF and GGML commands). */
export async function writeLlamaCppFolder(
  o: LlamaCppImportOptions,
  m: { format: "gguf" | "ggml"; config: HfConfig; source: BlockTensorSource; dataBytes: number; tokenizer: () => TokenizerChoice },
  started: number,
): Promise<LlamaCppImportResult> {
  const log = o.log ?? (() => {});
  const tok = m.tokenizer();
  const config = { ...m.config };
  if (tok.stops.length) config.eos_token_id = tok.stops.length === 1 ? tok.stops[0] : tok.stops;
  const files = { ...tok.files };
  if (!files["generation_config.json"]) {
    files["generation_config.json"] = JSON.stringify({ bos_token_id: config.bos_token_id, eos_token_id: config.eos_token_id }, null, 2) + "\n";
  }
  const sourceTypes: Record<string, number> = {};
  for (const n of m.source.names()) { const t = m.source.typeOf(n)!.name; sourceTypes[t] = (sourceTypes[t] ?? 0) + 1; }
  const variants = o.dtypes ?? defaultVariants(m.source);
  const stats = new Map<Variant, { exact: number; requantized: number; maxAbs: number; sq: number; ref: number; n: number }>();
  const onQuantized = (v: Variant, _name: string, q: QMatrix, from: Float32Array | undefined) => {
    const s = stats.get(v) ?? { exact: 0, requantized: 0, maxAbs: 0, sq: 0, ref: 0, n: 0 };
    stats.set(v, s);
    if (!from) { s.exact++; return; }
    s.requantized++;
    const back = dequantizeNBits(q);
    for (let i = 0; i < from.length; i++) {
      const d = back[i]! - from[i]!;
      s.maxAbs = Math.max(s.maxAbs, Math.abs(d));
      s.sq += d * d;
      s.ref += from[i]! * from[i]!;
    }
    s.n += from.length;
  };
  const r = await writeConvertedFolder(resolve(o.out), {
    ...(o.accuracyLevel !== undefined ? { accuracyLevel: o.accuracyLevel } : {}),
    config, source: m.source, files, variants, replace: o.force === true, onQuantized,
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
  });
  const quantization: RequantStats[] = [...stats].map(([variant, s]) => ({
    variant, exact: s.exact, requantized: s.requantized, maxAbs: s.maxAbs,
    rms: s.n ? Math.sqrt(s.sq / s.n) : 0, relRms: s.ref ? Math.sqrt(s.sq / s.ref) : 0,
  }));
  for (const q of quantization) {
    const parts = [];
    if (q.exact) parts.push(`${q.exact} linear layers repacked exactly from the file's blocks`);
    if (q.requantized) parts.push(`${q.requantized} requantized: max |Δw| ${q.maxAbs.toExponential(2)}, RMS Δw ${q.rms.toExponential(2)} (${(100 * q.relRms).toFixed(2)} % of RMS w) against the dequantized weights`);
    log(`${q.variant}: ${parts.join("; ")}`);
  }
  return { ...r, format: m.format, sourceTypes, dataBytes: m.dataBytes, seconds: (performance.now() - started) / 1000, quantization, tokenizerSource: tok.source };
}

export async function importGguf(o: LlamaCppImportOptions): Promise<LlamaCppImportResult> {
  const started = performance.now();
  const file = resolve(o.file);
  if (!existsSync(file) || !statSync(file).isFile()) throw new ConvertError(`GGUF file not found: ${file}`);
  const m = await openGguf(file);
  try {
    const pieces = m.metadata["tokenizer.ggml.tokens"] as string[] | undefined;
    return await writeLlamaCppFolder(o, {
      format: "gguf", config: m.config, source: m.source, dataBytes: m.dataBytes,
      tokenizer: () => {
        if (o.tokenizer) return tokenizerFromFolder(o.tokenizer, m.config, pieces, o.log ?? (() => {}));
        const t = tokenizerFromGguf(m.metadata, file, m.config.max_position_embeddings as number);
        return { files: { "tokenizer.json": t["tokenizer.json"], "tokenizer_config.json": t["tokenizer_config.json"] }, stops: t.stopTokenIds, source: `${file} (tokenizer.ggml.* ${t.model})` };
      },
    }, started);
  } finally {
    m.source.close();
  }
}

export interface GgmlImportOptions extends LlamaCppImportOptions {
  tokenizer: string;
  gqa?: number;
  rmsNormEps?: number;
  contextLength?: number;
}

export async function importGgml(o: GgmlImportOptions): Promise<LlamaCppImportResult> {
  const started = performance.now();
  const file = resolve(o.file);
  if (!existsSync(file) || !statSync(file).isFile()) throw new ConvertError(`GGML file not found: ${file}`);
  const m = openGgml(file, {
    ...(o.gqa !== undefined ? { gqa: o.gqa } : {}),
    ...(o.rmsNormEps !== undefined ? { rmsNormEps: o.rmsNormEps } : {}),
    ...(o.contextLength !== undefined ? { contextLength: o.contextLength } : {}),
  });
  try {
    return await writeLlamaCppFolder(o, {
      format: "ggml", config: m.config, source: m.source, dataBytes: m.dataBytes,
      tokenizer: () => tokenizerFromFolder(o.tokenizer, m.config, m.pieces, o.log ?? (() => {})),
    }, started);
  } finally {
    m.source.close();
  }
}
