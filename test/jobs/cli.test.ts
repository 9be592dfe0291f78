import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteJobStore } from "../../src/jobs/sqlite-store.ts";

const ROOT = join(import.meta.dir, "../..");
const T1 = "0x" + "11".repeat(32);
const T2 = "0x" + "22".repeat(32);
/** Shares T1's first 62 hex digits: a prefix of both is ambiguous. */
const T3 = "0x" + "11".repeat(31) + "33";
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "atoma-jobs-cli-"));
  const s = new SqliteJobStore(join(dir, "jobs.sqlite"));
  const origin = { checkpoint: 4n, txDigest: "D", eventIndex: 0, eventType: "p::gate::Text2TextPromptEvent" };
  const params = { maxTokens: 4n, model: "m", prePromptTokens: [], prependOutputWithInput: false, prompt: new TextEncoder().encode("hi"), randomSeed: 1n, repeatLastN: 1n, repeatPenalty: 1, shouldStreamOutput: false, temperature: 0, topK: 0n, topP: 1 };
  s.applyBatch({
    checkpoint: 4n,
    events: [
      { origin, prompts: [], settled: [], jobs: [{ ticketId: T1, leafIndex: 0, numLeaves: 2, model: "m", job: { kind: "text", params }, outputDestination: new Uint8Array(), origin }] },
      { origin: { ...origin, eventIndex: 2 }, prompts: [], settled: [], jobs: [{ ticketId: T3, leafIndex: 0, numLeaves: 1, model: "m", job: { kind: "text", params }, outputDestination: new Uint8Array(), origin }] },
      { origin: { ...origin, eventIndex: 1 }, prompts: [], settled: [], jobs: [{ ticketId: T2, leafIndex: 1, numLeaves: 2, model: "zz", job: { kind: "text", params }, outputDestination: new Uint8Array(), origin, state: "not_servable", error: "model zz is not hosted" }] },
    ],
  });
  s.close();
  writeFileSync(join(dir, "node.toml"), `[inference]\ncache_dir = "${dir}"\njrpc_port = 3999\nmodels = []\n[node]\ndata_dir = "${dir}"\n`);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (...args: string[]) => Bun.spawnSync([process.execPath, join(ROOT, "src/cli/main.ts"), "jobs", ...args], { cwd: ROOT });

describe("atoma-node jobs", () => {
  test("list as a table and as JSON, filtered by state", () => {
    const t = run("list", "--data-dir", dir);
    expect(t.exitCode).toBe(0);
    const out = t.stdout.toString();
    expect(out.split("\n")[0]).toMatch(/^ID\s+TICKET\s+LEAF\s+MODEL\s+STATE/);
    expect(out).toContain("not_servable");
    expect(out).toContain("received");
    const j = run("list", "--data-dir", dir, "--state", "not_servable", "--json");
    const arr = JSON.parse(j.stdout.toString());
    expect(arr.map((x: any) => [x.ticket_id, x.state, x.error])).toEqual([[T2, "not_servable", "model zz is not hosted"]]);
  });

  test("show by ticket, via the config file", () => {
    const r = run("show", T1.slice(2), "--config", join(dir, "node.toml"));
    expect(r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
    const v = JSON.parse(r.stdout.toString());
    expect(v.jobs[0]).toMatchObject({ ticket_id: T1, leaf_index: 0, num_leaves: 2, prompt: "hi", state: "received" });
  });

  test("jobs show accepts the ticket as jobs list prints it, and a unique prefix", () => {
    const table = run("list", "--data-dir", dir).stdout.toString().split("\n");
    const printed = table.find((l) => l.includes("not_servable"))!.split(/\s+/)[1]!;
    expect(printed).toMatch(/^0x2{6}…2{4}$/);
    for (const id of [printed, printed.replace("…", "..."), "0x2222", "222222", T2.toUpperCase().replace("0X", "0x")]) {
      const r = run("show", id, "--data-dir", dir);
      expect(r.stderr.toString()).toBe("");
      expect(JSON.parse(r.stdout.toString()).ticket_id).toBe(T2);
    }
    const amb = run("show", "0x1111", "--data-dir", dir);
    expect(amb.exitCode).toBe(2);
    expect(amb.stderr.toString().trim().split("\n")).toHaveLength(1);
    expect(amb.stderr.toString()).toContain(`matches several tickets (${T1}, ${T3}); give more digits`);
    // The printed short form of T3 (its last digits differ) is unique.
    expect(JSON.parse(run("show", "0x111111…1133", "--data-dir", dir).stdout.toString()).ticket_id).toBe(T3);
  });

  test("bad input: one-line errors", () => {
    const a = run("list", "--data-dir", dir, "--state", "bogus");
    expect(a.exitCode).toBe(2);
    expect(a.stderr.toString()).toStartWith("error: --state bogus is not one of received, running");
    const b = run("list");
    expect(b.exitCode).toBe(2);
    expect(b.stderr.toString()).toContain("--data-dir");
    const c = run("list", "--data-dir", join(dir, "nope"));
    expect(c.stderr.toString().trim()).toBe(`error: no job store at ${join(dir, "nope", "jobs.sqlite")} (has the node run in chain mode with this data_dir?)`);
    const d = run("show", "0xzz", "--data-dir", dir);
    expect(d.exitCode).toBe(2);
    const e = run("show", "0x33", "--data-dir", dir);
    expect(e.exitCode).toBe(1);
    expect(e.stderr.toString()).toContain("no job for ticket 0x0000");
  });
});
