/**
 * The CLI as an operator uses it: `bun src/cli/main.ts …` in a child process, checking exit codes,
 * stdout/stderr separation and messages.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };

const ROOT = join(import.meta.dir, "..", "..");
const MAIN = join(ROOT, "src", "cli", "main.ts");
const tmp = mkdtempSync(join(tmpdir(), "atoma-cli-test-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const baseEnv = { ...process.env, ATOMA_LOG: "info", RUST_LOG: "" };

async function cli(args: string[], env: Record<string, string | undefined> = baseEnv) {
  const p = Bun.spawn([process.execPath, MAIN, ...args], { cwd: tmp, env, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { stdout, stderr, code };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

describe("version", () => {
  test("--version and `version` print the package version on stdout", async () => {
    for (const args of [["--version"], ["version"]]) {
      const r = await cli(args);
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toBe(pkg.version);
    }
  });
});

describe("init", () => {
  test("writes the five example files, refuses to overwrite, --force overwrites", async () => {
    const dir = join(tmp, "init-here");
    const first = await cli(["init", dir]);
    expect(first.code).toBe(0);
    const names = ["atoma-node.toml", "local.toml", "model-config.toml", "sui-subscriber.toml", "atoma-sui-client.toml"];
    for (const n of names) {
      expect(existsSync(join(dir, n))).toBe(true);
      expect(readFileSync(join(dir, n), "utf8")).toBe(readFileSync(join(ROOT, "config", n), "utf8"));
    }
    expect(first.stdout.trim().split("\n")).toEqual(names.map((n) => join(dir, n)));

    writeFileSync(join(dir, "local.toml"), "# mine\n");
    const again = await cli(["init", dir]);
    expect(again.code).toBe(2);
    expect(again.stderr.trim().split("\n")).toHaveLength(1);
    expect(again.stderr).toContain("already exists, expected --force to overwrite");
    expect(readFileSync(join(dir, "local.toml"), "utf8")).toBe("# mine\n");

    const forced = await cli(["init", dir, "--force"]);
    expect(forced.code).toBe(0);
    expect(readFileSync(join(dir, "local.toml"), "utf8")).toBe(readFileSync(join(ROOT, "config", "local.toml"), "utf8"));
  });

  test("the written files validate (doctor --config)", async () => {
    const dir = join(tmp, "init-validate");
    expect((await cli(["init", dir])).code).toBe(0);
    // No network in tests: the example's testnet URL is pointed at a closed local port.
    const closed = `http://127.0.0.1:${await freePort()}`;
    const r = await cli(["doctor", "--json", "--config", join(dir, "atoma-node.toml")], { ...baseEnv, ATOMA_EVENT_SUBSCRIBER__HTTP_URL: closed, HOME: tmp, ATOMA_SUI_PRIVATE_KEY: "" });
    const report = JSON.parse(r.stdout);
    expect(report.config).toMatchObject({ valid: true, mode: "chain" });
    // Valid, but its placeholders are not a deployment: what run needs is missing, exit 1.
    expect(r.code).toBe(1);
    expect(report.ok).toBe(false);
    expect(report.checks.find((c: { name: string }) => c.name === "full node").detail).toStartWith(`${closed} unreachable`);
  }, 60_000);
});

describe("run: configuration errors", () => {
  test("bad value: exit 2, one line on stderr, no stack trace, nothing on stdout", async () => {
    const file = join(tmp, "bad-port.toml");
    writeFileSync(file, `[inference]\ncache_dir = "c"\njrpc_port = 99999\nmodels = []\n`);
    const r = await cli(["run", "--config", file]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(`${file}: inference.jrpc_port: 99999 is out of range, expected a port number 1..65535\n`);
  });

  test("syntax error names the line", async () => {
    const file = join(tmp, "syntax.toml");
    writeFileSync(file, `[inference]\ncache_dir = "c"\njrpc_port = [1,\n`);
    const r = await cli(["run", "--config-path", file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^${file.replace(/[.]/g, "\\.")}: line \\d+, column \\d+: syntax error: .*, expected valid TOML\\n$`));
  });

  test("seed flags: missing file and missing partner flag", async () => {
    const missing = await cli(["run", "--model-config-path", join(tmp, "none.toml")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`${join(tmp, "none.toml")}: file: no such file, expected a readable TOML file\n`);
    const model = join(tmp, "model.toml");
    writeFileSync(model, `cache_dir = "c"\njrpc_port = 3000\nmodels = []\n`);
    const partner = await cli(["run", "--model-config-path", model, "--sui-subscriber-path", model]);
    expect(partner.code).toBe(2);
    expect(partner.stderr).toStartWith("command line: --atoma-sui-client-config-path: missing while event_subscriber is configured");
  });

  test("an environment override with a bad value names the variable", async () => {
    const file = join(tmp, "ok.toml");
    writeFileSync(file, `[inference]\ncache_dir = "c"\njrpc_port = 3000\nmodels = []\n`);
    const r = await cli(["run", "--config", file], { ...baseEnv, ATOMA_INFERENCE__JRPC_PORT: "-5" });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("environment: ATOMA_INFERENCE__JRPC_PORT: negative number -5, expected a port number 1..65535\n");
  });
});

describe("run: start-up input errors", () => {
  test("a model directory that is not there: exit 2, one line naming the model", async () => {
    const file = join(tmp, "missing-model.toml");
    const dir = join(tmp, "no-such-model");
    writeFileSync(file, `[inference]\ncache_dir = "c"\njrpc_port = ${await freePort()}\n[[inference.models]]\nmodel_id = "mine"\ndtype = "f32"\npath = "${dir}"\n`);
    const r = await cli(["run", "--config", file]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    // Start-up logs come first; the error is the last line, with no stack trace.
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.stderr.trim().split("\n").at(-1)).toStartWith(`model mine (${dir}): `);
  });

  test("a Sui client.yaml that is not there: exit 2, one line naming the file", async () => {
    const file = join(tmp, "missing-keys.toml");
    const yaml = join(tmp, "no-client.yaml");
    const id = (n: string) => "0x" + n.padStart(64, "0");
    writeFileSync(
      file,
      `[inference]\ncache_dir = "c"\njrpc_port = ${await freePort()}\nmodels = []\n` +
        `[event_subscriber]\nhttp_url = "http://127.0.0.1:9"\npackage_id = "${id("a")}"\nsmall_id = 1\n` +
        `[client]\nconfig_path = "${yaml}"\nnode_badge_id = "${id("b")}"\nsmall_id = 1\npackage_id = "${id("a")}"\natoma_db_id = "${id("d")}"\n` +
        `[node]\ndata_dir = "${join(tmp, "state-missing-keys")}"\n`,
    );
    const r = await cli(["run", "--config", file], { ...baseEnv, ATOMA_SUI_PRIVATE_KEY: undefined });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.stderr.trim().split("\n").at(-1)).toContain(yaml);
  });
});

describe("run: local mode starts, logs its config without secrets, stops on signals", () => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    test(`stops cleanly on ${signal} with exit 0`, async () => {
      const port = await freePort();
      const file = join(tmp, `local-${signal}.toml`);
      const secret = "hf_do_not_print_this_value";
      writeFileSync(
        file,
        `[inference]\napi_key = "${secret}"\ncache_dir = "${join(tmp, "cache")}"\njrpc_port = ${port}\nmodels = []\n\n[node]\ndata_dir = "${join(tmp, `state-${signal}`)}"\nshutdown_timeout_ms = 5000\n`,
      );
      const p = Bun.spawn([process.execPath, MAIN, "run", "--config", file], { cwd: tmp, env: baseEnv, stdout: "pipe", stderr: "pipe" });
      const stdoutP = new Response(p.stdout).text();
      let stderr = "";
      const reader = p.stderr.getReader();
      const decoder = new TextDecoder();
      const deadline = Date.now() + 60_000;
      while (!stderr.includes("node started") && Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) break;
        stderr += decoder.decode(value);
      }
      expect(stderr).toContain("starting in local mode");
      expect(stderr).toContain("effective configuration");
      expect(stderr).toContain("node started");
      p.kill(signal);
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        stderr += decoder.decode(value);
      }
      expect(await p.exited).toBe(0);
      expect(stderr).toContain(`${signal} received`);
      expect(stderr).toContain("node stopped");
      expect(stderr).not.toContain(secret);
      expect(await stdoutP).toBe("");
    }, 90_000);
  }
});

describe("doctor", () => {
  test("--json reports runtime, platform and a working cpu backend", async () => {
    const r = await cli(["doctor", "--json"]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.version).toBe(pkg.version);
    expect(report.runtime).toMatchObject({ name: "bun", version: Bun.version, compiledBinary: false });
    expect(report.os.arch).toBe(process.arch);
    expect(report.cpus.count).toBeGreaterThan(0);
    expect(report.backends.map((b: { device: string }) => b.device)).toEqual(["cpu", "webgpu", "cuda", "wasm"]);
    // Neither GPU path exists on the build machine; each says why and what would fix it.
    const cuda = report.backends.find((b: { device: string }) => b.device === "cuda");
    expect(cuda.available).toBe(false);
    expect(cuda.reason).toContain("ONNXRUNTIME_NODE_INSTALL_CUDA=v12");
    const webgpu = report.backends.find((b: { device: string }) => b.device === "webgpu");
    expect(webgpu.available).toBe(false);
    expect(webgpu.reason).toMatch(/Vulkan|adapter/);
    expect(report.backends.find((b: { device: string }) => b.device === "cpu")).toEqual({ device: "cpu", available: true });
    expect(Array.isArray(report.gpuAdapters)).toBe(true);
    expect(report.config).toBeUndefined();
  }, 60_000);

  test("human output, and an invalid config gives exit 2 with the config line", async () => {
    const file = join(tmp, "doctor-bad.toml");
    writeFileSync(file, `[inference]\ncache_dir = "c"\njrpc_port = 3000\nmodels = [[0, "f32", "nope", false]]\n`);
    const r = await cli(["doctor", "--config", file]);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/^runtime\s+Bun /m);
    expect(r.stdout).toMatch(/^backends\s+cpu/m);
    expect(r.stdout).toContain(`INVALID: ${file}: inference.models[0][2]: unknown model_type "nope"`);
  }, 60_000);
});
