/**
 * `npm run bench:image [-- --steps 30 --rounds 5 --sizes 16,64,256 --unet-sizes 64,128 --device cpu]`
 *
 * Seconds per image and per UNet step of the Stable Diffusion engine (ImageEngine: CLIP
 * tokenizer, text encoder, guided scheduler loop, VAE decode, PNG) on two random-weight
 * diffusers-ONNX folders: the tiny one the pipeline tests write (test/engine/image/tiny-sd.ts, a
 * 1×1-convolution UNet stand-in) at `--sizes`, and a slightly larger one at `--unet-sizes` whose
 * UNet and VAE are real SD 1.5-shaped UNet2DConditionModel / AutoencoderKL graphs (ResNet blocks,
 * cross-attention transformer, up/down sampling; block_out_channels 32/64) random diffusers
 * checkpoints converted by the project's converter (src/convert/diffusion). Baseline, measured in the same run
 * and alternating with the engine so machine noise hits both alike: the raw UNet `session.run`
 * alone on identical inputs (batch 2 with guidance, as the pipeline runs it) for the same number
 * of steps. The ratio engine / raw UNet per step is the pipeline's overhead around the UNet (1.0
 * = none); on a real model the UNet dominates, on the tiny one the overhead shows. Also prints
 * process CPU time per step, which stays meaningful on a loaded machine.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadImageEngine } from "../../src/engine/image/engine.ts";
import { loadOrtNode } from "../../src/engine/runtime/ort-native.ts";
import type { Device } from "../../src/engine/types.ts";
import { C, D, writeTinySd } from "../engine/image/tiny-sd.ts";
import { GraphBuilder } from "../../src/engine/models/onnx-graph.ts";
import { GraphOps } from "../../src/convert/ops.ts";
import { Weights } from "../../src/convert/tensors.ts";
import { unetPlan, vaePlan } from "../../src/convert/diffusion/convert-unet-vae.ts";
import { tinyUnetConfig, tinyVaeConfig, writeUnetCheckpoint, writeVaeCheckpoint } from "../support/diffusers-checkpoint.ts";

const { values: a } = parseArgs({
  options: {
    steps: { type: "string", default: "30" },
    rounds: { type: "string", default: "5" },
    sizes: { type: "string", default: "16,64,256" },
    "unet-sizes": { type: "string", default: "64,128" },
    device: { type: "string", default: "cpu" },
  },
});
const steps = Number(a.steps);
const rounds = Number(a.rounds);
const sizes = a.sizes!.split(",").filter(Boolean).map(Number);
const unetSizes = a["unet-sizes"]!.split(",").filter(Boolean).map(Number);
const device = a.device as Device;

const DDIM = { _class_name: "DDIMScheduler", beta_schedule: "scaled_linear", beta_start: 0.00085, beta_end: 0.012, timestep_spacing: "leading", steps_offset: 1, set_alpha_to_one: false };
const root = mkdtempSync(join(tmpdir(), "atoma-bench-image-"));

/** Replaces the folder's stand-in unet/ and vae_decoder/ with converted SD 1.5-shaped ones. */
function writeSd15Shaped(dir: string): void {
  writeTinySd(dir, DDIM, { encoder: false });
  // cross_attention_dim = the tiny text encoder's width, so its hidden states feed the UNet.
  const unetCfg = tinyUnetConfig("sd15", { block_out_channels: [32, 64], cross_attention_dim: D, attention_head_dim: 8, norm_num_groups: 8, sample_size: 8 });
  writeUnetCheckpoint(join(root, "src-unet"), unetCfg);
  writeVaeCheckpoint(join(root, "src-vae"), tinyVaeConfig());
  for (const plan of [unetPlan(join(root, "src-unet")), vaePlan(join(root, "src-vae"))]) {
    for (const o of plan.outputs.filter((x) => x.sub !== "vae_encoder")) {
      const g = new GraphBuilder();
      o.write(new GraphOps(g, new Weights(plan.source), "fp32"));
      writeFileSync(join(dir, o.sub, "model.onnx"), g.encode(o.sub, "atoma-node bench").model);
      writeFileSync(join(dir, o.sub, "config.json"), JSON.stringify(o.sub === "vae_decoder" ? { ...o.config, scaling_factor: 0.18215 } : o.config));
    }
    plan.source.close();
  }
}

const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;

