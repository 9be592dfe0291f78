/**
 * The operator's signing key: from `ATOMA_SUI_PRIVATE_KEY` (a `suiprivkey1…` string), else from the
 * Sui CLI `client.yaml` and the keystore it names (spec sui-integration.md §7).
 *
 * Key material never appears in logs or errors: SDK decoding errors can quote their input (bech32
 * checksum errors do), so every failure below is re-raised with our own text naming only the file,
 * the entry index and what was expected.
 */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, resolve } from "node:path";
import { decodeSuiPrivateKey, type Keypair } from "@mysten/sui/cryptography";
import { Ed25519Keypair } from "@mysten/sui/keypairs/ed25519";
import { Secp256k1Keypair } from "@mysten/sui/keypairs/secp256k1";
import { Secp256r1Keypair } from "@mysten/sui/keypairs/secp256r1";
import { fromBase64, isValidSuiAddress, normalizeSuiAddress } from "@mysten/sui/utils";
import { registerSecret } from "../log/logger.ts";

export const PRIVATE_KEY_ENV = "ATOMA_SUI_PRIVATE_KEY";

export class KeyLoadError extends Error {
  override name = "KeyLoadError";
}

export interface Signer {
  keypair: Keypair;
  /** 0x + 64 hex. */
  address: string;
  scheme: "ED25519" | "Secp256k1" | "Secp256r1";
  /** Where the key came from (file path or the env variable name), for logs. */
  source: string;
}

export interface LoadSignerOptions {
  /** Sui CLI client.yaml (config `client.config_path`). */
  configPath?: string;
  /** Explicit signer; default the client.yaml `active_address`. */
  address?: string;
  /** Environment to read `ATOMA_SUI_PRIVATE_KEY` from (default process.env). */
  env?: Record<string, string | undefined>;
}

const SCHEMES = {
  0: { scheme: "ED25519", cls: Ed25519Keypair },
  1: { scheme: "Secp256k1", cls: Secp256k1Keypair },
  2: { scheme: "Secp256r1", cls: Secp256r1Keypair },
} as const;
const FLAG_NAMES: Record<number, string> = { 3: "MultiSig", 5: "ZkLogin", 6: "Passkey" };
const SUPPORTED = "Ed25519 (0x00), Secp256k1 (0x01), Secp256r1 (0x02)";

/** 33 bytes `flag || secret` → keypair. `where` prefixes errors (never includes the bytes). */
function fromFlagged(raw: Uint8Array, where: string): { keypair: Keypair; scheme: Signer["scheme"] } {
  if (raw.length !== 33) throw new KeyLoadError(`${where}: expected 33 bytes (flag + 32-byte private key), got ${raw.length}`);
  const flag = raw[0]!;
  const entry = SCHEMES[flag as 0 | 1 | 2];
  if (!entry) {
    const known = FLAG_NAMES[flag] ? ` (${FLAG_NAMES[flag]})` : "";
    throw new KeyLoadError(`${where}: unsupported key scheme flag 0x${flag.toString(16).padStart(2, "0")}${known}; supported: ${SUPPORTED}`);
  }
  try {
    return { keypair: entry.cls.fromSecretKey(raw.slice(1)), scheme: entry.scheme };
  } catch {
    throw new KeyLoadError(`${where}: not a valid ${entry.scheme} private key`);
  }
}

const INSPECT = Symbol.for("nodejs.util.inspect.custom");

/** SDK keypairs keep the secret in a plain enumerable field, so `log(keypair)` or
 * `JSON.stringify(signer)` would print it. Both objects get redacting renderers. */
function redact<T extends object>(obj: T, label: string): T {
  Object.defineProperty(obj, "toJSON", { value: () => ({ redacted: label }), enumerable: false });
  Object.defineProperty(obj, INSPECT, { value: () => `[${label}]`, enumerable: false });
  return obj;
}

function signer(keypair: Keypair, scheme: Signer["scheme"], source: string): Signer {
  const address = keypair.toSuiAddress();
  // Mask the key's text forms in any later log line or error, wherever they might surface.
  registerSecret(keypair.getSecretKey());
  redact(keypair, `${scheme} keypair of ${address}`);
  const s = { address, scheme, source } as Signer;
  Object.defineProperty(s, "keypair", { value: keypair, enumerable: false });
  return s;
}

/** A keystore entry or env value: `suiprivkey1…` (bech32) or base64 of `flag || secret`. */
function parsePrivateKey(text: string, where: string): { keypair: Keypair; scheme: Signer["scheme"] } {
  const value = text.trim();
  registerSecret(value);
  if (value.startsWith("suiprivkey")) {
    let decoded: { scheme: string; secretKey: Uint8Array };
    try {
      decoded = decodeSuiPrivateKey(value);
    } catch {
      throw new KeyLoadError(`${where}: not a valid suiprivkey1… string (bad bech32 encoding or checksum)`);
    }
    const flag = Object.entries(SCHEMES).find(([, s]) => s.scheme === decoded.scheme)?.[0];
    const flagByte = flag === undefined ? undefined : Number(flag);
    if (flagByte === undefined) {
      throw new KeyLoadError(`${where}: unsupported key scheme ${decoded.scheme ?? "unknown"}; supported: ${SUPPORTED}`);
    }
    return fromFlagged(Uint8Array.from([flagByte, ...decoded.secretKey]), where);
  }
  let raw: Uint8Array;
  try {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value)) throw new Error();
    raw = fromBase64(value);
  } catch {
    throw new KeyLoadError(`${where}: expected base64 of flag + private key, or a suiprivkey1… string`);
  }
  return fromFlagged(raw, where);
}

