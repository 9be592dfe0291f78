/**
 * PNGs answered as `response_format: "url"`, kept in memory for GET /v1/images/<id>.png. Bounded
 * both ways: an image lives at most `ttlMs` (default 1 hour, OpenAI's URL lifetime), and at most
 * `maxImages` (256) and `maxBytes` (256 MiB) are held; past either bound the oldest go first. The
 * id is 128 random bits, so the URL is the capability (as OpenAI's signed URLs): fetching it needs
 * no bearer token, which is what lets a browser or `curl -O` open it.
 */
import { randomBytes } from "node:crypto";

export interface ImageStoreOptions {
  ttlMs: number;
  maxImages: number;
  maxBytes: number;
}

export const IMAGE_STORE_DEFAULTS: ImageStoreOptions = { ttlMs: 60 * 60_000, maxImages: 256, maxBytes: 256 << 20 };

interface Entry {
  png: Uint8Array;
  at: number;
}

export class ImageStore {
  // Insertion order is age order, so the first key is always the oldest.
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(readonly opts: ImageStoreOptions = IMAGE_STORE_DEFAULTS) {}

  get size(): number {
    return this.entries.size;
  }

  /** Keeps `png` and returns its id (32 hex digits). */
  put(png: Uint8Array, now = Date.now()): string {
    const id = randomBytes(16).toString("hex");
    this.entries.set(id, { png, at: now });
    this.bytes += png.length;
    this.evict(now);
    return id;
  }

  get(id: string, now = Date.now()): Uint8Array | undefined {
    this.evict(now);
    return this.entries.get(id)?.png;
  }

  private evict(now: number): void {
    for (const [id, e] of this.entries) {
      const over = this.entries.size > this.opts.maxImages || this.bytes > this.opts.maxBytes;
      if (!over && now - e.at < this.opts.ttlMs) break;
      this.entries.delete(id);
      this.bytes -= e.png.length;
    }
  }
}
