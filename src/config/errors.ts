/**
 * The one error type of configuration loading. Its message is always ONE line,
 * `<file>: <key>: <what is wrong>, expected <what>`, so the CLI can print it as is (exit 2) and
 * an operator sees where to look without a stack trace.
 */
import { redactText } from "../log/redact.ts";
import { escapeControl, showValue } from "../log/show-value.ts";

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    /** Config file path, `environment` or `command line`. */
    readonly file: string,
    /** Dotted key (e.g. `inference.jrpc_port`, `models[0].dtype`), env var name, flag, or `line N`. */
    readonly key: string,
    readonly problem: string,
    readonly expected: string,
  ) {
    // Values quoted in `problem` may come from a secret-bearing key; mask and keep to one line.
    // Control characters (a raw NUL in a key, a file name or a parser message) are escaped.
    super(escapeControl(oneLine(redactText(`${file}: ${key}: ${problem}, expected ${expected}`))));
  }
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, " ");
}

/** The kind of a TOML value, without the value (for secret-typed keys). */
export function kindOf(v: unknown): string {
  if (typeof v === "bigint") return "an integer";
  if (typeof v === "number") return "a float";
  if (typeof v === "string") return "a string";
  if (typeof v === "boolean") return "a boolean";
  if (Array.isArray(v)) return "an array";
  if (v instanceof Date || (typeof v === "object" && v !== null && "toISOString" in v)) return "a date";
  return "a table";
}

/** Short, printable rendering of a bad value for error messages. */
export function describeValue(v: unknown): string {
  if (v === undefined) return "nothing";
  if (typeof v === "bigint") return `integer ${v}`;
  if (typeof v === "number") return Number.isInteger(v) ? `float ${v.toFixed(1)}` : `float ${v}`;
  if (typeof v === "string") return `string ${showValue(v, 60)}`;
  if (typeof v === "boolean") return `boolean ${v}`;
  if (Array.isArray(v)) return `array of ${v.length}`;
  if (v instanceof Date) return "date";
  if (typeof v === "object" && v !== null && "toISOString" in v) return "date";
  return "table";
}

/**
 * Runs `fn`; a ConfigError becomes its one-line message on stderr and exit code 2 (no stack trace,
 * which would only bury the line that says what to fix). Other errors propagate.
 */
export async function exitOnConfigError<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
}
