/**
 * JSON text for values that hold bigint (u64 params) and byte arrays (prompts, destinations), so
 * decoded chain values can be stored as TEXT and read back identical. Tagged objects keep the
 * round trip exact: `{"$u64":"…"}` for bigint, `{"$b64":"…"}` for Uint8Array, and `{"$num":"NaN"}`
 * for numbers JSON cannot carry (an f32 from chain can be any bit pattern: NaN, ±Infinity, -0).
 */

export function encodeValue(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === "bigint") return { $u64: v.toString() };
    if (v instanceof Uint8Array) return { $b64: Buffer.from(v).toString("base64") };
    if (typeof v === "number" && (!Number.isFinite(v) || Object.is(v, -0))) return { $num: Object.is(v, -0) ? "-0" : String(v) };
    return v;
  });
}

export function decodeValue<T>(text: string): T {
  return JSON.parse(text, (_key, v: unknown) => {
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      if (typeof o.$u64 === "string" && Object.keys(o).length === 1) return BigInt(o.$u64);
      if (typeof o.$b64 === "string" && Object.keys(o).length === 1) return Uint8Array.from(Buffer.from(o.$b64, "base64"));
      if (typeof o.$num === "string" && Object.keys(o).length === 1) return Number(o.$num);
    }
    return v;
  }) as T;
}
