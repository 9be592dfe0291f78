/**
 * Move `u64` values typed by people (CLI flags, JSON-RPC params): one parser so every entry point
 * accepts the same forms and rejects the same way. Values beyond 2^53 stay exact as bigint.
 */

export const U64_MAX = (1n << 64n) - 1n;

export interface ParseU64Options {
  /** Also accept `0x…` hex text (seeds are often written that way). */
  hex?: boolean;
}

/** A u64 from a safe non-negative integer, a bigint, or decimal (optionally 0x hex) text; null when
 * `value` is none of these or is out of range. Text is not trimmed: callers decide on whitespace. */
export function parseU64(value: unknown, opts: ParseU64Options = {}): bigint | null {
  let v: bigint;
  if (typeof value === "bigint") v = value;
  else if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) return null;
    v = BigInt(value);
  } else if (typeof value === "string") {
    // Length-bounded patterns: a megabyte of digits is rejected without being parsed.
    if (/^0*\d{1,20}$/.test(value) || (opts.hex === true && /^0x0*[0-9a-fA-F]{1,16}$/.test(value))) v = BigInt(value);
    else return null;
  } else return null;
  return v >= 0n && v <= U64_MAX ? v : null;
}
