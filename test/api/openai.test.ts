/**
 * The OpenAI-compatible routes driven by the official `openai` client over a real loopback socket,
 * with the stories260K model: what a user of the API checks (text, determinism, stops, usage,
 * streaming, errors the client raises, cancellation, admission).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { NodeMetrics } from "../../src/log/metrics.ts";
import { Admission } from "../../src/api/openai/admission.ts";
import { createApi, serveApi, type RunningServer } from "../../src/api/server.ts";
import { loadTextEngine } from "../../src/engine/engine.ts";
import type { SamplingParams, TextEngine } from "../../src/engine/types.ts";
import type { ModelSlot } from "../../src/jobs/scheduler.ts";
import { Semaphore } from "../../src/jobs/semaphore.ts";
import { ensureStories260k } from "../support/models.ts";
import { buildEmbeddingModel, expectedEmbedding, type EmbeddingModel } from "../support/embedding-model.ts";
import { loadEmbeddingEngine, type EmbeddingEngine } from "../../src/engine/embedding.ts";
import { loadConfig } from "../../src/config/load.ts";
import { startNode } from "../../src/node.ts";
import { freePort } from "../node/harness.ts";

const MODEL = "stories260k";
const TEMPLATED = "stories-chat";
/** A chat template written into a copy of the model directory (the imported model has none). */
const TEMPLATE = "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}";

let engine: TextEngine;
let templated: TextEngine;
let slot: ModelSlot;
let metrics: NodeMetrics;
let server: RunningServer;
let client: OpenAI;
let dir: string;
let modelDir: string;
let embedModel: EmbeddingModel;
let embedder: EmbeddingEngine;
const EMBED = "tiny-embed";

const greedy = (maxTokens: number): SamplingParams => ({ maxTokens, temperature: 0, topK: 0, topP: 1, repeatPenalty: 1, repeatLastN: 64, seed: 0n });

function serve(opts: { token?: string; admission?: Admission; maxBodyBytes?: number; timeoutMs?: number } = {}) {
  const models = new Map<string, ModelSlot>([[MODEL, slot], [TEMPLATED, { engine: templated, lock: new Semaphore(1) }]]);
  const embedders = new Map([[EMBED, { engine: embedder, lock: new Semaphore(1) }]]);
  const m = new NodeMetrics();
  const app = createApi({ models, embedders, store: undefined, metrics: m, timeoutMs: opts.timeoutMs ?? 60_000, nodeInfo: () => ({}), token: opts.token, admission: opts.admission, maxBodyBytes: opts.maxBodyBytes });
  const srv = serveApi(app, "127.0.0.1", 0);
  return { srv, metrics: m, client: new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: opts.token ?? "unused", maxRetries: 0 }) };
}

beforeAll(async () => {
  modelDir = await ensureStories260k();
  dir = mkdtempSync(join(tmpdir(), "atoma-openai-"));
  embedModel = buildEmbeddingModel(join(dir, "embed-model"), modelDir);
  embedder = await loadEmbeddingEngine({ id: EMBED, dir: embedModel.dir, device: "cpu", dtype: "f32" });
  const chatDir = join(dir, "chat-model");
  cpSync(modelDir, chatDir, { recursive: true });
  const cfg = JSON.parse(readFileSync(join(chatDir, "tokenizer_config.json"), "utf8"));
  writeFileSync(join(chatDir, "tokenizer_config.json"), JSON.stringify({ ...cfg, chat_template: TEMPLATE }));
  engine = await loadTextEngine({ id: MODEL, dir: modelDir, device: "cpu", dtype: "f32" });
  templated = await loadTextEngine({ id: TEMPLATED, dir: chatDir, device: "cpu", dtype: "f32" });
  slot = { engine, lock: new Semaphore(1) };
  const s = serve();
  server = s.srv;
  metrics = s.metrics;
  client = s.client;
});

