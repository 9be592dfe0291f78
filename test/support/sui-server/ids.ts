/**
 * Deterministic identifiers for the fake ledger. Object ids, object digests, transaction digests of
 * injected (unsigned) transactions and checkpoint digests are all BLAKE2b-256 of a label, so a
 * restarted server with the same options hands out the same ids (configs written for a person stay
 * valid). Digests are base58 of 32 bytes, like Sui's.
 */
import { blake2b } from "@noble/hashes/blake2.js";
import { toBase58 } from "@mysten/bcs";
import { normalizeSuiAddress, toHex } from "@mysten/sui/utils";

const enc = new TextEncoder();

function hash(...parts: (string | Uint8Array | bigint)[]): Uint8Array {
  const chunks = parts.map((p) => (typeof p === "string" ? enc.encode(p) : typeof p === "bigint" ? enc.encode(p.toString()) : p));
  const joined = new Uint8Array(chunks.reduce((n, c) => n + c.length + 1, 0));
  let at = 0;
  for (const c of chunks) {
    joined.set(c, at);
    at += c.length + 1; // separator byte 0 keeps ("ab","c") ≠ ("a","bc")
  }
  return blake2b(joined, { dkLen: 32 });
}

/** A 0x + 64 hex object id derived from a label and a seed. */
export function objectId(seed: string, label: string): string {
  return normalizeSuiAddress(toHex(hash("object", seed, label)));
}

/** An object digest for (id, version): changes with every new version like Sui's. */
export function objectDigest(id: string, version: bigint): string {
  return toBase58(hash("object-digest", id, version));
}

export function syntheticTxDigest(seed: string, n: bigint): string {
  return toBase58(hash("tx", seed, n));
}

export function checkpointDigest(seed: string, seq: bigint): string {
  return toBase58(hash("checkpoint", seed, seq));
}
