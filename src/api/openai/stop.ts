/**
 * Stop sequences, cut exactly where the first one begins. Text is released only once no stop
 * sequence can still start inside it: the longest tail that is a prefix of some stop is held back
 * until later text decides, so a stream never shows part of a stop sequence.
 */
export class StopFilter {
  private text = "";
  private sent = 0;
  private readonly longest: number;

  constructor(private readonly stops: readonly string[]) {
    this.longest = Math.max(0, ...stops.map((s) => s.length));
  }

  /** Appends generated text; returns what may be shown now and whether a stop sequence was hit. */
  push(piece: string): { text: string; stopped: boolean } {
    this.text += piece;
    let cut = -1;
    for (const s of this.stops) {
      const i = this.text.indexOf(s, this.sent);
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      const out = this.text.slice(this.sent, cut);
      this.text = this.text.slice(0, cut);
      this.sent = cut;
      return { text: out, stopped: true };
    }
    const safe = this.text.length - this.heldBack();
    const out = this.text.slice(this.sent, Math.max(this.sent, safe));
    this.sent = Math.max(this.sent, safe);
    return { text: out, stopped: false };
  }

  /** Generation ended without a stop: everything held back is plain text after all. */
  flush(): string {
    const out = this.text.slice(this.sent);
    this.sent = this.text.length;
    return out;
  }

  /** The whole output so far (after a stop: up to, not including, the stop sequence). */
  get output(): string {
    return this.text;
  }

  private heldBack(): number {
    const maxK = Math.min(this.longest - 1, this.text.length - this.sent);
    for (let k = maxK; k > 0; k--) {
      const tail = this.text.slice(this.text.length - k);
      if (this.stops.some((s) => s.startsWith(tail))) return k;
    }
    return 0;
  }
}