function expandHome(p: string): string {
  return p === "~" || p.startsWith("~/") ? resolve(homedir(), p.slice(2)) : p;
}

function normalizeAddress(text: string, where: string): string {
  const a = normalizeSuiAddress(text.trim());
  if (!/^0x[0-9a-fA-F]{1,64}$/.test(text.trim()) || !isValidSuiAddress(a)) {
    throw new KeyLoadError(`${where}: expected a Sui address (0x + up to 64 hex digits), got ${JSON.stringify(text).slice(0, 80)}`);
  }
  return a;
}

function readClientYaml(path: string): { keystorePath: string; activeAddress: string | undefined } {
  if (!existsSync(path)) throw new KeyLoadError(`Sui client config ${path} not found (set client.config_path, or ${PRIVATE_KEY_ENV})`);
  let doc: unknown;
  try {
    doc = Bun.YAML.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new KeyLoadError(`Sui client config ${path}: unreadable YAML (${(e as Error).message.split("\n")[0]})`);
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    throw new KeyLoadError(`Sui client config ${path}: expected a YAML mapping with keystore and active_address`);
  }
  const d = doc as Record<string, unknown>;
  const ks = d.keystore as Record<string, unknown> | undefined;
  if (!ks || typeof ks !== "object") throw new KeyLoadError(`Sui client config ${path}: missing key "keystore" (expected keystore: { File: <path> })`);
  if (typeof ks.File !== "string") {
    const variant = Object.keys(ks)[0] ?? "none";
    throw new KeyLoadError(`Sui client config ${path}: keystore variant ${variant} is not supported; expected keystore: { File: <path> }`);
  }
  const file = expandHome(ks.File);
  const keystorePath = isAbsolute(file) ? file : resolve(dirname(path), file);
  const active = d.active_address;
  if (active !== undefined && active !== null && typeof active !== "string") {
    throw new KeyLoadError(`Sui client config ${path}: active_address must be a string`);
  }
  return { keystorePath, activeAddress: active ?? undefined };
}

function readKeystore(path: string): string[] {
  if (!existsSync(path)) throw new KeyLoadError(`Sui keystore ${path} not found`);
  let entries: unknown;
  try {
    entries = JSON.parse(readFileSync(path, "utf8"));
  } catch {
    // The parse error message could quote file content (keys); say only what is wrong.
    throw new KeyLoadError(`Sui keystore ${path}: not valid JSON (expected a JSON array of key strings)`);
  }
  if (!Array.isArray(entries) || !entries.every((e) => typeof e === "string")) {
    throw new KeyLoadError(`Sui keystore ${path}: expected a JSON array of key strings`);
  }
  if (entries.length === 0) throw new KeyLoadError(`Sui keystore ${path} is empty: import a key with \`sui keytool import\` or set ${PRIVATE_KEY_ENV}`);
  return entries;
}

/** Loads the signer: env `ATOMA_SUI_PRIVATE_KEY` first, else client.yaml + keystore. Throws KeyLoadError. */
export function loadSigner(opts: LoadSignerOptions): Signer {
  const env = opts.env ?? process.env;
  const wanted = opts.address ? normalizeAddress(opts.address, "client.address") : undefined;
  const envKey = env[PRIVATE_KEY_ENV];
  if (envKey !== undefined && envKey.trim() !== "") {
    const { keypair, scheme } = parsePrivateKey(envKey, PRIVATE_KEY_ENV);
    const s = signer(keypair, scheme, PRIVATE_KEY_ENV);
    if (wanted && wanted !== s.address) {
      throw new KeyLoadError(`${PRIVATE_KEY_ENV} holds the key of ${s.address}, but client.address is ${wanted}`);
    }
    return s;
  }
  if (!opts.configPath) throw new KeyLoadError(`no Sui key: set client.config_path (Sui client.yaml) or ${PRIVATE_KEY_ENV}`);
  const configPath = expandHome(opts.configPath);
  const { keystorePath, activeAddress } = readClientYaml(configPath);
  const target = wanted ?? (activeAddress ? normalizeAddress(activeAddress, `Sui client config ${configPath}: active_address`) : undefined);
  const entries = readKeystore(keystorePath);

  const problems: string[] = [];
  const loaded: Signer[] = [];
  entries.forEach((entry, i) => {
    try {
      const { keypair, scheme } = parsePrivateKey(entry, `Sui keystore ${keystorePath} entry ${i}`);
      loaded.push(signer(keypair, scheme, keystorePath));
    } catch (e) {
      problems.push((e as Error).message);
    }
  });
  if (!target) {
    if (loaded.length === 1 && problems.length === 0) return loaded[0]!;
    if (loaded.length === 0 && problems.length > 0) throw new KeyLoadError(problems[0]!);
    throw new KeyLoadError(`Sui client config ${configPath}: no active_address and ${entries.length} keystore entries; set active_address or client.address`);
  }
  const found = loaded.find((s) => s.address === target);
  if (found) return found;
  // The wanted key may be the one that failed to load: report that rather than "not found".
  if (problems.length > 0) throw new KeyLoadError(`${problems[0]} (looking for ${target})`);
  throw new KeyLoadError(`address ${target} is not in keystore ${keystorePath} (it holds ${loaded.length} key(s))`);
}
