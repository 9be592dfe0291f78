/**
 * `atoma-node generate-image`: one Stable Diffusion request through the same engine and the same
 * parameter checks as the node's image APIs (api/image-request.ts), written as PNG. stdout carries
 * only the written paths (or, with --json, one JSON object); progress over UNet steps and notes go
 * to stderr. Bad flags or bad values: one line on stderr, exit 2.
 */
import { defineCommand } from "citty";
import { existsSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { configArgs } from "../../config/cli-args.ts";
import { fail } from "../fail.ts";
import { floatFlag, intFlag, resolveModel, seedFlag } from "./generate.ts";

/** `out.png` for one image; `out-1.png` … `out-N.png` for several. */
export function outPaths(out: string, n: number): string[] {
  if (n === 1) return [out];
  const dot = out.toLowerCase().endsWith(".png") ? out.length - 4 : out.length;
  return Array.from({ length: n }, (_, k) => `${out.slice(0, dot)}-${k + 1}${out.slice(dot) || ".png"}`);
}

const NAMES = {
  prompt: "--prompt",
  negativePrompt: "--negative",
  width: "--width",
  height: "--height",
  steps: "--steps",
  guidance: "--guidance",
  samples: "--samples",
  strength: "--strength",
  init: "--init",
};

export default defineCommand({
  meta: { name: "generate-image", description: "Generate images locally with the node's deterministic Stable Diffusion engine" },
  args: {
    model: { type: "string", description: "Diffusers ONNX folder (text_encoder/, unet/, vae_decoder/, tokenizer/, scheduler/), or a model from --config" },
    prompt: { type: "string", description: "Prompt (CLIP keeps 77 tokens; longer prompts are truncated, with a note)" },
    negative: { type: "string", description: "Negative prompt (the chain's uncond_prompt; used when --guidance > 1)" },
    steps: { type: "string", description: "UNet steps (default 30, 1 for turbo models)" },
    seed: { type: "string", description: "u64 noise seed, decimal or 0x hex (default 0)" },
    width: { type: "string", description: "Pixels, a multiple of 8 (default: the model's, e.g. 512)" },
    height: { type: "string", description: "Pixels, a multiple of 8 (default: the model's)" },
    guidance: { type: "string", description: "Classifier-free guidance scale (default 7.5, 0 for turbo; applies above 1)" },
    samples: { type: "string", description: "Images from one noise stream (default 1; a chain job commits to the last)" },
    out: { type: "string", description: "PNG file to write (several samples: <name>-1.png, <name>-2.png, …)" },
    device: { type: "string", description: "cpu | cuda (default cpu, or the config's)" },
    json: { type: "boolean", description: "Print one JSON object: files, size, steps, seed, commitment, timings", default: false },
    ...configArgs,
    config: { ...configArgs.config, alias: [...configArgs.config.alias] },
  },
  async run({ args }) {
    if (!args.model) fail("missing --model <diffusers folder>");
    if (args.prompt === undefined) fail("missing --prompt <text>");
    if (!args.out) fail("missing --out <file.png>");
    const outDir = dirname(args.out);
    if (!existsSync(outDir) || !statSync(outDir).isDirectory()) fail(`--out ${args.out}: directory ${outDir} does not exist`);
    // Syntax first (before loading anything); ranges against the model's limits after loading.
    const num = (name: string, raw: string | undefined) => (raw === undefined ? undefined : intFlag(name, raw, 0, 0));
    const ask = {
      prompt: args.prompt,
      negativePrompt: args.negative,
      width: num("width", args.width),
      height: num("height", args.height),
      steps: num("steps", args.steps),
      samples: num("samples", args.samples),
      guidance: args.guidance === undefined ? undefined : floatFlag("guidance", args.guidance, 0),
      seed: seedFlag(args.seed),
    };
    const { parseDevice } = await import("../../engine/backends.ts");
    const { loadImageEngine } = await import("../../engine/image/engine.ts");
    const { EngineError } = await import("../../engine/types.ts");
    const { ImageParamError, toOperatorImageRequest, truncationNote } = await import("../../api/image-request.ts");
    const { commitImages } = await import("../../commitment/image.ts");
    const { toHex } = await import("@mysten/bcs");
    const { stepProgress } = await import("../step-progress.ts");
    try {
      const resolved = await resolveModel(args.model, args as unknown as Record<string, string | boolean | string[] | undefined>, undefined);
      const device = args.device !== undefined ? parseDevice(args.device) : (resolved.device ?? "cpu");
      // A model from --config keeps its limits (max_image_size, max_steps, max_samples).
      const engine = await loadImageEngine({ id: args.model, dir: resolved.dir, device, ...resolved.image });
      let request;
      try {
        request = toOperatorImageRequest(ask, NAMES, engine.info);
      } catch (e) {
        await engine.dispose();
        if (e instanceof ImageParamError) fail(e.message);
        throw e;
      }
      const progress = args.json ? undefined : stepProgress();
      const t0 = performance.now();
      const out = await engine.generate(request, { onStep: progress?.onStep });
      const seconds = (performance.now() - t0) / 1000;
      progress?.end();
      await engine.dispose();
      const files = outPaths(args.out, out.images.length);
      try {
        out.images.forEach((img, k) => writeFileSync(files[k]!, img.png));
      } catch (e) {
        fail(`--out ${args.out}: ${(e as Error).message}`);
      }
      const note = truncationNote(out.truncated, NAMES);
      if (note) process.stderr.write(`note: ${note}\n`);
      if (args.json) {
        const c = commitImages(out.images, 1, 0);
        process.stdout.write(
          JSON.stringify({
            files,
            width: request.width,
            height: request.height,
            steps: request.steps,
            guidance_scale: request.guidanceScale,
            num_samples: request.numSamples,
            seed: request.seed.toString(),
            // What a one-node chain job with these params commits (root = leaf's parent, §8.2).
            commitment: { root: toHex(c.root), leaf: toHex(c.leaf) },
            truncated_tokens: { prompt: out.truncated.prompt, negative: out.truncated.uncond },
            seconds: Math.round(seconds * 1000) / 1000,
            seconds_per_step: Math.round((seconds / Math.max(1, out.steps)) * 10000) / 10000,
          }) + "\n",
        );
      } else process.stdout.write(files.join("\n") + "\n");
    } catch (e) {
      if (e instanceof EngineError) fail(e.message);
      fail(e instanceof Error ? e.message : String(e));
    }
  },
});
