import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { fromHex, toBase64 } from "@mysten/bcs";
import * as F from "./events.fixtures.ts";

const main = join(import.meta.dir, "../../src/cli/main.ts");

function run(...args: string[]) {
  const p = Bun.spawnSync([process.execPath, main, "events", "decode", ...args], { stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

describe("atoma-node events decode", () => {
  test("BCS prompt event with --small-id", () => {
    const r = run("Text2TextPromptEvent", "--bcs", toBase64(fromHex(F.TEXT2TEXT_152)), "--small-id", "9");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.event.params.randomSeed).toBe("42");
    expect(j.event.params.temperature).toBe(0.699999988079071);
    expect(j.event.params.prompt).toBe("hi");
    expect(j.decoded_prompt_source).toBe("legacy UTF-8 text (params.prompt shown as text)");
    expect(j.event.outputDestination).toBe("a84669726562617365");
    expect(j.decoded_output_destination).toEqual({ kind: "Firebase" });
    expect(j.selection).toEqual({ smallId: "9", selected: true, index: 2, leaves: "3", policy: "nodes" });
  });
  test("a prompt that is not UTF-8 stays hex, and says so", () => {
    const bytes = F.TEXT2TEXT_152.replace("026869", "02fffe");
    expect(bytes).not.toBe(F.TEXT2TEXT_152);
    const j = JSON.parse(run("Text2TextPromptEvent", "--bcs", `0x${bytes}`).out);
    expect(j.event.params.prompt).toBe("fffe");
    expect(j.decoded_prompt_source).toBe("bytes that are not UTF-8 (params.prompt shown as hex)");
    const multi = JSON.parse(run("Text2TextPromptEvent", "--bcs", `0x${F.TEXT2TEXT_152.replace("026869", "06e4b896e7958c")}`).out);
    expect(multi.event.params.prompt).toBe("世界");
  });
  test("0x-hex BCS is accepted too", () => {
    const r = run("FirstSubmissionEvent", "--bcs", `0x${F.FIRST_SUBMISSION}`);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).event).toEqual({ kind: "FirstSubmissionEvent", ticketId: F.ID11, nodeId: "7" });
  });
  test("JSON form, NewlySampledNodesEvent orders", () => {
    const json = JSON.stringify({ ticket_id: F.ID22, new_nodes: [{ node_id: { inner: "7" }, order: "2" }, { node_id: { inner: "9" }, order: "5" }] });
    const r = run("NewlySampledNodesEvent", "--json", json, "--small-id", "9");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).selection).toMatchObject({ selected: true, orders: ["5"], index: "5" });
  });
  test("bad input: one-line error, exit 2", () => {
    for (const args of [
      ["Nope", "--bcs", "AA=="],
      ["DisputeEvent"],
      ["DisputeEvent", "--bcs", "!!"],
      ["DisputeEvent", "--bcs", "0x123"],
      ["DisputeEvent", "--bcs", toBase64(fromHex(F.DISPUTE_NONE + "00"))],
      ["DisputeEvent", "--json", "{"],
      ["DisputeEvent", "--bcs", toBase64(fromHex(F.DISPUTE_NONE)), "--small-id", "-1"],
    ]) {
      const r = run(...args);
      expect(r.code).toBe(2);
      expect(r.err.trim().split("\n").length).toBe(1);
      expect(r.err).toStartWith("error: ");
    }
  });
});
