/**
 * Tokenizers rebuilt from GGUF metadata. The real tiny GGUF (test/fixtures, Llama-2 vocabulary in
 * its metadata) must give a tokenizer.json that transformers.js encodes exactly like the published
 * Llama-2 tokenizer.json (test/fixtures/llama-2-tokenizer) on 300 random texts, and decodes back;
 * gpt2-style (byte-level BPE) metadata must give a working byte-level tokenizer.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { gunzipSync } from "node:zlib";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AutoTokenizer, env } from "@huggingface/transformers";
import { openGguf } from "../../src/convert/readers/gguf.ts";
import { tokenizerFromGguf } from "../../src/convert/readers/gguf-tokenizer.ts";
import { mulberry32 } from "../support/random-llama.ts";

env.allowRemoteModels = false;
const FIXTURES = join(import.meta.dir, "..", "fixtures");
const root = mkdtempSync(join(tmpdir(), "atoma-gguf-tok-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function dirWith(name: string, files: Record<string, string | Uint8Array>): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  for (const [f, data] of Object.entries(files)) writeFileSync(join(dir, f), data);
  return dir;
}

/** Random texts over words, runs of spaces, punctuation, digits, newlines, accents, CJK, emoji. */
function randomTexts(n: number, seed: number): string[] {
  const rnd = mulberry32(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
  const words = ["the", "The", "quick", "brown", "fox", "jumps", "über", "naïve", "café", "Straße", "über-", "don't", "it's", "I'm",
    "hello", "HELLO", "wörld", "日本語", "中文", "한국어", "Привет", "мир", "🙂", "🚀", "€", "½", "x²", "αβγ", "llama", "GGUF", "q4_0"];
  const seps = [" ", " ", " ", "  ", "   ", "\n", "\n\n", "\t", ", ", ". ", "! ", "? ", ": ", "; ", " - ", "...", "\"", "'", "(", ")", "  \n "];
  return Array.from({ length: n }, () => {
    const parts: string[] = [];
    const len = 1 + Math.floor(rnd() * 14);
    if (rnd() < 0.2) parts.push(pick(seps));
    for (let i = 0; i < len; i++) {
      const r = rnd();
      if (r < 0.6) parts.push(pick(words));
      else if (r < 0.75) parts.push(String(Math.floor(rnd() * 100000)));
      else parts.push(String.fromCodePoint(0x20 + Math.floor(rnd() * 0x5e)));
      parts.push(pick(seps));
    }
    return parts.join("");
  });
}

describe("llama (SentencePiece) tokenizer from the real tiny GGUF", () => {
  let built: ReturnType<typeof tokenizerFromGguf>;
  const load = async () => {
    if (!built) {
      const m = await openGguf(join(FIXTURES, "llama-2-tiny-random.gguf"));
      m.source.close();
      built = tokenizerFromGguf(m.metadata, m.path, 4096);
    }
    return built;
  };

  test("encodes 300 random texts exactly like the Llama-2 tokenizer.json, and decodes them back", async () => {
    const t = await load();
    const ours = await AutoTokenizer.from_pretrained(dirWith("gguf", { "tokenizer.json": t["tokenizer.json"], "tokenizer_config.json": t["tokenizer_config.json"] }));
    const refDir = dirWith("ref", {
      "tokenizer.json": gunzipSync(readFileSync(join(FIXTURES, "llama-2-tokenizer", "tokenizer.json.gz"))),
      "tokenizer_config.json": readFileSync(join(FIXTURES, "llama-2-tokenizer", "tokenizer_config.json")),
    });
    const ref = await AutoTokenizer.from_pretrained(refDir);
    const texts = randomTexts(300, 2024);
    let tokens = 0;
    for (const text of texts) {
      const want = ref.encode(text), got = ours.encode(text);
      if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`${JSON.stringify(text)}: ${JSON.stringify(got)} vs Llama-2 ${JSON.stringify(want)}`);
      expect(ours.decode(got, { skip_special_tokens: true })).toBe(ref.decode(want, { skip_special_tokens: true }));
      tokens += got.length;
    }
    expect(tokens).toBeGreaterThan(3000);
    expect(ours.encode("Hello world")).toEqual([1, 15043, 3186]);
  });

  test("the vocabulary, merges and pipeline equal the Llama-2 tokenizer.json's except id 31353 (U+2028 in the GGUF, empty in that JSON)", async () => {
    const ours = JSON.parse((await load())["tokenizer.json"]);
    const ref = JSON.parse(gunzipSync(readFileSync(join(FIXTURES, "llama-2-tokenizer", "tokenizer.json.gz"))).toString("utf8"));
    expect(ours.model.merges).toEqual(ref.model.merges);
    expect({ ...ours, model: null }).toEqual({ ...ref, model: null });
    const diff = Object.entries(ours.model.vocab as Record<string, number>).filter(([piece, id]) => ref.model.vocab[piece] !== id);
    expect(diff).toEqual([["\u2028", 31353]]);
  });

  test("tokenizer_config.json: Llama specials, BOS added, stop token </s>", async () => {
    const t = await load();
    const c = JSON.parse(t["tokenizer_config.json"]);
    expect(c).toMatchObject({ tokenizer_class: "LlamaTokenizer", bos_token: "<s>", eos_token: "</s>", unk_token: "<unk>", add_bos_token: true, add_eos_token: false });
    expect(t.stopTokenIds).toEqual([2]);
  });
});

