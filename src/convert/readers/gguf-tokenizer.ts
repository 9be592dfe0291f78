/**
 * GGUF tokenizer metadata (`tokenizer.ggml.*`) → the Hugging Face files transformers.js loads:
 * tokenizer.json, tokenizer_config.json (with `tokenizer.chat_template`), and the stop tokens.
 *
 * `llama` (SentencePiece BPE with scores): the tokenizer transformers' LlamaConverter builds from a
 * tokenizer.model — BPE with byte fallback whose merges are every split of every piece into two
 * in-vocabulary halves, ranked by the merged piece's score (highest first; splits of one piece by
 * the ids of their halves), `▁` for spaces with one prepended, `<s>` added in front.
 * `gpt2` (byte-level BPE, Llama 3 and friends): vocabulary and merges as stored, the
 * pre-tokenizer regex chosen by `tokenizer.ggml.pre`. Token types 3 (control) and 4 (user
 * defined) become added tokens, as llama.cpp's converter made them from the original files.
 */
import { ConvertError } from "../tensors.ts";
import type { GgufMetadata } from "./gguf.ts";

const NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, BYTE = 6;

/** Pre-tokenizer splits of the `gpt2` models llama.cpp knows, by `tokenizer.ggml.pre`. */
const LLAMA3_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const PRE_SPLITS: Record<string, string | null> = {
  "llama-bpe": LLAMA3_SPLIT,
  "llama3": LLAMA3_SPLIT,
  // GPT-2's own pattern is ByteLevel's built-in regex.
  "gpt-2": null,
  default: null,
};

/** Stop tokens the spec names for the quantized models (§10.1 note), added where the vocabulary has them. */
export const SPEC_STOP_TOKENS = ["</s>", "<|end_of_text|>", "<|end_of_turn|>", "<|eot_id|>"];

export interface TokenizerFiles {
  "tokenizer.json": string;
  "tokenizer_config.json": string;
  /** Ids that end generation (eos first). */
  stopTokenIds: number[];
  model: "llama" | "gpt2";
}

function strings(meta: GgufMetadata, key: string, path: string, n?: number): string[] {
  const v = meta[key];
  if (!Array.isArray(v) || !v.every((s) => typeof s === "string")) throw new ConvertError(`${path}: metadata ${key} is missing or not a list of strings`);
  if (n !== undefined && v.length !== n) throw new ConvertError(`${path}: metadata ${key} has ${v.length} entries but tokenizer.ggml.tokens has ${n}`);
  return v as string[];
}

function numbers(meta: GgufMetadata, key: string, path: string, n: number): number[] | undefined {
  const v = meta[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((s) => typeof s === "number")) throw new ConvertError(`${path}: metadata ${key} is not a list of numbers`);
  if (v.length !== n) throw new ConvertError(`${path}: metadata ${key} has ${v.length} entries but tokenizer.ggml.tokens has ${n}`);
  return v as number[];
}

function tokenId(meta: GgufMetadata, key: string, path: string, n: number): number | undefined {
  const raw = meta[`tokenizer.ggml.${key}`];
  if (raw === undefined) return undefined;
  const id = Number(raw);
  if (!Number.isInteger(id) || id < 0 || id >= n) throw new ConvertError(`${path}: metadata tokenizer.ggml.${key} is ${String(raw)}, not a token id below ${n}`);
  return id;
}

/**
 * HF's SentencePiece merge extraction (transformers' SentencePieceExtractor, the version that built
 * the published Llama-2 tokenizer.json): every split of a piece into two in-vocabulary halves, by
 * the merged piece's score, highest first; equal scores (Llama's runs of `▁` all score −1e9) by
 * the ids of the left, then the right half.
 */
