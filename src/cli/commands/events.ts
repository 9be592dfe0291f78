/**
 * `atoma-node events decode <EventName> (--bcs <base64> | --json <text>) [--small-id N]`: decodes an
 * Atoma event exactly as the node would and prints it as JSON (u64 as decimal strings, floats as
 * numbers, byte vectors as hex, a UTF-8 prompt as text); with --small-id, also whether the event is
 * for that node.
 */
import { defineCommand } from "citty";
import { fail } from "../fail.ts";
import { parseU64 } from "../../protocol/u64.ts";
import { fromBase64, fromHex } from "@mysten/sui/utils";
import type { LeafCountPolicy } from "../../config/types.ts";
import { decodeEventBcs, decodeEventJson, isEventName } from "../../chain/events/decode.ts";
import { EVENT_NAMES } from "../../chain/events/schemas.ts";
import { describeSelection } from "../../chain/events/selection.ts";
import { decodeInputSource, decodeOutputDestination } from "../../protocol/msgpack.ts";
import { renderJson } from "../../protocol/render.ts";
import type { AtomaEvent } from "../../protocol/types.ts";


const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The bytes as text when they are valid UTF-8, else undefined (they stay hex). */
function asText(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * MessagePack payloads shown decoded next to their hex, so operators see where output goes; a
 * plain prompt (not a MessagePack `InputSource`) is shown as its text when it is UTF-8.
 */
function display(event: AtomaEvent): { event: unknown; notes: Record<string, unknown> } {
  if (event.kind !== "Text2TextPromptEvent" && event.kind !== "Text2ImagePromptEvent") return { event, notes: {} };
  const source = decodeInputSource(event.params.prompt);
  const text = source ? undefined : asText(event.params.prompt);
  const params: Record<string, unknown> = { ...event.params, ...(text !== undefined ? { prompt: text } : {}) };
  if (event.kind === "Text2ImagePromptEvent") {
    const uncond = asText(event.params.uncondPrompt);
    if (uncond !== undefined) params.uncondPrompt = uncond;
  }
  return {
    event: { ...event, params },
    notes: {
      decoded_output_destination: decodeOutputDestination(event.outputDestination),
      decoded_prompt_source: source ?? (text !== undefined ? "legacy UTF-8 text (params.prompt shown as text)" : "bytes that are not UTF-8 (params.prompt shown as hex)"),
    },
  };
}

const decode = defineCommand({
  meta: { name: "decode", description: "Decode an Atoma event from BCS (base64) or its JSON rendering" },
  args: {
    event: { type: "positional", description: `Event name: ${EVENT_NAMES.join(", ")}`, required: true },
    bcs: { type: "string", description: "BCS bytes, base64 (or 0x-prefixed hex)" },
    json: { type: "string", description: "JSON rendering (JSON-RPC parsedJson)" },
    "small-id": { type: "string", description: "Node small id: report whether the event selects it" },
    policy: { type: "string", description: "Leaf count policy: nodes (default, what the deployed contract settles) or chunks_count", default: "nodes" },
  },
  run({ args }) {
    const name = String(args.event);
    if (!isEventName(name)) fail(`unknown event "${name}"; expected one of ${EVENT_NAMES.join(", ")}`);
    if ((args.bcs === undefined) === (args.json === undefined)) fail("give exactly one of --bcs <base64> and --json <text>");
    let smallId: bigint | undefined;
    if (args["small-id"] !== undefined) {
      const s = String(args["small-id"]).trim();
      smallId = parseU64(s) ?? fail(`--small-id "${s}" is not a u64`);
    }
    const policy = args.policy as LeafCountPolicy;
    if (policy !== "chunks_count" && policy !== "nodes") fail(`--policy "${policy}": expected nodes or chunks_count`);
    let result;
    if (args.bcs !== undefined) {
      const text = args.bcs.trim();
      let bytes: Uint8Array;
      if (/^0x/i.test(text)) {
        // Hex is accepted too when prefixed with 0x (as block explorers print it).
        if (!/^0x([0-9a-fA-F]{2})*$/.test(text)) fail("--bcs 0x… is not an even-length hex string");
        bytes = fromHex(text);
      } else {
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) fail("--bcs is not valid base64 (or 0x-prefixed hex)");
        bytes = fromBase64(text);
      }
      result = decodeEventBcs(name, bytes);
    } else {
      result = decodeEventJson(name, args.json);
    }
    if (!result.ok) fail(result.message);
    const shown = display(result.event);
    const out: Record<string, unknown> = { event: shown.event, ...shown.notes };
    if (smallId !== undefined) out.selection = { smallId, ...describeSelection(result.event, smallId, policy) };
    process.stdout.write(renderJson(out) + "\n");
  },
});

export default defineCommand({
  meta: { name: "events", description: "Inspect Atoma on-chain events" },
  subCommands: { decode },
});
