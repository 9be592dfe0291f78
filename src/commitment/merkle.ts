/**
 * Atoma output commitment (spec atoma-protocol.md §8.2): BLAKE2b with a 32-byte digest
 * (`sui::hash::blake2b256`, a parameterised output length — not truncated BLAKE2b-512),
 * leaves `H(data ‖ u64_le(j))` for j = 0…n−1 and root `H(leaf_0 ‖ … ‖ leaf_{n−1})`.
 * Empty `data` is legal: each leaf is then the hash of the 8-byte index alone (§8.1, §13 #9).
 */
import { blake2b } from "@noble/hashes/blake2.js";

/** Largest leaf count we accept: the contract samples at most 256 nodes, cross-validation adds a few. */
export const MAX_LEAVES = 4096;

export function blake2b256(data: Uint8Array): Uint8Array {
  return blake2b(data, { dkLen: 32 });
}

export interface Commitment {
  root: Uint8Array;
  /** The leaf at `index` (this node's `chunk_hash`). */
  leaf: Uint8Array;
  leaves: Uint8Array[];
}

/** Computes all `n` leaves and the root; `index` selects this node's leaf. */
export function commit(data: Uint8Array, n: number, index: number): Commitment {
  if (!Number.isInteger(n) || n < 1 || n > MAX_LEAVES) {
    throw new RangeError(`commitment: leaf count ${n} is invalid; expected an integer in 1..${MAX_LEAVES}`);
  }
  if (!Number.isInteger(index) || index < 0 || index >= n) {
    throw new RangeError(`commitment: leaf index ${index} is invalid; expected an integer in 0..${n - 1}`);
  }
  // Leaf j = blake2b256(data ‖ u64_le(j)), built in one reusable buffer: only the suffix changes.
  const buf = new Uint8Array(data.length + 8);
  buf.set(data, 0);
  const view = new DataView(buf.buffer);
  const concat = new Uint8Array(32 * n);
  const leaves: Uint8Array[] = [];
  for (let j = 0; j < n; j++) {
    view.setBigUint64(data.length, BigInt(j), true);
    const leaf = blake2b256(buf);
    leaves.push(leaf);
    concat.set(leaf, 32 * j);
  }
  return { root: blake2b256(concat), leaf: leaves[index]!, leaves };
}

/** Commitment of a text output: UTF-8 bytes of the generated text only (§8.1). */
export function commitText(text: string, n: number, index: number): Commitment {
  return commit(new TextEncoder().encode(text), n, index);
}