function sentencePieceMerges(tokens: string[], scores: number[], types: number[], vocab: Map<string, number>): [string, string][] {
  const merges: { l: string; r: string; score: number; li: number; ri: number }[] = [];
  for (let id = 0; id < tokens.length; id++) {
    if (types[id] !== NORMAL && types[id] !== USER_DEFINED) continue;
    const chars = Array.from(tokens[id]!);
    for (let cut = 1; cut < chars.length; cut++) {
      const l = chars.slice(0, cut).join(""), r = chars.slice(cut).join("");
      const li = vocab.get(l), ri = vocab.get(r);
      if (li !== undefined && ri !== undefined) merges.push({ l, r, score: scores[id]!, li, ri });
    }
  }
  merges.sort((a, b) => b.score - a.score || a.li - b.li || a.ri - b.ri);
  return merges.map((m) => [m.l, m.r]);
}

function addedToken(id: number, content: string, type: number) {
  // User-defined pieces are matched in normalized text, like the original tokenizer's user symbols.
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: type === USER_DEFINED, special: type !== USER_DEFINED };
}

function template(bos: string | undefined, bosId: number | undefined, eos: string | undefined, eosId: number | undefined, addBos: boolean, addEos: boolean) {
  const specials: Record<string, unknown> = {};
  const seq = (id: "A" | "B", typeId: number) => {
    const parts: unknown[] = [];
    if (addBos && bos !== undefined) parts.push({ SpecialToken: { id: bos, type_id: typeId } });
    parts.push({ Sequence: { id, type_id: typeId } });
    if (addEos && eos !== undefined) parts.push({ SpecialToken: { id: eos, type_id: typeId } });
    return parts;
  };
  if (addBos && bos !== undefined) specials[bos] = { id: bos, ids: [bosId], tokens: [bos] };
  if (addEos && eos !== undefined) specials[eos] = { id: eos, ids: [eosId], tokens: [eos] };
  return { type: "TemplateProcessing", single: seq("A", 0), pair: [...seq("A", 0), ...seq("B", 1)], special_tokens: specials };
}

