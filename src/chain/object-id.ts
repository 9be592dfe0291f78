/**
 * Object ids typed by users (CLI, HTTP path, JSON-RPC params) may be short (`0x2`), lack `0x`, or
 * use upper case; the store keys tickets by the canonical form, so every entry point normalises
 * with the SDK's rules. The SDK's normaliser does not reject non-hex text, hence the pattern check.
 */
import { isValidSuiObjectId, normalizeSuiObjectId } from "@mysten/sui/utils";

/** Canonical `0x` + 64 lower-case hex digits, or null when `text` is not a hex object id. */
export function parseObjectId(text: string): string | null {
  if (!/^(0x)?[0-9a-fA-F]{1,64}$/.test(text)) return null;
  const id = normalizeSuiObjectId(text.toLowerCase());
  return isValidSuiObjectId(id) ? id : null;
}
