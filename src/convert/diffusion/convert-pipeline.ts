/**
 * `convertDiffusersPipeline`: a diffusers safetensors repo folder (model_index.json, unet/, vae/,
 * text_encoder/ [, text_encoder_2/], tokenizer/ [, tokenizer_2/], scheduler/) → the diffusers ONNX
 * layout src/engine/image loads (text_encoder/, unet/, vae_decoder/, vae_encoder/ with model.onnx
 * each, tokenizer/ and scheduler/ copied, model_index.json). Every graph of every component is
 * first built dry, so a bad checkpoint fails before anything is written; the folder is assembled
 * under a hidden sibling and renamed into place, so no reader sees half a pipeline. The
 * safety_checker and feature_extractor are not converted (the node has no NSFW filter).
 */
import { cpSync, existsSync, readFileSync, statSync } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { SOURCE_KEY } from "../../engine/image/source-record.ts";
import { GraphBuilder } from "../../engine/models/onnx-graph.ts";
import { GraphOps, type Variant } from "../ops.ts";
import { openSafetensors } from "../safetensors.ts";
import { ConvertError, Weights } from "../tensors.ts";
import { removeStale, tmpPrefix } from "../write-folder.ts";
import { clipTextSpec } from "./clip-text.ts";
import { clipTextPlan } from "./convert-clip.ts";
import { writeComponentFolder } from "./component-folder.ts";
import type { Json } from "./config.ts";
import { readComponentConfig, unetPlan, vaePlan, type SourcePlan } from "./convert-unet-vae.ts";
import { unetSpec } from "./unet.ts";
import { vaeSpec } from "./vae.ts";

export interface PipelineProgress {
  component: string;
  variant: Variant;
  tensorsDone: number;
  tensorsTotal: number;
  bytesDone: number;
  bytesTotal: number;
}

export interface PipelineConvertOptions {
  src: string;
  out: string;
  /** fp32 or fp16 (default: fp16 when the UNet weights are 16-bit, else fp32). */
  variant?: Variant;
  force?: boolean;
  onProgress?: (p: PipelineProgress) => void;
  externalAboveBytes?: number;
  maxChunkBytes?: number;
  /** The hub repo (and commit) `src` is; default: read from a hub-cache snapshot path. */
  sourceRepo?: { repo: string; commit?: string };
}

export interface PipelineResult {
  dir: string;
  pipeline: string;
  variant: Variant;
  components: string[];
  bytesRead: number;
}

/** Which model_index.json entries become which ONNX component folders; `check` reads only config.json. */
interface Converter {
  plan: (dir: string, rel: string) => SourcePlan;
  check: (config: Json, where: string) => unknown;
}
const CLIP: Converter = { plan: clipPlan, check: (c) => clipTextSpec(c) };
const CONVERTERS: Record<string, Converter> = {
  UNet2DConditionModel: { plan: unetPlan, check: unetSpec },
  AutoencoderKL: { plan: vaePlan, check: vaeSpec },
  CLIPTextModel: CLIP,
  CLIPTextModelWithProjection: CLIP,
};
/** Copied as they are. */
const COPIED_CLASSES = new Set(["CLIPTokenizer", "CLIPTokenizerFast"]);
/** Not needed to generate images. */
const SKIPPED = new Set(["safety_checker", "feature_extractor", "image_encoder"]);

/**
 * Repos distilled to generate in 1–4 steps without classifier-free guidance (adversarial diffusion
 * distillation; their model cards: 1 step, guidance 0). The converter records `few_step` from this
 * list whenever it knows the repo, so the engine's step defaults follow the repo converted, not
 * whatever the operator named the folder.
 */
const FEW_STEP_REPOS = new Set(["stabilityai/sdxl-turbo", "stabilityai/sd-turbo"]);

/** `<cache>/models--org--name/snapshots/<commit>` (the hub cache layout) → the repo and commit. */
function hubSnapshotRepo(dir: string): { repo: string; commit: string } | undefined {
  const m = /(?:^|\/)models--([^/]+?)--([^/]+)\/snapshots\/([^/]+)\/?$/.exec(dir);
  return m ? { repo: `${m[1]}/${m[2]}`, commit: m[3]! } : undefined;
}

