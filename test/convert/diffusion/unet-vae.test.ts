/**
 * UNet2DConditionModel and AutoencoderKL conversion (src/convert/diffusion): tiny random diffusers
 * checkpoints (SD 1.5, SD 2.1 and SDXL-shaped UNets, a 4-level VAE), converted, run on
 * onnxruntime-node with the pipeline's input names, and compared with the float64 TypeScript
 * reference of the same blocks (test/support/reference-diffusion*.ts).
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GraphBuilder } from "../../../src/engine/models/onnx-graph.ts";
import { GraphOps } from "../../../src/convert/ops.ts";
import { Weights } from "../../../src/convert/tensors.ts";
import { unetPlan, vaePlan } from "../../../src/convert/diffusion/convert-unet-vae.ts";
import { loadOrtNode } from "../../../src/engine/runtime/ort-native.ts";
import { tinyUnetConfig, tinyVaeConfig, writeUnetCheckpoint, writeVaeCheckpoint, type Cfg } from "../../support/diffusers-checkpoint.ts";
import { unetRef, vaeDecodeRef, vaeEncodeRef } from "../../support/reference-diffusion-models.ts";
import { tensor, type T } from "../../support/reference-diffusion.ts";
import { Xoshiro256StarStar } from "../../../src/engine/prng.ts";

setDefaultTimeout(120_000);
const work = mkdtempSync(join(tmpdir(), "atoma-sdconv-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function randomT(shape: number[], seed: bigint, scale = 1): T {
  const r = new Xoshiro256StarStar(seed);
  return tensor(shape, Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (r.nextDouble() * 2 - 1) * scale));
}

/** Builds one component's graph in memory (as the pipeline converter does) and opens it. */
async function session(plan: ReturnType<typeof unetPlan>, sub: string, variant: "fp32" | "fp16" = "fp32") {
  const ort = await loadOrtNode();
  const c = plan.outputs.find((o) => o.sub === sub)!;
  const g = new GraphBuilder();
  c.write(new GraphOps(g, new Weights(plan.source), variant));
  plan.source.close();
  const s = await ort.InferenceSession.create(g.encode(sub, "test").model);
  const f32 = (t: T) => new ort.Tensor("float32", Float32Array.from(t.data), t.shape);
  return { s, f32, ort };
}

function maxRel(got: Float32Array, want: T): number {
  expect(got.length).toBe(want.data.length);
  let err = 0, scale = 0;
  for (let i = 0; i < got.length; i++) {
    err = Math.max(err, Math.abs(got[i]! - want.data[i]!));
    scale = Math.max(scale, Math.abs(want.data[i]!));
  }
  return err / Math.max(scale, 1e-6);
}

async function checkUnet(name: string, config: Cfg, h: number, w: number, variant: "fp32" | "fp16" = "fp32") {
  const dir = join(work, name);
  const P = writeUnetCheckpoint(dir, config);
  const { s, f32, ort } = await session(unetPlan(dir), "unet", variant);
  const B = 2, tokens = 5;
  const sample = randomT([B, 4, h, w], 1n), ctx = randomT([B, tokens, config.cross_attention_dim as number], 2n);
  const t = 601;
  const feeds: Record<string, unknown> = { sample: f32(sample), timestep: new ort.Tensor("float32", Float32Array.of(t), [1]), encoder_hidden_states: f32(ctx) };
  let added: { textEmbeds: T; timeIds: number[][] } | undefined;
  if (config.addition_embed_type === "text_time") {
    added = { textEmbeds: randomT([B, 12], 3n), timeIds: [[64, 64, 0, 0, 64, 64], [48, 64, 8, 0, 64, 48]] };
    feeds.text_embeds = f32(added.textEmbeds);
    feeds.time_ids = new ort.Tensor("float32", Float32Array.from(added.timeIds.flat()), [B, 6]);
  }
  const out = (await s.run(feeds as never)).out_sample!;
  expect(out.dims).toEqual([B, 4, h, w]);
  const want = unetRef(P, config, sample, t, ctx, added);
  return maxRel(out.data as Float32Array, want);
}

describe("UNet2DConditionModel → ONNX matches the reference", () => {
  test("SD 1.5 shape (conv proj_in/proj_out, one head count), 8×8 latents, batch 2", async () => {
    expect(await checkUnet("sd15", tinyUnetConfig("sd15"), 8, 8)).toBeLessThan(1e-5);
  });
  test("SD 2.1 shape (use_linear_projection, attention_head_dim list)", async () => {
    expect(await checkUnet("sd21", tinyUnetConfig("sd21"), 8, 8)).toBeLessThan(1e-5);
  });
  test("odd latent sizes upsample to the skip connection's size (5×7)", async () => {
    expect(await checkUnet("odd", tinyUnetConfig("sd15"), 5, 7)).toBeLessThan(1e-5);
  });
  test("SDXL shape: addition_embed_type text_time (text_embeds, time_ids), 2 transformer layers", async () => {
    expect(await checkUnet("sdxl", tinyUnetConfig("sdxl"), 8, 8)).toBeLessThan(1e-5);
  });
  test("fp16 variant stays close (float32 inputs and outputs)", async () => {
    expect(await checkUnet("sd15-fp16", tinyUnetConfig("sd15"), 8, 8, "fp16")).toBeLessThan(5e-3);
  });
});

describe("AutoencoderKL → vae_decoder / vae_encoder match the reference", () => {
  const dir = join(work, "vae");
  const config = tinyVaeConfig();
  const P = writeVaeCheckpoint(dir, config);
  test("decoder: post_quant_conv + Decoder, 4×4 latents → 32×32 image", async () => {
    const { s, f32 } = await session(vaePlan(dir), "vae_decoder");
    const z = randomT([1, 4, 4, 4], 4n, 2);
    const out = (await s.run({ latent_sample: f32(z) })).sample!;
    expect(out.dims).toEqual([1, 3, 32, 32]);
    expect(maxRel(out.data as Float32Array, vaeDecodeRef(P, config, z))).toBeLessThan(1e-5);
  });
  test("encoder: Encoder + quant_conv → latent_parameters (mean ‖ logvar), 24×16 image", async () => {
    const { s, f32 } = await session(vaePlan(dir), "vae_encoder");
    const x = randomT([1, 3, 24, 16], 5n);
    const out = (await s.run({ sample: f32(x) })).latent_parameters!;
    expect(out.dims).toEqual([1, 8, 3, 2]);
    expect(maxRel(out.data as Float32Array, vaeEncodeRef(P, config, x))).toBeLessThan(1e-5);
  });
});
