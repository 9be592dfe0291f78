/**
 * Image jobs end to end: `atoma-node run` as its own process against the local Sui test server,
 * serving a tiny random-weight Stable Diffusion folder (diffusers ONNX layout, written by the test).
 * Injected `Text2ImagePromptEvent`s go through generation, commitment and publication; every
 * accepted commitment is recomputed here from the published PNGs — decoded with fast-png and hashed
 * with a direct BLAKE2b-256 call (spec §8.1/§8.2), not with the node's commitment code. Bad params
 * fail their job with a reason and the node goes on with the next one; a node killed mid-generation
 * or mid-commitment finishes after restart with exactly one commitment per ticket.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { blake2b } from "@noble/hashes/blake2.js";
import { decode, encode } from "fast-png";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { loadImageEngine } from "../../src/engine/image/engine.ts";
import type { ImageEngine } from "../../src/engine/types.ts";
import { writeTinySd } from "../engine/image/tiny-sd.ts";
import { writeTinySdxl } from "../engine/image/tiny-sdxl.ts";
import { type Env, makeEnv, type NodeProc, rpc, spawnNode, waitFor } from "./harness.ts";

const MODEL = "tiny_sd";
const TURBO = "stable_diffusion_turbo";
const EULER_A = { _class_name: "EulerAncestralDiscreteScheduler", beta_schedule: "scaled_linear", beta_start: 0.00085, beta_end: 0.012, timestep_spacing: "trailing", steps_offset: 1 };

let env: Env;
let node: NodeProc;
let engine: ImageEngine;
let turbo: ImageEngine;
let hook: ReturnType<typeof Bun.serve>;
const published = new Map<string, any>();

beforeAll(async () => {
  hook = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: async (req) => {
      const body = (await req.json()) as any;
      published.set(body.metadata.ticket_id, body);
      return new Response("ok");
    },
  });
  const modelDir = join(process.env.TMPDIR ?? "/tmp", `tiny-sd-e2e-${process.pid}`);
  writeTinySd(modelDir, EULER_A);
  engine = await loadImageEngine({ id: MODEL, dir: modelDir, device: "cpu", maxSteps: 1000, maxSamples: 4 });
  // An SDXL-Turbo-shaped folder (two text encoders, pooled embeddings, time ids) served beside it.
  await writeTinySdxl(`${modelDir}-turbo`, EULER_A);
  turbo = await loadImageEngine({ id: TURBO, dir: `${modelDir}-turbo`, device: "cpu" });
  env = await makeEnv({
    modelDir,
    webhookUrl: `http://127.0.0.1:${hook.port}/out`,
    extraNodes: [{ address: "0x" + "5".repeat(64), smallId: 5 }],
    modelsToml: `[[inference.models]]\nmodel_id = "${MODEL}"\npath = "${modelDir}"\ndevice = "cpu"\ndtype = "f32"\nmax_steps = 1000\nmax_samples = 4\n\n[[inference.models]]\nmodel_id = "${TURBO}"\npath = "${modelDir}-turbo"\ndevice = "cpu"\ndtype = "f32"\n`,
  });
  node = await spawnNode(env);
});

afterAll(async () => {
  if (node && node.proc.exitCode === null) node.proc.kill("SIGKILL");
  await engine?.dispose();
  await turbo?.dispose();
  await env?.server.stop();
  hook?.stop(true);
  if (env) rmSync(env.dir, { recursive: true, force: true });
  for (const d of ["", "-turbo"]) rmSync(join(process.env.TMPDIR ?? "/tmp", `tiny-sd-e2e-${process.pid}${d}`), { recursive: true, force: true });
});

const me = () => BigInt(env.smallId);
const mine = (t: string) => env.server.admin.commitments(t).filter((c) => c.nodeSmallId === me());
const jobOf = async (t: string) => (await rpc(env, "job", { ticket_id: t }))?.jobs[0];
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const noHex = (t: string) => t.replace(/^0x/, "");

/** leaf_j = BLAKE2b-256(data ‖ u64_le(j)), root = BLAKE2b-256(leaf_0 ‖ … ‖ leaf_{n−1}) (spec §8.2). */
function recompute(data: Uint8Array, n: number, index: number): { root: string; leaf: string } {
  const leaves = Array.from({ length: n }, (_, j) => {
    const idx = Buffer.alloc(8);
    idx.writeBigUInt64LE(BigInt(j));
    return blake2b(Buffer.concat([data, idx]), { dkLen: 32 });
  });
  return { root: hex(blake2b(Buffer.concat(leaves), { dkLen: 32 })), leaf: hex(leaves[index]!) };
}