/** What the output's model_index.json records about the source: repo, commit, scheduler, few_step. */
function sourceRecord(src: string, given: PipelineConvertOptions["sourceRepo"]): Record<string, unknown> {
  const from = given ?? hubSnapshotRepo(src);
  let scheduler: Record<string, unknown> = {};
  try {
    scheduler = JSON.parse(readFileSync(join(src, "scheduler", "scheduler_config.json"), "utf8"));
  } catch {
    // A missing or odd scheduler config is the pipeline loader's to report; nothing to record here.
  }
  return {
    repo: from?.repo ?? null,
    commit: from?.commit ?? null,
    scheduler: typeof scheduler._class_name === "string" ? scheduler._class_name : null,
    timestep_spacing: typeof scheduler.timestep_spacing === "string" ? scheduler.timestep_spacing : null,
    // Only when the repo is known: a folder from elsewhere leaves the engine to its fallback.
    ...(from ? { few_step: FEW_STEP_REPOS.has(from.repo.toLowerCase()) } : {}),
  };
}

function clipPlan(dir: string, rel: string): SourcePlan {
  const { source, outputs } = clipTextPlan(dir, rel, readComponentConfig(dir, rel));
  return { source, outputs };
}

/** model_index.json entries: converted (with their class), copied, or skipped. */
function components(index: Record<string, unknown>): { converted: [string, string][]; copied: string[] } {
  const converted: [string, string][] = [], copied: string[] = [];
  for (const [key, value] of Object.entries(index)) {
    if (key.startsWith("_") || SKIPPED.has(key) || !Array.isArray(value) || value[1] === null) continue;
    const cls = String(value[1]);
    if (key === "scheduler" || COPIED_CLASSES.has(cls)) copied.push(key);
    else if (CONVERTERS[cls]) converted.push([key, cls]);
    else throw new ConvertError(`model_index.json: ${key} is a ${cls}, which the converter does not handle (supported: ${Object.keys(CONVERTERS).join(", ")})`);
  }
  for (const need of ["unet", "vae", "text_encoder", "tokenizer", "scheduler"]) {
    if (!converted.some(([k]) => k === need) && !copied.includes(need)) throw new ConvertError(`model_index.json has no ${need} entry (a Stable Diffusion pipeline needs unet, vae, text_encoder, tokenizer and scheduler)`);
  }
  return { converted, copied };
}

/**
 * Whether a hub repo's pipeline can be converted, from model_index.json and each component's
 * config.json only (`models pull` asks before fetching weights); the reason when not.
 */
export async function diffusersConfigBlocker(readText: (path: string) => Promise<string>): Promise<string | undefined> {
  try {
    const parse = async (path: string): Promise<Json> => {
      let v: unknown;
      try {
        v = JSON.parse(await readText(path));
      } catch {
        throw new ConvertError(`${path} is missing or not valid JSON`);
      }
      if (typeof v !== "object" || v === null || Array.isArray(v)) throw new ConvertError(`${path} must hold a JSON object`);
      return v as Json;
    };
    for (const [key, cls] of components(await parse("model_index.json")).converted) CONVERTERS[cls]!.check(await parse(`${key}/config.json`), `${key}/config.json`);
    return undefined;
  } catch (e) {
    if (e instanceof ConvertError) return e.message;
    throw e;
  }
}

export function isDiffusersPipelineFolder(dir: string): boolean {
  return existsSync(join(dir, "model_index.json"));
}

