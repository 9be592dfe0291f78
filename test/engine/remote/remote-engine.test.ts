/**
 * The remote engine against the test upstream (test/support/openai-upstream), one kind at a time:
 * the request each kind receives, streaming, balancing, caps, retries, the breaker, health checks
 * and faults (garbage, stalls, connections closed mid-stream).
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { createRemoteEngine, capabilityWarnings, inspectRemote, type RemoteEngineConfig } from "../../../src/engine/remote/index.ts";
import type { RemoteTextEngine } from "../../../src/engine/remote/engine.ts";
import { EngineError, type GenerateRequest, type SamplingParams } from "../../../src/engine/types.ts";
import { startUpstream, type FakeKind, type FakeUpstream } from "../../support/openai-upstream/index.ts";

const ups: FakeUpstream[] = [];
const engines: RemoteTextEngine[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.dispose();
  for (const u of ups.splice(0)) await u.stop();
});
afterAll(async () => {
  for (const u of ups) await u.stop();
});

async function upstream(kind: FakeKind, extra: Partial<Parameters<typeof startUpstream>[0]> = {}): Promise<FakeUpstream> {
  const u = await startUpstream({ kind, model: "m1", ...extra });
  ups.push(u);
  return u;
}

async function engine(kind: RemoteEngineConfig["kind"], urls: string[], cfg: Partial<RemoteEngineConfig> = {}): Promise<RemoteTextEngine> {
  const e = await createRemoteEngine("m1", {
    kind,
    urls,
    servedModel: "m1",
    apiKey: undefined,
    maxConcurrent: 4,
    timeoutMs: 2000,
    stallTimeoutMs: 300,
    retries: 2,
    healthIntervalMs: 100_000,
    tokenizer: undefined,
    contextLength: undefined,
    ...cfg,
  });
  engines.push(e);
  return e;
}

const params = (p: Partial<SamplingParams> = {}): SamplingParams => ({ maxTokens: 64, temperature: 0.7, topK: 0, topP: 1, repeatPenalty: 1, repeatLastN: 64, seed: 42n, ...p });
const req = (p: Partial<SamplingParams> = {}, prompt = "Once upon a time"): GenerateRequest => ({ prompt, params: params(p) });

describe("request shapes per kind", () => {
  test("vllm: top_k -1 for off, repetition_penalty, int64 seed sent exactly, usage from the final chunk", async () => {
    const u = await upstream("vllm");
    const e = await engine("vllm", [u.url]);
    const r = await e.generate(req({ seed: 18446744073709551615n, topK: 0 }));
    const sent = u.requests[0]!;
    expect(sent.body).toMatchObject({ model: "m1", prompt: "Once upon a time", max_tokens: 64, stream: true, top_k: -1, repetition_penalty: 1, temperature: expect.closeTo(0.7, 5) });
    expect(sent.raw).toContain('"seed":-1');
    expect(r.text.length).toBeGreaterThan(0);
    expect(r.outputTokens).toBe(r.text.trim().split(/\s+/).length);
    expect(r.inputTokens).toBe(4);
    expect(["eos", "length"]).toContain(r.finishReason);
    // A u64 seed above 2^63 keeps all its bits (as the signed value), not a float approximation.
    await e.generate(req({ seed: 9007199254740993n }));
    expect(u.requests[1]!.raw).toContain('"seed":9007199254740993');
    // The context window comes from vLLM's /v1/models (max_model_len).
    expect(e.info.contextLength).toBe(4096);
  });

  test("llamacpp: explicit top_k 0 / min_p 0, repeat_penalty + repeat_last_n, 32-bit seed, cache_prompt off, usage on the last chunk without asking", async () => {
    const u = await upstream("llamacpp");
    const e = await engine("llamacpp", [u.url]);
    const r = await e.generate(req({ seed: 0x1_0000_0007n, repeatPenalty: 1.3, repeatLastN: 8, topK: 0 }));
    expect(u.requests[0]!.body).toMatchObject({ top_k: 0, min_p: 0, repeat_penalty: expect.closeTo(1.3, 5), repeat_last_n: 8, seed: 7, cache_prompt: false });
    // Seeds that differ only above bit 31 give the same text on llama.cpp: said at start-up.
    const again = await e.generate(req({ seed: 7n, repeatPenalty: 1.3, repeatLastN: 8 }));
    expect(again.text).toBe(r.text);
    expect(capabilityWarnings("m1", { kind: "llamacpp" } as RemoteEngineConfig).join("\n")).toContain("upper 32 bits of the seed");
  });

  test("ollama: top_k and repeat_penalty cannot be passed (same text whatever they are), model served as name:latest", async () => {
    const u = await upstream("ollama");
    const e = await engine("ollama", [u.url]);
    const a = await e.generate(req({ topK: 5, repeatPenalty: 1.5 }));
    const b = await e.generate(req({ topK: 50, repeatPenalty: 1 }));
    expect(a.text).toBe(b.text);
    expect(u.requests[0]!.body.top_k).toBeUndefined();
    const w = capabilityWarnings("m1", { kind: "ollama" } as RemoteEngineConfig).join("\n");
    expect(w).toContain("top_k");
    expect(w).toContain("repeat_penalty");
    const [rep] = await inspectRemote({ kind: "ollama", urls: [u.url], servedModel: "m1", apiKey: undefined } as RemoteEngineConfig);
    expect(rep).toMatchObject({ ok: true, version: "0.5.1" });
  });

  test("same seed → same text, other seed → other text (sglang)", async () => {
    const u = await upstream("sglang");
    const e = await engine("sglang", [u.url]);
    const a = await e.generate(req({ seed: 1n }));
    const b = await e.generate(req({ seed: 1n }));
    const texts = new Set<string>();
    for (let s = 2n; s < 8n; s++) texts.add((await e.generate(req({ seed: s }))).text);
    expect(a.text).toBe(b.text);
    expect(texts.size).toBeGreaterThan(1);
  });

  test("openai: the api key goes as a bearer token and never into errors", async () => {
    const u = await upstream("openai", { apiKey: "sk-very-secret-key" });
    const good = await engine("openai", [u.url], { apiKey: "sk-very-secret-key" });
    await good.generate(req());
    expect(u.requests[0]!.authorization).toBe("Bearer sk-very-secret-key");
    const bad = await engine("openai", [u.url], { apiKey: "sk-wrong-secret-key" });
    const err = await bad.generate(req()).catch((e) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect(err.message).toContain("HTTP 401");
    expect(err.message).not.toContain("sk-wrong");
    // The health check (GET /v1/models for this kind) already fails with 401: the upstream is out.
    expect(err.message).toContain("no upstream available for 2000 ms");
    expect(u.requests.length).toBe(1);
  });

  test("credentials in a base URL never show in errors", async () => {
    const u = await upstream("vllm", { model: "other" });
    const e = await engine("vllm", [u.url.replace("http://", "http://user:pa55word@")]);
    const err = await e.generate(req()).catch((x) => x);
    expect(err.message).toContain("HTTP 404");
    expect(err.message).toContain("127.0.0.1");
    expect(err.message).not.toContain("pa55word");
    expect(e.info.remote!.upstreams[0]).not.toContain("pa55word");
  });
});

describe("streaming", () => {
  test("stream() passes pieces through in order as they arrive", async () => {
    const u = await upstream("vllm", { tokenDelayMs: 5 });
    const e = await engine("vllm", [u.url]);
    const seen: string[] = [];
    const it = e.stream(req());
    let r = await it.next();
    while (!r.done) {
      seen.push(r.value.text);
      r = await it.next();
    }
    expect(seen.length).toBe(r.value.outputTokens);
    expect(seen.join("")).toBe(r.value.text);
  });

  test("a streaming caller is not retried once pieces were delivered", async () => {
    const a = await upstream("vllm", { tokenDelayMs: 20 });
    const b = await upstream("vllm", { tokenDelayMs: 20 });
    a.fault = "close";
    b.fault = "close";
    const e = await engine("vllm", [a.url, b.url]);
    const pieces: string[] = [];
    const err = await e.generate(req(), (c) => pieces.push(c.text)).catch((x) => x);
    expect(err).toBeInstanceOf(EngineError);
    expect(err.message).toContain("not retried");
    expect(pieces.length).toBeGreaterThan(0);
    expect(a.requests.length + b.requests.length).toBe(1);
  });

  test("aborting returns what arrived with finish reason aborted", async () => {
    const u = await upstream("vllm", { tokenDelayMs: 50 });
    const e = await engine("vllm", [u.url]);
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 120);
    const r = await e.generate({ ...req(), signal: ctl.signal });
    expect(r.finishReason).toBe("aborted");
  });
});

describe("pool", () => {
  test("balances by in-flight count and keeps the per-upstream cap", async () => {
    const a = await upstream("vllm", { tokenDelayMs: 10 });
    const b = await upstream("vllm", { tokenDelayMs: 10 });
    const e = await engine("vllm", [a.url, b.url], { maxConcurrent: 2 });
    const rs = await Promise.all(Array.from({ length: 8 }, (_, i) => e.generate(req({ seed: BigInt(i) }))));
    expect(rs.every((r) => r.text.length > 0)).toBe(true);
    expect(a.requests.length).toBe(4);
    expect(b.requests.length).toBe(4);
    expect(a.maxInFlight).toBe(2);
    expect(b.maxInFlight).toBe(2);
  });

  test("a failing upstream: retried on the other, then taken out by its breaker", async () => {
    const a = await upstream("vllm");
    const b = await upstream("vllm");
    a.fault = "http500";
    const e = await engine("vllm", [a.url, b.url], { maxConcurrent: 1 });
    for (let i = 0; i < 6; i++) expect((await e.generate(req({ seed: BigInt(i) }))).text.length).toBeGreaterThan(0);
    // Three failures open the breaker: later requests go straight to b.
    expect(a.requests.length).toBe(3);
    expect(b.requests.length).toBe(6);
    expect(e.pool.upstreams[0]!.lastError).toContain("HTTP 500");
  });

  test("health checks take an upstream out and bring it back", async () => {
    const a = await upstream("llamacpp");
    const b = await upstream("llamacpp");
    const e = await engine("llamacpp", [a.url, b.url], { healthIntervalMs: 100 });
    a.healthy = false;
    await Bun.sleep(350);
    for (let i = 0; i < 4; i++) await e.generate(req({ seed: BigInt(i) }));
    expect(a.requests.length).toBe(0);
    a.healthy = true;
    await Bun.sleep(350);
    await Promise.all(Array.from({ length: 4 }, (_, i) => e.generate(req({ seed: BigInt(i) }))));
    expect(a.requests.length).toBeGreaterThan(0);
  });
});

describe("faults → a clear error, or a retry where one is safe", () => {
  for (const [fault, words] of [
    ["garbage", "invalid JSON in the stream"],
    ["stall", "stalled"],
    ["close", "stream broken"],
    ["json", "expected an event stream"],
  ] as const) {
    test(`${fault}: one upstream → gave up with the reason`, async () => {
      const u = await upstream("vllm");
      u.fault = fault;
      const e = await engine("vllm", [u.url], { retries: 1 });
      const err = await e.generate(req()).catch((x) => x);
      expect(err).toBeInstanceOf(EngineError);
      expect(err.message).toContain("gave up after 2 attempt(s)");
      expect(err.message).toContain(words);
    });
  }

  test("closed mid-stream on one upstream, buffered caller → completed on the other, same text as a clean run", async () => {
    const a = await upstream("vllm");
    const b = await upstream("vllm");
    a.fault = "close";
    const e = await engine("vllm", [a.url, b.url], { maxConcurrent: 1 });
    const r = await e.generate(req({ seed: 5n }));
    expect(a.requests.length).toBe(1);
    expect(b.requests.length).toBe(1);
    a.fault = "none";
    const clean = await e.generate(req({ seed: 5n }));
    expect(r.text).toBe(clean.text);
  });

  test("an upstream that refuses the request (4xx) is not retried", async () => {
    const u = await upstream("vllm", { model: "other" });
    const e = await engine("vllm", [u.url]);
    const err = await e.generate(req()).catch((x) => x);
    expect(err.message).toContain("HTTP 404");
    expect(err.message).toContain("does not exist");
    expect(u.requests.length).toBe(1);
  });

  test("nothing listening → connection errors retried, then one clear line", async () => {
    const u = await upstream("vllm");
    const e = await engine("vllm", [u.url], { retries: 2 });
    await u.stop();
    const err = await e.generate(req()).catch((x) => x);
    expect(err.message).toMatch(/gave up after 3 attempt\(s\)/);
    expect(err.message).toContain("cannot connect");
  });

  test("every upstream out for a moment: the request waits for one to come back instead of failing", async () => {
    const u = await upstream("llamacpp");
    const e = await engine("llamacpp", [u.url], { healthIntervalMs: 100, timeoutMs: 3000 });
    u.healthy = false;
    await Bun.sleep(250);
    setTimeout(() => (u.healthy = true), 500);
    const r = await e.generate(req());
    expect(r.text.length).toBeGreaterThan(0);
    expect(u.requests.length).toBe(1);
    // Out for longer than timeout_ms: one clear line.
    u.healthy = false;
    await Bun.sleep(250);
    const e2 = await engine("llamacpp", [u.url], { healthIntervalMs: 100, timeoutMs: 400 });
    const err = await e2.generate(req()).catch((x) => x);
    expect(err.message).toContain("no upstream available for 400 ms");
    expect(err.message).toContain("HTTP 503: Loading model");
  });
});

describe("doctor inspection", () => {
  test("reachable, serves the model, version per kind; a wrong model name is reported", async () => {
    for (const [kind, version] of [["vllm", "0.6.4"], ["sglang", "0.4.0"], ["llamacpp", "b4000-fake"], ["ollama", "0.5.1"]] as const) {
      const u = await upstream(kind);
      const [r] = await inspectRemote({ kind, urls: [u.url], servedModel: "m1", apiKey: undefined } as RemoteEngineConfig);
      expect(r).toMatchObject({ ok: true, version });
      const [w] = await inspectRemote({ kind, urls: [u.url], servedModel: "nope", apiKey: undefined } as RemoteEngineConfig);
      expect(w!.ok).toBe(kind === "llamacpp");
    }
    const gone = await upstream("vllm");
    await gone.stop();
    const [down] = await inspectRemote({ kind: "vllm", urls: [gone.url], servedModel: "m1", apiKey: undefined } as RemoteEngineConfig, 1000);
    expect(down!.ok).toBe(false);
    expect(down!.detail).toContain("not reachable");
  });
});

describe("token counts vs the local tokenizer", () => {
  test("usage fields are used and checked; token ids filled from the tokenizer; pre_prompt_tokens sent as ids", async () => {
    const { ensureStories260k } = await import("../../support/models.ts");
    const { transformersFor } = await import("../../../src/engine/backends.ts");
    const dir = await ensureStories260k();
    const tjs = await transformersFor("cpu");
    const tok = (await tjs.AutoTokenizer.from_pretrained(dir, { local_files_only: true })) as unknown as { encode(t: string, o?: object): number[] };
    // This upstream counts with the same tokenizer (prompt with BOS, completion without).
    const same = await upstream("vllm", { countTokens: (t) => tok.encode(t, { add_special_tokens: t === "Once upon a time" }).length });
    const e = await engine("vllm", [same.url], { tokenizer: dir });
    const r = await e.generate(req());
    expect(r.inputTokens).toBe(tok.encode("Once upon a time").length);
    expect(r.tokens.length).toBe(r.inputTokens + tok.encode(r.text, { add_special_tokens: false }).length);
    expect(e.countMismatches).toBe(0);
    // pre_prompt_tokens: the prompt goes as ids (pre ‖ encoded prompt).
    await e.generate({ ...req(), prePromptTokens: [5, 6] });
    expect(same.requests[1]!.body.prompt).toEqual([5, 6, ...tok.encode("Once upon a time")]);
    // An upstream counting differently (words) is noticed.
    const other = await upstream("vllm");
    const e2 = await engine("vllm", [other.url], { tokenizer: dir });
    const r2 = await e2.generate(req());
    expect(r2.inputTokens).toBe(4);
    expect(e2.countMismatches).toBe(1);
  });

  test("pre_prompt_tokens without a tokenizer, or to a text-only kind: a clear error", async () => {
    const u = await upstream("ollama");
    const e = await engine("ollama", [u.url]);
    const err = await e.generate({ ...req(), prePromptTokens: [1] }).catch((x) => x);
    expect(err.message).toContain("pre_prompt_tokens cannot be sent to a ollama upstream");
    const v = await upstream("vllm");
    const e2 = await engine("vllm", [v.url]);
    expect((await e2.generate({ ...req(), prePromptTokens: [1] }).catch((x) => x)).message).toContain("need a local tokenizer");
  });
});

describe("slots are always given back", () => {
  test("a consumer that throws or stops early frees its upstream slot", async () => {
    const u = await upstream("vllm", { tokenDelayMs: 5 });
    const e = await engine("vllm", [u.url], { maxConcurrent: 1 });
    await expect(e.generate(req(), () => { throw new Error("consumer broke"); })).rejects.toThrow("consumer broke");
    const it = e.stream(req());
    await it.next();
    await it.return(undefined as never);
    expect(e.pool.upstreams[0]!.inFlight).toBe(0);
    // The single slot is free: the next request runs.
    expect((await e.generate(req())).text.length).toBeGreaterThan(0);
  });
});
