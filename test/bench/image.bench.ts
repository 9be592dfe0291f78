/**
 * `npm run bench:image [-- --steps 30 --rounds 5 --sizes 16,64,256 --device cpu]`
 *
 * Seconds per image and per UNet step of the Stable Diffusion engine (ImageEngine: CLIP
 * tokenizer, text encoder, guided scheduler loop, VAE decode, PNG) on the tiny random-weight
 * diffusers-ONNX folder the tests write (test/engine/image/tiny-sd.ts), at several image sizes
 * (the larger ones are the same graphs over bigger latents). Baseline, measured in the same run
 * and alternating with the engine so machine noise hits both alike: the raw UNet `session.run`
 * alone on identical inputs (batch 2 with guidance, as the pipeline runs it) for the same number
 * of steps. The ratio engine / raw UNet per step is the pipeline's overhead around the UNet (1.0
 * = none); on a real model the UNet dominates, on the tiny one the overhead shows. Also prints
 * process CPU time per step, which stays meaningful on a loaded machine.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadImageEngine } from "../../src/engine/image/engine.ts";
import { loadOrtNode } from "../../src/engine/runtime/ort-native.ts";
import type { Device } from "../../src/engine/types.ts";
import { C, D, writeTinySd } from "../engine/image/tiny-sd.ts";

const { values: a } = parseArgs({
  options: {
    steps: { type: "string", default: "30" },
    rounds: { type: "string", default: "5" },
    sizes: { type: "string", default: "16,64,256" },
    device: { type: "string", default: "cpu" },
  },
});
const steps = Number(a.steps);
const rounds = Number(a.rounds);
const sizes = a.sizes!.split(",").map(Number);
const device = a.device as Device;

const DDIM = { _class_name: "DDIMScheduler", beta_schedule: "scaled_linear", beta_start: 0.00085, beta_end: 0.012, timestep_spacing: "leading", steps_offset: 1, set_alpha_to_one: false };
const root = mkdtempSync(join(tmpdir(), "atoma-bench-image-"));
const dir = join(root, "sd");
writeTinySd(dir, DDIM);

const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;

const engine = await loadImageEngine({ id: "bench", dir, device, maxSize: Math.max(...sizes) });
const ort = await loadOrtNode();
// The same session options as the engine's components (src/engine/image/components.ts).
const unet = await ort.InferenceSession.create(readFileSync(join(dir, "unet", "model.onnx")), { executionProviders: [device], graphOptimizationLevel: "all" });

async function rawUnet(size: number): Promise<{ ms: number; cpuMs: number }> {
  const lat = size / 8;
  const n = 2 * C * lat * lat;
  const sample = new ort.Tensor("float32", Float32Array.from({ length: n }, (_, i) => Math.sin(i)), [2, C, lat, lat]);
  const hidden = new ort.Tensor("float32", new Float32Array(2 * 77 * D).fill(0.1), [2, 77, D]);
  const c0 = cpuNow();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) {
    await unet.run({ sample, timestep: new ort.Tensor("float32", Float32Array.of(999 - i * 33), [1]), encoder_hidden_states: hidden });
  }
  return { ms: performance.now() - t0, cpuMs: cpuNow() - c0 };
}

async function pipeline(size: number, n = steps): Promise<{ ms: number; cpuMs: number }> {
  const c0 = cpuNow();
  const t0 = performance.now();
  const out = await engine.generate({ prompt: "a red cat on a mat", uncondPrompt: "blurry", width: size, height: size, steps: n, guidanceScale: 7.5, numSamples: 1, seed: 42n });
  if (out.steps !== n || out.images[0]!.width !== size) throw new Error("unexpected output");
  return { ms: performance.now() - t0, cpuMs: cpuNow() - c0 };
}

const cpu = cpus()[0]?.model ?? "unknown CPU";
console.log(`bench:image — tiny random-weight SD (diffusers ONNX layout), ${steps} DDIM steps, guidance 7.5 (UNet batch 2), ${rounds} rounds, device ${device}`);
console.log(`machine: ${cpus().length} × ${cpu}, load average ${(await import("node:os")).loadavg().map((x) => x.toFixed(1)).join(" ")}`);
console.log("size      s/image   ms/step   raw UNet ms/step   ratio   CPU ms/step (engine / raw)   1-step image s (fixed cost)");
for (const size of sizes) {
  await pipeline(size); // warm-up: first runs allocate
  await rawUnet(size);
  const p: { ms: number; cpuMs: number }[] = [];
  const r: { ms: number; cpuMs: number }[] = [];
  const one: number[] = [];
  for (let k = 0; k < rounds; k++) {
    p.push(await pipeline(size));
    r.push(await rawUnet(size));
    // Text encoding, VAE decode, PNG and set-up: what an image costs besides its steps.
    one.push((await pipeline(size, 1)).ms);
  }
  const pm = median(p.map((x) => x.ms)), rm = median(r.map((x) => x.ms));
  const pc = median(p.map((x) => x.cpuMs)) / steps, rc = median(r.map((x) => x.cpuMs)) / steps;
  console.log(
    `${`${size}x${size}`.padEnd(9)} ${(pm / 1000).toFixed(4).padStart(8)}   ${(pm / steps).toFixed(3).padStart(7)}   ${(rm / steps).toFixed(3).padStart(16)}   ${(pm / rm).toFixed(2).padStart(5)}   ${`${pc.toFixed(3)} / ${rc.toFixed(3)}`.padEnd(27)}   ${(median(one) / 1000).toFixed(4)}`,
  );
}
await engine.dispose();
rmSync(root, { recursive: true, force: true });
