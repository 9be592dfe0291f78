/**
 * The model commands as an operator runs them — `models list`, `models pull`, `generate --model
 * <repo>`, `run` with auto-pull and flush_storage — in child processes against the local hub
 * (test/support/hub-server) through HF_ENDPOINT.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { startHubServer, type HubServer } from "../support/hub-server/index.ts";
import { filesFromDir, makeRepo, sha256Hex } from "../support/hub-server/repo.ts";
import { tinyOnnxModelDir } from "../support/hub-server/tiny-model.ts";
import { freePort } from "../node/harness.ts";
import { writeHfCheckpoint, type Config } from "../support/hf-checkpoints.ts";
import { writeMambaSsmRepo } from "../support/mamba-checkpoint.ts";
import { CLI_MAIN, type Env, hubEnv, runCli } from "../support/hub-cli.ts";

const TINY_LLAMA: Config = {
  architectures: ["LlamaForCausalLM"], model_type: "llama", hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 270, max_position_embeddings: 64, rms_norm_eps: 1e-5,
  tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 2,
};

const TOKEN = "hf_cli_test_secret_token";
const tmp = mkdtempSync(join(tmpdir(), "atoma-hub-cli-"));
let hub: HubServer;
let model: string;

beforeAll(async () => {
  model = await tinyOnnxModelDir();
  const files = filesFromDir(model);
  // A seed row's repo, served here as a tiny random checkpoint in its Hugging Face layout.
  const st = join(tmp, "tinyllama-st");
  writeHfCheckpoint(st, TINY_LLAMA, { dtype: "BF16", seed: 7 });
  writeFileSync(join(st, "README.md"), "tiny\n");
  // The Mamba seed rows' repo at the row's revision as the original mamba_ssm checkpoint (no
  // tokenizer), and the GPT-NeoX tokenizer repo the rows name for it.
  const mamba = join(tmp, "mamba-st"), neox = join(tmp, "neox-tok");
  writeMambaSsmRepo(mamba, neox, 5);
  hub = startHubServer({
    repos: [makeRepo("test-org/tiny-onnx", files), makeRepo("test-org/gated-onnx", files, { gated: true }), makeRepo("TinyLlama/TinyLlama-1.1B-Chat-v1.0", filesFromDir(st)), makeRepo("state-spaces/mamba-130m", filesFromDir(mamba), { refs: ["refs/pr/1"] }), makeRepo("EleutherAI/gpt-neox-20b", filesFromDir(neox))],
    tokens: { [TOKEN]: ["test-org/gated-onnx"] },
  });
});
afterAll(async () => {
  await hub.stop();
  rmSync(tmp, { recursive: true, force: true });
});

let n = 0;
/** An environment with its own empty HF_HOME and the local hub as HF_ENDPOINT. */
const env = (extra: Env = {}) => hubEnv(join(tmp, `home-${n++}`), hub.url, "info", extra);

const cli = (args: string[], e: Env) => runCli(args, e, tmp);

describe("models list", () => {
  test("--json: every seed row once, each with a status that is ready, pullable or unsupported: <reason>", async () => {
    const cache = join(tmp, "list-cache");
    // An operator-made transformers.js folder for one row makes that row ready.
    mkdirSync(cache, { recursive: true });
    cpSync(model, join(cache, "llama_v2"), { recursive: true });
    const r = await cli(["models", "list", "--json", "--cache-dir", cache], env());
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.stdout) as { model_type: string; status: string; cached: boolean; architecture: string; source: string; precisions: string[] }[];
    expect(rows.length).toBe(62);
    for (const row of rows) {
      expect(row.status).toMatch(/^(ready|pullable|unsupported: .+)$/);
      expect(row.architecture).toBeTruthy();
      expect(row.precisions.length).toBeGreaterThan(0);
    }
    expect(rows.find((x) => x.model_type === "llama_v2")).toMatchObject({ status: "ready", cached: true });
    expect(rows.find((x) => x.model_type === "llama3_8b")).toMatchObject({ status: "pullable", cached: false, source: "safetensors" });
    expect(rows.filter((x) => x.architecture === "mamba").map((x) => x.status)).toEqual(["pullable", "pullable", "pullable", "pullable", "pullable"]);
    expect(rows.filter((x) => x.source === "diffusers").map((x) => x.status)).toEqual(["pullable", "pullable", "pullable", "pullable"]);
    expect(rows.find((x) => x.model_type === "quantized_7b-code")!.status).toBe("pullable");
  });

  test("the table has the six columns", async () => {
    const r = await cli(["models", "list"], env());
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n")[0]!.split(/\s+/)).toEqual(["MODEL_TYPE", "ARCHITECTURE", "SOURCE", "PRECISIONS", "CACHED", "STATUS"]);
    expect(r.stdout.trim().split("\n").length).toBe(63);
  });
});