/** The published PNGs → raw RGB (spec §8.1: row-major H×W×3 u8), decoded by fast-png directly. */
function pixelsOf(b64: string): { width: number; height: number; rgb: Uint8Array } {
  const png = decode(Buffer.from(b64, "base64"));
  expect([png.channels, png.depth]).toEqual([3, 8]);
  return { width: png.width, height: png.height, rgb: new Uint8Array(png.data as Uint8Array) };
}

const initPng = Buffer.from(encode({ width: 32, height: 32, channels: 3, depth: 8, data: Uint8Array.from({ length: 32 * 32 * 3 }, (_, i) => (i * 29) % 256) })).toString("hex");

describe("image jobs end to end", () => {
  test("bad params fail their jobs with a reason; the next jobs are generated, committed, published; commitment = BLAKE2b over the last image's pixels", async () => {
    const a = env.server.admin;
    const good = { model: MODEL, prompt: "a red cat", uncondPrompt: "dog", width: 16, height: 16, nSteps: 3, guidanceScale: 7.5, numSamples: 2, seed: 5, nodes: [env.smallId] };
    // Bad input first, in one checkpoint: each fails; the node must go on with the good jobs after it.
    const bad: [Record<string, unknown>, string][] = [
      [{ width: 12 }, "width 12 is not a multiple of 8"],
      [{ height: 40 }, "height 40 is beyond this model's limit of 32"],
      [{ nSteps: 0 }, "n_steps is 0; expected at least 1 (usually 20 to 50)"],
      [{ nSteps: 100000 }, "n_steps 100000 is absurd; at most 1000"],
      [{ guidanceScale: -1 }, "guidance_scale -1 must be a finite number >= 0"],
      [{ numSamples: 0 }, "num_samples is 0; expected at least 1"],
      [{ numSamples: 1000 }, "num_samples 1000 is absurd; at most 4"],
      [{ img2img: "0x89504e470d0a1a0a0000" }, "img2img is not a decodable PNG image"],
      [{ img2img: "0x0102030405" }, "img2img is not a decodable PNG image"],
    ];
    const badJobs = a.injectImagePrompts(bad.map(([over]) => ({ ...good, ...over })));
    const textOnImage = a.injectPrompt({ prompt: "hi", model: MODEL, nodes: [env.smallId] });
    const otherImage = a.injectImagePrompts([{ ...good, model: "stable_diffusion_xl" }])[0]!;
    const jobs = a.injectImagePrompts([
      good, // 0
      { ...good, nodes: [5, env.smallId] }, // 1: same params and seed, leaf 1 of 2
      { ...good, seed: 6 }, // 2: another seed
      { ...good, prompt: "cat ".repeat(100), numSamples: 1 }, // 3: beyond CLIP's 77 tokens
      { ...good, width: 0, height: 0, numSamples: 1 }, // 4: the model's default size (16)
      { ...good, img2img: `0x${initPng}`, img2imgStrength: 0.5, nSteps: 4, numSamples: 1 }, // 5: img2img 32×32
    ]);

    await waitFor("image commitments", () => jobs.every((j) => mine(j.ticketId).length === 1), 90_000);
    await waitFor("publications", () => jobs.every((j) => published.has(noHex(j.ticketId))), 30_000);

    for (const [i, [, reason]] of bad.entries()) {
      const j = await jobOf(badJobs[i]!.ticketId);
      expect({ i, state: j.state, error: String(j.error).slice(0, reason.length) }).toEqual({ i, state: "failed", error: reason });
      expect(mine(badJobs[i]!.ticketId)).toEqual([]);
    }
    expect((await jobOf(textOnImage.ticketId)).error).toBe(`model "${MODEL}" is an image model here; a text prompt cannot run on it`);
    expect((await jobOf(otherImage.ticketId)).error).toBe(`image model "stable_diffusion_xl" is not hosted by this node (image models hosted: ${MODEL}, ${TURBO})`);

    const pixels: string[][] = [];
    for (const [i, inj] of jobs.entries()) {
      const [c] = mine(inj.ticketId);
      const job = await jobOf(inj.ticketId);
      const body = published.get(noHex(inj.ticketId));
      const [n, index] = i === 1 ? [2, 1] : [1, 0];
      expect({ i, state: job.state, kind: job.kind, output: job.output, leaves: [job.num_leaves, job.leaf_index, c!.order] }).toEqual({ i, state: "committed", kind: "image", output: null, leaves: [n, index, index] });
      const samples = i <= 2 ? 2 : 1;
      const size = i === 5 ? 32 : 16;
      expect(body.images).toHaveLength(samples);
      expect(body.data).toBe(body.images.at(-1));
      const imgs = (body.images as string[]).map(pixelsOf);
      for (const img of imgs) expect([img.width, img.height]).toEqual([size, size]);
      expect(job.images).toEqual(imgs.map(({ width, height }) => ({ width, height })));
      // The commitment the chain accepted, recomputed over the committed (last) image's pixels.
      const want = recompute(imgs.at(-1)!.rgb, n, index);
      expect({ i, root: c!.root, leaf: c!.leaf }).toEqual({ i, root: want.root, leaf: want.leaf });
      expect([c!.inputTokens, c!.outputTokens]).toEqual([0n, BigInt(samples)]);
      expect(body.metadata).toMatchObject({ output_type: "Image", num_output_tokens: samples, num_sampled_nodes: n, index_of_node: index, leaf_hash: [...Buffer.from(want.leaf, "hex")], transaction_base_58: c!.txDigest });
      pixels.push(imgs.map((img) => hex(img.rgb)));
      // The stored PNGs are served by the node too, byte for byte what was published.
      for (const [k, b64] of (body.images as string[]).entries()) {
        const r = await fetch(`${env.url}/v1/jobs/${inj.ticketId}/images/${k}.png`);
        expect([r.status, r.headers.get("content-type")]).toEqual([200, "image/png"]);
        expect(Buffer.from(await r.arrayBuffer()).toString("base64")).toBe(b64);
      }
    }
    // Determinism per seed: same params and seed ⇒ the same pixels (another ticket, another leaf);
    // another seed ⇒ other pixels; and the node's pixels are what the engine gives in this process.
    expect(pixels[1]).toEqual(pixels[0]!);
    expect(pixels[2]![1]).not.toBe(pixels[0]![1]);
    expect(pixels[0]![0]).not.toBe(pixels[0]![1]);
    const direct = await engine.generate({ prompt: "a red cat", uncondPrompt: "dog", width: 16, height: 16, steps: 3, guidanceScale: 7.5, numSamples: 2, seed: 5n });
    expect(direct.images.map((img) => hex(img.rgb))).toEqual(pixels[0]!);
    // The node's OpenAI image route on the same model shares the engine: same params, same pixels.
    const res = await fetch(`${env.url}/v1/images/generations`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, prompt: "a red cat", negative_prompt: "dog", size: "16x16", num_inference_steps: 3, guidance_scale: 7.5, n: 2, seed: 5, response_format: "b64_json" }),
    });
    expect(res.status).toBe(200);
    const api = (await res.json()) as { data: { b64_json: string }[] };
    expect(api.data.map((d) => hex(pixelsOf(d.b64_json).rgb))).toEqual(pixels[0]!);

    const t0 = jobs[0]!.ticketId;
    expect((await fetch(`${env.url}/v1/jobs/${t0}/images/2.png`)).status).toBe(404);
    expect((await fetch(`${env.url}/v1/jobs/${t0}/images/0.png?leaf_index=1`)).status).toBe(404);
    expect((await fetch(`${env.url}/v1/jobs/${jobs[1]!.ticketId}/images/0.png?leaf_index=1`)).status).toBe(200);
    expect((await fetch(`${env.url}/v1/jobs/${t0}/images/x.png`)).status).toBe(400);
    expect((await fetch(`${env.url}/v1/jobs/${badJobs[0]!.ticketId}/images/0.png`)).status).toBe(404);

    // A prompt beyond 77 CLIP tokens is truncated, and the job record and the log say so.
    const long = await jobOf(jobs[3]!.ticketId);
    expect(long.note).toBe("prompt truncated to CLIP's 77 tokens (25 token(s) dropped)");
    expect(node.log()).toContain(`ticket ${jobs[3]!.ticketId}: prompt truncated to CLIP's 77 tokens (25 token(s) dropped)`);
    expect((await jobOf(jobs[0]!.ticketId)).note).toBeNull();
  });

  test("killed while generating and while committing: after restart each ticket has exactly one commitment", async () => {
    const a = env.server.admin;
    // 1. SIGKILL while an image job runs (4 × 1000 guided steps, seconds): it goes back to received and runs again.
    const slow = a.injectImagePrompts([{ model: MODEL, prompt: "a dog", width: 32, height: 32, nSteps: 1000, numSamples: 4, seed: 9, nodes: [env.smallId] }])[0]!;
    await waitFor("the slow job to be running", async () => (await jobOf(slow.ticketId))?.state === "running", 60_000).catch(async (e) => {
      throw new Error(`${(e as Error).message}: ${JSON.stringify(await jobOf(slow.ticketId))}`);
    });
    node.proc.kill("SIGKILL");
    await node.proc.exited;
    expect(mine(slow.ticketId)).toEqual([]);
    // 2. Then one whose commitment transaction the server holds: killed after it was recorded and sent.
    node = await spawnNode(env);
    await waitFor("slow job committed after restart", () => mine(slow.ticketId).length === 1, 90_000);
    a.setFaults({ holdExecute: { count: 1, ms: 120_000 } });
    a.clearCalls();
    const held = a.injectImagePrompts([{ model: MODEL, prompt: "a cat", width: 16, height: 16, nSteps: 2, numSamples: 1, seed: 10, nodes: [env.smallId] }])[0]!;
    await waitFor("the held transaction to reach the server", async () => (await jobOf(held.ticketId))?.tx_digest && a.calls("ExecuteTransaction").length > 0, 60_000).catch(async (e) => {
      throw new Error(`${(e as Error).message}: ${JSON.stringify(await jobOf(held.ticketId))}\n${node.log().slice(-3000)}`);
    });
    expect((await jobOf(held.ticketId)).state).toBe("generated");
    node.proc.kill("SIGKILL");
    await node.proc.exited;
    node = await spawnNode(env);
    await waitFor("held job committed after restart", async () => (await jobOf(held.ticketId))?.state === "committed", 90_000);
    await waitFor("publications after restart", () => published.has(noHex(slow.ticketId)) && published.has(noHex(held.ticketId)), 30_000);

    for (const t of [slow.ticketId, held.ticketId]) {
      expect(mine(t)).toHaveLength(1);
      const job = await jobOf(t);
      const body = published.get(noHex(t));
      const want = recompute(pixelsOf(body.data).rgb, 1, 0);
      expect(mine(t)[0]!.root).toBe(want.root);
      expect(job.tx_digest).toBe(mine(t)[0]!.txDigest);
    }
    expect((await jobOf(slow.ticketId)).attempts).toBe(2);
    // The restarted node is the same deterministic generator: the re-run equals a direct run.
    const direct = await engine.generate({ prompt: "a dog", uncondPrompt: "", width: 32, height: 32, steps: 1000, guidanceScale: 7.5, numSamples: 4, seed: 9n });
    expect(hex(pixelsOf(published.get(noHex(slow.ticketId)).data).rgb)).toBe(hex(direct.images.at(-1)!.rgb));
    // No transaction of ours failed (a second commitment would abort with EAlreadyCommitted).
    const failed = [...a.ledger.txs.values()].filter((tx) => tx.sender === env.key.toSuiAddress() && tx.effects.status?.success === false);
    expect(failed).toEqual([]);
  });

  test("an SDXL-Turbo model beside it: 1 step, guidance 0, the model's default size; committed and recomputable", async () => {
    const a = env.server.admin;
    expect(turbo.info.turbo).toBe(true);
    const size = turbo.info.defaultSize;
    const [j] = a.injectImagePrompts([{ model: TURBO, prompt: "a red cat", width: 0, height: 0, nSteps: 1, guidanceScale: 0, numSamples: 1, seed: 77, nodes: [env.smallId] }]);
    await waitFor("turbo commitment", () => mine(j!.ticketId).length === 1 && published.has(noHex(j!.ticketId)), 60_000);
    const img = pixelsOf(published.get(noHex(j!.ticketId)).data);
    expect([img.width, img.height]).toEqual([size, size]);
    const want = recompute(img.rgb, 1, 0);
    expect([mine(j!.ticketId)[0]!.root, mine(j!.ticketId)[0]!.leaf]).toEqual([want.root, want.leaf]);
    const direct = await turbo.generate({ prompt: "a red cat", uncondPrompt: "", width: size, height: size, steps: 1, guidanceScale: 0, numSamples: 1, seed: 77n });
    expect(hex(img.rgb)).toBe(hex(direct.images[0]!.rgb));
    expect((await rpc(env, "node_info")).image_models).toEqual([MODEL, TURBO]);
  });
});
