// Streaming detokenisation against stories260K's trained tokenizer and a generated 32k-piece one
// (test/engine/fixtures.ts): byte-fallback pieces of multi-byte characters must never surface as
// U+FFFD halves, leading spaces survive, and pieces add up to the full decode.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { AutoTokenizer } from "@huggingface/transformers";
import { IncrementalDecoder } from "../../src/engine/detokenizer.ts";
import type { Tokenizer } from "../../src/engine/loader.ts";
import { ensureStories260k } from "../support/models.ts";
import { cleanupTempDirs, tinyFp16Dir } from "./fixtures.ts";

let stories: Tokenizer;
let llama2: Tokenizer;
beforeAll(async () => {
  stories = (await AutoTokenizer.from_pretrained(await ensureStories260k(), { local_files_only: true })) as unknown as Tokenizer;
  llama2 = (await AutoTokenizer.from_pretrained(await tinyFp16Dir(), { local_files_only: true })) as unknown as Tokenizer;
}, 60_000);
afterAll(cleanupTempDirs);

/** Streams `continuation` token by token after `prompt`, as the decode loop does. */
function stream(tok: Tokenizer, prompt: string, continuation: string): { pieces: string[]; expected: string } {
  const promptIds = tok.encode(prompt);
  const all = tok.encode(prompt + continuation);
  expect(all.slice(0, promptIds.length)).toEqual(promptIds); // the split point is a token boundary
  const tokens = promptIds.slice();
  const dec = new IncrementalDecoder(tok, tokens, promptIds.length);
  const pieces: string[] = [];
  for (const t of all.slice(promptIds.length)) {
    tokens.push(t);
    pieces.push(dec.step());
  }
  pieces.push(dec.flush());
  const full = tok.decode(all, { skip_special_tokens: true });
  const head = tok.decode(promptIds, { skip_special_tokens: true });
  return { pieces, expected: full.slice(head.length) };
}

describe("IncrementalDecoder", () => {
  for (const [name, get] of [["stories260K (512 pieces)", () => stories], ["generated 32k-piece BPE with multi-byte pieces", () => llama2]] as const) {
    test(`${name}: multi-byte characters from byte-fallback tokens arrive whole`, () => {
      const { pieces, expected } = stream(get(), "Hello", " wörld 世界 🙂 end");
      expect(pieces.join("")).toBe(expected);
      expect(expected).toBe(" wörld 世界 🙂 end");
      for (const p of pieces) expect(p.includes("\uFFFD")).toBe(false);
      // The emoji is 4 bytes: several tokens, one piece.
      expect(pieces.filter((p) => p.includes("🙂")).length).toBe(1);
    });
  }
  test("the first generated piece keeps its leading space", () => {
    const { pieces } = stream(stories, "Once upon a time", " there was");
    expect(pieces.find((p) => p !== "")!.startsWith(" ")).toBe(true);
  });
  test("truly invalid bytes are flushed as U+FFFD at the end", () => {
    const tokens = stories.encode("Hi");
    const start = tokens.length;
    const dec = new IncrementalDecoder(stories, tokens, start);
    tokens.push(0xe4 + 3); // byte token <0xE4>: the start of a 3-byte character that never completes
    expect(dec.step()).toBe("");
    expect(dec.flush()).toBe("\uFFFD");
  });
});