describe("gpt2 (byte-level BPE) tokenizer metadata", () => {
  // A miniature Llama-3-style vocabulary: the 256 byte symbols, a few merges, control tokens.
  const byteSymbols = (() => {
    const keep = [...Array.from({ length: 94 }, (_, i) => i + 33), ...Array.from({ length: 12 }, (_, i) => i + 161), ...Array.from({ length: 82 }, (_, i) => i + 174)];
    const map = new Map<number, string>();
    let extra = 0;
    for (let b = 0; b < 256; b++) map.set(b, String.fromCharCode(keep.includes(b) ? b : 256 + extra++));
    return map;
  })();
  const sym = (s: string) => Array.from(new TextEncoder().encode(s), (b) => byteSymbols.get(b)!).join("");
  const merges = [["Ġ", "t"], ["h", "e"], ["Ġt", "he"], ["l", "l"], ["e", "ll"], ["h", "ell"], ["hell", "o"], ["Ġ", "w"], ["o", "r"], ["Ġw", "or"], ["l", "d"], ["Ġwor", "ld"]];
  const tokens = [...byteSymbols.values(), ...merges.map(([a, b]) => a! + b!), "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"];
  const types = tokens.map((t) => (t.startsWith("<|") ? 3 : 1));
  const meta = {
    "tokenizer.ggml.model": "gpt2",
    "tokenizer.ggml.pre": "llama-bpe",
    "tokenizer.ggml.tokens": tokens,
    "tokenizer.ggml.token_type": types,
    "tokenizer.ggml.merges": merges.map((m) => m.join(" ")),
    "tokenizer.ggml.bos_token_id": tokens.indexOf("<|begin_of_text|>"),
    "tokenizer.ggml.eos_token_id": tokens.indexOf("<|end_of_text|>"),
    "tokenizer.chat_template": "{% for m in messages %}{{ m['content'] }}<|eot_id|>{% endfor %}",
  };

  test("byte-level BPE: merges applied, every byte covered, BOS added, round trip; stop tokens per the spec note", async () => {
    const t = tokenizerFromGguf(meta, "mini.gguf", 8192);
    const tok = await AutoTokenizer.from_pretrained(dirWith("gpt2", { "tokenizer.json": t["tokenizer.json"], "tokenizer_config.json": t["tokenizer_config.json"] }));
    const id = (s: string) => tokens.indexOf(s);
    expect(tok.encode("hello the world")).toEqual([id("<|begin_of_text|>"), id("hello"), id("Ġthe"), id("Ġworld")]);
    for (const text of randomTexts(50, 9)) {
      const ids = tok.encode(text);
      expect(tok.decode(ids, { skip_special_tokens: true })).toBe(text);
      expect(ids.slice(1).every((i: number) => i < 256 + merges.length)).toBe(true);
    }
    expect(sym("é")).toBe("Ã©");
    expect(t.stopTokenIds).toEqual([id("<|end_of_text|>"), id("<|eot_id|>")]);
    expect(JSON.parse(t["tokenizer_config.json"]).chat_template).toBe(meta["tokenizer.chat_template"]);
  });

  test("unsupported pre-tokenizers and models are one line naming the key", () => {
    expect(() => tokenizerFromGguf({ ...meta, "tokenizer.ggml.pre": "deepseek-coder" }, "x.gguf", 1)).toThrow(/x\.gguf: tokenizer\.ggml\.pre "deepseek-coder" is not supported/);
    expect(() => tokenizerFromGguf({ ...meta, "tokenizer.ggml.model": "bert" }, "x.gguf", 1)).toThrow(/tokenizer\.ggml\.model "bert" is not supported/);
    expect(() => tokenizerFromGguf({ ...meta, "tokenizer.ggml.token_type": [1, 2] }, "x.gguf", 1)).toThrow(/token_type has 2 entries but tokenizer\.ggml\.tokens has/);
  });
});
