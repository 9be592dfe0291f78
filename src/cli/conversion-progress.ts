/**
 * Progress of a conversion on stderr, shared by `models convert` and `models import gguf|ggml`: one
 * rewritten line on a terminal (5 per second at most), a plain line every 5 s otherwise (logs).
 */
import type { Progress } from "../convert/write-folder.ts";

/** Binary units, as the conversion summaries' MiB/s figures. */
export function formatBytes(n: number): string {
  return n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(2)} GiB` : `${(n / (1 << 20)).toFixed(1)} MiB`;
}

export interface ConversionProgress {
  onProgress(p: Progress): void;
  /** Writes a line that must not be overwritten by the progress line (the conversion log). */
  log(line: string): void;
  /** Ends the progress line before the summary. */
  done(): void;
}

export function conversionProgress(): ConversionProgress {
  const tty = process.stderr.isTTY === true;
  const started = performance.now();
  let lastPrint = -Infinity;
  return {
    onProgress(p) {
      const now = performance.now();
      if (now - lastPrint < (tty ? 200 : 5000) && p.tensorsDone < p.tensorsTotal) return;
      lastPrint = now;
      const elapsed = (now - started) / 1000, frac = p.bytesTotal ? p.bytesDone / p.bytesTotal : 1;
      const eta = frac > 0 ? Math.round((elapsed / frac) * (1 - frac)) : 0;
      const line = `${p.variant}: ${p.tensorsDone}/${p.tensorsTotal} tensors, ${formatBytes(p.bytesDone)}/${formatBytes(p.bytesTotal)} (${Math.round(frac * 100)}%), ETA ${eta} s`;
      process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
    },
    log: (l) => process.stderr.write(`${tty ? "\r\x1b[K" : ""}${l}\n`),
    done() {
      if (tty) process.stderr.write("\r\x1b[K");
    },
  };
}
