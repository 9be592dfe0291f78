/**
 * Image generation through the node's APIs, driven by the official `openai` client
 * (`client.images.generate`) and JSON-RPC `generate_image` over a real loopback socket, with a
 * tiny random-weight Stable Diffusion folder the test writes (test/engine/image/tiny-sd.ts): what
 * an operator checks — the same pixels as the engine for the same seed, PNG and URL answers,
 * the commitment a chain job would submit, bad input as 400 with the field named, truncation
 * reported, and the text routes' admission (queue bound, rate limit, auth) and timeouts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { blake2b } from "@noble/hashes/blake2.js";
import OpenAI from "openai";
import { NodeMetrics } from "../../src/log/metrics.ts";
import { Admission } from "../../src/api/openai/admission.ts";
import { ImageStore } from "../../src/api/images/store.ts";
import { createApi, serveApi } from "../../src/api/server.ts";
import { loadImageEngine } from "../../src/engine/image/engine.ts";
import { decodeRgb, encodePng } from "../../src/engine/image/png.ts";
import type { ImageEngine, ImageRequest } from "../../src/engine/types.ts";
import { Semaphore } from "../../src/jobs/semaphore.ts";
import type { ImageSlot } from "../../src/api/images/run.ts";
import { writeTinySd } from "../engine/image/tiny-sd.ts";

const MODEL = "tiny-sd";
const DDIM = { _class_name: "DDIMScheduler", beta_schedule: "scaled_linear", beta_start: 0.00085, beta_end: 0.012, timestep_spacing: "leading", steps_offset: 1, set_alpha_to_one: false };

let dir: string;
let engine: ImageEngine;
let slot: ImageSlot;

function serve(opts: { token?: string; admission?: Admission; timeoutMs?: number; imageStore?: ImageStore } = {}) {
  const images = new Map([[MODEL, slot]]);
  const metrics = new NodeMetrics();
  const app = createApi({ models: new Map(), images, store: undefined, metrics, timeoutMs: opts.timeoutMs ?? 60_000, nodeInfo: () => ({}), token: opts.token, admission: opts.admission, imageStore: opts.imageStore });
  const srv = serveApi(app, "127.0.0.1", 0);
  return { srv, metrics, client: new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: opts.token ?? "unused", maxRetries: 0 }) };
}
let main: ReturnType<typeof serve>;

/** The OpenAI params plus the diffusers-style extras, which the client sends as they are. */
type Extra = { negative_prompt?: string; num_inference_steps?: number; steps?: number; guidance_scale?: number; seed?: number };
const gen = (c: OpenAI, body: OpenAI.ImageGenerateParamsNonStreaming & Extra) => c.images.generate(body as OpenAI.ImageGenerateParamsNonStreaming);

async function rpc(url: string, params: Record<string, unknown>): Promise<{ result?: any; error?: { code: number; message: string } }> {
  const r = await fetch(url, { method: "POST", body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "generate_image", params }) });
  return (await r.json()) as any;
}

const u64le = (n: number) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
};
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "atoma-images-"));
  writeTinySd(join(dir, "sd"), DDIM);
  engine = await loadImageEngine({ id: MODEL, dir: join(dir, "sd"), device: "cpu" });
  slot = { engine, lock: new Semaphore(1) };
  main = serve();
});

