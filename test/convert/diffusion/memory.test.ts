/**
 * Bounded memory for diffusers conversion: a UNet with SD 1.5's exact block structure at 2/5 of
 * its width (block_out_channels 128/256/512/512, 2 layers per block, 8 heads, 768-wide context:
 * ~250 MiB of BF16 weights, written tensor by tensor, never held whole) converts to f16 within the
 * bound stated in docs/images.md: peak RSS ≤ 64 MiB (runtime) + 3 × the largest tensor in fp32,
 * independent of the checkpoint's size, and below half the checkpoint.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { tinyUnetConfig } from "../../support/diffusers-checkpoint.ts";
import { writeTinyDiffusersRepo } from "../../support/diffusers-repo.ts";
import { unetRef } from "../../support/reference-diffusion-models.ts";
import { tensor, type Params } from "../../support/reference-diffusion.ts";
import { writeStreamingSafetensors } from "../../support/stream-checkpoint.ts";

const root = mkdtempSync(join(tmpdir(), "atoma-sd-rss-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

test("converting a ~250 MiB BF16 SD-1.5-structured UNet (plus VAE and CLIP) to f16 stays within 64 MiB + 3 × the largest tensor", () => {
  const src = join(root, "repo");
  writeTinyDiffusersRepo(src);
  const config = tinyUnetConfig("sd15", {
    block_out_channels: [128, 256, 512, 512], layers_per_block: 2, attention_head_dim: 8, cross_attention_dim: 768, norm_num_groups: 32,
    down_block_types: ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    up_block_types: ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"], sample_size: 64,
  });
  // The tensor list is what the reference reads (on a 1×1 sample, zero weights: shapes only).
  const shapes = new Map<string, number[]>();
  const zeros = new Map<number, Float64Array>();
  const P: Params = (name, shape) => {
    shapes.set(name, shape);
    const n = shape.reduce((a, b) => a * b, 1);
    if (!zeros.has(n)) zeros.set(n, new Float64Array(n));
    return zeros.get(n)!;
  };
  unetRef(P, config, tensor([1, 4, 1, 1]), 1, tensor([1, 1, 768]));
  const size = writeStreamingSafetensors(join(src, "unet", "diffusion_pytorch_model.safetensors"), [...shapes.entries()]);
  writeFileSync(join(src, "unet", "config.json"), JSON.stringify(config));
  const largestFp32 = 4 * Math.max(...[...shapes.values()].map((s) => s.reduce((a, b) => a * b, 1)));

  const out = join(root, "out");
  const r = Bun.spawnSync([process.execPath, resolve(import.meta.dir, "../../support/convert-rss.ts"), src, out, "f16"], { stdout: "pipe", stderr: "pipe" });
  expect(r.stderr.toString()).toBe("");
  expect(r.exitCode).toBe(0);
  const { peakRss } = JSON.parse(r.stdout.toString());
  console.log(`UNet ${(size / 2 ** 20).toFixed(0)} MiB BF16 (${shapes.size} tensors, largest ${(largestFp32 / 2 ** 20).toFixed(1)} MiB fp32) → peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB (${((100 * peakRss) / size).toFixed(0)} % of the checkpoint)`);
  expect(peakRss).toBeLessThan(64 * 2 ** 20 + 3 * largestFp32);
  expect(peakRss).toBeLessThan(0.5 * size);
  // Weights went to external data; the graph itself stays small.
  expect(statSync(join(out, "unet", "model.onnx")).size).toBeLessThan(2 << 20);
  expect(statSync(join(out, "unet", "model.onnx_data")).size).toBeGreaterThan(0.9 * size);
}, 300_000);
