/**
 * JSON request bodies. `JSON.parse` turns `1e309` into Infinity (rendered `null`) and
 * `9007199254740993` into …992, so an error message would show a value the client never sent.
 * Numbers a JS number cannot hold exactly are therefore kept as `RawNumber` (their source text,
 * via the reviver's source access); they fail every numeric check and are quoted as sent. The
 * reviver recurses, so it runs only when the text has such a number and only as deep as the
 * engine's stack allows (a 50,000-deep array parses without it).
 */
import { RawNumber } from "../log/show-value.ts";

/** 16+ digit integers and 3-digit exponents are the only texts that can lose information. */
const MAYBE_LOSSY = /\d{16}|[eE][+-]?\d{3}/;

function lossy(v: number, source: string): boolean {
  if (!Number.isFinite(v)) return true;
  return /^-?\d+$/.test(source) && !Number.isSafeInteger(v) && BigInt(source) !== BigInt(v);
}

/** Parses JSON text (throws SyntaxError like JSON.parse). */
export function parseJsonBody(text: string): unknown {
  const plain: unknown = JSON.parse(text);
  if (!MAYBE_LOSSY.test(text)) return plain;
  try {
    return JSON.parse(text, (_key, v: unknown, ctx?: { source?: string }) =>
      typeof v === "number" && ctx?.source !== undefined && lossy(v, ctx.source) ? new RawNumber(ctx.source) : v,
    );
  } catch {
    return plain; // nested too deep for the reviver: numbers stay as JSON.parse read them
  }
}
