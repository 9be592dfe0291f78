/**
 * llama2.c's tokenizer (run.c `encode`/`decode`) re-implemented for tests, to check that the HF
 * tokenizer.json the importer writes tokenizes and detokenizes exactly as llama2.c does.
 */
import type { Llama2cVocab } from "../../src/engine/models/tokenizer-llama2c.ts";

export function llama2cEncode(v: Llama2cVocab, text: string, bos: boolean): number[] {
  const lookup = new Map<string, number>();
  v.pieces.forEach((p, i) => { if (!lookup.has(p)) lookup.set(p, i); });
  const tokens: number[] = [];
  if (bos) tokens.push(1);
  const symbols: number[] = [];
  if (text.length > 0) symbols.push(lookup.get(" ")!);
  for (const ch of text) {
    const id = lookup.get(ch);
    if (id !== undefined) symbols.push(id);
    else for (const b of new TextEncoder().encode(ch)) symbols.push(b + 3);
  }
  for (;;) {
    let bestScore = -1e10, bestId = -1, bestIdx = -1;
    for (let i = 0; i + 1 < symbols.length; i++) {
      const id = lookup.get(v.pieces[symbols[i]!]! + v.pieces[symbols[i + 1]!]!);
      if (id !== undefined && v.scores[id]! > bestScore) { bestScore = v.scores[id]!; bestId = id; bestIdx = i; }
    }
    if (bestIdx < 0) break;
    symbols.splice(bestIdx, 2, bestId);
  }
  return [...tokens, ...symbols];
}

/** Concatenated bytes of `tokens` decoded as run.c does after `prev` (BOS drops the next piece's leading space). */
export function llama2cDecode(v: Llama2cVocab, tokens: number[], prev = 1): string {
  const bytes: number[] = [];
  for (const t of tokens) {
    let piece = v.pieces[t]!;
    if (prev === 1 && piece.startsWith(" ")) piece = piece.slice(1);
    const m = /^<0x([0-9A-F]{2})>$/.exec(piece);
    if (m) bytes.push(parseInt(m[1]!, 16));
    else bytes.push(...new TextEncoder().encode(piece));
    prev = t;
  }
  return new TextDecoder().decode(Uint8Array.from(bytes));
}
