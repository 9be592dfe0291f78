/**
 * Runs hostile-byte scenarios in a process of their own and prints one JSON line with the peak
 * RSS before and after (`process.resourceUsage().maxRSS`, KiB), so one test's allocations cannot
 * hide or inflate another's. Used by test/protocol/hostile-bytes.test.ts:
 *   bun test/support/hostile-probe.ts <msgpack-bombs | bcs-bombs | fuzz> [seed] [count]
 */
import { decodeEventBcs, encodeEventBcs } from "../../src/chain/events/decode.ts";
import { EVENT_NAMES, type EventName } from "../../src/chain/events/schemas.ts";
import { toGenerateRequest } from "../../src/jobs/params.ts";
import { parseTextParams } from "../../src/api/rpc-params.ts";
import { decodeInputSource, decodeOutputDestination, decodePrompt } from "../../src/protocol/msgpack.ts";
import type { AtomaEvent } from "../../src/protocol/types.ts";
import { Xoshiro256StarStar } from "../../src/engine/prng.ts";
import { bcsVectorBomb, MSGPACK_BOMBS } from "./hostile-probe-bytes.ts";

const peakKiB = () => process.resourceUsage().maxRSS;
const results: Record<string, unknown> = {};

function msgpackBombs(): void {
  for (let round = 0; round < 20; round++) {
    for (const bomb of MSGPACK_BOMBS) {
      const bytes = Uint8Array.from(bomb);
      decodePrompt(bytes);
      decodeInputSource(bytes);
      decodeOutputDestination(bytes);
      // The JSON-RPC `generate` path: `"prompt":[221,7,255,255,255]` → params → request.
      toGenerateRequest(parseTextParams({ prompt: bomb, model: "m", max_tokens: 1 }, undefined));
    }
  }
  results.destination = decodeOutputDestination(Uint8Array.from(MSGPACK_BOMBS[0]!));
}

function bcsBombs(): void {
  const bomb = bcsVectorBomb();
  // NewlySampledNodesEvent: ticket id, then a `new_nodes` length of 2^27−1 and nothing else.
  const padded = new Uint8Array(36).fill(0x22);
  padded.set([0xff, 0xff, 0xff, 0x3f], 32);
  for (let round = 0; round < 20; round++) {
    decodeEventBcs("Text2TextPromptEvent", bomb);
    decodeEventBcs("NewlySampledNodesEvent", padded);
  }
  results.text2text = decodeEventBcs("Text2TextPromptEvent", bomb);
  results.newlySampled = decodeEventBcs("NewlySampledNodesEvent", padded);
}

/** Well-formed payloads the mutations start from. */
const MSGPACK_SEEDS = [
  "81a352617791a26869", "81a3526177 81a670726f6d7074a26869", "81a44970667392a3516d58a454657874", "a84669726562617365",
  "81a74761746577617991a6757365722d31", "81a8537570616261736591a5726571 2d31", "81a44970667391a5726571 2d31",
].map((h) => Uint8Array.from(Buffer.from(h.replaceAll(" ", ""), "hex")));

const T = (b: string) => "0x" + b.repeat(32);
const textParams = { maxTokens: 16n, model: "llama_tiny", prePromptTokens: [1, 2, 3], prependOutputWithInput: false, prompt: new TextEncoder().encode("hi"), randomSeed: 42n, repeatLastN: 64n, repeatPenalty: 1.1, shouldStreamOutput: false, temperature: 0.7, topK: 40n, topP: 0.9 };
const BCS_SEEDS: AtomaEvent[] = [
  { kind: "Text2TextPromptEvent", ticketId: T("11"), params: textParams, chunksCount: 3n, nodes: [7n, 2n, 9n], outputDestination: MSGPACK_SEEDS[3]! },
  { kind: "Text2ImagePromptEvent", ticketId: T("12"), chunksCount: 1n, nodes: [7n], outputDestination: new Uint8Array(), params: { guidanceScale: 7.5, height: 512n, img2img: new Uint8Array([1, 2]), img2imgStrength: 0.5, model: "sd", nSteps: 30n, numSamples: 1n, outputDestination: new Uint8Array(), prompt: new TextEncoder().encode("cat"), randomSeed: 1n, uncondPrompt: new Uint8Array(), width: 512n } },
  { kind: "NewlySampledNodesEvent", ticketId: T("22"), newNodes: [{ nodeId: 5n, order: 1n }, { nodeId: 7n, order: 2n }] },
  { kind: "FirstSubmissionEvent", ticketId: T("33"), nodeId: 7n },
  { kind: "DisputeEvent", ticketId: T("44"), timeout: { timedOutCount: 3n, timeoutMs: 60000n, startedInEpoch: 12n, startedAtEpochTimestampMs: 1n } },
  { kind: "SettledEvent", ticketId: T("55"), oracleNodeId: 12n },
  { kind: "NodeSubscribedToModelEvent", nodeSmallId: 7n, modelName: "llama_tiny", echelonId: 2n },
];