export function tokenizerFromGguf(meta: GgufMetadata, path: string, maxLength: number): TokenizerFiles {
  const model = meta["tokenizer.ggml.model"];
  if (model === undefined) throw new ConvertError(`${path}: metadata has no tokenizer.ggml.model (no tokenizer inside; pass --tokenizer <dir> with a tokenizer.json)`);
  if (model !== "llama" && model !== "gpt2") throw new ConvertError(`${path}: tokenizer.ggml.model "${String(model)}" is not supported (supported: llama, gpt2; or pass --tokenizer <dir>)`);
  const tokens = strings(meta, "tokenizer.ggml.tokens", path);
  const n = tokens.length;
  const types = numbers(meta, "tokenizer.ggml.token_type", path, n) ?? tokens.map(() => NORMAL);
  const bosId = tokenId(meta, "bos_token_id", path, n), eosId = tokenId(meta, "eos_token_id", path, n);
  const unkId = tokenId(meta, "unknown_token_id", path, n), padId = tokenId(meta, "padding_token_id", path, n);
  const addBos = meta["tokenizer.ggml.add_bos_token"] === undefined ? model === "llama" || bosId !== undefined : meta["tokenizer.ggml.add_bos_token"] === true;
  const addEos = meta["tokenizer.ggml.add_eos_token"] === true;
  const name = (id: number | undefined) => (id === undefined ? undefined : tokens[id]);

  const vocab = new Map<string, number>();
  tokens.forEach((t, id) => { if (!vocab.has(t)) vocab.set(t, id); });
  const added = tokens.flatMap((t, id) =>
    types[id] === CONTROL || types[id] === USER_DEFINED || (types[id] === UNKNOWN && model === "llama") ? [addedToken(id, t, types[id]!)] : []);

  let tokenizer: Record<string, unknown>;
  if (model === "llama") {
    const scores = numbers(meta, "tokenizer.ggml.scores", path, n);
    if (!scores) throw new ConvertError(`${path}: metadata has no tokenizer.ggml.scores (a llama tokenizer ranks its merges by them)`);
    if (!types.some((t) => t === BYTE)) throw new ConvertError(`${path}: llama tokenizer without byte tokens (<0x00>…) is not supported`);
    tokenizer = {
      version: "1.0", truncation: null, padding: null, added_tokens: added,
      normalizer: { type: "Sequence", normalizers: [{ type: "Prepend", prepend: "\u2581" }, { type: "Replace", pattern: { String: " " }, content: "\u2581" }] },
      pre_tokenizer: null,
      post_processor: template(name(bosId), bosId, name(eosId), eosId, addBos, addEos),
      decoder: {
        type: "Sequence",
        decoders: [{ type: "Replace", pattern: { String: "\u2581" }, content: " " }, { type: "ByteFallback" }, { type: "Fuse" }, { type: "Strip", content: " ", start: 1, stop: 0 }],
      },
      model: {
        type: "BPE", dropout: null, unk_token: name(unkId) ?? "<unk>", continuing_subword_prefix: null, end_of_word_suffix: null,
        fuse_unk: true, byte_fallback: true, ignore_merges: false,
        vocab: Object.fromEntries(vocab), merges: sentencePieceMerges(tokens, scores, types, vocab),
      },
    };
  } else {
    const merges = strings(meta, "tokenizer.ggml.merges", path).map((m, i) => {
      const cut = m.indexOf(" ", 1);
      if (cut < 0) throw new ConvertError(`${path}: tokenizer.ggml.merges[${i}] ${JSON.stringify(m)} is not "left right"`);
      return [m.slice(0, cut), m.slice(cut + 1)];
    });
    const pre = String(meta["tokenizer.ggml.pre"] ?? "default");
    if (!(pre in PRE_SPLITS)) throw new ConvertError(`${path}: tokenizer.ggml.pre "${pre}" is not supported (supported: ${Object.keys(PRE_SPLITS).join(", ")}; or pass --tokenizer <dir>)`);
    const split = PRE_SPLITS[pre];
    tokenizer = {
      version: "1.0", truncation: null, padding: null, added_tokens: added,
      normalizer: null,
      pre_tokenizer: split
        ? { type: "Sequence", pretokenizers: [
            { type: "Split", pattern: { Regex: split }, behavior: "Isolated", invert: false },
            { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
          ] }
        : { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
      post_processor: { type: "Sequence", processors: [
        { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
        template(name(bosId), bosId, name(eosId), eosId, addBos, addEos),
      ] },
      decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: {
        type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
        fuse_unk: false, byte_fallback: false, ignore_merges: pre === "llama-bpe" || pre === "llama3",
        vocab: Object.fromEntries(vocab), merges,
      },
    };
  }

  const chat = meta["tokenizer.chat_template"];
  const config: Record<string, unknown> = {
    tokenizer_class: model === "llama" ? "LlamaTokenizer" : "PreTrainedTokenizerFast",
    bos_token: name(bosId) ?? null,
    eos_token: name(eosId) ?? null,
    unk_token: name(unkId) ?? null,
    ...(padId !== undefined ? { pad_token: name(padId) } : {}),
    add_bos_token: addBos,
    add_eos_token: addEos,
    ...(model === "llama" ? { legacy: true } : {}),
    model_max_length: maxLength,
    clean_up_tokenization_spaces: false,
    added_tokens_decoder: Object.fromEntries(added.map(({ id, ...rest }) => [String(id), rest])),
    ...(typeof chat === "string" ? { chat_template: chat } : {}),
  };
  const stops = [eosId, ...SPEC_STOP_TOKENS.map((t) => vocab.get(t))].filter((id): id is number => id !== undefined);
  return {
    "tokenizer.json": JSON.stringify(tokenizer),
    "tokenizer_config.json": JSON.stringify(config, null, 2) + "\n",
    stopTokenIds: [...new Set(stops)],
    model,
  };
}
