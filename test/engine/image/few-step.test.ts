/**
 * Few-step (turbo) defaults follow the repo a folder was converted from, not its name: the node's
 * diffusers converter records the source repo, commit and scheduler in model_index.json
 * (`_atoma_source`), with `few_step` for the repo; the image engine reads that. Folders converted
 * elsewhere carry no record, and only for them does the old name rule ("turbo" in the id, folder
 * or model_index.json) still apply. Converted here from tiny random repos laid out as the hub
 * cache holds them (models--org--name/snapshots/<commit>).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { convertCheckpoint } from "../../../src/convert/index.ts";
import { loadImageEngine } from "../../../src/engine/image/engine.ts";
import { SOURCE_KEY } from "../../../src/engine/image/source-record.ts";
import type { ImageEngine } from "../../../src/engine/types.ts";
import { writeTinyDiffusersRepo } from "../../support/diffusers-repo.ts";
import { writeTinySd } from "./tiny-sd.ts";

setDefaultTimeout(120_000);
const work = mkdtempSync(join(tmpdir(), "atoma-few-step-"));
const COMMIT = "0123456789abcdef0123456789abcdef01234567";
const EULER_A = { _class_name: "EulerAncestralDiscreteScheduler", beta_schedule: "scaled_linear", beta_start: 0.00085, beta_end: 0.012, timestep_spacing: "trailing", steps_offset: 1 };
const engines: ImageEngine[] = [];
const load = async (id: string, dir: string) => {
  const e = await loadImageEngine({ id, dir, device: "cpu" });
  engines.push(e);
  return e.info;
};

/** A converted folder of `repo` (as the hub cache holds it) at `out`. */
async function converted(repo: string, out: string): Promise<string> {
  const snap = join(work, "hub", `models--${repo.replace("/", "--")}`, "snapshots", COMMIT);
  writeTinyDiffusersRepo(snap);
  await convertCheckpoint({ src: snap, out, dtypes: ["fp32"] });
  return out;
}

let turboDir: string, baseDir: string;
beforeAll(async () => {
  // Folder names that would mislead the name rule both ways.
  turboDir = await converted("stabilityai/sdxl-turbo", join(work, "models", "image-a"));
  baseDir = await converted("stabilityai/stable-diffusion-xl-base-1.0", join(work, "models", "my-turbo-experiments"));
});
afterAll(async () => {
  for (const e of engines) await e.dispose();
  rmSync(work, { recursive: true, force: true });
});

describe("few-step defaults from the converter's record", () => {
  test("the converted folder records the repo, commit and scheduler it came from", () => {
    const index = JSON.parse(readFileSync(join(turboDir, "model_index.json"), "utf8"));
    expect(index[SOURCE_KEY]).toEqual({ repo: "stabilityai/sdxl-turbo", commit: COMMIT, scheduler: "EulerDiscreteScheduler", timestep_spacing: "leading", few_step: true });
    expect(JSON.parse(readFileSync(join(baseDir, "model_index.json"), "utf8"))[SOURCE_KEY]).toMatchObject({ repo: "stabilityai/stable-diffusion-xl-base-1.0", few_step: false });
  });

  test("sdxl-turbo converted into a folder without 'turbo' in its name is few-step; SDXL base in a *turbo* folder is not", async () => {
    expect(await load("image-a", turboDir)).toMatchObject({ turbo: true, turboFrom: "converter record" });
    expect(await load("sdxl-turbo-lookalike", baseDir)).toMatchObject({ turbo: false, turboFrom: "converter record" });
  });

  test("a folder with no record (converted elsewhere) falls back to the name rule", async () => {
    writeTinySd(join(work, "elsewhere", "sd-turbo-onnx"), EULER_A);
    writeTinySd(join(work, "elsewhere", "sd-onnx"), EULER_A);
    expect(await load("stable_diffusion_turbo", join(work, "elsewhere", "sd-onnx"))).toMatchObject({ turbo: true, turboFrom: "name" });
    expect(await load("x", join(work, "elsewhere", "sd-turbo-onnx"))).toMatchObject({ turbo: true, turboFrom: "name" });
    expect(await load("x", join(work, "elsewhere", "sd-onnx"))).toMatchObject({ turbo: false, turboFrom: "name" });
  });

  test("a repo converted from a plain folder (repo unknown) records no few_step, so the name rule decides", async () => {
    const src = join(work, "plain-src", "sd-turbo-local");
    writeTinyDiffusersRepo(src);
    const out = join(work, "models", "local-copy");
    await convertCheckpoint({ src, out, dtypes: ["fp32"] });
    const rec = JSON.parse(readFileSync(join(out, "model_index.json"), "utf8"))[SOURCE_KEY];
    expect(rec).toEqual({ repo: null, commit: null, scheduler: "EulerDiscreteScheduler", timestep_spacing: "leading" });
    // "turbo" is in the recorded source path (_converted_from).
    expect(await load("local", out)).toMatchObject({ turbo: true, turboFrom: "name" });
  });
});
