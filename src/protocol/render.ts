/**
 * Plain-JSON rendering of typed protocol values for operators (CLI output, logs): u64 (bigint) as
 * decimal strings so no precision is lost, byte vectors as lowercase hex, floats as numbers.
 */
import { toHex } from "@mysten/bcs";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export function toJsonValue(value: unknown): Json {
  if (value === null || value === undefined) return null;
  if (typeof value === "bigint") return value.toString(10);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "string") return value;
  if (value instanceof Uint8Array) return toHex(value);
  if (Array.isArray(value)) return value.map(toJsonValue);
  if (typeof value === "object") {
    const out: { [key: string]: Json } = {};
    for (const [k, v] of Object.entries(value)) out[k] = toJsonValue(v);
    return out;
  }
  return String(value);
}

/** Pretty JSON text of any protocol value. */
export function renderJson(value: unknown): string {
  return JSON.stringify(toJsonValue(value), null, 2);
}
