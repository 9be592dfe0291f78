/**
 * Typed access to one raw TOML table (a seed file or a `[section]`), turning every bad value into a
 * ConfigError that names the file (or the environment variable that overrode the key), the key and
 * what was expected. TOML is parsed with integers as bigint, so "integer" and "float" stay distinct.
 */
import { homedir } from "node:os";
import { resolve } from "node:path";
import { isValidSuiAddress, normalizeSuiAddress } from "@mysten/sui/utils";
import { log } from "../log/logger.ts";
import { ConfigError, describeValue, kindOf } from "./errors.ts";
import { registerSecret } from "../log/redact.ts";
import { showValue } from "../log/show-value.ts";

export type RawTable = Record<string, unknown>;

export function isTable(v: unknown): v is RawTable {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date) && !("toISOString" in v);
}

const HEX_ID = /^0x[0-9a-fA-F]{1,64}$/;

export class Section {
  private readonly used = new Set<string>();

  constructor(
    readonly table: RawTable,
    /** File the table came from (for messages). */
    readonly file: string,
    /** Key prefix in messages: `inference.` in the merged file, `` in a seed file. */
    readonly prefix: string,
    /** Dotted key (relative to the section) → environment variable that supplied it. */
    readonly envNames: ReadonlyMap<string, string> = new Map(),
    /** Path of this table inside its section (`request_timeout.` for the nested Duration table). */
    readonly rel: string = "",
  ) {}

  has(key: string): boolean {
    return this.table[key] !== undefined;
  }

