/**
 * JSON-RPC params an attacker sends (issue 8, defect 5): a 50,000-deep array is invalid params
 * (-32602), not an internal error; a 1 MB string is not echoed back; numbers JSON.parse cannot hold
 * (1e309, 9007199254740993) are quoted as sent. Bodies are raw text through the real HTTP handler.
 */
import { describe, expect, test } from "bun:test";
import { NodeMetrics } from "../../src/log/metrics.ts";
import { createApi } from "../../src/api/server.ts";
import { showValue } from "../../src/log/show-value.ts";

const app = createApi({ models: new Map(), store: undefined, metrics: new NodeMetrics(), nodeInfo: () => ({}), timeoutMs: 1000, maxBodyBytes: 4 * 1024 * 1024 });

async function call(paramsText: string, id = "1"): Promise<{ text: string; json: any }> {
  const body = `{"jsonrpc":"2.0","id":${id},"method":"generate","params":{"model":"m","prompt":"x",${paramsText}}}`;
  const res = await app.request("/", { method: "POST", body, headers: { "content-type": "application/json" } });
  const text = await res.text();
  return { text, json: JSON.parse(text) };
}

describe("hostile JSON-RPC params", () => {
  test("a 50,000-deep array as temperature → -32602 with a short message", async () => {
    const deep = "[".repeat(50_000) + "]".repeat(50_000);
    const r = await call(`"temperature":${deep}`);
    expect(r.json.error).toEqual({ code: -32602, message: "params.temperature: expected a finite number, got [[[[…]]]]" });
  });

  test("a 1 MB string as temperature is not echoed", async () => {
    const r = await call(`"temperature":"${"A".repeat(1 << 20)}"`);
    expect(r.json.error.code).toBe(-32602);
    expect(r.json.error.message).toBe(`params.temperature: expected a finite number, got "${"A".repeat(40)}…" (1048576 chars)`);
    expect(r.text.length).toBeLessThan(300);
  });

  test("1e309 is shown as sent, not as null", async () => {
    const r = await call(`"temperature":1e309`);
    expect(r.json.error).toEqual({ code: -32602, message: "params.temperature: expected a finite number, got 1e309" });
    const t = await call(`"top_p":-2E+400`);
    expect(t.json.error.message).toBe("params.top_p: expected a finite number, got -2E+400");
  });

  test("a seed of 9007199254740993 sent as a JSON number is rejected and shown as sent", async () => {
    const r = await call(`"random_seed":9007199254740993`);
    expect(r.json.error).toEqual({ code: -32602, message: "params.random_seed: expected a u64 (non-negative integer or decimal string), got 9007199254740993" });
    // As a string it is exact and accepted (the next failure is the unhosted model).
    const ok = await call(`"random_seed":"9007199254740993"`);
    expect(ok.json.error.message).toContain('params.model: "m" is not hosted here');
  });

  test("a JSON-RPC id beyond 2^53 is echoed exactly", async () => {
    const r = await call(`"temperature":"x"`, "9007199254740993");
    expect(r.text).toContain('"id":9007199254740993');
  });

  test("control characters in values and method names are escaped", async () => {
    const r = await call(`"temperature":"\\u0000\\u001b[2J\\u202e"`);
    expect(r.json.error.message).toBe('params.temperature: expected a finite number, got "\\u0000\\u001b[2J\\u202e"');
    const res = await app.request("/", { method: "POST", body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "x\u0000\u001b[2J" }) });
    expect(((await res.json()) as any).error.message).toBe("method not found: x\\x00\\x1b[2J");
  });

  test("showValue: bounded for any shape", () => {
    expect(showValue({ a: [1, "two", { b: null }], c: new Uint8Array(3) })).toBe('{"a": [1, "two", {"b": null}], "c": <3 bytes>}');
    expect(showValue(Array.from({ length: 1000 }, (_, i) => i)).length).toBeLessThan(80);
    expect(showValue(undefined)).toBe("nothing");
  });
});

describe("hostile params on the OpenAI routes", () => {
  test("deep arrays, 1 MB strings, 1e309 and big seeds: 400 with short messages, as sent", async () => {
    const { ensureStories260k } = await import("../support/models.ts");
    const { loadTextEngine } = await import("../../src/engine/engine.ts");
    const { Semaphore } = await import("../../src/jobs/semaphore.ts");
    const engine = await loadTextEngine({ id: "stories260k", dir: await ensureStories260k(), device: "cpu", dtype: "f32" });
    try {
      const api = createApi({ models: new Map([["stories260k", { engine, lock: new Semaphore(1) }]]), store: undefined, metrics: new NodeMetrics(), nodeInfo: () => ({}), timeoutMs: 5000, maxBodyBytes: 4 * 1024 * 1024 });
      const post = async (extra: string) => {
        const res = await api.request("/v1/completions", { method: "POST", headers: { "content-type": "application/json" }, body: `{"model":"stories260k","prompt":"Once",${extra}}` });
        const text = await res.text();
        return { status: res.status, text, message: (JSON.parse(text) as any).error?.message as string };
      };
      const deep = await post(`"temperature":${"[".repeat(50_000)}${"]".repeat(50_000)}`);
      expect([deep.status, deep.message]).toEqual([400, expect.stringContaining("got [[[[…]]]]")]);
      const big = await post(`"temperature":"${"A".repeat(1 << 20)}"`);
      expect(big.status).toBe(400);
      expect(big.text.length).toBeLessThan(400);
      expect((await post(`"temperature":1e309`)).message).toContain("got 1e309");
      expect((await post(`"seed":9007199254740993`)).message).toBe("seed: expected an integer, got 9007199254740993");
    } finally {
      await engine.dispose();
    }
  }, 60_000);
});