afterAll(async () => {
  await server?.stop();
  await engine?.dispose();
  await templated?.dispose();
  await embedder?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("completions and models", () => {
  test("GET /v1/models lists the hosted models; retrieve one; unknown is a NotFoundError", async () => {
    const list = await client.models.list();
    expect(list.data.map((m) => m.id)).toEqual([MODEL, TEMPLATED, EMBED]);
    expect(list.data[2]).toMatchObject({ type: "embedding", dimensions: 16 });
    expect(list.data[0]).toMatchObject({ object: "model", owned_by: "atoma-node", chat_template: "fallback" });
    expect(list.data[1]).toMatchObject({ chat_template: "model" });
    expect((await client.models.retrieve(MODEL)).id).toBe(MODEL);
    const err = await client.models.retrieve("gpt-9").catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect(err.code).toBe("model_not_found");
  });

  test("greedy text equals the engine's greedy output; usage equals the tokenizer's counts", async () => {
    const prompt = "Once upon a time";
    const r = await client.completions.create({ model: MODEL, prompt, max_tokens: 40, temperature: 0 });
    const direct = await engine.generate({ prompt, params: greedy(40) });
    expect(r.object).toBe("text_completion");
    expect(r.choices).toHaveLength(1);
    expect(r.choices[0]!.text).toBe(direct.text);
    expect(r.choices[0]!.finish_reason).toBe(direct.finishReason === "eos" ? "stop" : "length");
    expect(r.usage).toEqual({ prompt_tokens: engine.tokenizer.encode(prompt).length, completion_tokens: direct.outputTokens, total_tokens: engine.tokenizer.encode(prompt).length + direct.outputTokens });
    expect(r.usage!.completion_tokens).toBe(40);
  });

  test("seeded sampling is deterministic and gives the same bytes as JSON-RPC generate", async () => {
    const params = { model: MODEL, prompt: "The cat", max_tokens: 30, temperature: 0.8, top_p: 0.9, seed: 42 };
    const a = await client.completions.create(params);
    const b = await client.completions.create(params);
    expect(a.choices[0]!.text).toBe(b.choices[0]!.text);
    const rpc = await fetch(server.url, {
      method: "POST",
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "generate", params: { model: MODEL, prompt: "The cat", max_tokens: 30, temperature: 0.8, top_p: 0.9, random_seed: 42 } }),
    }).then((r) => r.json() as Promise<any>);
    expect(rpc.result.text).toBe(a.choices[0]!.text);
    const other = await client.completions.create({ ...params, seed: 43 });
    expect(other.choices[0]!.text).not.toBe(a.choices[0]!.text);
    // Negative OpenAI seeds are the same 64 bits as the u64 JSON-RPC seed.
    const neg = await client.completions.create({ ...params, seed: -1 });
    const rpcNeg = await fetch(server.url, {
      method: "POST",
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "generate", params: { model: MODEL, prompt: "The cat", max_tokens: 30, temperature: 0.8, top_p: 0.9, random_seed: "18446744073709551615" } }),
    }).then((r) => r.json() as Promise<any>);
    expect(neg.choices[0]!.text).toBe(rpcNeg.result.text);
  });

  test("stop strings end the text exactly before the sequence, streamed or not", async () => {
    const prompt = "Once upon a time";
    const full = (await engine.generate({ prompt, params: greedy(60) })).text;
    const stop = full.slice(20, 24); // a sequence the greedy text is known to contain
    const cut = full.indexOf(stop);
    const r = await client.completions.create({ model: MODEL, prompt, max_tokens: 60, temperature: 0, stop: [stop, "zzzz"] });
    expect(r.choices[0]!.text).toBe(full.slice(0, cut));
    expect(r.choices[0]!.finish_reason).toBe("stop");
    expect(r.usage!.completion_tokens).toBeLessThan(60);
    const stream = await client.completions.create({ model: MODEL, prompt, max_tokens: 60, temperature: 0, stop, stream: true });
    let text = "";
    let finish: string | null = null;
    for await (const ch of stream) {
      text += ch.choices[0]?.text ?? "";
      finish = ch.choices[0]?.finish_reason ?? finish;
    }
    expect(text).toBe(full.slice(0, cut));
    expect(finish).toBe("stop");
  });

  test("top_k and repetition penalties as vLLM and llama.cpp accept them", async () => {
    const base = { model: MODEL, prompt: "Once", max_tokens: 20, temperature: 0.9, seed: 5 };
    const viaRpc = async (extra: Record<string, unknown>) =>
      (await fetch(server.url, { method: "POST", body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "generate", params: { model: MODEL, prompt: "Once", max_tokens: 20, temperature: 0.9, random_seed: 5, ...extra } }) }).then((r) => r.json() as Promise<any>)).result.text;
    const k = await client.completions.create({ ...base, top_k: 3 } as never);
    expect((k as any).choices[0].text).toBe(await viaRpc({ top_k: 3 }));
    const off = await client.completions.create({ ...base, top_k: -1 } as never);
    expect((off as any).choices[0].text).toBe(await viaRpc({ top_k: 0 }));
    const llama = await client.completions.create({ ...base, repeat_penalty: 1.3, repeat_last_n: 16 } as never);
    expect((llama as any).choices[0].text).toBe(await viaRpc({ repeat_penalty: 1.3, repeat_last_n: 16 }));
    const vllm = await client.completions.create({ ...base, repetition_penalty: 1.3 } as never);
    expect((vllm as any).choices[0].text).toBe(await viaRpc({ repeat_penalty: 1.3, repeat_last_n: engine.info.contextLength }));
  });
});

