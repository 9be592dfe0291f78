/**
 * Pull progress. On a terminal: a two-line bar redrawn in place (current file, and the total),
 * each with bytes, rate and ETA. Elsewhere (logs, `run`): one plain line every few seconds and
 * one per finished file, so a log shows a long pull moving without flooding.
 */
import { log } from "../log/logger.ts";

export interface PullProgress {
  /** Bytes still to fetch for the whole pull (files already cached excluded). */
  start(repo: string, totalBytes: number, files: number): void;
  file(path: string, size: number, resumedFrom: number): void;
  bytes(n: number): void;
  fileDone(path: string): void;
  end(): void;
}

export function formatBytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let u = 0;
  while (n >= 1000 && u < units.length - 1) {
    n /= 1000;
    u++;
  }
  return `${u === 0 ? n : n.toFixed(1)} ${units[u]}`;
}

export function formatEta(s: number): string {
  if (!Number.isFinite(s)) return "--";
  if (s < 60) return `${Math.ceil(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

/** Shared counters; the two renderers only differ in how they print. */
class Counters {
  repo = "";
  total = 0;
  done = 0;
  fileName = "";
  fileSize = 0;
  fileDone = 0;
  started = Date.now();
  rate(): number {
    const s = (Date.now() - this.started) / 1000;
    return s > 0 ? this.done / s : 0;
  }
  eta(remaining: number): string {
    const r = this.rate();
    return r > 0 ? formatEta(remaining / r) : "--";
  }
}

export function bar(frac: number, width = 24): string {
  const f = Math.max(0, Math.min(1, frac));
  const full = Math.round(f * width);
  return `[${"#".repeat(full)}${"-".repeat(width - full)}]`;
}

export class TerminalProgress implements PullProgress {
  private c = new Counters();
  private drawn = false;
  private last = 0;
  constructor(private out: NodeJS.WriteStream = process.stderr) {}
  start(repo: string, totalBytes: number, files: number): void {
    Object.assign(this.c, { repo, total: totalBytes, done: 0, started: Date.now() });
    this.out.write(`pulling ${repo}: ${files} file(s), ${formatBytes(totalBytes)} to fetch\n`);
  }
  file(path: string, size: number, resumedFrom: number): void {
    Object.assign(this.c, { fileName: path, fileSize: size, fileDone: resumedFrom });
    if (resumedFrom > 0) this.line(`resuming ${path} from ${formatBytes(resumedFrom)}`);
    this.draw(true);
  }
  bytes(n: number): void {
    this.c.done += n;
    this.c.fileDone += n;
    this.draw(false);
  }
  fileDone(): void {
    this.draw(true);
  }
  end(): void {
    this.draw(true);
    if (this.drawn) this.out.write("\n");
    this.drawn = false;
  }
  private line(text: string): void {
    if (this.drawn) this.out.write("\x1b[1A\r\x1b[2K\x1b[1A\r\x1b[2K");
    this.drawn = false;
    this.out.write(text + "\n");
  }
  private draw(force: boolean): void {
    const now = Date.now();
    if (!force && now - this.last < 100) return;
    this.last = now;
    const c = this.c;
    const rate = `${formatBytes(c.rate())}/s`;
    const f = `${bar(c.fileSize ? c.fileDone / c.fileSize : 1)} ${c.fileName}  ${formatBytes(c.fileDone)}/${formatBytes(c.fileSize)}`;
    const t = `${bar(c.total ? c.done / c.total : 1)} total  ${formatBytes(c.done)}/${formatBytes(c.total)}  ${rate}  ETA ${c.eta(c.total - c.done)}`;
    if (this.drawn) this.out.write("\x1b[1A\r\x1b[2K");
    this.out.write(`\r\x1b[2K${f}\n\r\x1b[2K${t}`);
    this.drawn = true;
  }
}

export class LogProgress implements PullProgress {
  private c = new Counters();
  private timer: ReturnType<typeof setInterval> | undefined;
  constructor(private everyMs = 5000) {}
  start(repo: string, totalBytes: number, files: number): void {
    Object.assign(this.c, { repo, total: totalBytes, done: 0, started: Date.now() });
    log.info(`pulling ${repo}: ${files} file(s), ${formatBytes(totalBytes)} to fetch`);
    this.timer = setInterval(() => this.report(), this.everyMs);
    this.timer.unref?.();
  }
  file(path: string, size: number, resumedFrom: number): void {
    Object.assign(this.c, { fileName: path, fileSize: size, fileDone: resumedFrom });
    if (resumedFrom > 0) log.info(`pull ${this.c.repo}: resuming ${path} at ${formatBytes(resumedFrom)} of ${formatBytes(size)}`);
  }
  bytes(n: number): void {
    this.c.done += n;
    this.c.fileDone += n;
  }
  fileDone(path: string): void {
    log.info(`pull ${this.c.repo}: ${path} done (${formatBytes(this.c.fileSize)}); ${this.summary()}`);
  }
  end(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
  private summary(): string {
    const c = this.c;
    const pct = c.total ? Math.floor((100 * c.done) / c.total) : 100;
    return `${formatBytes(c.done)} of ${formatBytes(c.total)} (${pct}%), ${formatBytes(c.rate())}/s, ETA ${c.eta(c.total - c.done)}`;
  }
  private report(): void {
    log.info(`pull ${this.c.repo}: ${this.summary()}; ${this.c.fileName} ${formatBytes(this.c.fileDone)}/${formatBytes(this.c.fileSize)}`);
  }
}

/** A bar on a terminal, log lines otherwise. */
export function progressFor(stream: NodeJS.WriteStream = process.stderr): PullProgress {
  return stream.isTTY ? new TerminalProgress(stream) : new LogProgress();
}