describe("models pull", () => {
  test("pulls into HF_HOME/hub by default; stdout is the snapshot folder; progress lines in a log", async () => {
    const e = env();
    const r = await cli(["models", "pull", "test-org/tiny-onnx"], e);
    expect(r.code).toBe(0);
    const dir = r.stdout.trim();
    expect(dir).toStartWith(join(e.HF_HOME!, "hub", "models--test-org--tiny-onnx", "snapshots"));
    expect(existsSync(join(dir, "onnx", "model.onnx"))).toBe(true);
    expect(r.stderr).toContain("pulling test-org/tiny-onnx");
    expect(r.stderr).toContain("onnx/model.onnx done");
  });

  test("gated: exit 2 with one line naming the model page and the token setting; HF_TOKEN then works and is never printed", async () => {
    const denied = await cli(["models", "pull", "test-org/gated-onnx"], env());
    expect(denied.code).toBe(2);
    expect(denied.stderr.trim().split("\n").length).toBe(1);
    expect(denied.stderr).toContain(`${hub.url}/test-org/gated-onnx`);
    expect(denied.stderr).toContain("api_key or HF_TOKEN");
    const ok = await cli(["models", "pull", "test-org/gated-onnx"], env({ HF_TOKEN: TOKEN }));
    expect(ok.code).toBe(0);
    expect(ok.stderr + ok.stdout).not.toContain(TOKEN);
  });

  test("the token file under HF_HOME is used when api_key and HF_TOKEN are absent", async () => {
    const e = env();
    mkdirSync(e.HF_HOME!, { recursive: true });
    writeFileSync(join(e.HF_HOME!, "token"), `${TOKEN}\n`);
    const r = await cli(["models", "pull", "test-org/gated-onnx"], e);
    expect(r.code).toBe(0);
  });

  test("api_key from --config wins and cache_dir comes from the config", async () => {
    const cache = join(tmp, "cfg-cache");
    const file = join(tmp, "pull.toml");
    writeFileSync(file, `[inference]\napi_key = "${TOKEN}"\ncache_dir = "${cache}"\njrpc_port = 3000\nmodels = []\n`);
    const r = await cli(["models", "pull", "test-org/gated-onnx", "--config", file], env({ HF_TOKEN: "hf_wrong_token" }));
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toStartWith(join(cache, "models--test-org--gated-onnx"));
  });

  test("two `models pull` processes on one cache at once: both succeed, identical files", async () => {
    const e = env();
    const [a, b] = await Promise.all([cli(["models", "pull", "test-org/tiny-onnx"], e), cli(["models", "pull", "test-org/tiny-onnx"], e)]);
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(a.stdout).toBe(b.stdout);
    const dir = a.stdout.trim();
    for (const f of hub.repos.get("test-org/tiny-onnx")!.files.values()) {
      expect(sha256Hex(new Uint8Array(readFileSync(join(dir, f.path))))).toBe(sha256Hex(f.bytes));
    }
    expect(readdirSync(join(e.HF_HOME!, "hub", "models--test-org--tiny-onnx", "blobs")).every((x) => !x.endsWith(".incomplete"))).toBe(true);
  });

  test("404 and a bad spec: exit 2, one line", async () => {
    const r = await cli(["models", "pull", "test-org/tiny-onnx@nope"], env());
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`error: revision "nope" not found in test-org/tiny-onnx at ${hub.url}`);
    const bad = await cli(["models", "pull", "not a repo"], env());
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("neither a seed model_type");
  });
});