afterAll(async () => {
  await main?.srv.stop();
  await engine?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const direct: Omit<ImageRequest, "seed"> = { prompt: "a red cat", uncondPrompt: "dog", width: 24, height: 16, steps: 3, guidanceScale: 7.5, numSamples: 2 };

describe("POST /v1/images/generations (openai client)", () => {
  test("GET /v1/models lists the image model with its default and largest size", async () => {
    const list = await main.client.models.list();
    const m = list.data.find((x) => x.id === MODEL) as any;
    expect(m).toMatchObject({ id: MODEL, object: "model", type: "image", default_size: "16x16", max_size: engine.info.maxSize });
    expect(((await main.client.models.retrieve(MODEL)) as any).type).toBe("image");
  });

  test("b64_json: the engine's pixels for the same params and seed, n images from one noise stream; JSON-RPC gives the same PNGs and the chain job's commitment", async () => {
    const r = await gen(main.client, { model: MODEL, prompt: "a red cat", negative_prompt: "dog", n: 2, size: "24x16", response_format: "b64_json", seed: 7, num_inference_steps: 3, guidance_scale: 7.5 });
    expect(r.created).toBeGreaterThan(1_700_000_000);
    expect(r.data).toHaveLength(2);
    const want = await engine.generate({ ...direct, seed: 7n });
    for (const [k, d] of r.data!.entries()) {
      const png = Buffer.from(d.b64_json!, "base64");
      expect(png.equals(Buffer.from(want.images[k]!.png))).toBe(true);
      const px = decodeRgb(png);
      expect([px.width, px.height]).toEqual([24, 16]);
      expect(Buffer.from(px.rgb).equals(Buffer.from(want.images[k]!.rgb))).toBe(true);
    }
    expect(r.data![0]!.b64_json).not.toBe(r.data![1]!.b64_json);
    expect((r as any).seed).toBe(7);
    expect((r as any).truncated_tokens).toEqual({ prompt: 0, negative_prompt: 0 });

    const j = await rpc(main.srv.url, { model: MODEL, prompt: "a red cat", uncond_prompt: "dog", width: 24, height: "16", n_steps: 3, guidance_scale: 7.5, num_samples: 2, random_seed: "7", num_sampled_nodes: 3, sampled_node_index: 1 });
    expect(j.error).toBeUndefined();
    expect(j.result.images.map((i: any) => i.png_base64)).toEqual(r.data!.map((d) => d.b64_json));
    // Independent recomputation (spec §8.1/8.2): leaf_j = blake2b256(pixels of the LAST image ‖ u64_le(j)).
    const last = want.images[1]!.rgb;
    const leaves = [0, 1, 2].map((i) => blake2b(new Uint8Array([...last, ...u64le(i)]), { dkLen: 32 }));
    const root = blake2b(new Uint8Array(leaves.flatMap((l) => [...l])), { dkLen: 32 });
    expect(j.result.commitment).toMatchObject({ root: hex(root), leaf: hex(leaves[1]!), num_sampled_nodes: 3, sampled_node_index: 1, layout: "pixels", committed_bytes: 24 * 16 * 3 });
    expect(j.result.random_seed).toBe("7");
  });

  test("url: served by the node at /v1/images/<id>.png without a token (the id is the capability), 404 once gone", async () => {
    const s = serve({ token: "secret", imageStore: new ImageStore({ ttlMs: 60_000, maxImages: 2, maxBytes: 1 << 20 }) });
    try {
      const r = await gen(s.client, { model: MODEL, prompt: "a red cat", size: "16x16", seed: 3, steps: 2 });
      const url = r.data![0]!.url!;
      expect(url).toMatch(new RegExp(`^${s.srv.url}/v1/images/[0-9a-f]{32}\\.png$`));
      const got = await fetch(url);
      expect(got.status).toBe(200);
      expect(got.headers.get("content-type")).toBe("image/png");
      const want = await engine.generate({ ...direct, uncondPrompt: "", width: 16, height: 16, steps: 2, numSamples: 1, seed: 3n });
      expect(Buffer.from(await got.arrayBuffer()).equals(Buffer.from(want.images[0]!.png))).toBe(true);
      // Two more images push the first one out (maxImages 2).
      await gen(s.client, { model: MODEL, prompt: "x", size: "16x16", n: 2, steps: 1 });
      const gone = await fetch(url);
      expect(gone.status).toBe(404);
      expect(((await gone.json()) as any).error.message).toMatch(/kept 1 min, at most 2/);
      expect((await fetch(`${s.srv.url}/v1/images/nothing.png`)).status).toBe(404);
    } finally {
      await s.srv.stop();
    }
  });

  test("bad input is a 400 naming the field: size, steps, guidance, n; JSON-RPC the same with -32602", async () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ size: "20x16" }, "size", /size: 20 is not a multiple of 8/],
      [{ size: "16x12" }, "size", /size: 12 is not a multiple of 8/],
      [{ size: `${engine.info.maxSize + 8}x16` }, "size", new RegExp(`size: expected an integer in 8..${engine.info.maxSize} \\(this model's limit is ${engine.info.maxSize}\\), got ${engine.info.maxSize + 8}`)],
      [{ size: "big" }, "size", /size: expected "WIDTHxHEIGHT"/],
      [{ num_inference_steps: 0 }, "num_inference_steps", /num_inference_steps: expected an integer in 1..500, got 0/],
      [{ num_inference_steps: 100000 }, "num_inference_steps", /num_inference_steps: expected an integer in 1..500, got 100000/],
      [{ guidance_scale: -1 }, "guidance_scale", /guidance_scale: expected a number in \[0, 100\].*got -1/],
      [{ n: 0 }, "n", /n: expected an integer in 1..16, got 0/],
      [{ n: 1000 }, "n", /n: expected an integer in 1..16, got 1000/],
      [{ prompt: "" }, "prompt", /prompt: expected a non-empty string/],
      [{ response_format: "jpeg" }, "response_format", /response_format: expected "url" or "b64_json"/],
    ];
    for (const [extra, param, msg] of cases) {
      const e = await gen(main.client, { model: MODEL, prompt: "a cat", ...extra } as any).catch((x) => x);
      expect(e).toBeInstanceOf(OpenAI.BadRequestError);
      expect(e.message).toMatch(msg);
      expect(e.param).toBe(param);
    }
    const rpcCases: [Record<string, unknown>, RegExp][] = [
      [{ width: 20 }, /params.width: 20 is not a multiple of 8/],
      [{ height: 4096 }, /params.height: expected an integer in 8..\d+ \(this model's limit/],
      [{ n_steps: 0 }, /params.n_steps: expected an integer in 1..500, got 0/],
      [{ n_steps: "99999" }, /params.n_steps: expected an integer in 1..500, got 99999/],
      [{ guidance_scale: -0.5 }, /params.guidance_scale: expected a number in \[0, 100\]/],
      [{ num_samples: 0 }, /params.num_samples: expected an integer in 1..16, got 0/],
      [{ num_samples: 17 }, /params.num_samples: expected an integer in 1..16, got 17/],
      [{ random_seed: -1 }, /params.random_seed: expected a u64/],
      [{ model: "nope" }, /params.model: "nope"; image models hosted here: tiny-sd/],
      [{ img2img: "not base64!" }, /params.img2img: expected a base64 PNG/],
      [{ img2img: Buffer.from("not a png").toString("base64") }, /img2img is not a decodable PNG image/],
    ];
    for (const [extra, msg] of rpcCases) {
      const j = await rpc(main.srv.url, { model: MODEL, prompt: "a cat", ...extra });
      expect(j.error?.code).toBe(-32602);
      expect(j.error?.message).toMatch(msg);
    }
  });

  test("JSON-RPC img2img: a base64 PNG and strength give the engine's img2img pixels (cropped to 32 as chain jobs)", async () => {
    const init = { width: 32, height: 40, rgb: Uint8Array.from({ length: 32 * 40 * 3 }, (_, i) => (i * 37) % 256) };
    const j = await rpc(main.srv.url, { prompt: "a red cat", img2img: Buffer.from(encodePng(init)).toString("base64"), img2img_strength: 0.5, n_steps: 6, random_seed: 11 });
    expect(j.error).toBeUndefined();
    // 40 rows → 32 after the centre crop to multiples of 32 (rows 4..35), which also sets the size.
    const cropped = { width: 32, height: 32, rgb: init.rgb.slice(4 * 32 * 3, 36 * 32 * 3) };
    const want = await engine.generate({ prompt: "a red cat", uncondPrompt: "", width: 32, height: 32, steps: 6, guidanceScale: 7.5, numSamples: 1, seed: 11n, init: cropped, strength: 0.5 });
    expect(j.result.images[0]).toMatchObject({ width: 32, height: 32, png_base64: Buffer.from(want.images[0]!.png).toString("base64") });
    expect(j.result.steps).toBe(3);
  });

  test("a prompt beyond CLIP's 77 tokens is truncated and the answer says so", async () => {
    const r = (await gen(main.client, { model: MODEL, prompt: "cat ".repeat(100), negative_prompt: "dog ".repeat(80), size: "16x16", steps: 1, response_format: "b64_json" })) as any;
    expect(r.data).toHaveLength(1);
    expect(r.truncated_tokens).toEqual({ prompt: 25, negative_prompt: 5 });
    expect(r.warning).toBe("prompt: 25 CLIP tokens beyond the 77-token context were dropped; negative_prompt: 5 CLIP tokens beyond the 77-token context were dropped");
    const j = await rpc(main.srv.url, { prompt: "cat ".repeat(100), n_steps: 1 });
    expect(j.result.truncated_tokens).toEqual({ prompt: 25, uncond_prompt: 0 });
    expect(j.result.warning).toMatch(/^params.prompt: 25 CLIP tokens/);
  });

  test("wrong model type and unknown model", async () => {
    const e = await main.client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "hi" }] }).catch((x) => x);
    expect(e).toBeInstanceOf(OpenAI.BadRequestError);
    expect(e.code).toBe("wrong_model_type");
    expect(e.message).toMatch(/is an image model: use POST \/v1\/images\/generations/);
    const n = await gen(main.client, { model: "nope", prompt: "a cat" }).catch((x) => x);
    expect(n).toBeInstanceOf(OpenAI.NotFoundError);
    expect(n.message).toMatch(/hosted: tiny-sd/);
  });
});

