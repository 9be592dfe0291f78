/**
 * The single executable: build it once, copy dist/atoma-node ALONE into an empty directory (no
 * node_modules, no repository around it) and run it there.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { build } from "../../build.ts";
import { freePort } from "../node/harness.ts";

const work = mkdtempSync(join(tmpdir(), "atoma-binary-test-"));
const isolated = join(work, "empty");
const exe = join(isolated, "atoma-node");

beforeAll(async () => {
  // Built into the temp dir so a concurrent `bun run build` in the checkout is not disturbed.
  const r = await build({ outfile: join(work, "dist", "atoma-node") });
  mkdirSync(isolated);
  copyFileSync(r.outfile, exe);
}, 300_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

async function run(args: string[]) {
  // A minimal environment: nothing that could point back at the repository.
  const env = { PATH: "/usr/bin:/bin", HOME: work, TMPDIR: work, ATOMA_LOG: "warn" };
  const p = Bun.spawn([exe, ...args], { cwd: isolated, env, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { stdout, stderr, code };
}

describe("compiled binary, alone in an empty directory", () => {
  test("--version and version", async () => {
    expect(readdirSync(isolated)).toEqual(["atoma-node"]);
    expect(existsSync(join(isolated, "node_modules"))).toBe(false);
    for (const args of [["--version"], ["version"]]) {
      const r = await run(args);
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toBe(pkg.version);
    }
  }, 60_000);

  test("doctor lists the cpu backend (embedded libonnxruntime loaded) and wasm", async () => {
    const r = await run(["doctor", "--json"]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.runtime.compiledBinary).toBe(true);
    expect(report.backends.find((b: { device: string }) => b.device === "cpu")).toEqual({ device: "cpu", available: true });
    // onnxruntime-web's wasm + glue are embedded too (no node_modules to read them from).
    expect(report.backends.find((b: { device: string }) => b.device === "wasm")).toEqual({ device: "wasm", available: true });
    const human = await run(["doctor"]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^backends\s+cpu/m);
  }, 120_000);

  test("init writes the embedded example files and they validate", async () => {
    expect((await run(["init", "cfg"])).code).toBe(0);
    const r = await run(["doctor", "--json", "--config", "cfg/local.toml"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).config).toMatchObject({ valid: true, mode: "local" });
  }, 120_000);
});

describe("compiled binary runs transformers.js on onnxruntime-node (runtime-notes §6.4)", () => {
  const repoModel = join(import.meta.dir, "..", "..", "models", "stories260K");
  test("imports a llama2.c model and generates text, isolated", async () => {
    // The model is committed: missing files fail here (never a skip).
    for (const f of ["stories260K.bin", "tok512.bin"]) expect({ f, present: existsSync(join(repoModel, f)) }).toEqual({ f, present: true });
    const imported = await run([
      "models", "import", "llama2c",
      "--weights", join(repoModel, "stories260K.bin"),
      "--tokenizer", join(repoModel, "tok512.bin"),
      "--out", "m",
    ]);
    expect(imported.code).toBe(0);
    const r = await run(["generate", "--model", "./m", "--prompt", "Once upon a time", "--max-tokens", "12", "--temperature", "0"]);
    expect(r.stderr).not.toContain("Cannot find");
    expect(r.code).toBe(0);
    // stories260K's known greedy continuation (llama2.c's run.c at temperature 0), 12 tokens.
    expect(r.stdout).toBe(", there was a little girl named Lily. She");
  }, 120_000);

  test("init + run local.toml serves the embedded stories260K over JSON-RPC, nothing else present", async () => {
    const dir = join(isolated, "out-of-the-box");
    mkdirSync(dir);
    const port = await freePort();
    const env = { PATH: "/usr/bin:/bin", HOME: work, TMPDIR: work, ATOMA_LOG: "info", ATOMA_INFERENCE__JRPC_PORT: String(port) };
    expect(Bun.spawnSync([exe, "init", "."], { cwd: dir, env }).exitCode).toBe(0);
    const p = Bun.spawn([exe, "run", "--config", "local.toml"], { cwd: dir, env, stdout: "pipe", stderr: "pipe" });
    try {
      const url = `http://127.0.0.1:${port}`;
      const deadline = Date.now() + 60_000;
      while (!(await fetch(`${url}/health`).then((r) => r.ok).catch(() => false))) {
        if (Date.now() > deadline || p.exitCode !== null) throw new Error(`node did not start: ${await new Response(p.stderr).text()}`);
        await Bun.sleep(100);
      }
      const body = { jsonrpc: "2.0", id: 1, method: "generate", params: { prompt: "Once upon a time", max_tokens: 16, temperature: 0 } };
      const res = (await (await fetch(url, { method: "POST", body: JSON.stringify(body) })).json()) as { result: { text: string; output_tokens: number } };
      expect(res.result.output_tokens).toBe(16);
      // The trained model writes a story, not noise: the same greedy text as from source.
      expect(res.result.text).toStartWith(", there was a little girl named Lily");
      p.kill("SIGINT");
      expect(await p.exited).toBe(0);
      expect(await new Response(p.stderr).text()).toContain("converted the embedded stories260K");
      expect(existsSync(join(dir, ".state", "models", "stories260k", "onnx", "model.onnx"))).toBe(true);
    } finally {
      if (p.exitCode === null) p.kill("SIGKILL");
    }
  }, 120_000);
});

describe("compiled binary pulls from a hub (@huggingface/hub bundled)", () => {
  test("models pull org/name through HF_ENDPOINT, then generate on the pulled model, isolated", async () => {
    const { startHubServer } = await import("../support/hub-server/index.ts");
    const { filesFromDir, makeRepo } = await import("../support/hub-server/repo.ts");
    const { tinyOnnxModelDir } = await import("../support/hub-server/tiny-model.ts");
    const hub = startHubServer({ repos: [makeRepo("test-org/tiny-onnx", filesFromDir(await tinyOnnxModelDir()))] });
    try {
      const env = { PATH: "/usr/bin:/bin", HOME: work, TMPDIR: work, ATOMA_LOG: "warn", HF_ENDPOINT: hub.url };
      // Asynchronous spawns: the hub answers from this process's event loop.
      const exec = async (args: string[]) => {
        const p = Bun.spawn([exe, ...args], { cwd: isolated, env, stdout: "pipe", stderr: "pipe" });
        const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
        return { stdout, stderr, code };
      };
      const pull = await exec(["models", "pull", "test-org/tiny-onnx"]);
      expect(pull.code).toBe(0);
      expect(pull.stdout.trim()).toStartWith(join(work, ".cache", "huggingface", "hub", "models--test-org--tiny-onnx", "snapshots"));
      const gen = await exec(["generate", "--model", "test-org/tiny-onnx", "--prompt", "hi", "--max-tokens", "3", "--json"]);
      expect(gen.code).toBe(0);
      expect(JSON.parse(gen.stdout).output_tokens).toBe(3);
    } finally {
      await hub.stop();
    }
  }, 120_000);
});