describe("generate --model org/name and run with auto_pull", () => {
  test("generate pulls the repo on first use, then runs", async () => {
    const e = env();
    const r = await cli(["generate", "--model", "test-org/tiny-onnx", "--prompt", "hello", "--max-tokens", "4", "--json"], e);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).output_tokens).toBeGreaterThan(0);
    expect(existsSync(join(e.HF_HOME!, "hub", "models--test-org--tiny-onnx"))).toBe(true);
  }, 60_000);

  test("run pulls a configured missing model (progress in the log), serves generate; flush_storage removes only what it downloaded", async () => {
    const port = await freePort();
    const cache = join(tmp, "run-cache");
    // Something in cache_dir the node did not download: an operator folder and another tool's repo.
    mkdirSync(join(cache, "operator-folder"), { recursive: true });
    writeFileSync(join(cache, "operator-folder", "keep.txt"), "mine");
    mkdirSync(join(cache, "models--other--tool", "blobs"), { recursive: true });
    writeFileSync(join(cache, "models--other--tool", "blobs", "abc"), "theirs");
    const file = join(tmp, "run.toml");
    writeFileSync(
      file,
      `[inference]\ncache_dir = "${cache}"\nflush_storage = true\njrpc_port = ${port}\n\n[[inference.models]]\nmodel_id = "test-org/tiny-onnx"\ndtype = "f32"\n\n[node]\ndata_dir = "${join(tmp, "run-state")}"\n`,
    );
    const proc = Bun.spawn([process.execPath, CLI_MAIN, "run", "--config", file], { cwd: tmp, env: env(), stdout: "pipe", stderr: "pipe" });
    try {
      const url = `http://127.0.0.1:${port}`;
      const deadline = Date.now() + 60_000;
      while (!(await fetch(`${url}/health`).then((x) => x.ok).catch(() => false))) {
        if (Date.now() > deadline || proc.exitCode !== null) throw new Error(await new Response(proc.stderr).text());
        await Bun.sleep(50);
      }
      expect(readdirSync(join(cache, "models--test-org--tiny-onnx", "snapshots")).length).toBe(1);
      const res = (await (await fetch(url, { method: "POST", body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "generate", params: { model: "test-org/tiny-onnx", prompt: "hi", max_tokens: 4 } }) })).json()) as any;
      expect(res.result.output_tokens).toBeGreaterThan(0);
      proc.kill("SIGINT");
      expect(await proc.exited).toBe(0);
      const log = await new Response(proc.stderr).text();
      expect(log).toContain("pulling test-org/tiny-onnx");
      expect(log).toContain("flush_storage: removed");
      expect(existsSync(join(cache, "models--test-org--tiny-onnx"))).toBe(false);
      expect(existsSync(join(cache, ".locks", "models--test-org--tiny-onnx"))).toBe(false);
      expect(existsSync(join(cache, "operator-folder", "keep.txt"))).toBe(true);
      expect(existsSync(join(cache, "models--other--tool", "blobs", "abc"))).toBe(true);
    } finally {
      if (proc.exitCode === null) proc.kill("SIGKILL");
    }
  }, 90_000);

  test("a seed model_type whose repo is safetensors: pulled, handed to the converter, then generate runs; models list says ready", async () => {
    const e = env();
    const g = await cli(["generate", "--model", "llama_tiny_llama_1_1b_chat", "--prompt", "hi", "--max-tokens", "4", "--dtype", "f32", "--json"], e);
    expect(g.stderr).toContain("converting");
    expect(g.code).toBe(0);
    expect(JSON.parse(g.stdout).output_tokens).toBeGreaterThan(0);
    const list = JSON.parse((await cli(["models", "list", "--json"], e)).stdout) as { model_type: string; status: string; cached: boolean }[];
    expect(list.find((x) => x.model_type === "llama_tiny_llama_1_1b_chat")).toMatchObject({ status: "ready", cached: true });
    // models pull of the same row afterwards prints that converted folder and converts nothing.
    const p = await cli(["models", "pull", "llama_tiny_llama_1_1b_chat"], e);
    expect(p.code).toBe(0);
    expect(p.stderr).not.toContain("converting");
    expect(p.stdout.trim()).toEndWith("/fp32");
  }, 90_000);

  test("pull then generate, neither naming a dtype: one conversion (f32 on CPU); generate converts nothing again", async () => {
    const e = env();
    const p = await cli(["models", "pull", "llama_tiny_llama_1_1b_chat"], e);
    expect(p.code).toBe(0);
    expect(p.stderr.match(/converting /g)?.length).toBe(1);
    const out = p.stdout.trim();
    expect(out).toEndWith("/fp32");
    const graph = join(out, "onnx", "model.onnx");
    const mtime = statSync(graph).mtimeMs;
    const g = await cli(["generate", "--model", "llama_tiny_llama_1_1b_chat", "--prompt", "hi", "--max-tokens", "4", "--json"], e);
    expect(g.code).toBe(0);
    expect(JSON.parse(g.stdout).output_tokens).toBeGreaterThan(0);
    expect(g.stderr).not.toContain("convert");
    // The commit's converted folder still holds the one variant, untouched.
    expect(readdirSync(dirname(out))).toEqual(["fp32"]);
    expect(statSync(graph).mtimeMs).toBe(mtime);
    // A GPU operator's pull converts to f16, the GPU default generate/run would load there.
    const gpu = await cli(["models", "pull", "llama_tiny_llama_1_1b_chat", "--device", "webgpu"], e);
    expect(gpu.code).toBe(0);
    expect(gpu.stdout.trim()).toEndWith("/fp16");
    expect(existsSync(join(gpu.stdout.trim(), "onnx", "model_fp16.onnx"))).toBe(true);
    const bad = await cli(["models", "pull", "llama_tiny_llama_1_1b_chat", "--device", "rocm"], e);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe(`error: --device "rocm": expected one of cpu, webgpu, cuda, wasm`);
  }, 90_000);

  test("pull --config converts a configured model to the entry's dtype; generate --config then converts nothing", async () => {
    const cache = join(tmp, "cfg-dtype-cache");
    const file = join(tmp, "cfg-dtype.toml");
    writeFileSync(file, `[inference]\ncache_dir = "${cache}"\njrpc_port = 3000\n\n[[inference.models]]\nmodel_id = "llama_tiny_llama_1_1b_chat"\ndtype = "q4"\n`);
    const e = env();
    const p = await cli(["models", "pull", "llama_tiny_llama_1_1b_chat", "--config", file], e);
    expect(p.code).toBe(0);
    expect(p.stdout.trim()).toEndWith("/q4");
    const g = await cli(["generate", "--model", "llama_tiny_llama_1_1b_chat", "--config", file, "--prompt", "hi", "--max-tokens", "4", "--json"], e);
    expect(g.code).toBe(0);
    expect(g.stderr).not.toContain("convert");
    expect(readdirSync(dirname(p.stdout.trim()))).toEqual(["q4"]);
  }, 90_000);

  test("a Mamba seed row: the mamba_ssm checkpoint at its revision and the GPT-NeoX tokenizer repo pulled, converted, then generate runs it through the recurrent engine", async () => {
    const e = env();
    const p = await cli(["models", "pull", "mamba_130m", "--dtype", "f32"], e);
    expect(p.stderr).toContain("converting");
    expect(p.code).toBe(0);
    expect(JSON.parse(readFileSync(join(p.stdout.trim(), "config.json"), "utf8")).model_type).toBe("mamba");
    const g = await cli(["generate", "--model", "mamba_130m", "--prompt", "hi", "--max-tokens", "6", "--dtype", "f32", "--json"], e);
    expect(g.code).toBe(0);
    expect(JSON.parse(g.stdout).output_tokens).toBeGreaterThan(0);
    const list = JSON.parse((await cli(["models", "list", "--json"], e)).stdout) as { model_type: string; status: string; cached: boolean }[];
    expect(list.find((x) => x.model_type === "mamba_130m")).toMatchObject({ status: "ready", cached: true });
    // generate alone (auto-pull, as run does) fetches both repos itself.
    const fresh = await cli(["generate", "--model", "mamba_130m", "--prompt", "hi", "--max-tokens", "6", "--dtype", "q4", "--json"], env());
    expect(fresh.stderr).toContain("converting");
    expect(fresh.code).toBe(0);
    expect(JSON.parse(fresh.stdout).output_tokens).toBeGreaterThan(0);
  }, 90_000);

  test("SIGINT while run is pulling: exit 0, the partial file kept; the next start resumes it", async () => {
    const cache = join(tmp, "stall-cache");
    const file = join(tmp, "stall.toml");
    writeFileSync(file, `[inference]\ncache_dir = "${cache}"\njrpc_port = ${await freePort()}\n\n[[inference.models]]\nmodel_id = "test-org/tiny-onnx"\ndtype = "f32"\n\n[node]\ndata_dir = "${join(tmp, "stall-state")}"\n`);
    const onnx = hub.repos.get("test-org/tiny-onnx")!.files.get("onnx/model.onnx")!;
    hub.stallAfter.set("onnx/model.onnx", 5000);
    const partial = join(cache, "models--test-org--tiny-onnx", "blobs", `${onnx.lfs!.oid}.incomplete`);
    const proc = Bun.spawn([process.execPath, CLI_MAIN, "run", "--config", file], { cwd: tmp, env: env(), stdout: "pipe", stderr: "pipe" });
    try {
      const deadline = Date.now() + 30_000;
      while (!(existsSync(partial) && readFileSync(partial).byteLength === 5000)) {
        if (Date.now() > deadline || proc.exitCode !== null) throw new Error(await new Response(proc.stderr).text());
        await Bun.sleep(50);
      }
      proc.kill("SIGINT");
      expect(await proc.exited).toBe(0);
      expect(await new Response(proc.stderr).text()).toContain("stopped during start-up");
      expect(readFileSync(partial).byteLength).toBe(5000);
    } finally {
      hub.stallAfter.delete("onnx/model.onnx");
      if (proc.exitCode === null) proc.kill("SIGKILL");
    }
    const before = hub.requests.length;
    const r = await cli(["models", "pull", "test-org/tiny-onnx", "--config", file], env());
    expect(r.code).toBe(0);
    expect(hub.requests.slice(before).some((q) => q.range === "bytes=5000-")).toBe(true);
  }, 60_000);

  test("auto_pull = false: exit 2 with one line that says how to pull", async () => {
    const file = join(tmp, "nopull.toml");
    writeFileSync(file, `[inference]\ncache_dir = "${join(tmp, "nopull-cache")}"\nauto_pull = false\njrpc_port = ${await freePort()}\n\n[[inference.models]]\nmodel_id = "test-org/tiny-onnx"\ndtype = "f32"\n\n[node]\ndata_dir = "${join(tmp, "nopull-state")}"\n`);
    const r = await cli(["run", "--config", file], env());
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n").at(-1)).toContain("atoma-node models pull test-org/tiny-onnx");
  });
});

