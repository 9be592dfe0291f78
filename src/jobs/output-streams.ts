/**
 * Live output of on-chain jobs whose prompt set `should_stream_output`: the worker pushes each
 * decoded piece as it is generated, subscribers (GET /v1/jobs/<ticket>/stream) get everything
 * produced so far and then the rest as it comes. Only a view: the full output still goes through
 * the store and commitment unchanged. Memory is bounded: finished streams are kept `retainMs` for
 * late subscribers (after that the route answers from the stored output), at most `maxStreams`.
 */
export type StreamEnd = { ok: true; outputTokens: number } | { ok: false; reason: string };

export interface StreamListener {
  piece(text: string): void;
  end(outcome: StreamEnd): void;
}

interface Entry {
  started: boolean;
  pieces: string[];
  end: StreamEnd | null;
  endedAt: number;
  listeners: Set<StreamListener>;
}

export interface StreamSink {
  push(text: string): void;
  end(outcome: StreamEnd): void;
}

export class OutputStreams {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly opts: { retainMs: number; maxStreams: number } = { retainMs: 10 * 60_000, maxStreams: 1000 }) {}

  /**
   * A worker starts generating `ticket`. Null when another leaf of the same ticket is already
   * streaming (one ticket, one stream: every leaf generates the same text).
   */
  open(ticket: string, now = Date.now()): StreamSink | null {
    this.prune(now);
    let e = this.entries.get(ticket);
    if (e?.started && !e.end) return null;
    if (!e || e.end) {
      // A retry after a failed or interrupted attempt starts a fresh stream.
      e = { started: true, pieces: [], end: null, endedAt: 0, listeners: new Set() };
      this.entries.set(ticket, e);
    }
    e.started = true;
    const entry = e;
    return {
      push: (text) => {
        if (entry.end || text === "") return;
        entry.pieces.push(text);
        for (const l of entry.listeners) l.piece(text);
      },
      end: (outcome) => {
        if (entry.end) return;
        entry.end = outcome;
        entry.endedAt = Date.now();
        for (const l of entry.listeners) l.end(outcome);
        entry.listeners.clear();
      },
    };
  }

  /**
   * Replays what `ticket` produced so far into `l`, then keeps it informed. `waitForStart` lets a
   * subscriber wait for a job not running yet (the caller checked it exists and asked to stream).
   * Returns an unsubscribe function, or null when there is no stream and no waiting was allowed.
   */
  subscribe(ticket: string, l: StreamListener, waitForStart: boolean): (() => void) | null {
    let e = this.entries.get(ticket);
    if (!e) {
      if (!waitForStart) return null;
      e = { started: false, pieces: [], end: null, endedAt: 0, listeners: new Set() };
      this.entries.set(ticket, e);
    }
    for (const p of e.pieces) l.piece(p);
    if (e.end) {
      l.end(e.end);
      return () => {};
    }
    e.listeners.add(l);
    const entry = e;
    return () => {
      entry.listeners.delete(l);
      // A waiting entry nobody listens to any more is forgotten.
      if (!entry.started && entry.listeners.size === 0 && this.entries.get(ticket) === entry) this.entries.delete(ticket);
    };
  }

  get size(): number {
    return this.entries.size;
  }

  private prune(now: number): void {
    for (const [t, e] of this.entries) if (e.end && now - e.endedAt > this.opts.retainMs) this.entries.delete(t);
    if (this.entries.size < this.opts.maxStreams) return;
    // Over the cap: drop the oldest finished streams (insertion order is start order).
    for (const [t, e] of this.entries) {
      if (this.entries.size < this.opts.maxStreams) break;
      if (e.end) this.entries.delete(t);
    }
  }
}
