/**
 * CLIP's byte-level BPE over a diffusers `tokenizer/` folder (vocab.json, merges.txt, optional
 * tokenizer_config.json / special_tokens_map.json). Diffusers repos ship no tokenizer.json, which
 * is what transformers.js needs, so the algorithm of transformers' CLIPTokenizer (without ftfy) is
 * implemented here: collapse whitespace, lowercase, split with CLIP's pattern, map bytes to
 * printable characters (GPT-2's bytes_to_unicode table), BPE with "</w>" on each word's last
 * symbol, then `<|startoftext|> … <|endoftext|>` padded or truncated to 77 ids.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const CLIP_MAX_LENGTH = 77;
const BOS = "<|startoftext|>";
const EOS = "<|endoftext|>";
const PATTERN = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/gu;

/** GPT-2's reversible byte → printable character table. */
function byteTable(): string[] {
  const keep: number[] = [];
  for (let b = 33; b <= 126; b++) keep.push(b);
  for (let b = 161; b <= 172; b++) keep.push(b);
  for (let b = 174; b <= 255; b++) keep.push(b);
  const table: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) table[b] = String.fromCodePoint(keep.includes(b) ? b : 256 + extra++);
  return table;
}

export interface ClipEncoding {
  /** Exactly `maxLength` ids. */
  ids: number[];
  /** Prompt tokens dropped to fit (0 when it fitted). */
  truncated: number;
}

export class ClipTokenizer {
  private readonly ranks = new Map<string, number>();
  private readonly bytes = byteTable();
  private readonly cache = new Map<string, string[]>();
  readonly bos: number;
  readonly eos: number;
  readonly pad: number;

  constructor(private readonly vocab: Map<string, number>, merges: string[], padToken: string, readonly maxLength = CLIP_MAX_LENGTH) {
    merges.forEach((m, i) => this.ranks.set(m, i));
    const id = (t: string) => {
      const v = vocab.get(t);
      if (v === undefined) throw new Error(`CLIP vocabulary has no ${JSON.stringify(t)} token`);
      return v;
    };
    this.bos = id(BOS);
    this.eos = id(EOS);
    this.pad = id(padToken);
  }

  /** Reads a diffusers tokenizer folder; errors name the file. */
  static fromFolder(dir: string): ClipTokenizer {
    const read = (f: string) => readFileSync(join(dir, f), "utf8");
    let vocabJson: unknown;
    try {
      vocabJson = JSON.parse(read("vocab.json"));
    } catch (e) {
      throw new Error(`${join(dir, "vocab.json")}: ${(e as Error).message}`);
    }
    if (typeof vocabJson !== "object" || vocabJson === null) throw new Error(`${join(dir, "vocab.json")}: expected an object of token → id`);
    const vocab = new Map<string, number>(Object.entries(vocabJson as Record<string, number>));
    // merges.txt: a "#version" header line, then "a b" pairs in rank order.
    const merges = read("merges.txt").split("\n").filter((l, i) => l.length > 0 && !(i === 0 && l.startsWith("#version")));
    let pad = EOS;
    let maxLength = CLIP_MAX_LENGTH;
    for (const f of ["special_tokens_map.json", "tokenizer_config.json"]) {
      if (!existsSync(join(dir, f))) continue;
      const cfg = JSON.parse(read(f)) as Record<string, unknown>;
      const p = cfg.pad_token;
      const name = typeof p === "string" ? p : typeof p === "object" && p && typeof (p as { content?: unknown }).content === "string" ? (p as { content: string }).content : undefined;
      if (name) pad = name;
      if (typeof cfg.model_max_length === "number" && cfg.model_max_length > 2 && cfg.model_max_length <= 1024) maxLength = cfg.model_max_length;
    }
    return new ClipTokenizer(vocab, merges, pad, maxLength);
  }

  private bpe(word: string): string[] {
    const hit = this.cache.get(word);
    if (hit) return hit;
    const chars = [...word];
    let parts = [...chars.slice(0, -1), chars.at(-1)! + "</w>"];
    while (parts.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < parts.length - 1; i++) {
        const r = this.ranks.get(`${parts[i]} ${parts[i + 1]}`);
        if (r !== undefined && r < bestRank) (bestRank = r), (best = i);
      }
      if (best < 0) break;
      const a = parts[best]!, b = parts[best + 1]!;
      const merged: string[] = [];
      for (let i = 0; i < parts.length; i++) {
        if (i < parts.length - 1 && parts[i] === a && parts[i + 1] === b) merged.push(a + b), i++;
        else merged.push(parts[i]!);
      }
      parts = merged;
    }
    this.cache.set(word, parts);
    return parts;
  }

  /** Token ids of the text alone (no BOS/EOS); unknown pieces become `<|endoftext|>` as in CLIP's vocab (unk = eos). */
  tokenize(text: string): number[] {
    const clean = text.replace(/\s+/g, " ").trim().toLowerCase();
    const out: number[] = [];
    for (const m of clean.matchAll(PATTERN)) {
      const piece = m[0];
      if (piece === BOS || piece === EOS) {
        out.push(piece === BOS ? this.bos : this.eos);
        continue;
      }
      const mapped = [...new TextEncoder().encode(piece)].map((b) => this.bytes[b]).join("");
      for (const t of this.bpe(mapped)) out.push(this.vocab.get(t) ?? this.eos);
    }
    return out;
  }

  /** BOS, the prompt's tokens (truncated to fit), EOS, then padding to maxLength. */
  encode(text: string): ClipEncoding {
    const body = this.tokenize(text);
    const room = this.maxLength - 2;
    const kept = body.slice(0, room);
    const ids = [this.bos, ...kept, this.eos];
    while (ids.length < this.maxLength) ids.push(this.pad);
    return { ids, truncated: body.length - kept.length };
  }
}
