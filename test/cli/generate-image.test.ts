/**
 * `atoma-node generate-image` as separate processes over the tiny test-built Stable Diffusion
 * folder: the PNG has the engine's pixels for the seed (so the CLI, the APIs and a chain job
 * agree), --json carries the commitment, progress goes to stderr as plain lines off a terminal,
 * and every bad flag is one line on stderr with exit 2.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { blake2b } from "@noble/hashes/blake2.js";
import { loadImageEngine } from "../../src/engine/image/engine.ts";
import { writeTinySd } from "../engine/image/tiny-sd.ts";

const TIMEOUT = 60000;
const MAIN = resolve(import.meta.dir, "../../src/cli/main.ts");
const EULER_A = { _class_name: "EulerAncestralDiscreteScheduler", beta_schedule: "scaled_linear", beta_start: 0.00085, beta_end: 0.012, timestep_spacing: "trailing", steps_offset: 1 };
let dir: string;
let model: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "atoma-genimg-"));
  model = join(dir, "sd");
  writeTinySd(model, EULER_A);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn([process.execPath, MAIN, "generate-image", ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, ATOMA_LOG: "warn" } });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out, err };
}

describe("atoma-node generate-image", () => {
  test("writes the engine's PNG for the seed; several samples are numbered; plain progress lines on stderr", async () => {
    const out = join(dir, "one.png");
    const many = join(dir, "many.png");
    const [a, b] = await Promise.all([
      cli("--model", model, "--prompt", "a red cat", "--negative", "dog", "--steps", "4", "--seed", "0x2a", "--width", "24", "--height", "16", "--guidance", "7.5", "--out", out),
      cli("--model", model, "--prompt", "a red cat", "--steps", "2", "--seed", "9", "--samples", "2", "--out", many),
    ]);
    expect(a.code).toBe(0);
    expect(a.out).toBe(`${out}\n`);
    expect(a.err).toContain("step 1/4 (25%)");
    expect(a.err).toContain("step 4/4 (100%)");
    expect(a.err).not.toContain("\x1b"); // not a terminal: no bar redraws
    expect(b.code).toBe(0);
    const files = [join(dir, "many-1.png"), join(dir, "many-2.png")];
    expect(b.out).toBe(files.join("\n") + "\n");
    const engine = await loadImageEngine({ id: "t", dir: model, device: "cpu" });
    try {
      const want = await engine.generate({ prompt: "a red cat", uncondPrompt: "dog", width: 24, height: 16, steps: 4, guidanceScale: 7.5, numSamples: 1, seed: 42n });
      expect(readFileSync(out).equals(Buffer.from(want.images[0]!.png))).toBe(true);
      const two = await engine.generate({ prompt: "a red cat", uncondPrompt: "", width: 16, height: 16, steps: 2, guidanceScale: 7.5, numSamples: 2, seed: 9n });
      files.forEach((f, k) => expect(readFileSync(f).equals(Buffer.from(two.images[k]!.png))).toBe(true));
    } finally {
      await engine.dispose();
    }
  }, TIMEOUT);

  test("--json: one object with files, parameters, the one-node commitment and timings; long prompts noted", async () => {
    const out = join(dir, "j.png");
    const r = await cli("--model", model, "--prompt", "cat ".repeat(90), "--steps", "3", "--seed", "5", "--out", out, "--json");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ files: [out], width: 16, height: 16, steps: 3, guidance_scale: 7.5, num_samples: 1, seed: "5", truncated_tokens: { prompt: 15, negative: 0 } });
    expect(r.err).toBe("note: --prompt: 15 CLIP tokens beyond the 77-token context were dropped\n");
    const engine = await loadImageEngine({ id: "t", dir: model, device: "cpu" });
    try {
      const px = (await engine.generate({ prompt: "cat ".repeat(90), uncondPrompt: "", width: 16, height: 16, steps: 3, guidanceScale: 7.5, numSamples: 1, seed: 5n })).images[0]!.rgb;
      const leaf = blake2b(new Uint8Array([...px, 0, 0, 0, 0, 0, 0, 0, 0]), { dkLen: 32 });
      expect(j.commitment.leaf).toBe(Buffer.from(leaf).toString("hex"));
      expect(j.commitment.root).toBe(Buffer.from(blake2b(leaf, { dkLen: 32 })).toString("hex"));
    } finally {
      await engine.dispose();
    }
    expect(j.seconds_per_step).toBeGreaterThan(0);
  }, TIMEOUT);

  test("a model from --config keeps its limits (max_image_size, max_steps)", async () => {
    const cfg = join(dir, "node.toml");
    writeFileSync(cfg, `[inference]\ncache_dir = "${dir}/cache"\njrpc_port = 3000\n[[inference.models]]\nmodel_id = "sd"\npath = "${model}"\ndtype = "f32"\nmax_image_size = 16\nmax_steps = 3\n[node]\ndata_dir = "${dir}/state"\n`);
    const out = join(dir, "cfg.png");
    const [big, many, ok] = await Promise.all([
      cli("--config", cfg, "--model", "sd", "--prompt", "a cat", "--width", "24", "--out", out),
      cli("--config", cfg, "--model", "sd", "--prompt", "a cat", "--steps", "4", "--out", out),
      cli("--config", cfg, "--model", "sd", "--prompt", "a cat", "--steps", "3", "--out", out),
    ]);
    expect(big.err).toBe("error: --width: expected an integer in 8..16 (this model's limit is 16), got 24\n");
    expect(many.err).toBe("error: --steps: expected an integer in 1..3, got 4\n");
    expect([big.code, many.code, ok.code]).toEqual([2, 2, 0]);
    expect(ok.out).toBe(`${out}\n`);
  }, TIMEOUT);

  test("bad flags and values: one line on stderr, exit 2, nothing written", async () => {
    const out = join(dir, "bad.png");
    const base = ["--model", model, "--prompt", "a cat", "--out", out];
    const cases: [string[], RegExp][] = [
      [["--width", "20"], /^error: --width: 20 is not a multiple of 8/],
      [["--height", "4096"], /^error: --height: expected an integer in 8\.\.32 \(this model's limit is 32\), got 4096/],
      [["--steps", "0"], /^error: --steps: expected an integer in 1\.\.500, got 0/],
      [["--steps", "100000"], /^error: --steps: expected an integer in 1\.\.500, got 100000/],
      [["--steps", "many"], /^error: --steps "many": expected an integer/],
      [["--guidance", "-1"], /^error: --guidance: expected a number in \[0, 100\]/],
      [["--samples", "0"], /^error: --samples: expected an integer in 1\.\.16, got 0/],
      [["--samples", "99"], /^error: --samples: expected an integer in 1\.\.16, got 99/],
      [["--seed", "-3"], /^error: --seed "-3": expected a u64/],
      [["--stpes", "3"], /unknown option --stpes \(did you mean --steps\?\)/],
    ];
    const results = await Promise.all(cases.map(([extra]) => cli(...base, ...extra)));
    results.forEach((r, i) => {
      expect(r.code).toBe(2);
      expect(r.err).toMatch(cases[i]![1]);
      expect(r.err.trim().split("\n")).toHaveLength(1);
      expect(r.out).toBe("");
    });
    const missing = await Promise.all([
      cli("--model", model, "--prompt", "x"),
      cli("--model", join(dir, "nothing"), "--prompt", "x", "--out", out),
      cli("--model", model, "--prompt", "x", "--out", join(dir, "no-such-dir", "x.png")),
    ]);
    expect(missing[0]!.err).toBe("error: missing --out <file.png>\n");
    expect(missing[2]!.err).toBe(`error: --out ${join(dir, "no-such-dir", "x.png")}: directory ${join(dir, "no-such-dir")} does not exist\n`);
    expect(missing[1]!.code).toBe(2);
    expect(missing[1]!.err.trim().split("\n")).toHaveLength(1);
    expect(existsSync(out)).toBe(false);
  }, TIMEOUT);
});
