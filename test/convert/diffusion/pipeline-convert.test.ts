/**
 * Whole diffusers repo → diffusers ONNX pipeline (convertCheckpoint's model_index.json dispatch,
 * `models convert`): a tiny SD 1.5-shaped repo written by the test converts at f32 and f16 (also
 * with external data), the image pipeline loads the result and generates deterministic images,
 * and bad checkpoints fail with one line, exit 2 and nothing written.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { convertCheckpoint } from "../../../src/convert/index.ts";
import { DiffusionPipeline, type ImageRequest } from "../../../src/engine/image/pipeline.ts";
import { writeTinyDiffusersRepo } from "../../support/diffusers-repo.ts";
import { safetensorsBytes } from "../../support/safetensors-writer.ts";

setDefaultTimeout(120_000);
const ROOT = resolve(import.meta.dir, "../../..");
const MAIN = join(ROOT, "src", "cli", "main.ts");
const work = mkdtempSync(join(tmpdir(), "atoma-sdpipe-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const repo = join(work, "repo");
writeTinyDiffusersRepo(repo);

const REQ: ImageRequest = { prompt: "a red cat", uncondPrompt: "", width: 64, height: 64, steps: 3, guidanceScale: 7.5, numSamples: 1, seed: 42n };

async function cli(args: string[]) {
  const p = Bun.spawn([process.execPath, MAIN, ...args], { cwd: work, env: { ...process.env, ATOMA_LOG: "warn" }, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { stdout, stderr, code };
}

async function generate(dir: string, req: ImageRequest = REQ) {
  const p = await DiffusionPipeline.load(dir);
  return (await p.generate(req)).images;
}

describe("diffusers repo → ONNX pipeline", () => {
  test("f32: the four components, tokenizer and scheduler; the pipeline generates the same pixels twice", async () => {
    const out = join(work, "sd-f32");
    const r = await convertCheckpoint({ src: repo, out, dtypes: ["fp32"] });
    expect(r.modelType).toBe("StableDiffusionPipeline");
    for (const c of ["text_encoder", "unet", "vae_decoder", "vae_encoder"]) expect(existsSync(join(out, c, "model.onnx"))).toBe(true);
    expect(existsSync(join(out, "safety_checker"))).toBe(false);
    expect(JSON.parse(readFileSync(join(out, "vae_decoder", "config.json"), "utf8")).latent_channels).toBe(4);
    const index = JSON.parse(readFileSync(join(out, "model_index.json"), "utf8"));
    expect(index).toMatchObject({ _class_name: "OnnxStableDiffusionPipeline", _converted_from: repo, requires_safety_checker: false, unet: ["diffusers", "OnnxRuntimeModel"] });
    expect(index.safety_checker).toBeUndefined();
    const [a] = await generate(out);
    const [b] = await generate(out);
    expect(a!.width).toBe(64);
    expect(Buffer.from(a!.rgb).equals(Buffer.from(b!.rgb))).toBe(true);
    expect(new Set(a!.rgb).size).toBeGreaterThan(16);
    // img2img goes through the converted vae_encoder.
    const [c] = await generate(out, { ...REQ, init: a!, strength: 0.5 });
    expect(c!.rgb.length).toBe(a!.rgb.length);
  });

  test("f16 from an F16 checkpoint (the default for 16-bit weights), external data beside model.onnx", async () => {
    const src16 = join(work, "repo16");
    writeTinyDiffusersRepo(src16, { dtype: "F16" });
    const out = join(work, "sd-f16");
    const r = await convertCheckpoint({ src: src16, out, externalAboveBytes: 0 });
    expect(r.variants).toEqual(["fp16"]);
    expect(existsSync(join(out, "unet", "model.onnx_data"))).toBe(true);
    await convertCheckpoint({ src: src16, out: join(work, "sd-f16-as-f32"), dtypes: ["fp32"] });
    const [a] = await generate(out);
    const [f32] = await generate(join(work, "sd-f16-as-f32"));
    // The same weights computed in f16 vs f32: pixels agree within rounding, not bit for bit.
    let diff = 0;
    for (let i = 0; i < a!.rgb.length; i++) diff = Math.max(diff, Math.abs(a!.rgb[i]! - f32!.rgb[i]!));
    expect(diff).toBeLessThanOrEqual(3);
  });

  test("models convert <diffusers-folder>: exit 0 and the pipeline folder", async () => {
    const out = join(work, "cli-out");
    const r = await cli(["models", "convert", repo, "--out", out, "--dtypes", "f32"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("converted StableDiffusionPipeline checkpoint");
    expect(existsSync(join(out, "unet", "model.onnx"))).toBe(true);
    const twice = await cli(["models", "convert", repo, "--out", out, "--dtypes", "f32,f16"]);
    expect(twice.code).toBe(2);
    expect(twice.stderr.trim().split("\n")).toHaveLength(1);
  });
});

describe("bad diffusers checkpoints: one line, exit 2, nothing written", () => {
  /** A copy of the repo with one unet tensor dropped or reshaped. */
  function broken(name: string, edit: (t: Map<string, { shape: number[]; data: Float32Array }>) => void): string {
    const dir = join(work, name);
    cpSync(repo, dir, { recursive: true });
    const file = join(dir, "unet", "diffusion_pytorch_model.safetensors");
    const bytes = readFileSync(file);
    const hlen = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + hlen).toString("utf8")) as Record<string, { shape: number[]; data_offsets: [number, number] }>;
    const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const [n, e] of Object.entries(header)) {
      if (n === "__metadata__") continue;
      const raw = bytes.subarray(8 + hlen + e.data_offsets[0], 8 + hlen + e.data_offsets[1]);
      tensors.set(n, { shape: e.shape, data: new Float32Array(new Uint8Array(raw).buffer) });
    }
    edit(tensors);
    writeFileSync(file, safetensorsBytes([...tensors.entries()], "F32"));
    return dir;
  }

  const cases: [string, (t: Map<string, { shape: number[]; data: Float32Array }>) => void, string][] = [
    ["missing", (t) => t.delete("down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight"), "missing tensor down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight"],
    ["reshaped", (t) => t.set("mid_block.resnets.0.norm1.weight", { shape: [15], data: new Float32Array(15) }), "tensor mid_block.resnets.0.norm1.weight has shape [15]"],
  ];
  for (const [name, edit, message] of cases) {
    test(`${name} tensor`, async () => {
      const src = broken(`bad-${name}`, edit);
      const out = join(work, `bad-${name}-out`);
      const r = await cli(["models", "convert", src, "--out", out]);
      expect(r.code).toBe(2);
      const lines = r.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(message);
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(work).filter((f) => f.includes(`bad-${name}-out`))).toEqual([]);
    });
  }

  test("an unsupported UNet option is named before any weights are read", async () => {
    const dir = join(work, "bad-config");
    cpSync(repo, dir, { recursive: true });
    const cfgFile = join(dir, "unet", "config.json");
    writeFileSync(cfgFile, JSON.stringify({ ...JSON.parse(readFileSync(cfgFile, "utf8")), class_embed_type: "timestep" }));
    const r = await cli(["models", "convert", dir, "--out", join(work, "bad-config-out")]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('error: unet/config.json: "class_embed_type" "timestep" is not supported by the converter (class embeddings are not implemented)');
  });
});
