/**
 * Progress over UNet steps on stderr for `generate-image`: on a terminal one bar redrawn in place
 * (10 per second at most), elsewhere a plain line for the first step, then at most one every
 * 2 s, and the last one, so a log shows a long generation moving without a line per step.
 * The bar and ETA formatting are the pull progress's (models/progress.ts).
 */
import { bar, formatEta } from "../models/progress.ts";

export interface StepProgress {
  onStep(done: number, total: number): void;
  /** Ends the bar's line before the command's own output. */
  end(): void;
}

export function stepProgress(out: NodeJS.WriteStream = process.stderr): StepProgress {
  const tty = out.isTTY === true;
  const started = performance.now();
  let last = -Infinity;
  let drawn = false;
  return {
    onStep(done, total) {
      const now = performance.now();
      const final = done >= total;
      if (!final && done > 1 && now - last < (tty ? 100 : 2000)) return;
      last = now;
      const perStep = (now - started) / 1000 / done;
      const line = `step ${done}/${total} (${Math.round((100 * done) / total)}%), ${perStep < 0.1 ? `${(perStep * 1000).toFixed(1)} ms` : `${perStep.toFixed(2)} s`}/step, ETA ${formatEta(perStep * (total - done))}`;
      if (tty) {
        out.write(`\r${bar(done / total)} ${line}\x1b[K`);
        drawn = true;
      } else out.write(`${line}\n`);
    },
    end() {
      if (drawn) out.write("\n");
      drawn = false;
    },
  };
}