describe("admission, auth and timeouts as for the text routes", () => {
  test("a full queue is a 429 queue_full with Retry-After while the model is busy (a chain job holds its lock)", async () => {
    const s = serve({ admission: new Admission({ queueSize: 1, ratePerMinute: 0 }) });
    try {
      await slot.lock.acquire("high"); // what a running chain job holds
      const first = gen(s.client, { model: MODEL, prompt: "a cat", size: "16x16", steps: 1, seed: 1, response_format: "b64_json" });
      for (let i = 0; i < 100 && slot.lock.waiting === 0; i++) await Bun.sleep(10);
      const res = await gen(s.client, { model: MODEL, prompt: "a dog", size: "16x16", steps: 1 }).catch((x) => x);
      expect(res).toBeInstanceOf(OpenAI.RateLimitError);
      expect(res.code).toBe("queue_full");
      expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      slot.lock.release();
      expect((await first).data).toHaveLength(1);
      expect(s.metrics.apiRequests.get({ model: MODEL, outcome: "rejected" })).toBe(1);
      expect(s.metrics.apiRequests.get({ model: MODEL, outcome: "ok" })).toBe(1);
    } finally {
      await s.srv.stop();
    }
  });

  test("bearer token and per-key rate limit", async () => {
    const s = serve({ token: "k", admission: new Admission({ queueSize: 16, ratePerMinute: 1 }) });
    try {
      const wrong = new OpenAI({ baseURL: `${s.srv.url}/v1`, apiKey: "wrong", maxRetries: 0 });
      expect(await gen(wrong, { model: MODEL, prompt: "a cat" }).catch((x) => x)).toBeInstanceOf(OpenAI.AuthenticationError);
      expect((await gen(s.client, { model: MODEL, prompt: "a cat", size: "16x16", steps: 1 })).data).toHaveLength(1);
      const e = await gen(s.client, { model: MODEL, prompt: "a cat", size: "16x16", steps: 1 }).catch((x) => x);
      expect(e).toBeInstanceOf(OpenAI.RateLimitError);
      expect(e.code).toBe("rate_limit_exceeded");
    } finally {
      await s.srv.stop();
    }
  });

  test("a client that leaves while its request waits for the model leaves the queue (counted as cancelled)", async () => {
    const s = serve();
    try {
      await slot.lock.acquire("high");
      const ctl = new AbortController();
      const req = fetch(`${s.srv.url}/v1/images/generations`, { method: "POST", body: JSON.stringify({ model: MODEL, prompt: "a cat", size: "16x16", steps: 1 }), signal: ctl.signal }).catch((e) => e);
      for (let i = 0; i < 200 && slot.lock.waiting === 0; i++) await Bun.sleep(10);
      expect(slot.lock.waiting).toBe(1);
      ctl.abort();
      expect(await req).toBeInstanceOf(Error);
      for (let i = 0; i < 200 && slot.lock.waiting > 0; i++) await Bun.sleep(10);
      expect(slot.lock.waiting).toBe(0);
      slot.lock.release();
      expect(slot.lock.available).toBe(1);
      for (let i = 0; i < 200 && !s.metrics.apiRequests.get({ model: MODEL, outcome: "cancelled" }); i++) await Bun.sleep(10);
      expect(s.metrics.apiRequests.get({ model: MODEL, outcome: "cancelled" })).toBe(1);
    } finally {
      await s.srv.stop();
    }
  });

  test("a client that leaves mid-generation stops it after the current UNet step", async () => {
    const big = await loadImageEngine({ id: MODEL, dir: join(dir, "sd"), device: "cpu", maxSize: 256 });
    const bigSlot = { engine: big, lock: new Semaphore(1) };
    const metrics = new NodeMetrics();
    const srv = serveApi(createApi({ models: new Map(), images: new Map([[MODEL, bigSlot]]), store: undefined, metrics, timeoutMs: 60_000, nodeInfo: () => ({}) }), "127.0.0.1", 0);
    try {
      const ctl = new AbortController();
      // 500 steps at 256×256: well over half a second of work, even on an idle machine.
      const req = fetch(`${srv.url}/v1/images/generations`, { method: "POST", body: JSON.stringify({ model: MODEL, prompt: "a cat", size: "256x256", steps: 500 }), signal: ctl.signal }).catch((e) => e);
      for (let i = 0; i < 500 && bigSlot.lock.available === 1; i++) await Bun.sleep(2);
      ctl.abort();
      expect(await req).toBeInstanceOf(Error);
      for (let i = 0; i < 500 && bigSlot.lock.available === 0; i++) await Bun.sleep(5);
      expect(bigSlot.lock.available).toBe(1);
      for (let i = 0; i < 200 && !metrics.apiRequests.get({ model: MODEL, outcome: "cancelled" }); i++) await Bun.sleep(10);
      expect(metrics.apiRequests.get({ model: MODEL, outcome: "cancelled" })).toBe(1);
      expect(metrics.apiRequests.get({ model: MODEL, outcome: "ok" })).toBe(0);
    } finally {
      await srv.stop();
      await big.dispose();
    }
  });

  test("request_timeout while waiting for the model: 504, and the lock is not leaked", async () => {
    const s = serve({ timeoutMs: 200 });
    try {
      await slot.lock.acquire("high");
      const e = await gen(s.client, { model: MODEL, prompt: "a cat", size: "16x16", steps: 1 }).catch((x) => x);
      slot.lock.release();
      expect(e).toBeInstanceOf(OpenAI.APIError);
      expect(e.status).toBe(504);
      expect(e.message).toMatch(/timed out after 200 ms/);
      const j = await (async () => {
        await slot.lock.acquire("high");
        try {
          return await rpc(s.srv.url, { prompt: "a cat", n_steps: 1 });
        } finally {
          slot.lock.release();
        }
      })();
      expect(j.error).toEqual({ code: -32603, message: "image generation timed out after 200 ms (request_timeout)" });
      expect(slot.lock.available).toBe(1);
    } finally {
      await s.srv.stop();
    }
  });
});

describe("ImageStore bounds", () => {
  test("oldest first past the count or byte bound; expired after ttl", () => {
    const st = new ImageStore({ ttlMs: 1000, maxImages: 3, maxBytes: 10 });
    const a = st.put(new Uint8Array(4), 0);
    const b = st.put(new Uint8Array(4), 1);
    expect(st.get(a, 2)).toBeDefined();
    const c = st.put(new Uint8Array(4), 3); // 12 bytes > 10: a goes
    expect(st.get(a, 4)).toBeUndefined();
    expect(st.get(b, 4)).toBeDefined();
    expect(st.get(c, 1002)).toBeDefined();
    expect(st.get(b, 1002)).toBeUndefined(); // 1001 ms old
    expect(st.size).toBe(1);
  });
});