test("hub unreachable: models pull exits 1 (a runtime failure) with one line naming the endpoint", async () => {
  const down = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  const endpoint = `http://127.0.0.1:${down.port}`;
  await down.stop(true);
  const r = await cli(["models", "pull", "test-org/tiny-onnx"], env({ HF_ENDPOINT: endpoint }));
  expect(r.code).toBe(1);
  expect(r.stderr.trim().split("\n")).toEqual([expect.stringContaining(`cannot reach the Hugging Face hub at ${endpoint}`)]);
});

describe("doctor's model check for hub models", () => {
  test("pullable says so (the hub is asked); gated without a token fails naming the page; after a pull it loads", async () => {
    const cache = join(tmp, "doctor-cache");
    const file = join(tmp, "doctor.toml");
    writeFileSync(file, `[inference]\ncache_dir = "${cache}"\njrpc_port = 3000\nmodels = [[0, "f32", "test-org/tiny-onnx", false]]\n`);
    const e = env();
    const before = await cli(["doctor", "--json", "--config", file], e);
    expect(before.code).toBe(0);
    const check = (r: { stdout: string }) => (JSON.parse(r.stdout).checks as { name: string; ok: boolean; detail: string }[])[0]!;
    expect(check(before)).toMatchObject({ name: "model test-org/tiny-onnx", ok: true });
    expect(check(before).detail).toStartWith(`pullable: not in ${cache}; run pulls test-org/tiny-onnx`);
    expect(check(before).detail).toContain(`${hub.url} has it (commit `);

    const gatedFile = join(tmp, "doctor-gated.toml");
    writeFileSync(gatedFile, `[inference]\ncache_dir = "${cache}"\njrpc_port = 3000\nmodels = [[0, "f32", "test-org/gated-onnx", false]]\n`);
    const gated = await cli(["doctor", "--json", "--config", gatedFile], e);
    expect(gated.code).toBe(1);
    expect(check(gated).ok).toBe(false);
    expect(check(gated).detail).toContain(`${hub.url}/test-org/gated-onnx`);

    expect((await cli(["models", "pull", "test-org/tiny-onnx", "--config", file], e)).code).toBe(0);
    const after = await cli(["doctor", "--json", "--config", file], e);
    expect(check(after)).toMatchObject({ ok: true, detail: expect.stringContaining("loads: llama") });
  }, 60_000);
});