const ort = await loadOrtNode();
type Timed = { ms: number; cpuMs: number };
type Session = Awaited<ReturnType<typeof ort.InferenceSession.create>>;
type Engine = Awaited<ReturnType<typeof loadImageEngine>>;

/** `steps` UNet runs on the pipeline's guided shapes: latents [2, C, s/8, s/8], hidden [2, 77, dim]. */
async function rawUnet(unet: Session, size: number, hiddenDim: number): Promise<Timed> {
  const lat = size / 8;
  const sample = new ort.Tensor("float32", Float32Array.from({ length: 2 * C * lat * lat }, (_, i) => Math.sin(i)), [2, C, lat, lat]);
  const hidden = new ort.Tensor("float32", new Float32Array(2 * 77 * hiddenDim).fill(0.1), [2, 77, hiddenDim]);
  const c0 = cpuNow();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) {
    await unet.run({ sample, timestep: new ort.Tensor("float32", Float32Array.of(999 - i * 33), [1]), encoder_hidden_states: hidden });
  }
  return { ms: performance.now() - t0, cpuMs: cpuNow() - c0 };
}

async function pipeline(engine: Engine, size: number, n = steps): Promise<Timed> {
  const c0 = cpuNow();
  const t0 = performance.now();
  const out = await engine.generate({ prompt: "a red cat on a mat", uncondPrompt: "blurry", width: size, height: size, steps: n, guidanceScale: 7.5, numSamples: 1, seed: 42n });
  if (out.steps !== n || out.images[0]!.width !== size) throw new Error("unexpected output");
  return { ms: performance.now() - t0, cpuMs: cpuNow() - c0 };
}

async function measure(label: string, dir: string, sizes: number[], hiddenDim: number): Promise<void> {
  if (sizes.length === 0) return;
  const engine = await loadImageEngine({ id: "bench", dir, device, maxSize: Math.max(...sizes) });
  // The same session options as the engine's components (src/engine/image/components.ts).
  const unet = await ort.InferenceSession.create(readFileSync(join(dir, "unet", "model.onnx")), { executionProviders: [device], graphOptimizationLevel: "all" });
  console.log(`\n${label}`);
  console.log("size      s/image   ms/step   raw UNet ms/step   ratio   CPU ms/step (engine / raw)   1-step image s (fixed cost)");
  for (const size of sizes) {
    await pipeline(engine, size); // warm-up: first runs allocate
    await rawUnet(unet, size, hiddenDim);
    const p: Timed[] = [];
    const r: Timed[] = [];
    const one: number[] = [];
    for (let k = 0; k < rounds; k++) {
      p.push(await pipeline(engine, size));
      r.push(await rawUnet(unet, size, hiddenDim));
      // Text encoding, VAE decode, PNG and set-up: what an image costs besides its steps.
      one.push((await pipeline(engine, size, 1)).ms);
    }
    const pm = median(p.map((x) => x.ms)), rm = median(r.map((x) => x.ms));
    const pc = median(p.map((x) => x.cpuMs)) / steps, rc = median(r.map((x) => x.cpuMs)) / steps;
    const cpuCol = `${pc.toFixed(3)} / ${rc.toFixed(3)}`.padEnd(27);
    console.log(`${`${size}x${size}`.padEnd(9)} ${(pm / 1000).toFixed(4).padStart(8)}   ${(pm / steps).toFixed(3).padStart(7)}   ${(rm / steps).toFixed(3).padStart(16)}   ${(pm / rm).toFixed(2).padStart(5)}   ${cpuCol}   ${(median(one) / 1000).toFixed(4)}`);
  }
  await engine.dispose();
}

console.log(`bench:image — random-weight SD folders (diffusers ONNX layout), ${steps} DDIM steps, guidance 7.5 (UNet batch 2), ${rounds} rounds, device ${device}`);
console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? "unknown CPU"}, load average ${loadavg().map((x) => x.toFixed(1)).join(" ")}`);
const tiny = join(root, "tiny");
writeTinySd(tiny, DDIM);
await measure("tiny (test fixture: 1×1-conv UNet stand-in)", tiny, sizes, D);
const sd15 = join(root, "sd15-shaped");
writeSd15Shaped(sd15);
await measure("SD 1.5-shaped UNet2DConditionModel + AutoencoderKL (block_out_channels 32/64, converted)", sd15, unetSizes, D);
rmSync(root, { recursive: true, force: true });
