/**
 * Secret masking for everything that leaves the process as text (logs, error messages, printed
 * configuration). Two layers, because either alone leaks:
 *  - values registered at run time (`registerSecret`: the HF api_key, the JSON-RPC token, decoded
 *    private keys) are masked wherever they appear inside any string;
 *  - object keys that name a secret (`api_key`, `jrpcToken`, `privateKey`, …) are masked whatever
 *    their value, so a secret that was never registered still does not print in a dumped object.
 * Sui bech32 private keys (`suiprivkey1…`) are masked by pattern.
 */

export const MASK = "***";

const secrets = new Set<string>();
/** Longest first, so a secret that contains another is masked whole. */
let ordered: string[] = [];

/** Shorter values are not registered: masking "abc" everywhere would garble logs and hide nothing. */
const MIN_SECRET_LENGTH = 4;

const SECRET_KEY = /^(api_?key|jrpc_?token|token|bearer_?token|private_?key|secret_?key|secret|password|mnemonic|gateway_api_key|gateway_bearer_token|firebase_(password|api_key)|anon_key)$/i;
const SUI_PRIVATE_KEY = /suiprivkey1[02-9ac-hj-np-z]+/g;

/** Remembers a secret value so it is masked in every later log line and error message. */
export function registerSecret(value: string | undefined | null): void {
  if (typeof value !== "string" || value.length < MIN_SECRET_LENGTH || secrets.has(value)) return;
  secrets.add(value);
  ordered = [...secrets].sort((a, b) => b.length - a.length);
}

/** Whether an object key names a secret (its value is masked regardless of content). */
function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

export function redactText(text: string): string {
  let out = text.replace(SUI_PRIVATE_KEY, MASK);
  for (const s of ordered) {
    if (out.includes(s)) out = out.split(s).join(MASK);
  }
  return out;
}

/** Deep copy of `value` with secrets masked; Errors keep their class name, message and stack (masked). */
export function redact(value: unknown, seen: WeakMap<object, unknown> = new WeakMap()): unknown {
  if (typeof value === "string") return redactText(value);
  if (value === null || typeof value !== "object") return value;
  if (seen.has(value)) return seen.get(value);
  if (value instanceof Error) {
    const copy = new Error(redactText(value.message));
    copy.name = value.name;
    copy.stack = value.stack === undefined ? undefined : redactText(value.stack);
    seen.set(value, copy);
    if (value.cause !== undefined) copy.cause = redact(value.cause, seen);
    return copy;
  }
  if (Array.isArray(value)) {
    const arr: unknown[] = [];
    seen.set(value, arr);
    for (const v of value) arr.push(redact(v, seen));
    return arr;
  }
  // Typed arrays, dates, maps etc. carry no secret text we could find by key; print as is.
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  seen.set(value, out);
  for (const [k, v] of Object.entries(value)) {
    // Only text and raw bytes can be secrets; `token: 42` (a token id) stays readable.
    const secretShaped = (typeof v === "string" && v !== "") || v instanceof Uint8Array;
    out[k] = isSecretKey(k) && secretShaped ? MASK : redact(v, seen);
  }
  return out;
}