export function readModelIndex(dir: string): Record<string, unknown> {
  const file = join(dir, "model_index.json");
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    throw new ConvertError(`${file} is missing or not valid JSON`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new ConvertError(`${file} must hold a JSON object`);
  return v as Record<string, unknown>;
}

export async function convertDiffusersPipeline(o: PipelineConvertOptions): Promise<PipelineResult> {
  const src = resolve(o.src), out = resolve(o.out);
  if (!existsSync(src) || !statSync(src).isDirectory()) throw new ConvertError(`${src} is not a directory (expected a diffusers pipeline folder with model_index.json)`);
  const index = readModelIndex(src);
  const pipeline = typeof index._class_name === "string" ? index._class_name : "unknown";
  const { converted, copied } = components(index);
  for (const key of copied) if (!existsSync(join(src, key))) throw new ConvertError(`model_index.json names ${key} but ${src}/${key}/ is missing`);
  const plans: SourcePlan[] = [];
  try {
    for (const [key, cls] of converted) plans.push(CONVERTERS[cls]!.plan(join(src, key), key));

    const unet = plans.find((p) => p.outputs.some((c) => c.sub === "unet"))!.source;
    const sixteen = unet.names().some((n) => ["F16", "BF16"].includes(unet.info(n)!.dtype));
    const variant = o.variant ?? (sixteen ? "fp16" : "fp32");
    if (variant !== "fp32" && variant !== "fp16") throw new ConvertError(`diffusers pipelines convert to f32 or f16, not ${variant}`);
    const variantOf = (c: { fp32Only?: boolean }): Variant => (c.fp32Only ? "fp32" : variant);

    // Dry pass over every graph: names and shapes, before any file is written.
    const totals = new Map<string, { tensors: number; bytes: number }>();
    for (const p of plans) {
      for (const c of p.outputs) {
        const probe = new Weights(p.source);
        c.write(new GraphOps(new GraphBuilder(), probe, variantOf(c), true));
        totals.set(c.sub, { tensors: probe.checks, bytes: probe.checkedBytes });
      }
    }
    if (existsSync(out) && !o.force) throw new ConvertError(`output ${out} already exists (use --force to replace it)`);

    await mkdir(dirname(out), { recursive: true });
    await removeStale(out);
    const tmp = join(dirname(out), `${tmpPrefix(out)}${process.pid}-${Date.now()}`);
    await mkdir(tmp, { recursive: true });
    let bytesRead = 0, tensorsBefore = 0, bytesBefore = 0;
    const tensorsTotal = [...totals.values()].reduce((a, t) => a + t.tensors, 0);
    const bytesTotal = [...totals.values()].reduce((a, t) => a + t.bytes, 0);
    const components: string[] = [];
    try {
      for (const p of plans) {
        for (const c of p.outputs) {
          const t = totals.get(c.sub)!;
          const r = await writeComponentFolder(join(tmp, c.sub), {
            name: c.name,
            source: p.source,
            variant: variantOf(c),
            write: c.write,
            config: c.config,
            // Counted over the whole pipeline, so one bar runs from 0 to 100 % across components.
            ...(o.onProgress ? { onProgress: (q) => o.onProgress!({ component: c.sub, variant: variantOf(c), tensorsDone: tensorsBefore + q.tensorsDone, bytesDone: bytesBefore + q.bytesDone, tensorsTotal, bytesTotal }) } : {}),
            ...(o.externalAboveBytes !== undefined ? { externalAboveBytes: o.externalAboveBytes } : {}),
            ...(o.maxChunkBytes !== undefined ? { maxChunkBytes: o.maxChunkBytes } : {}),
          });
          bytesRead += r.bytesRead;
          tensorsBefore += t.tensors;
          bytesBefore += t.bytes;
          components.push(c.sub);
        }
      }
      for (const key of copied) cpSync(join(src, key), join(tmp, key), { recursive: true, dereference: true });
      // Pipeline options (force_zeros_for_empty_prompt, requires_aesthetics_score, …) are kept;
      // the source folder, repo and scheduler are recorded (few_step sets the engine's step defaults).
      const onnxIndex: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(index)) if (!Array.isArray(v) && k !== "_class_name" && k !== SOURCE_KEY) onnxIndex[k] = v;
      Object.assign(onnxIndex, { _class_name: `Onnx${pipeline}`, _converted_by: "atoma-node", _converted_from: src, _variant: variant, [SOURCE_KEY]: sourceRecord(src, o.sourceRepo) });
      for (const c of components) onnxIndex[c] = ["diffusers", "OnnxRuntimeModel"];
      for (const key of copied) onnxIndex[key] = index[key];
      await writeFile(join(tmp, "model_index.json"), JSON.stringify(onnxIndex, null, 2) + "\n");
      if (existsSync(out)) {
        if (!o.force) throw new ConvertError(`output ${out} already exists (use --force to replace it)`);
        await rm(out, { recursive: true, force: true });
      }
      await rename(tmp, out);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    return { dir: out, pipeline, variant, components, bytesRead };
  } finally {
    for (const p of plans) p.source.close();
  }
}
