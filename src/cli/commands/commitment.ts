/**
 * `atoma-node commitment --data <text> --leaves N --index I` → `{"root": hex, "leaf": hex}`.
 * Operators use it to check a dispute: recompute what an honest node should have committed.
 */
import { defineCommand } from "citty";
import { fail } from "../fail.ts";
import { fromHex, toHex } from "@mysten/bcs";
import { commit, MAX_LEAVES } from "../../commitment/merkle.ts";


function parseCount(name: string, raw: unknown, min: number, max: number): number {
  const s = String(raw ?? "").trim();
  if (!/^\d+$/.test(s)) fail(`--${name} "${s}" is not a non-negative integer`);
  const v = Number(s);
  if (v < min || v > max) fail(`--${name} ${v} is out of range; expected ${min}..${max}`);
  return v;
}

export default defineCommand({
  meta: { name: "commitment", description: "Compute the BLAKE2b-256 Merkle root and leaf of an output (spec §8.2)" },
  args: {
    data: { type: "string", description: "Output text (UTF-8); use --hex for raw bytes" },
    hex: { type: "string", description: "Output bytes as hex (instead of --data)" },
    leaves: { type: "string", description: "Number of leaves n (sampled nodes / chunks_count)", default: "1" },
    index: { type: "string", description: "This node's leaf index (0-based)", default: "0" },
  },
  run({ args }) {
    if (args.data === undefined && args.hex === undefined) fail("give the output with --data <text> or --hex <bytes>");
    if (args.data !== undefined && args.hex !== undefined) fail("give only one of --data and --hex");
    let bytes: Uint8Array;
    if (args.hex !== undefined) {
      const h = args.hex.replace(/^0x/, "");
      if (h.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(h)) fail(`--hex is not an even-length hex string`);
      bytes = fromHex(h); // validated above: fromHex would pad an odd length instead of refusing it
    } else {
      bytes = new TextEncoder().encode(args.data);
    }
    const n = parseCount("leaves", args.leaves, 1, MAX_LEAVES);
    const i = parseCount("index", args.index, 0, n - 1);
    const c = commit(bytes, n, i);
    process.stdout.write(JSON.stringify({ root: toHex(c.root), leaf: toHex(c.leaf) }) + "\n");
  },
});
