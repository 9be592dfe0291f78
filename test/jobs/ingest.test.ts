import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ingest, type IngestStats } from "../../src/jobs/ingest.ts";
import { SqliteJobStore } from "../../src/jobs/sqlite-store.ts";
import type { AtomaEvent, ChainEvent, Text2TextPromptParams } from "../../src/protocol/types.ts";

const dir = mkdtempSync(join(tmpdir(), "atoma-ingest-"));
const store = new SqliteJobStore(join(dir, "jobs.sqlite"));
afterAll(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const T = (n: number) => "0x" + n.toString(16).padStart(64, "0");
const params = (model = "m"): Text2TextPromptParams => ({ maxTokens: 8n, model, prePromptTokens: [], prependOutputWithInput: false, prompt: new Uint8Array([104, 105]), randomSeed: 1n, repeatLastN: 8n, repeatPenalty: 1, shouldStreamOutput: false, temperature: 0, topK: 0n, topP: 1 });
let ix = 0;
const ev = (event: AtomaEvent): ChainEvent => ({ origin: { checkpoint: 1n, txDigest: "tx", eventIndex: ix++, eventType: `p::x::${event.kind}` }, event });
const prompt = (t: number, nodes: bigint[], chunksCount: bigint, model = "m"): AtomaEvent => ({ kind: "Text2TextPromptEvent", ticketId: T(t), params: params(model), chunksCount, nodes, outputDestination: new Uint8Array() });
const ctx = (policy: "chunks_count" | "nodes" = "chunks_count") => ({ smallId: 7n, policy, hostedModels: new Set(["m"]), store });

describe("ingest (spec §5)", () => {
  test("selection: first position of our small id; leaf count per policy; others indexed only", () => {
    const b = ingest({ checkpoint: 1n, events: [ev(prompt(1, [3n, 7n, 7n], 3n)), ev(prompt(2, [7n], 11n)), ev(prompt(3, [3n], 1n))] }, ctx());
    const jobs = b.events.flatMap((e) => e.jobs);
    expect(jobs.map((j) => [j.ticketId, j.leafIndex, j.numLeaves, j.state ?? "received"])).toEqual([
      [T(1), 1, 3, "received"],
      [T(2), 0, 11, "received"],
    ]);
    expect(b.events.flatMap((e) => e.prompts).map((p) => p.ticketId)).toEqual([T(1), T(2), T(3)]);
    const strict = ingest({ checkpoint: 1n, events: [ev(prompt(2, [7n], 11n))] }, ctx("nodes"));
    expect(strict.events[0]!.jobs[0]!.numLeaves).toBe(1);
  });

  test("unknown models and a prompt of the other modality are not servable, counted, never thrown", () => {
    const stats: IngestStats = { notServable: 0, disputes: 0 };
    const img = (t: number, model: string): AtomaEvent => ({ kind: "Text2ImagePromptEvent", ticketId: T(t), chunksCount: 1n, nodes: [7n], outputDestination: new Uint8Array(), params: { guidanceScale: 7.5, height: 512n, img2img: null, img2imgStrength: 0, model, nSteps: 30n, numSamples: 1n, outputDestination: new Uint8Array(), prompt: new Uint8Array(), randomSeed: 1n, uncondPrompt: new Uint8Array(), width: 512n } });
    const c = { ...ctx(), imageModels: new Set(["sd"]) };
    const b = ingest({ checkpoint: 1n, events: [ev(prompt(4, [7n], 1n, "llama3_70b")), ev(img(5, "sdxl")), ev(img(51, "m")), ev(prompt(52, [7n], 1n, "sd")), ev(img(53, "sd"))] }, c, stats);
    const jobs = b.events.flatMap((e) => e.jobs);
    expect(jobs.map((j) => j.state ?? "received")).toEqual(["not_servable", "not_servable", "not_servable", "not_servable", "received"]);
    expect(jobs.map((j) => j.error)).toEqual([
      'model "llama3_70b" is not hosted by this node (hosted: m)',
      'image model "sdxl" is not hosted by this node (image models hosted: sd)',
      'model "m" is a text model here; an image prompt cannot run on it',
      'model "sd" is an image model here; a text prompt cannot run on it',
      undefined,
    ]);
    expect(jobs[4]!.job.kind).toBe("image");
    expect(stats.notServable).toBe(4);
    const none = ingest({ checkpoint: 1n, events: [ev(img(54, "sd"))] }, ctx());
    expect(none.events[0]!.jobs[0]!.error).toBe('image model "sd" is not hosted by this node (image models hosted: none)');
  });

  test("NewlySampledNodesEvent: leaf index = order, prompt from the same batch or the store", () => {
    store.applyBatch(ingest({ checkpoint: 1n, events: [ev(prompt(6, [3n], 4n))] }, ctx()));
    const resample = (t: number, order: bigint): AtomaEvent => ({ kind: "NewlySampledNodesEvent", ticketId: T(t), newNodes: [{ nodeId: 9n, order: 1n }, { nodeId: 7n, order }] });
    const b = ingest({ checkpoint: 2n, events: [ev(prompt(8, [3n], 3n)), ev(resample(8, 2n)), ev(resample(6, 3n)), ev(resample(99, 1n))] }, ctx());
    const jobs = b.events.flatMap((e) => e.jobs);
    expect(jobs.map((j) => [j.ticketId, j.leafIndex, j.numLeaves, j.model])).toEqual([
      [T(8), 2, 3, "m"],
      [T(6), 3, 4, "m"],
    ]);
    // Order outside the leaf count (strict `nodes` policy): failed with a reason.
    const bad = ingest({ checkpoint: 3n, events: [ev(resample(6, 3n))] }, ctx("nodes"));
    expect(bad.events[0]!.jobs[0]).toMatchObject({ state: "failed", leafIndex: 3, numLeaves: 1 });
  });

  test("settled and disputed tickets, other events need nothing", () => {
    const stats: IngestStats = { notServable: 0, disputes: 0 };
    const b = ingest({ checkpoint: 4n, events: [
      ev({ kind: "SettledEvent", ticketId: T(6), oracleNodeId: null }),
      ev({ kind: "DisputeEvent", ticketId: T(8), timeout: null }),
      ev({ kind: "FirstSubmissionEvent", ticketId: T(8), nodeId: 7n }),
    ] }, ctx(), stats);
    expect(b.events.map((e) => [e.settled, e.disputed ?? [], e.jobs.length])).toEqual([[[T(6)], [], 0], [[], [T(8)], 0], [[], [], 0]]);
    expect(stats.disputes).toBe(1);
    expect(b.checkpoint).toBe(4n);
  });
});
