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
    expect(j.event.params.prompt).toBe("6869");
    expect(j.event.outputDestination).toBe("a84669726562617365");
    expect(j.decoded_output_destination).toEqual({ kind: "Firebase" });
    expect(j.selection).toEqual({ smallId: "9", selected: true, index: 2, leaves: "3", policy: "chunks_count" });
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
