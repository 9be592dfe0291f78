/**
 * Workers against the real engine (stories260K): routing per model, the overall concurrency cap,
 * per-job timeout, a model that throws, invalid params, and shutdown putting work back.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toHex } from "@mysten/bcs";
import { commitText } from "../../src/commitment/merkle.ts";
import { loadTextEngine } from "../../src/engine/engine.ts";
import type { TextEngine } from "../../src/engine/types.ts";
import { Scheduler, type ModelSlot } from "../../src/jobs/scheduler.ts";
import { Semaphore } from "../../src/jobs/semaphore.ts";
import { SqliteJobStore } from "../../src/jobs/sqlite-store.ts";
import type { JobRecord, NewJob } from "../../src/jobs/types.ts";
import type { Text2TextPromptParams } from "../../src/protocol/types.ts";
import { ensureStories260k } from "../support/models.ts";

let engines: TextEngine[] = [];
let models: Map<string, ModelSlot>;
let store: SqliteJobStore;
let dir: string;
let seq = 0;

beforeAll(async () => {
  const modelDir = await ensureStories260k();
  engines = await Promise.all(["a", "b"].map((id) => loadTextEngine({ id, dir: modelDir, device: "cpu", dtype: "f32" })));
  models = new Map(engines.map((e) => [e.info.id, { engine: e, lock: new Semaphore(1) }]));
});
afterAll(async () => {
  for (const e of engines) await e.dispose();
  store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = mkdtempSync(join(tmpdir(), "atoma-sched-"));
  store = new SqliteJobStore(join(dir, "jobs.sqlite"));
});

function params(over: Partial<Text2TextPromptParams> = {}): Text2TextPromptParams {
  return { maxTokens: 12n, model: "a", prePromptTokens: [], prependOutputWithInput: false, prompt: new TextEncoder().encode("Once upon a time"), randomSeed: 5n, repeatLastN: 64n, repeatPenalty: 1, shouldStreamOutput: false, temperature: Math.fround(0.7), topK: 0n, topP: 1, ...over };
}
function add(list: Partial<Text2TextPromptParams>[], numLeaves = 1, leafIndex = 0): string[] {
  const origin = { checkpoint: 1n, txDigest: `tx${++seq}`, eventIndex: 0, eventType: "p::gate::Text2TextPromptEvent" };
  const jobs: NewJob[] = list.map((over, i) => {
    const p = params(over);
    return { ticketId: "0x" + (seq * 1000 + i).toString(16).padStart(64, "0"), leafIndex, numLeaves, model: p.model, job: { kind: "text", params: p }, outputDestination: new Uint8Array(), origin };
  });
  store.applyBatch({ checkpoint: BigInt(seq), events: [{ origin, jobs, prompts: [], settled: [] }] });
  return jobs.map((j) => j.ticketId);
}
const job = (t: string): JobRecord => store.byTicket(t)[0]!;
/** Polls `fn`; the limit is only a hang guard. */
async function until(fn: () => boolean, ms = 30_000) {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out (hang guard ${ms} ms)`);
    await Bun.sleep(5);
  }
}

/** The real slots with their engines' generate() counted as it is entered and left (every call is
 * delegated): the exact number of overlapping generations, not a sample of it. */
function counted(): { models: Map<string, ModelSlot>; active: () => number; max: () => number } {
  let active = 0, max = 0;
  const wrap = (engine: TextEngine): TextEngine =>
    new Proxy(engine, {
      get(t, prop, recv) {
        if (prop !== "generate") return Reflect.get(t, prop, recv);
        return async (...args: Parameters<TextEngine["generate"]>) => {
          max = Math.max(max, ++active);
          try {
            return await t.generate(...args);
          } finally {
            active--;
          }
        };
      },
    });
  return { models: new Map([...models].map(([id, slot]) => [id, { engine: wrap(slot.engine), lock: slot.lock }])), active: () => active, max: () => max };
}

describe("Scheduler", () => {
  test("routes by model, generates, commits to the output; max concurrency respected", async () => {
    const tickets = add([{ model: "a" }, { model: "b", randomSeed: 6n }, { model: "a", temperature: 0 }, { model: "b", maxTokens: 20n }], 3, 2);
    const generated: string[] = [];
    const probe = counted();
    const s = new Scheduler(store, probe.models, { maxConcurrent: 1, timeoutMs: 30_000, pollMs: 10, onGenerated: (j) => generated.push(j.ticketId) });
    s.start();
    await until(() => tickets.every((t) => job(t).state === "generated"));
    await s.stop(1000);
    expect(probe.max()).toBe(1);
    expect(generated.sort()).toEqual([...tickets].sort());
    for (const t of tickets) {
      const j = job(t);
      const p = j.job.params as Text2TextPromptParams;
      const direct = await models.get(j.model)!.engine.generate({ prompt: "Once upon a time", params: { maxTokens: Number(p.maxTokens), temperature: p.temperature, topK: 0, topP: 1, repeatPenalty: 1, repeatLastN: 64, seed: p.randomSeed } });
      expect(j.outputText).toBe(direct.text);
      expect([j.inputTokens, j.outputTokens]).toEqual([direct.inputTokens, direct.outputTokens]);
      const c = commitText(direct.text, 3, 2);
      expect([j.rootHex, j.leafHex]).toEqual([toHex(c.root), toHex(c.leaf)]);
      expect(j.attempts).toBe(1);
      expect(j.generationMs).toBeGreaterThan(0);
    }
  });

  test("the cap is what limits: with 2 permits the two models' workers generate at the same time", async () => {
    const tickets = add([{ model: "a", maxTokens: 40n }, { model: "b", maxTokens: 40n }]);
    const probe = counted();
    const s = new Scheduler(store, probe.models, { maxConcurrent: 2, timeoutMs: 30_000, pollMs: 10 });
    s.start();
    await until(() => tickets.every((t) => job(t).state === "generated"));
    await s.stop(1000);
    expect(probe.max()).toBe(2);
  });

  test("a model busy with an RPC generation does not hold the global permit: other models go on", async () => {
    const a = models.get("a")!;
    await a.lock.acquire(); // as a long JSON-RPC generation on model a would
    let released = false;
    try {
      const s = new Scheduler(store, models, { maxConcurrent: 1, timeoutMs: 30_000, pollMs: 10 });
      const [ta, tb] = add([{ model: "a" }, { model: "b" }]);
      s.start();
      await until(() => a.lock.waiting === 1); // worker a is queued on its model's lock
      await until(() => job(tb!).state === "generated");
      expect(job(ta!).state).toBe("received");
      a.lock.release();
      released = true;
      await until(() => job(ta!).state === "generated");
      await s.stop(1000);
    } finally {
      if (!released) a.lock.release();
    }
  });

  test("bad params and a throwing model fail only their job; the worker goes on", async () => {
    const [empty, nan, throws, fine] = add([
      { prompt: new Uint8Array() },
      { temperature: NaN },
      { prePromptTokens: [999_999] }, // token id far outside the 512-token vocabulary: the model throws
      { temperature: 0 },
    ]);
    const s = new Scheduler(store, models, { maxConcurrent: 2, timeoutMs: 30_000, pollMs: 10 });
    s.start();
    await until(() => job(fine!).state === "generated" && job(throws!).state !== "running" && job(throws!).state !== "received");
    await s.stop(1000);
    expect(job(empty!)).toMatchObject({ state: "failed", error: "prompt is empty" });
    expect(job(nan!)).toMatchObject({ state: "failed", error: "temperature is NaN; expected a finite number" });
    expect(job(throws!).state).toBe("failed");
    expect(job(throws!).error).toMatch(/^model error: /);
  });

  test("request_timeout aborts a long generation and fails the job", async () => {
    const [t] = add([{ maxTokens: 100_000n, temperature: 1 }]);
    // Well under the time stories260K takes to fill its whole context (≈ 250 tokens at ≥ 0.25 ms
    // each), so the generation cannot finish first on a fast or idle machine.
    const s = new Scheduler(store, models, { maxConcurrent: 1, timeoutMs: 20, pollMs: 10 });
    s.start();
    await until(() => job(t!).state === "failed");
    await s.stop(1000);
    expect(job(t!).error).toBe("generation timed out after 20 ms (request_timeout)");
  });

  test("shutdown stops claiming and puts an interrupted generation back", async () => {
    const [long, queued] = add([{ maxTokens: 100_000n, temperature: 1 }, {}]);
    const probe = counted();
    const s = new Scheduler(store, probe.models, { maxConcurrent: 1, timeoutMs: 600_000, pollMs: 10 });
    s.start();
    await until(() => job(long!).state === "running" && probe.active() === 1); // claimed and generating
    // A grace of 1 ms: with the loop keeping the KV cache, stories260K fills its whole context
    // (≈ 500 tokens) in well under 100 ms on an idle machine, so a 50 ms grace sometimes let it finish.
    await s.stop(1);
    expect(job(long!)).toMatchObject({ state: "received", attempts: 0 });
    expect(job(queued!).state).toBe("received");
    expect(s.running).toBe(0);
  });
});
