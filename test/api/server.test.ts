import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Hono } from "hono";
import { NodeMetrics } from "../../src/log/metrics.ts";
import { createApi, serveApi } from "../../src/api/server.ts";
import { loadTextEngine } from "../../src/engine/engine.ts";
import type { TextEngine } from "../../src/engine/types.ts";
import { Semaphore } from "../../src/jobs/semaphore.ts";
import { SqliteJobStore } from "../../src/jobs/sqlite-store.ts";
import type { ModelSlot } from "../../src/jobs/scheduler.ts";
import { ensureStories260k } from "../support/models.ts";

let engine: TextEngine;
let app: Hono;
let store: SqliteJobStore;
let dir: string;
const TICKET = "0x" + "ab".repeat(32);
const metrics = new NodeMetrics();

beforeAll(async () => {
  const modelDir = await ensureStories260k();
  engine = await loadTextEngine({ id: "stories260k", dir: modelDir, device: "cpu", dtype: "f32" });
  dir = mkdtempSync(join(tmpdir(), "atoma-api-"));
  store = new SqliteJobStore(join(dir, "jobs.sqlite"));
  store.applyBatch({
    checkpoint: 1n,
    events: [{
      origin: { checkpoint: 1n, txDigest: "T", eventIndex: 0, eventType: "x::gate::Text2TextPromptEvent" },
      prompts: [], settled: [],
      jobs: [{
        ticketId: TICKET, leafIndex: 0, numLeaves: 1, model: "stories260k", outputDestination: new Uint8Array([0xa8, 0x46, 0x69, 0x72, 0x65, 0x62, 0x61, 0x73, 0x65]),
        origin: { checkpoint: 1n, txDigest: "T", eventIndex: 0, eventType: "x::gate::Text2TextPromptEvent" },
        job: { kind: "text", params: { maxTokens: 8n, model: "stories260k", prePromptTokens: [], prependOutputWithInput: false, prompt: new TextEncoder().encode("Once"), randomSeed: 7n, repeatLastN: 64n, repeatPenalty: 1, shouldStreamOutput: false, temperature: 0, topK: 0n, topP: 1 } },
      }],
    }],
  });
  const models = new Map<string, ModelSlot>([["stories260k", { engine, lock: new Semaphore(1) }]]);
  app = createApi({ models, store, metrics, timeoutMs: 30_000, nodeInfo: () => ({ mode: "test" }), maxBodyBytes: 4096 });
});
afterAll(async () => {
  await engine?.dispose();
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function rpc(body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  const res = await app.request("/", { method: "POST", body: typeof body === "string" ? body : JSON.stringify(body), headers: { "content-type": "application/json", ...headers } });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

describe("JSON-RPC 2.0", () => {
  test("generate is deterministic for a seed and matches the engine directly", async () => {
    const params = { prompt: "Once upon a time", max_tokens: 12, temperature: 0.8, random_seed: "18446744073709551615", top_k: 40, top_p: 0.9 };
    const a = await rpc({ jsonrpc: "2.0", id: 1, method: "generate", params });
    const b = await rpc({ jsonrpc: "2.0", id: "two", method: "generate", params });
    expect(a.json.id).toBe(1);
    expect(b.json.id).toBe("two");
    expect(a.json.result.text).toBe(b.json.result.text);
    const direct = await engine.generate({ prompt: "Once upon a time", params: { maxTokens: 12, temperature: Math.fround(0.8), topK: 40, topP: Math.fround(0.9), repeatPenalty: 1, repeatLastN: 64, seed: 18446744073709551615n }, prePromptTokens: [] });
    expect({ text: a.json.result.text, output_tokens: a.json.result.output_tokens }).toEqual({ text: direct.text, output_tokens: direct.outputTokens });
    // Greedy: stories260K's known continuation (llama2.c's run.c at temperature 0), 12 tokens.
    const g = await rpc({ jsonrpc: "2.0", id: 4, method: "generate", params: { prompt: "Once upon a time", max_tokens: 12, temperature: 0 } });
    expect({ text: g.json.result.text, output_tokens: g.json.result.output_tokens }).toEqual({ text: ", there was a little girl named Lily. She", output_tokens: 12 });
    const c = await rpc({ jsonrpc: "2.0", id: 3, method: "generate", params: { ...params, random_seed: 1 } });
    expect(c.json.result.text).not.toBe(a.json.result.text);
  });

  test("error objects: parse, invalid request, unknown method, bad params", async () => {
    expect((await rpc("{not json")).json).toEqual({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "parse error: body is not valid JSON" } });
    expect((await rpc({ id: 1, method: "models" })).json.error.code).toBe(-32600);
    expect((await rpc({ jsonrpc: "2.0", id: 1, method: 5 })).json.error.code).toBe(-32600);
    expect((await rpc(42)).json.error.code).toBe(-32600);
    expect((await rpc({ jsonrpc: "2.0", id: 9, method: "nope" })).json).toEqual({ jsonrpc: "2.0", id: 9, error: { code: -32601, message: "method not found: nope" } });
    expect((await rpc({ jsonrpc: "2.0", id: 1, method: "toString" })).json.error.code).toBe(-32601);
    const bad = await rpc({ jsonrpc: "2.0", id: 1, method: "generate", params: { prompt: "x", max_tokens: -1 } });
    expect(bad.json.error).toEqual({ code: -32602, message: "params.max_tokens: expected a u64 (non-negative integer or decimal string), got -1" });
    const empty = await rpc({ jsonrpc: "2.0", id: 1, method: "generate", params: { prompt: "" } });
    expect(empty.json.error).toEqual({ code: -32602, message: "prompt is empty" });
    const zero = await rpc({ jsonrpc: "2.0", id: 1, method: "generate", params: { prompt: "hi", max_tokens: 0 } });
    expect(zero.json.error.message).toContain("max_tokens is 0");
    const model = await rpc({ jsonrpc: "2.0", id: 1, method: "generate", params: { prompt: "hi", model: "gpt-9" } });
    expect(model.json.error.message).toContain('"gpt-9" is not hosted here (hosted: stories260k)');
    const temp = await rpc({ jsonrpc: "2.0", id: 1, method: "generate", params: { prompt: "hi", temperature: "hot" } });
    expect(temp.json.error.code).toBe(-32602);
    expect((await rpc({ jsonrpc: "2.0", id: 1, method: "jobs", params: { state: "weird" } })).json.error.code).toBe(-32602);
    expect((await rpc({ jsonrpc: "2.0", id: 1, method: "job", params: { ticket_id: 12 } })).json.error.code).toBe(-32602);
  });

  test("batch and notifications", async () => {
    const r = await rpc([{ jsonrpc: "2.0", id: 1, method: "models" }, { jsonrpc: "2.0", method: "models" }, { foo: 1 }]);
    expect(r.json).toHaveLength(2);
    expect(r.json[0].result[0].id).toBe("stories260k");
    expect(r.json[1].error.code).toBe(-32600);
    const n = await rpc({ jsonrpc: "2.0", method: "node_info" });
    expect(n.status).toBe(204);
    expect((await rpc([])).json.error.code).toBe(-32600);
  });

  test("models, node_info, job, jobs", async () => {
    const m = await rpc({ jsonrpc: "2.0", id: 1, method: "models" });
    expect(m.json.result[0]).toMatchObject({ id: "stories260k", device: "cpu", vocabSize: 512 });
    expect((await rpc({ jsonrpc: "2.0", id: 1, method: "node_info" })).json.result).toEqual({ mode: "test" });
    const j = await rpc({ jsonrpc: "2.0", id: 1, method: "job", params: { ticket_id: TICKET } });
    expect(j.json.result.jobs[0]).toMatchObject({ ticket_id: TICKET, state: "received", prompt: "Once", output_destination: "Firebase" });
    expect(j.json.result.jobs[0].params.randomSeed).toBe("7");
    expect((await rpc({ jsonrpc: "2.0", id: 1, method: "job", params: { ticket_id: "0x01" } })).json.result).toBeNull();
    const list = await rpc({ jsonrpc: "2.0", id: 1, method: "jobs", params: { state: "received" } });
    expect(list.json.result.map((x: any) => x.ticket_id)).toEqual([TICKET]);
  });
});

describe("compatibility and HTTP routes", () => {
  test("spec §11 body {request: …} → {result: …}", async () => {
    const r = await rpc({
      jsonrpc: "2.0", id: 1, // ignored per the reference
      request: { id: [1, 2], sampled_node_index: 0, num_sampled_nodes: 1, output_destination: [],
        params: { Text2TextPromptParams: { prompt: "Once", model: "stories260k", temperature: 0, random_seed: 3, repeat_penalty: 1, repeat_last_n: 64, max_tokens: 6, top_k: 0, top_p: 1, chat: true, pre_prompt_tokens: [], should_stream_output: false } } },
    });
    expect(Object.keys(r.json)).toEqual(["result"]);
    expect(Object.keys(r.json.result).sort()).toEqual(["input_tokens", "text", "time", "tokens", "tokens_count"]);
    expect(r.json.result.tokens.length).toBe(r.json.result.input_tokens + r.json.result.tokens_count);
    const bad = await rpc({ request: { nothing: true } });
    expect(bad.json.error.code).toBe(-32602);
    const nul = await rpc({ request: null });
    expect(nul.json.error.code).toBe(-32602);
  });

  test("health, healthz, metrics, job by ticket, 404, body limit", async () => {
    expect(await (await app.request("/health")).json()).toEqual({ status: "ok" });
    expect(await (await app.request("/healthz", { method: "POST" })).json()).toEqual({ status: "ok" });
    const metricsText = await (await app.request("/metrics")).text();
    expect(metricsText).toContain('atoma_jobs{state="received"} 1');
    expect(metricsText).toMatch(/atoma_tokens_generated_total\{model="stories260k",source="rpc"\} \d+/);
    expect(metricsText).toContain("atoma_generation_seconds_bucket");
    const byTicket = await app.request(`/v1/jobs/${TICKET.slice(2)}`);
    expect(((await byTicket.json()) as any).jobs[0].ticket_id).toBe(TICKET);
    expect((await app.request("/v1/jobs/0xdead")).status).toBe(404);
    const big = await rpc({ jsonrpc: "2.0", id: 1, method: "generate", params: { prompt: "x".repeat(5000) } });
    expect(big.status).toBe(413);
    expect(big.json.error.code).toBe(-32600);
  });

  test("job by ticket accepts short, unprefixed and upper-case ids; rejects non-hex with 400", async () => {
    const short = "0x" + "0".repeat(62) + "2a";
    const origin = { checkpoint: 2n, txDigest: "T2", eventIndex: 0, eventType: "x::gate::Text2TextPromptEvent" };
    store.applyBatch({
      checkpoint: 2n,
      events: [{
        origin, prompts: [], settled: [],
        jobs: [{
          ticketId: short, leafIndex: 0, numLeaves: 1, model: "stories260k", outputDestination: new Uint8Array(), origin,
          job: { kind: "text", params: { maxTokens: 8n, model: "stories260k", prePromptTokens: [], prependOutputWithInput: false, prompt: new TextEncoder().encode("Once"), randomSeed: 7n, repeatLastN: 64n, repeatPenalty: 1, shouldStreamOutput: false, temperature: 0, topK: 0n, topP: 1 } },
        }],
      }],
    });
    for (const path of ["0x2a", "2A", "0x002a", short]) {
      const r = await app.request(`/v1/jobs/${path}`);
      expect(r.status).toBe(200);
      expect(((await r.json()) as any).ticket_id).toBe(short);
    }
    const rpcShort = await rpc({ jsonrpc: "2.0", id: 1, method: "job", params: { ticket_id: "0x2a" } });
    expect(rpcShort.json.result.ticket_id).toBe(short);
    const bad = await app.request("/v1/jobs/0xnothex");
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).error).toContain("not a hex object id");
  });

  test("request_timeout: an unfinished generation is an error, not a partial text", async () => {
    const models = new Map<string, ModelSlot>([["stories260k", { engine, lock: new Semaphore(1) }]]);
    const quick = createApi({ models, store, metrics: new NodeMetrics(), timeoutMs: 30, nodeInfo: () => ({}) });
    const res = await quick.request("/", { method: "POST", body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "generate", params: { prompt: "Once", max_tokens: 100000, temperature: 1 } }) });
    expect(((await res.json()) as any).error).toEqual({ code: -32603, message: "generation timed out after 30 ms (request_timeout)" });
  });

  test("bearer token guards everything but health; real socket bind", async () => {
    const models = new Map<string, ModelSlot>([["stories260k", { engine, lock: new Semaphore(1) }]]);
    const guarded = createApi({ models, store, metrics: new NodeMetrics(), timeoutMs: 10_000, nodeInfo: () => ({}), token: "s3cret" });
    const srv = serveApi(guarded, "127.0.0.1", 0);
    try {
      const call = (auth?: string) =>
        fetch(srv.url, { method: "POST", body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "models" }), headers: auth ? { authorization: auth } : {} });
      expect((await call()).status).toBe(401);
      expect((await call("Bearer nope")).status).toBe(401);
      expect((await call("Bearer s3cret")).status).toBe(200);
      expect((await fetch(`${srv.url}/health`)).status).toBe(200);
      expect((await fetch(`${srv.url}/metrics`)).status).toBe(401);
    } finally {
      await srv.stop();
    }
  });
});
