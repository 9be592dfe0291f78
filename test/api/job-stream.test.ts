/**
 * Streamed on-chain jobs: a prompt with should_stream_output, the real scheduler and engine, and
 * GET /v1/jobs/<ticket>/stream over a loopback socket. The streamed pieces must concatenate to the
 * stored output that is committed; late subscribers get what was produced so far, then the rest.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toHex } from "@mysten/bcs";
import { NodeMetrics } from "../../src/log/metrics.ts";
import { createApi, serveApi, type RunningServer } from "../../src/api/server.ts";
import { commitText } from "../../src/commitment/merkle.ts";
import { loadTextEngine } from "../../src/engine/engine.ts";
import type { TextEngine } from "../../src/engine/types.ts";
import { OutputStreams, type StreamEnd } from "../../src/jobs/output-streams.ts";
import { Scheduler, type ModelSlot } from "../../src/jobs/scheduler.ts";
import { Semaphore } from "../../src/jobs/semaphore.ts";
import { SqliteJobStore } from "../../src/jobs/sqlite-store.ts";
import type { NewJob } from "../../src/jobs/types.ts";
import type { Text2TextPromptParams } from "../../src/protocol/types.ts";
import { ensureStories260k } from "../support/models.ts";

let engine: TextEngine;
let store: SqliteJobStore;
let dir: string;
let srv: RunningServer;
let models: Map<string, ModelSlot>;
const streams = new OutputStreams();
let seq = 0;

beforeAll(async () => {
  engine = await loadTextEngine({ id: "m", dir: await ensureStories260k(), device: "cpu", dtype: "f32" });
  models = new Map([["m", { engine, lock: new Semaphore(1) }]]);
  dir = mkdtempSync(join(tmpdir(), "atoma-jobstream-"));
  store = new SqliteJobStore(join(dir, "jobs.sqlite"));
  srv = serveApi(createApi({ models, store, streams, metrics: new NodeMetrics(), timeoutMs: 30_000, nodeInfo: () => ({}) }), "127.0.0.1", 0);
});
afterAll(async () => {
  await srv?.stop();
  await engine?.dispose();
  store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function addJob(over: Partial<Text2TextPromptParams>): string {
  const origin = { checkpoint: BigInt(++seq), txDigest: `tx${seq}`, eventIndex: 0, eventType: "p::gate::Text2TextPromptEvent" };
  const params: Text2TextPromptParams = { maxTokens: 200n, model: "m", prePromptTokens: [], prependOutputWithInput: false, prompt: new TextEncoder().encode("Once upon a time"), randomSeed: 11n, repeatLastN: 64n, repeatPenalty: 1, shouldStreamOutput: true, temperature: Math.fround(0.9), topK: 0n, topP: 1, ...over };
  const ticketId = "0x" + seq.toString(16).padStart(64, "0");
  const job: NewJob = { ticketId, leafIndex: 0, numLeaves: 1, model: "m", job: { kind: "text", params }, outputDestination: new Uint8Array(), origin };
  store.applyBatch({ checkpoint: origin.checkpoint, events: [{ origin, jobs: [job], prompts: [], settled: [] }] });
  return ticketId;
}

/** Reads an SSE response to its end: the JSON events before `data: [DONE]`. */
async function events(res: Response): Promise<any[]> {
  expect(res.headers.get("content-type")).toContain("text/event-stream");
  const text = await res.text();
  const lines = text.split("\n\n").filter((b) => b.startsWith("data: ")).map((b) => b.slice(6));
  expect(lines.at(-1)).toBe("[DONE]");
  return lines.slice(0, -1).map((l) => JSON.parse(l));
}

test("a subscriber waiting before the job runs gets it token by token; pieces = the committed output", async () => {
  const ticket = addJob({});
  const res = await fetch(`${srv.url}/v1/jobs/${ticket}/stream`);
  const got = events(res); // headers arrived: the subscription is registered
  const sched = new Scheduler(store, models, { maxConcurrent: 1, timeoutMs: 30_000, pollMs: 10, streams });
  sched.start();
  const evs = await got;
  await sched.stop(1000);
  const pieces = evs.filter((e) => "text" in e);
  const end = evs.at(-1);
  const job = store.byTicket(ticket)[0]!;
  expect(job.state).toBe("generated");
  expect(pieces.length).toBeGreaterThan(10);
  expect(pieces.map((p) => p.index)).toEqual(pieces.map((_, i) => i));
  expect(pieces.map((p) => p.text).join("")).toBe(job.outputText!);
  expect(end).toEqual({ ticket_id: ticket, done: true, output_tokens: job.outputTokens });
  // The commitment is over exactly the streamed text.
  expect(toHex(commitText(pieces.map((p) => p.text).join(""), 1, 0).root)).toBe(job.rootHex!);

  // Late subscriber: the whole retained stream; after it is forgotten, the stored output.
  const late = await events(await fetch(`${srv.url}/v1/jobs/${ticket}/stream`));
  expect(late.filter((e) => "text" in e).map((e) => e.text)).toEqual(pieces.map((p) => p.text));
  const fresh = serveApi(createApi({ models, store, streams: new OutputStreams(), metrics: new NodeMetrics(), timeoutMs: 30_000, nodeInfo: () => ({}) }), "127.0.0.1", 0);
  try {
    const stored = await events(await fetch(`${fresh.url}/v1/jobs/${ticket}/stream`));
    expect(stored).toEqual([{ ticket_id: ticket, index: 0, text: job.outputText }, end]);
  } finally {
    await fresh.stop();
  }
});

test("replay then live: what was produced so far, then the rest, then the end", () => {
  const hub = new OutputStreams();
  const sink = hub.open("0x1")!;
  sink.push("Once");
  sink.push(" upon");
  expect(hub.open("0x1")).toBeNull(); // another leaf of the same ticket does not stream twice
  const seen: string[] = [];
  let end: StreamEnd | null = null;
  hub.subscribe("0x1", { piece: (t) => seen.push(t), end: (o) => (end = o) }, false);
  expect(seen).toEqual(["Once", " upon"]);
  sink.push(" a time");
  sink.end({ ok: true, outputTokens: 4 });
  expect(seen).toEqual(["Once", " upon", " a time"]);
  expect(end!).toEqual({ ok: true, outputTokens: 4 });
  expect(hub.subscribe("0x2", { piece: () => {}, end: () => {} }, false)).toBeNull();
});

test("400 bad id, 404 unknown ticket, 409 for a pending job that did not ask to stream", async () => {
  const plain = addJob({ shouldStreamOutput: false });
  expect((await fetch(`${srv.url}/v1/jobs/0xzz/stream`)).status).toBe(400);
  const missing = await fetch(`${srv.url}/v1/jobs/0x${"e".repeat(64)}/stream`);
  expect(missing.status).toBe(404);
  expect(((await missing.json()) as any).error.code).toBe("job_not_found");
  const r = await fetch(`${srv.url}/v1/jobs/${plain}/stream`);
  expect(r.status).toBe(409);
  expect(((await r.json()) as any).error.message).toContain("should_stream_output = false");
});