  /** Where a key's value came from, as (file, key) for messages. */
  where(key: string): { file: string; key: string } {
    const full = this.rel + key;
    // The variable may have set this key or a whole table/array above it.
    const parts = full.split(".");
    for (let i = parts.length; i > 0; i--) {
      const env = this.envNames.get(parts.slice(0, i).join(".")) ?? (i === 1 ? this.envNames.get(parts[0]!.replace(/\[.*$/, "")) : undefined);
      if (env !== undefined) return { file: "environment", key: env };
    }
    return { file: this.file, key: this.prefix + full };
  }

  /** A Section over a nested table, keeping file, prefix and environment provenance. */
  child(table: RawTable, key: string): Section {
    return new Section(table, this.file, this.prefix, this.envNames, `${this.rel}${key}.`);
  }

  fail(key: string, problem: string, expected: string): never {
    const w = this.where(key);
    throw new ConfigError(w.file, w.key, problem, expected);
  }

  /** Raw value, marking the key as known (for keys validated elsewhere). */
  peek(key: string): unknown {
    return this.raw(key);
  }

  private raw(key: string): unknown {
    this.used.add(key);
    return this.table[key];
  }

  private missingOr<T>(key: string, expected: string, def: T | undefined): T {
    if (def === undefined) this.fail(key, "missing", expected);
    return def;
  }

  str(key: string, def?: string): string {
    const v = this.raw(key);
    const expected = "a string";
    if (v === undefined) return this.missingOr(key, expected, def);
    if (typeof v !== "string") this.fail(key, `got ${describeValue(v)}`, expected);
    return v;
  }

  optStr(key: string): string | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v !== "string") this.fail(key, `got ${describeValue(v)}`, "a string");
    return v === "" ? undefined : v;
  }

  /** An optional secret string (token, API key). Whatever a wrong value is, it is never echoed:
   * the message names only its kind, and its text is masked in every later log line too. */
  optSecret(key: string): string | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v !== "string") {
      if (typeof v === "bigint" || typeof v === "number") registerSecret(String(v));
      this.fail(key, `got ${kindOf(v)} (value not shown: secret)`, "a string (quote it)");
    }
    registerSecret(v);
    return v === "" ? undefined : v;
  }

  bool(key: string, def?: boolean): boolean {
    const v = this.raw(key);
    if (v === undefined) return this.missingOr(key, "true or false", def);
    if (typeof v !== "boolean") this.fail(key, `got ${describeValue(v)}`, "true or false");
    return v;
  }

  /** Integer in [min, max] as bigint (u64 values such as small_id exceed 2^53). */
  bigint(key: string, opts: { min?: bigint; max?: bigint; def?: bigint; what?: string } = {}): bigint {
    const min = opts.min ?? 0n;
    const max = opts.max ?? 18446744073709551615n;
    const expected = opts.what ?? (max === 18446744073709551615n ? `an integer >= ${min}` : `an integer ${min}..${max}`);
    const v = this.raw(key);
    if (v === undefined) return this.missingOr(key, expected, opts.def);
    if (typeof v !== "bigint") this.fail(key, `got ${describeValue(v)}`, expected);
    if (v < 0n && min >= 0n) this.fail(key, `negative number ${v}`, expected);
    if (v < min || v > max) this.fail(key, `${v} is out of range`, expected);
    return v;
  }

  /** Integer in [min, max] that fits a JS number. */
  int(key: string, opts: { min?: number; max?: number; def?: number; what?: string } = {}): number {
    const max = opts.max ?? Number.MAX_SAFE_INTEGER;
    const r = this.bigint(key, {
      min: BigInt(opts.min ?? 0),
      max: BigInt(max),
      def: opts.def === undefined ? undefined : BigInt(opts.def),
      what: opts.what ?? (max === Number.MAX_SAFE_INTEGER ? `an integer >= ${opts.min ?? 0}` : undefined),
    });
    return Number(r);
  }

  port(key: string, def?: number): number {
    return this.int(key, { min: 1, max: 65535, def, what: "a port number 1..65535" });
  }

  oneOf<T extends string>(key: string, values: readonly T[], def?: T): T {
    const expected = `one of ${values.map((v) => JSON.stringify(v)).join(", ")}`;
    const v = this.raw(key);
    if (v === undefined) return this.missingOr(key, expected, def);
    if (typeof v !== "string" || !values.includes(v as T)) this.fail(key, `got ${describeValue(v)}`, expected);
    return v as T;
  }

  /** A Sui object id / address: `0x` + 1..64 hex digits, normalised to 0x + 64 lowercase hex. */
  objectId(key: string, def?: string): string {
    const expected = "a 32-byte hex object id (0x followed by up to 64 hex digits)";
    const v = this.raw(key);
    if (v === undefined) return this.missingOr(key, expected, def);
    if (typeof v !== "string") this.fail(key, `got ${describeValue(v)}`, expected);
    if (!HEX_ID.test(v)) this.fail(key, `${showValue(v, 80)} is not a valid object id`, expected);
    const id = normalizeSuiAddress(v);
    if (!isValidSuiAddress(id)) this.fail(key, `${showValue(v, 80)} is not a valid object id`, expected);
    return id;
  }

  optObjectId(key: string): string | undefined {
    return this.has(key) ? this.objectId(key) : (this.raw(key), undefined);
  }

  url(key: string, schemes: readonly string[], def?: string): string {
    const expected = `a URL (${schemes.join(" or ")})`;
    const v = this.raw(key);
    if (v === undefined) return this.missingOr(key, expected, def);
    if (typeof v !== "string") this.fail(key, `got ${describeValue(v)}`, expected);
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      this.fail(key, `${showValue(v, 120)} is not a URL`, expected);
    }
    if (!schemes.includes(u.protocol.replace(/:$/, ""))) this.fail(key, `unsupported scheme ${showValue(u.protocol, 20)}`, expected);
    return v;
  }

  /** A filesystem path; `~/` expands to the home directory, relative paths resolve against `cwd`. */
  path(key: string, cwd: string, def?: string): string {
    const v = this.str(key, def);
    if (v === "") this.fail(key, "empty path", "a file or directory path");
    return resolvePath(v, cwd);
  }

  /** serde `Duration` shape `{ secs = u64, nanos = u32 }`, returned in milliseconds. */
  durationMs(key: string, defMs?: number): number {
    const expected = "a table { secs = <integer>, nanos = <integer below 1000000000> }";
    const v = this.raw(key);
    if (v === undefined) return this.missingOr(key, expected, defMs);
    if (!isTable(v)) this.fail(key, `got ${describeValue(v)}`, expected);
    const inner = this.child(v, key);
    const secs = inner.bigint("secs", { max: BigInt(Math.floor(Number.MAX_SAFE_INTEGER / 1000)), what: "an integer >= 0 (seconds)" });
    const nanos = inner.bigint("nanos", { max: 999_999_999n, def: 0n, what: "an integer 0..999999999" });
    inner.reportUnknown();
    const ms = Number(secs) * 1000 + Number(nanos) / 1e6;
    if (ms <= 0) this.fail(key, "zero duration", "a timeout greater than zero");
    return ms;
  }

  /** Extra keys are accepted (serde ignored them too) but mentioned at debug level. */
  reportUnknown(): void {
    for (const key of Object.keys(this.table)) {
      if (!this.used.has(key)) log.debug(`${this.where(key).file}: ${this.where(key).key}: unknown key ignored`);
    }
  }
}

export function resolvePath(p: string, cwd: string): string {
  if (p === "~") return homedir();
  if (p.startsWith("~/")) return resolve(homedir(), p.slice(2));
  return resolve(cwd, p);
}
