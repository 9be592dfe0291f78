/** Hostile payloads shared by the probe (test/support/hostile-probe.ts) and the node tests. */

/** MessagePack headers that claim 2^27−1 or 2^32−1 elements/bytes with nothing behind them. */
export const MSGPACK_BOMBS: number[][] = [
  [0xdd, 0x07, 0xff, 0xff, 0xff], // array32, 2^27−1 elements (the reported 5 bytes)
  [0xdd, 0xff, 0xff, 0xff, 0xff], // array32, 2^32−1
  [0xdf, 0x07, 0xff, 0xff, 0xff], // map32
  [0xdb, 0xff, 0xff, 0xff, 0xff], // str32
  [0xc6, 0xff, 0xff, 0xff, 0xff], // bin32
  [0xc9, 0xff, 0xff, 0xff, 0xff, 0x01], // ext32
  [0x81, 0xa3, 0x52, 0x61, 0x77, 0xdd, 0x07, 0xff, 0xff, 0xff], // {Raw: <array bomb>}
];

/** Text2TextPromptEvent prefix up to `pre_prompt_tokens`, then a ULEB length of 2^27−1 (83 bytes). */
export function bcsVectorBomb(): Uint8Array {
  const b = new Uint8Array(83);
  let o = 32 + 8; // ticket_id, max_tokens
  b[o++] = 1; // model: ascii string of 1 byte
  b[o++] = 0x61;
  for (const x of [0xff, 0xff, 0xff, 0x3f]) b[o++] = x; // ULEB128 2^27−1
  return b;
}