/** One mutation of `src`: byte flips, a huge length header spliced in, truncation or a splice of
 * random bytes. Mirrors what a hostile prompt author or a broken full node could send. */
function mutate(rng: Xoshiro256StarStar, src: Uint8Array, bcs: boolean): Uint8Array {
  const r = (n: number) => Math.floor(rng.nextDouble() * n);
  let b: Uint8Array = src.slice();
  const steps = 1 + r(3);
  for (let s = 0; s < steps; s++) {
    const at = r(b.length + 1);
    switch (r(5)) {
      case 0: // flip bytes
        for (let i = 0; i < 1 + r(3) && b.length > 0; i++) b[r(b.length)] = r(256);
        break;
      case 1: { // splice a length claim: MessagePack 32-bit header or a BCS ULEB up to 2^32−1
        const claim = bcs
          ? [0x80 | r(128), 0x80 | r(128), 0x80 | r(128), 0x80 | r(128), 1 + r(15)]
          : [[0xdc, 0xdd, 0xde, 0xdf, 0xdb, 0xc6, 0xc9, 0xda, 0xc5][r(9)]!, r(256), r(256), r(256), r(256)];
        b = Uint8Array.from([...b.subarray(0, at), ...claim, ...b.subarray(at + (bcs ? r(5) : 0))]);
        break;
      }
      case 2: // truncate
        b = b.slice(0, at);
        break;
      case 3: { // insert random bytes
        const junk = Array.from({ length: 1 + r(8) }, () => r(256));
        b = Uint8Array.from([...b.subarray(0, at), ...junk, ...b.subarray(at)]);
        break;
      }
      default: // duplicate a slice (nesting, repeated headers)
        b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(r(Math.max(1, at))), ...b.subarray(at)]);
    }
  }
  return b;
}

function fuzz(seed: bigint, count: number): void {
  const rng = new Xoshiro256StarStar(seed);
  const bcsSeeds = BCS_SEEDS.map((e) => ({ name: e.kind as EventName, bytes: encodeEventBcs(e) }));
  let msgpackDecoded = 0;
  let bcsDecoded = 0;
  let maxLen = 0;
  for (let i = 0; i < count; i++) {
    const m = mutate(rng, MSGPACK_SEEDS[i % MSGPACK_SEEDS.length]!, false);
    maxLen = Math.max(maxLen, m.length);
    const p = decodePrompt(m);
    if ("source" in p) msgpackDecoded++;
    if (decodeOutputDestination(m).kind !== "nowhere") msgpackDecoded++;
    const s = bcsSeeds[i % bcsSeeds.length]!;
    const b = mutate(rng, s.bytes, true);
    maxLen = Math.max(maxLen, b.length);
    // Every event layout, not only the one the bytes came from: a full node may label anything.
    const r = decodeEventBcs(EVENT_NAMES[i % EVENT_NAMES.length]!, b);
    const own = decodeEventBcs(s.name, b);
    if (r.ok || own.ok) bcsDecoded++;
  }
  Object.assign(results, { count, msgpackDecoded, bcsDecoded, maxLen });
}

const [scenario, seedArg, countArg] = process.argv.slice(2);
// Warm up the code paths (JIT, lazily loaded modules) before the baseline is taken.
decodePrompt(MSGPACK_SEEDS[0]!);
decodeOutputDestination(MSGPACK_SEEDS[3]!);
decodeEventBcs("Text2TextPromptEvent", encodeEventBcs(BCS_SEEDS[0]!));
fuzz(1n, 200);
for (const k of Object.keys(results)) delete results[k];
Bun.gc(true);
const before = peakKiB();
const started = performance.now();
if (scenario === "msgpack-bombs") msgpackBombs();
else if (scenario === "bcs-bombs") bcsBombs();
else if (scenario === "fuzz") fuzz(BigInt(seedArg ?? "1"), Number(countArg ?? "3000"));
else throw new Error(`unknown scenario ${scenario}`);
const after = peakKiB();
console.log(JSON.stringify({ scenario, beforeKiB: before, afterKiB: after, ms: Math.round(performance.now() - started), results }, (_k, v) => (typeof v === "bigint" ? v.toString() : v)));
