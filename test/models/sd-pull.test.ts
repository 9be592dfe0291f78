/**
 * `models pull stable_diffusion_v1-5` as an operator runs it, in a child process against the local
 * hub (test/support/hub-server, speaking the hub's API to @huggingface/hub): the seed row's repo,
 * served as a tiny random diffusers repo in SD 1.5's layout, is pulled without its safety checker,
 * converted to the diffusers ONNX layout, and the printed folder generates an image. `models list`
 * shows the row pullable before and ready after.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DiffusionPipeline } from "../../src/engine/image/pipeline.ts";
import { startHubServer, type HubServer } from "../support/hub-server/index.ts";
import { filesFromDir, makeRepo } from "../support/hub-server/repo.ts";
import { writeTinyDiffusersRepo } from "../support/diffusers-repo.ts";
import { type Env, hubEnv, runCli } from "../support/hub-cli.ts";

setDefaultTimeout(120_000);
const tmp = mkdtempSync(join(tmpdir(), "atoma-sd-pull-"));
let hub: HubServer;

beforeAll(() => {
  const repo = join(tmp, "sd15");
  writeTinyDiffusersRepo(repo);
  // What the real repo also holds: a safety checker (1.2 GB there) and the feature extractor.
  mkdirSync(join(repo, "safety_checker"), { recursive: true });
  writeFileSync(join(repo, "safety_checker", "config.json"), "{}");
  writeFileSync(join(repo, "safety_checker", "model.safetensors"), new Uint8Array(4096));
  const bad = join(tmp, "bad-sd");
  cpSync(repo, bad, { recursive: true });
  const cfg = join(bad, "unet", "config.json");
  writeFileSync(cfg, JSON.stringify({ ...JSON.parse(readFileSync(cfg, "utf8")), time_embedding_type: "fourier" }));
  hub = startHubServer({ repos: [makeRepo("runwayml/stable-diffusion-v1-5", filesFromDir(repo)), makeRepo("test-org/bad-sd", filesFromDir(bad))] });
});
afterAll(async () => {
  await hub.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const env = (home: string) => hubEnv(home, hub.url, "info");

const cli = (args: string[], e: Env) => runCli(args, e, tmp);

const status = async (e: Env, row: string) =>
  (JSON.parse((await cli(["models", "list", "--json"], e)).stdout) as { model_type: string; status: string }[]).find((r) => r.model_type === row)!.status;

describe("models pull stable_diffusion_v1-5", () => {
  test("pullable → pulled without the safety checker → converted → ready; the folder generates an image", async () => {
    const e = env(join(tmp, "home-1"));
    expect(await status(e, "stable_diffusion_v1-5")).toBe("pullable");
    for (const row of ["stable_diffusion_v2-1", "stable_diffusion_xl", "stable_diffusion_turbo"]) expect(await status(e, row)).toBe("pullable");
    const r = await cli(["models", "pull", "stable_diffusion_v1-5", "--dtype", "f32"], e);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("stable_diffusion_v1-5: ready");
    const dir = r.stdout.trim();
    expect(dir).toContain(join("converted", "models--runwayml--stable-diffusion-v1-5"));
    for (const c of ["text_encoder", "unet", "vae_decoder", "vae_encoder"]) expect(existsSync(join(dir, c, "model.onnx"))).toBe(true);
    expect(hub.requests.some((q) => q.path.includes("safety_checker/model.safetensors"))).toBe(false);
    expect(await status(e, "stable_diffusion_v1-5")).toBe("ready");

    const p = await DiffusionPipeline.load(dir);
    const req = { prompt: "a dog", uncondPrompt: "", width: 64, height: 64, steps: 2, guidanceScale: 5, numSamples: 2, seed: 7n };
    const { images } = await p.generate(req);
    expect(images).toHaveLength(2);
    const again = (await p.generate(req)).images;
    expect(Buffer.from(images[1]!.rgb).equals(Buffer.from(again[1]!.rgb))).toBe(true);

    // A second pull finds the converted folder and does not convert again.
    const second = await cli(["models", "pull", "stable_diffusion_v1-5", "--dtype", "f32"], e);
    expect(second.code).toBe(0);
    expect(second.stdout.trim()).toBe(dir);
    expect(second.stderr).not.toContain("converting");
  });

  test("--dtype q4 is refused before any weights are fetched (pipelines convert to f32 or f16)", async () => {
    const before = hub.requests.length;
    const r = await cli(["models", "pull", "stable_diffusion_v1-5", "--dtype", "q4"], env(join(tmp, "home-3")));
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n").filter((l) => l.startsWith("error:"))).toEqual(["error: runwayml/stable-diffusion-v1-5 is a diffusers pipeline, which converts to f32 or f16, not q4"]);
    expect(hub.requests.slice(before).some((q) => q.path.endsWith(".safetensors"))).toBe(false);
  });

  test("a repo whose UNet cannot be converted is refused before any weights are fetched: exit 2, one line", async () => {
    const e = env(join(tmp, "home-2"));
    const before = hub.requests.length;
    const r = await cli(["models", "pull", "test-org/bad-sd"], e);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n").filter((l) => l.startsWith("error:"))).toEqual([
      'error: test-org/bad-sd cannot be converted: unet/config.json: "time_embedding_type" "fourier" is not supported by the converter (supported: positional)',
    ]);
    expect(hub.requests.slice(before).some((q) => q.path.endsWith(".safetensors"))).toBe(false);
  });
});
