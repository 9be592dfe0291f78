/**
 * Incremental detokenisation for streaming. Decoding token by token breaks multi-byte UTF-8
 * characters split over byte-fallback tokens and loses SentencePiece's leading spaces, so each
 * step decodes a short window ending at the newest token and emits only the text past what the
 * window's older part already produced; text that still ends in U+FFFD (an incomplete character)
 * is held back until a later token completes it (the offsets scheme of HF text-generation-inference).
 */
import type { Tokenizer } from "./loader.ts";

const OPTS = { skip_special_tokens: true };

export class IncrementalDecoder {
  private prefix: number;
  private read: number;

  /**
   * `tokens` is the live sequence (it grows as generation proceeds); text is produced for
   * tokens from index `start` on. A few earlier tokens serve as context so the first generated
   * piece keeps its leading space.
   */
  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly tokens: number[],
    start: number,
  ) {
    this.prefix = Math.max(0, start - 6);
    this.read = start;
  }

  /** New text after the latest token, or "" while a character is incomplete. */
  step(): string {
    return this.take(false);
  }

  /** Whatever is still held back at the end (may contain U+FFFD for truly invalid bytes). */
  flush(): string {
    return this.take(true);
  }

  private take(final: boolean): string {
    if (this.read >= this.tokens.length) return "";
    const before = this.tokenizer.decode(this.tokens.slice(this.prefix, this.read), OPTS);
    const after = this.tokenizer.decode(this.tokens.slice(this.prefix), OPTS);
    if (!final && (after.length <= before.length || after.endsWith("\uFFFD") || !after.startsWith(before))) return "";
    this.prefix = this.read;
    this.read = this.tokens.length;
    return after.startsWith(before) ? after.slice(before.length) : after;
  }
}
