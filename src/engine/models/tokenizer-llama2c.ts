/**
 * llama2.c tokenizer (`tokenizer.bin` / `tok512.bin`) → Hugging Face `tokenizer.json` +
 * `tokenizer_config.json` (tok512.bin: f32 score, i32 length, bytes per piece). llama2.c's encoder greedily merges the
 * adjacent pair whose concatenation has the highest score; a BPE whose merges are ranked by the
 * merged piece's score reproduces it, with byte fallback for characters outside the vocabulary.
 */

export interface Llama2cVocab {
  maxTokenLength: number;
  /** Raw pieces as stored (ASCII space, `<0xNN>` byte tokens, ids 1/2 are "\n<s>\n"/"\n</s>\n"). */
  pieces: string[];
  scores: number[];
}

export class TokenizerFormatError extends Error {
  override name = "TokenizerFormatError";
}

/** Parses llama2.c's tokenizer file; the vocabulary size comes from the model header. */
export function parseLlama2cTokenizer(buf: Uint8Array, vocabSize: number, where: string): Llama2cVocab {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const decoder = new TextDecoder("utf-8", { fatal: false });
  if (buf.byteLength < 4) throw new TokenizerFormatError(`${where}: file is ${buf.byteLength} bytes, too short for a llama2.c tokenizer header`);
  const maxTokenLength = view.getInt32(0, true);
  if (maxTokenLength <= 0 || maxTokenLength > 1024) {
    throw new TokenizerFormatError(`${where}: max_token_length ${maxTokenLength} is not a llama2.c tokenizer header (expected 1..1024)`);
  }
  const pieces: string[] = [], scores: number[] = [];
  let off = 4;
  for (let i = 0; i < vocabSize; i++) {
    if (off + 8 > buf.byteLength) {
      throw new TokenizerFormatError(`${where}: ends after ${i} tokens at byte ${off}; the model expects ${vocabSize} (vocabulary mismatch or truncated file)`);
    }
    const score = view.getFloat32(off, true);
    const len = view.getInt32(off + 4, true);
    off += 8;
    if (len < 0 || len > maxTokenLength * 4 || off + len > buf.byteLength) {
      throw new TokenizerFormatError(`${where}: token ${i} has invalid length ${len} at byte ${off - 4} (truncated or not a llama2.c tokenizer)`);
    }
    pieces.push(decoder.decode(buf.subarray(off, off + len)));
    scores.push(score);
    off += len;
  }
  if (off !== buf.byteLength) {
    throw new TokenizerFormatError(`${where}: ${buf.byteLength - off} bytes left after ${vocabSize} tokens; the tokenizer has a different vocabulary size than the model`);
  }
  return { maxTokenLength, pieces, scores };
}

const SPECIALS = ["<unk>", "<s>", "</s>"];
const BYTE_PIECE = /^<0x[0-9A-F]{2}>$/;

/** HF vocab piece for llama2.c id `i`. */
function hfPiece(v: Llama2cVocab, i: number): string {
  return i < SPECIALS.length ? SPECIALS[i]! : v.pieces[i]!.replaceAll(" ", "\u2581");
}

/** Merges: every split of every multi-character piece into two in-vocabulary halves, best score first. */
function buildMerges(v: Llama2cVocab, vocab: Map<string, number>): [string, string][] {
  const ranked: { a: string; b: string; score: number; id: number }[] = [];
  for (let id = SPECIALS.length; id < v.pieces.length; id++) {
    const piece = hfPiece(v, id);
    if (BYTE_PIECE.test(piece)) continue;
    const chars = Array.from(piece);
    for (let cut = 1; cut < chars.length; cut++) {
      const a = chars.slice(0, cut).join(""), b = chars.slice(cut).join("");
      if (vocab.has(a) && vocab.has(b)) ranked.push({ a, b, score: v.scores[id]!, id });
    }
  }
  ranked.sort((x, y) => y.score - x.score || x.id - y.id);
  return ranked.map((m) => [m.a, m.b]);
}

export function llama2cToHfTokenizer(v: Llama2cVocab): Record<string, unknown> {
  const vocab = new Map<string, number>();
  for (let i = 0; i < v.pieces.length; i++) {
    const piece = hfPiece(v, i);
    // Duplicate pieces would make the HF vocab ambiguous; keep the first (lowest id, as llama2.c's lookup does).
    if (!vocab.has(piece)) vocab.set(piece, i);
  }
  const added = SPECIALS.map((content, id) => ({
    id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
  }));
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: {
      type: "Sequence",
      normalizers: [
        { type: "Prepend", prepend: "\u2581" },
        { type: "Replace", pattern: { String: " " }, content: "\u2581" },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [
        { SpecialToken: { id: "<s>", type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: "<s>", type_id: 1 } },
        { Sequence: { id: "B", type_id: 1 } },
      ],
      special_tokens: { "<s>": { id: "<s>", ids: [1], tokens: ["<s>"] } },
    },
    decoder: {
      type: "Sequence",
      decoders: [
        { type: "Replace", pattern: { String: "\u2581" }, content: " " },
        { type: "ByteFallback" },
        { type: "Fuse" },
        { type: "Strip", content: " ", start: 1, stop: 0 },
      ],
    },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: "<unk>",
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab: Object.fromEntries(vocab),
      merges: buildMerges(v, vocab),
    },
  };
}

export function llama2cTokenizerConfig(maxLength: number): Record<string, unknown> {
  return {
    tokenizer_class: "LlamaTokenizer",
    bos_token: "<s>",
    eos_token: "</s>",
    unk_token: "<unk>",
    add_bos_token: true,
    add_eos_token: false,
    legacy: true,
    model_max_length: maxLength,
    clean_up_tokenization_spaces: false,
    added_tokens_decoder: Object.fromEntries(
      SPECIALS.map((content, id) => [String(id), { content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true }]),
    ),
  };
}