describe("chat completions", () => {
  test("a model without a template: the fallback 'role: content' rendering, same text as the engine", async () => {
    const messages = [{ role: "system" as const, content: "Tell a story." }, { role: "user" as const, content: "Once upon a time" }];
    const r = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 30, temperature: 0 });
    const direct = await engine.generate({ prompt: "system: Tell a story.\nuser: Once upon a time\nassistant:", params: greedy(30) });
    expect(r.object).toBe("chat.completion");
    expect(r.choices[0]!.message).toMatchObject({ role: "assistant", content: direct.text });
    expect(r.usage!.prompt_tokens).toBe(direct.inputTokens);
    expect(r.usage!.completion_tokens).toBe(direct.outputTokens);
  });

  test("the model's own chat_template from tokenizer_config.json; BOS once", async () => {
    const r = await client.chat.completions.create({ model: TEMPLATED, messages: [{ role: "user", content: "Hi" }], max_tokens: 20, temperature: 0 });
    const direct = await templated.generate({ prompt: "[user] Hi\n[assistant]", params: greedy(20) });
    expect(r.choices[0]!.message.content).toBe(direct.text);
    expect(r.usage!.prompt_tokens).toBe(templated.tokenizer.encode("[user] Hi\n[assistant]").length);
  });

  test("streamed tokens concatenate to the non-streamed text; include_usage; [DONE] ends the stream", async () => {
    const req = { model: MODEL, messages: [{ role: "user" as const, content: "Lily had a ball" }], max_tokens: 50, temperature: 0.7, seed: 7 };
    const whole = await client.chat.completions.create(req);
    const stream = await client.chat.completions.create({ ...req, stream: true, stream_options: { include_usage: true } });
    const deltas: string[] = [];
    let usage: unknown = null;
    let finish: string | null = null;
    let role: string | undefined;
    for await (const ch of stream) {
      if (ch.usage) usage = ch.usage;
      const c = ch.choices[0];
      if (!c) continue;
      role ??= c.delta.role;
      if (c.delta.content) deltas.push(c.delta.content);
      finish = c.finish_reason ?? finish;
    }
    expect(role).toBe("assistant");
    expect(deltas.length).toBeGreaterThan(5);
    expect(deltas.join("")).toBe(whole.choices[0]!.message.content!);
    expect(finish).toBe(whole.choices[0]!.finish_reason);
    expect(usage).toEqual(whole.usage);
    // The raw wire format ends with the sentinel.
    const raw = await fetch(`${server.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ ...req, max_tokens: 3, stream: true }) });
    expect(raw.headers.get("content-type")).toContain("text/event-stream");
    const text = await raw.text();
    expect(text.trimEnd().endsWith("data: [DONE]")).toBe(true);
    expect(text).not.toContain('"usage"');
  });

  test("logprobs/top_logprobs: greedy picks the top alternative; tokens spell the content", async () => {
    const r = await client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "Once" }], max_tokens: 12, temperature: 0, logprobs: true, top_logprobs: 3 });
    const content = r.choices[0]!.logprobs!.content!;
    expect(content).toHaveLength(r.usage!.completion_tokens);
    expect(content.map((t) => t.token).join("")).toBe(r.choices[0]!.message.content!);
    for (const t of content) {
      expect(t.top_logprobs).toHaveLength(3);
      expect(t.logprob).toBeCloseTo(t.top_logprobs[0]!.logprob, 10);
      expect(t.top_logprobs[0]!.logprob).toBeGreaterThanOrEqual(t.top_logprobs[1]!.logprob);
      expect(t.logprob).toBeLessThanOrEqual(0);
      expect(t.bytes).toEqual([...new TextEncoder().encode(t.token)]);
    }
    const c = await client.completions.create({ model: MODEL, prompt: "Once", max_tokens: 8, temperature: 0, logprobs: 2 });
    const lp = c.choices[0]!.logprobs!;
    expect(lp.tokens!.join("")).toBe(c.choices[0]!.text);
    expect(lp.token_logprobs).toHaveLength(8);
    expect(Object.keys(lp.top_logprobs![0]!)).toHaveLength(2);
    expect(lp.text_offset![1]).toBe(lp.tokens![0]!.length);
  });
});

describe("errors in OpenAI's shape", () => {
  test("bad params, n ≠ 1, unknown model, bad JSON: the client's typed errors with param and code", async () => {
    const bad = (p: Record<string, unknown>) => client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "Hi" }], ...p } as never).catch((e) => e);
    const n = await bad({ n: 2 });
    expect(n).toBeInstanceOf(OpenAI.BadRequestError);
    expect(n.status).toBe(400);
    expect(n.param).toBe("n");
    expect(n.error).toMatchObject({ type: "invalid_request_error", param: "n", code: "unsupported_value" });
    expect((await bad({ temperature: 5 })).param).toBe("temperature");
    expect((await bad({ max_tokens: 0 })).param).toBe("max_tokens");
    expect((await bad({ top_logprobs: 2 })).param).toBe("top_logprobs");
    expect((await bad({ presence_penalty: 0.5 })).code).toBe("unsupported_parameter");
    expect((await bad({ messages: [] })).param).toBe("messages");
    expect((await bad({ messages: [{ role: "wizard", content: "x" }] })).param).toBe("messages[0].role");
    const model = await bad({ model: "gpt-9" });
    expect(model).toBeInstanceOf(OpenAI.NotFoundError);
    expect(model.code).toBe("model_not_found");
    const long = await client.completions.create({ model: MODEL, prompt: "Once upon a time ".repeat(200) }).catch((e) => e);
    expect(long.code).toBe("context_length_exceeded");
    const json = await fetch(`${server.url}/v1/completions`, { method: "POST", body: "{nope" });
    expect(json.status).toBe(400);
    expect(((await json.json()) as any).error).toEqual({ message: "request body is not valid JSON", type: "invalid_request_error", param: null, code: null });
  });

  test("bearer auth as JSON-RPC (AuthenticationError); request size limit (413)", async () => {
    const { srv, client: good } = serve({ token: "s3cret", maxBodyBytes: 2048 });
    try {
      expect((await good.models.list()).data.length).toBe(3);
      const wrong = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: "nope", maxRetries: 0 });
      const e = await wrong.models.list().catch((x) => x);
      expect(e).toBeInstanceOf(OpenAI.AuthenticationError);
      expect(e.code).toBe("invalid_api_key");
      const big = await good.completions.create({ model: MODEL, prompt: "x".repeat(5000) }).catch((x) => x);
      expect(big.status).toBe(413);
      expect(big.code).toBe("request_too_large");
    } finally {
      await srv.stop();
    }
  });
});

describe("cancellation and admission", () => {
  test("a client that disconnects mid-stream cancels its generation; the queued request starts at once", async () => {
    const { srv, client: c, metrics: m } = serve();
    try {
      // 400 tokens at temperature 1 (seed 1 never samples EOS that early): long enough to notice.
      const stream = await c.completions.create({ model: MODEL, prompt: "Once upon a time", max_tokens: 400, temperature: 1, seed: 1, stream: true });
      const it = stream[Symbol.asyncIterator]();
      expect((await it.next()).done).toBe(false);
      // Queued behind the stream (the model runs one generation at a time).
      const next = c.completions.create({ model: MODEL, prompt: "The", max_tokens: 5, temperature: 0 });
      await it.return!(); // aborts the HTTP request
      const r = await next;
      expect(r.choices[0]!.text.length).toBeGreaterThan(0);
      expect(m.apiRequests.get({ model: MODEL, outcome: "cancelled" })).toBe(1);
      const streamed = m.tokens.get({ model: MODEL, source: "openai" }) - r.usage!.completion_tokens;
      expect(streamed).toBeLessThan(400);
      expect(slot.lock.available).toBe(1);
    } finally {
      await srv.stop();
    }
  });

  test("a full model queue answers 429 with Retry-After; the client's RateLimitError", async () => {
    const admission = new Admission({ queueSize: 1, ratePerMinute: 0 });
    const { srv, client: c, metrics: m } = serve({ admission });
    try {
      const first = await c.completions.create({ model: MODEL, prompt: "Once upon a time", max_tokens: 300, temperature: 1, seed: 1, stream: true });
      const it = first[Symbol.asyncIterator]();
      await it.next();
      const res = await c.completions.create({ model: MODEL, prompt: "Hi", max_tokens: 2 }).withResponse().catch((e) => e);
      expect(res).toBeInstanceOf(OpenAI.RateLimitError);
      expect(res.code).toBe("queue_full");
      expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      // Other models have their own queue.
      expect((await c.completions.create({ model: TEMPLATED, prompt: "Hi", max_tokens: 2 })).choices).toHaveLength(1);
      for (;;) if ((await it.next()).done) break;
      expect((await c.completions.create({ model: MODEL, prompt: "Hi", max_tokens: 2 })).choices).toHaveLength(1);
      expect(m.apiRequests.get({ model: MODEL, outcome: "rejected" })).toBe(1);
    } finally {
      await srv.stop();
    }
  });

  test("per-key rate limit where a key is configured", async () => {
    const { srv, client: c } = serve({ token: "k", admission: new Admission({ queueSize: 16, ratePerMinute: 2 }) });
    try {
      await c.models.list();
      await c.models.list();
      const e = await c.models.list().catch((x) => x);
      expect(e).toBeInstanceOf(OpenAI.RateLimitError);
      expect(e.code).toBe("rate_limit_exceeded");
      expect(Number(e.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    } finally {
      await srv.stop();
    }
  });
});

describe("embeddings", () => {
  test("mean-pooled, normalised vectors, float and base64 (the client's default); usage = tokenizer counts", async () => {
    const texts = ["Once upon a time", "Lily had a red ball"];
    const r = await client.embeddings.create({ model: EMBED, input: texts }); // the client asks for base64 and decodes it
    const f = await client.embeddings.create({ model: EMBED, input: texts, encoding_format: "float" });
    expect(r.object).toBe("list");
    expect(r.data.map((d) => d.index)).toEqual([0, 1]);
    for (const [i, t] of texts.entries()) {
      const want = expectedEmbedding(embedModel, embedder.tokenizer.encode(t));
      for (const res of [r, f]) {
        const got = res.data[i]!.embedding;
        expect(got).toHaveLength(16);
        got.forEach((v, j) => expect(v).toBeCloseTo(want[j]!, 6));
        expect(Math.hypot(...got)).toBeCloseTo(1, 6);
      }
      expect(r.data[i]!.embedding).toEqual(f.data[i]!.embedding); // same float32 values either way
    }
    const tokens = texts.reduce((n, t) => n + embedder.tokenizer.encode(t).length, 0);
    expect(r.usage).toEqual({ prompt_tokens: tokens, total_tokens: tokens });
    // The same text alone or in a batch: the same vector.
    const alone = await client.embeddings.create({ model: EMBED, input: texts[1]!, encoding_format: "float" });
    expect(alone.data[0]!.embedding).toEqual(f.data[1]!.embedding);
  });

  test("errors: wrong model kind both ways, bad input, other dimensions", async () => {
    const e1 = await client.embeddings.create({ model: MODEL, input: "x" }).catch((e) => e);
    expect(e1).toBeInstanceOf(OpenAI.BadRequestError);
    expect(e1.code).toBe("wrong_model_type");
    const e2 = await client.chat.completions.create({ model: EMBED, messages: [{ role: "user", content: "x" }] }).catch((e) => e);
    expect(e2.code).toBe("wrong_model_type");
    expect((await client.embeddings.create({ model: EMBED, input: [] }).catch((e) => e)).param).toBe("input");
    expect((await client.embeddings.create({ model: EMBED, input: [[1, 2]] as never }).catch((e) => e)).param).toBe("input");
    expect((await client.embeddings.create({ model: EMBED, input: "x", dimensions: 8 }).catch((e) => e)).param).toBe("dimensions");
    expect((await client.embeddings.create({ model: "nope", input: "x" }).catch((e) => e)).code).toBe("model_not_found");
  });

  test("the node serves a configured embedding model (an encoder config.json) on /v1/embeddings only", async () => {
    const cfg = join(dir, "embed-node.toml");
    writeFileSync(cfg, `[inference]\ncache_dir = "${dir}"\njrpc_port = ${await freePort()}\n\n[[inference.models]]\nmodel_id = "${MODEL}"\npath = "${modelDir}"\ndevice = "cpu"\ndtype = "f32"\n\n[[inference.models]]\nmodel_id = "${EMBED}"\npath = "${embedModel.dir}"\ndevice = "cpu"\ndtype = "f32"\n\n[node]\ndata_dir = "${join(dir, "state")}"\n`);
    const node = await startNode(loadConfig({ config: cfg }));
    try {
      const c = new OpenAI({ baseURL: `${node.url}/v1`, apiKey: "x", maxRetries: 0 });
      expect((await c.models.list()).data.map((m) => [m.id, (m as any).type])).toEqual([[MODEL, "text"], [EMBED, "embedding"]]);
      const r = await c.embeddings.create({ model: EMBED, input: "Once upon a time", encoding_format: "float" });
      expect(r.data[0]!.embedding[0]).toBeCloseTo(expectedEmbedding(embedModel, embedder.tokenizer.encode("Once upon a time"))[0]!, 6);
    } finally {
      await node.stop();
    }
  });
});
