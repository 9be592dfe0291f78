/**
 * The process-wide logger. Everything goes to STDERR: stdout belongs to command output
 * (`generate` text, `--json` objects), which scripts pipe.
 *
 * Level: `ATOMA_LOG`, else `RUST_LOG` (kept because operators of the Rust node already set it),
 * else `info`; `tracing = true` in the configuration raises it to `trace` (see `applyTracing`).
 * Every log line passes through `redact`, so registered secrets never print.
 */
import { createConsola, type ConsolaReporter, type LogObject } from "consola";
import { formatWithOptions } from "node:util";
import { redact } from "./redact.ts";

export { registerSecret, redact, redactText, MASK } from "./redact.ts";

export type LogLevelName = "silent" | "error" | "warn" | "info" | "debug" | "trace";

/** consola's numeric levels (0 error … 5 trace). */
const LEVELS: Record<LogLevelName, number> = {
  silent: -999,
  error: 0,
  warn: 1,
  info: 3,
  debug: 4,
  trace: 5,
};

const ALIASES: Record<string, LogLevelName> = {
  off: "silent",
  none: "silent",
  silent: "silent",
  error: "error",
  warn: "warn",
  warning: "warn",
  info: "info",
  debug: "debug",
  trace: "trace",
};

function levelOf(word: string): LogLevelName | undefined {
  return ALIASES[word.trim().toLowerCase()];
}

/**
 * Reads a `RUST_LOG`-style filter: comma-separated directives, each `level` or `target=level`.
 * The global level applies; directives for targets named `atoma*` may raise it (they meant this
 * node); directives for other crates are ignored because there are no such crates here.
 * Returns undefined when nothing in the string is a level.
 */
export function parseLogFilter(filter: string | undefined): LogLevelName | undefined {
  if (filter === undefined || filter.trim() === "") return undefined;
  let global: LogLevelName | undefined;
  let ours: LogLevelName | undefined;
  for (const directive of filter.split(",")) {
    const eq = directive.indexOf("=");
    if (eq < 0) {
      global = levelOf(directive) ?? global;
      continue;
    }
    const target = directive.slice(0, eq).trim().toLowerCase();
    const level = levelOf(directive.slice(eq + 1));
    if (level !== undefined && target.startsWith("atoma")) {
      if (ours === undefined || LEVELS[level] > LEVELS[ours]) ours = level;
    }
  }
  if (ours !== undefined && (global === undefined || LEVELS[ours] > LEVELS[global])) return ours;
  return global;
}

/** Level from the environment: ATOMA_LOG wins over RUST_LOG; default info. */
export function levelFromEnv(env: Record<string, string | undefined> = process.env): LogLevelName {
  return parseLogFilter(env.ATOMA_LOG) ?? parseLogFilter(env.RUST_LOG) ?? "info";
}

/** One line per record: `2026-01-01T00:00:00.000Z INFO  [tag] message`, masked. */
function lineReporter(): ConsolaReporter {
  return {
    log(logObj: LogObject, ctx) {
      const args = logObj.args.map((a) => redact(a));
      const message = formatWithOptions({ colors: false, depth: 6, breakLength: Infinity, compact: true }, ...args);
      const type = logObj.type === "log" ? "info" : logObj.type;
      const tag = logObj.tag ? ` [${logObj.tag}]` : "";
      const line = `${logObj.date.toISOString()} ${type.toUpperCase().padEnd(5)}${tag} ${message}\n`;
      (ctx.options.stderr ?? process.stderr).write(line);
    },
  };
}

export const log = createConsola({
  level: LEVELS[levelFromEnv()],
  stdout: process.stderr,
  stderr: process.stderr,
  reporters: [lineReporter()],
});

let current: LogLevelName = levelFromEnv();

export function setLogLevel(level: LogLevelName | number): void {
  if (typeof level === "number") {
    log.level = level;
    const name = (Object.keys(LEVELS) as LogLevelName[]).find((k) => LEVELS[k] === level);
    if (name) current = name;
    return;
  }
  current = level;
  log.level = LEVELS[level];
}

/** `tracing = true` in the configuration: raise to trace (never lowers a level set elsewhere). */
export function applyTracing(tracing: boolean): void {
  if (tracing) setLogLevel("trace");
}
