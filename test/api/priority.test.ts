/**
 * The priority rule with the real scheduler, engine and API: a chain job that arrives while API
 * requests are queued for its model runs right after the generation in progress, before every
 * queued API request (API load can delay a job by at most one generation, never starve it).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { NodeMetrics } from "../../src/log/metrics.ts";
import { createApi, serveApi, type RunningServer } from "../../src/api/server.ts";
import { loadTextEngine } from "../../src/engine/engine.ts";
import type { TextEngine } from "../../src/engine/types.ts";
import { Scheduler, type ModelSlot } from "../../src/jobs/scheduler.ts";
import { Semaphore } from "../../src/jobs/semaphore.ts";
import { SqliteJobStore } from "../../src/jobs/sqlite-store.ts";
import type { NewJob } from "../../src/jobs/types.ts";
import { ensureStories260k } from "../support/models.ts";

let engine: TextEngine;
let store: SqliteJobStore;
let dir: string;
let srv: RunningServer;
let slot: ModelSlot;

beforeAll(async () => {
  engine = await loadTextEngine({ id: "m", dir: await ensureStories260k(), device: "cpu", dtype: "f32" });
  slot = { engine, lock: new Semaphore(1) };
  dir = mkdtempSync(join(tmpdir(), "atoma-priority-"));
  store = new SqliteJobStore(join(dir, "jobs.sqlite"));
  srv = serveApi(createApi({ models: new Map([["m", slot]]), store, metrics: new NodeMetrics(), timeoutMs: 60_000, nodeInfo: () => ({}) }), "127.0.0.1", 0);
});
afterAll(async () => {
  await srv?.stop();
  await engine?.dispose();
  store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("a chain job goes before every queued API request", async () => {
  const sched = new Scheduler(store, new Map([["m", slot]]), { maxConcurrent: 1, timeoutMs: 30_000, pollMs: 5 });
  const api = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: "x", maxRetries: 0 });
  const finished: string[] = [];
  // One API generation running (streamed, long) and four queued behind it.
  const running = await api.completions.create({ model: "m", prompt: "Once upon a time", max_tokens: 450, temperature: 1, seed: 1, stream: true });
  const it = running[Symbol.asyncIterator]();
  await it.next();
  const queued = [1, 2, 3, 4].map((i) => api.completions.create({ model: "m", prompt: "The dog", max_tokens: 60, temperature: 1, seed: i }).then(() => finished.push(`api${i}`)));
  while (slot.lock.waiting < 4) await Bun.sleep(1);
  // Now the chain job arrives.
  const origin = { checkpoint: 1n, txDigest: "tx", eventIndex: 0, eventType: "p::gate::Text2TextPromptEvent" };
  const ticket = "0x" + "7".repeat(64);
  const job: NewJob = {
    ticketId: ticket, leafIndex: 0, numLeaves: 1, model: "m", outputDestination: new Uint8Array(), origin,
    job: { kind: "text", params: { maxTokens: 20n, model: "m", prePromptTokens: [], prependOutputWithInput: false, prompt: new TextEncoder().encode("Lily"), randomSeed: 3n, repeatLastN: 64n, repeatPenalty: 1, shouldStreamOutput: false, temperature: 0, topK: 0n, topP: 1 } },
  };
  store.applyBatch({ checkpoint: 1n, events: [{ origin, jobs: [job], prompts: [], settled: [] }] });
  // The worker starts last, so it asks for the model after all four queued API requests did.
  sched.start();
  while (slot.lock.waiting < 5) await Bun.sleep(1);
  const done = (async () => {
    while (store.byTicket(ticket)[0]!.state !== "generated") await Bun.sleep(1);
    finished.push("job");
  })();
  for (;;) if ((await it.next()).done) break;
  await Promise.all([...queued, done]);
  await sched.stop(1000);
  expect(finished[0]).toBe("job");
  expect(finished.slice(1).sort()).toEqual(["api1", "api2", "api3", "api4"]);
});
