/**
 * The quantized_* seed rows end to end against the local hub (test/support/hub-server): every such
 * row is `pullable` in `models list`; `models pull quantized_7b-code` fetches the GGUF file and the
 * tokenizer repo and imports both (then the row is `ready`); `generate --model quantized_7b` pulls
 * the GGML ggjt file and its tokenizer on first use, imports and generates. The served files are
 * small random-weight models written by the tests with Llama-2's vocabulary (test/fixtures).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { gguf } from "@huggingface/gguf";
import { startHubServer, type HubServer } from "../support/hub-server/index.ts";
import { hubFile, makeRepo } from "../support/hub-server/repo.ts";
import { writeLlamaGgjt } from "../support/ggml-writer.ts";
import { writeLlamaGguf } from "../support/gguf-llama.ts";
import type { MetaValue } from "../support/gguf-writer.ts";
import { randomLlama } from "../support/random-llama.ts";
import { freePort, ROOT } from "../node/harness.ts";
import { CLI_MAIN, type Env, hubEnv, runCli } from "../support/hub-cli.ts";

const FIX = join(ROOT, "test", "fixtures");
const tmp = mkdtempSync(join(tmpdir(), "atoma-quantized-pull-"));
let hub: HubServer;

beforeAll(async () => {
  // Llama-2's vocabulary, as GGUF metadata (from the tiny GGUF) and as a tokenizer repo.
  const tiny = await gguf(join(FIX, "llama-2-tiny-random.gguf"), { allowLocalFile: true });
  const m = tiny.metadata as unknown as Record<string, unknown>;
  const tokMeta: Record<string, MetaValue> = {
    "tokenizer.ggml.model": { t: "str", v: "llama" },
    "tokenizer.ggml.tokens": { t: "arr", of: "str", v: m["tokenizer.ggml.tokens"] as string[] },
    "tokenizer.ggml.scores": { t: "arr", of: "f32", v: m["tokenizer.ggml.scores"] as number[] },
    "tokenizer.ggml.token_type": { t: "arr", of: "i32", v: m["tokenizer.ggml.token_type"] as number[] },
    "tokenizer.ggml.unknown_token_id": { t: "u32", v: 0 },
  };
  const tokenizerJson = gunzipSync(readFileSync(join(FIX, "llama-2-tokenizer", "tokenizer.json.gz")));
  const tokenizerRepo = makeRepo("hf-internal-testing/llama-tokenizer", [
    hubFile("tokenizer.json", new Uint8Array(tokenizerJson)),
    hubFile("tokenizer_config.json", new Uint8Array(readFileSync(join(FIX, "llama-2-tokenizer", "tokenizer_config.json")))),
  ]);
  const shape = { hiddenSize: 32, intermediateSize: 64, numLayers: 1, numHeads: 2, numKvHeads: 2, headDim: 16, vocabSize: 32000, tied: false };
  const weights = randomLlama(shape, 4);
  const gg = join(tmp, "codellama-7b.Q8_0.gguf");
  writeLlamaGguf(gg, weights, { typeOf: () => "Q8_0", extraMetadata: tokMeta });
  const pieces: string[] = [];
  for (const [p, id] of Object.entries(JSON.parse(tokenizerJson.toString("utf8")).model.vocab as Record<string, number>)) pieces[id] = p;
  const bin = join(tmp, "llama-2-7b.ggmlv3.q4_0.bin");
  writeLlamaGgjt(bin, weights, "Q4_0", pieces);
  hub = startHubServer({
    repos: [
      tokenizerRepo,
      makeRepo("TheBloke/CodeLlama-7B-GGUF", [hubFile("codellama-7b.Q8_0.gguf", new Uint8Array(readFileSync(gg))), hubFile("README.md", new TextEncoder().encode("# test\n"))]),
      makeRepo("TheBloke/Llama-2-7B-GGML", [hubFile("llama-2-7b.ggmlv3.q4_0.bin", new Uint8Array(readFileSync(bin)))]),
    ],
  });
});
afterAll(async () => {
  await hub.stop();
  rmSync(tmp, { recursive: true, force: true });
});

let n = 0;
const env = () => hubEnv(join(tmp, `home-${n++}`), hub.url, "warn");

const cli = (args: string[], e: Env) => runCli(args, e, tmp);

const status = async (e: Env) =>
  Object.fromEntries((JSON.parse((await cli(["models", "list", "--json"], e)).stdout) as { model_type: string; status: string }[]).map((r) => [r.model_type, r.status]));

describe("quantized_* rows", () => {
  test("every quantized_* row is pullable in models list", async () => {
    const s = await status(env());
    const rows = Object.entries(s).filter(([k]) => k.startsWith("quantized_"));
    expect(rows.length).toBe(21);
    for (const [, st] of rows) expect(st).toBe("pullable");
  });

  test("models pull quantized_7b-code: fetches the GGUF file and the tokenizer repo, imports both; the row is then ready", async () => {
    const e = env();
    const r = await cli(["models", "pull", "quantized_7b-code"], e);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/pulled TheBloke\/CodeLlama-7B-GGUF/);
    expect(r.stderr).toMatch(/pulled hf-internal-testing\/llama-tokenizer/);
    expect(r.stderr).toMatch(/tokenizer .*: 31999 of 32000 pieces equal the model file's vocabulary/);
    expect(r.stderr).toMatch(/quantized_7b-code: imported codellama-7b\.Q8_0\.gguf .* \(q8\)/);
    expect(r.stderr).toMatch(/quantized_7b-code: ready/);
    const dir = r.stdout.trim();
    const g = await cli(["generate", "--model", dir, "--dtype", "q8", "--prompt", "def fib(n):", "--max-tokens", "5", "--json"], e);
    expect(g.code).toBe(0);
    expect(JSON.parse(g.stdout).output_tokens).toBe(5);
    expect((await status(e))["quantized_7b-code"]).toBe("ready");
  });

  test("dtype = \"f32\" configured for quantized_7b-code: doctor shows it ignored; run logs why once, imports and serves the file's own q8", async () => {
    const e = env();
    const cache = join(tmp, "cfg-cache"), port = await freePort();
    const file = join(tmp, "quantized-f32.toml");
    writeFileSync(file, `[inference]\ncache_dir = "${cache}"\njrpc_port = ${port}\n\n[[inference.models]]\nmodel_id = "quantized_7b-code"\ndtype = "f32"\n\n[node]\ndata_dir = "${join(tmp, "cfg-state")}"\n`);
    const why = `configured dtype "f32" ignored: quantized_7b-code is a pre-quantized checkpoint (codellama-7b.Q8_0.gguf), served at the file's own precision q8 (dtype does not apply to quantized_* rows)`;
    const d = await cli(["doctor", "--json", "--config", file], e);
    expect(JSON.parse(d.stdout).config.models[0]).toMatchObject({ id: "quantized_7b-code", dtype: "q8", dtypeIgnored: why });
    const proc = Bun.spawn([process.execPath, CLI_MAIN, "run", "--config", file], { cwd: tmp, env: { ...e, ATOMA_LOG: "info" }, stdout: "pipe", stderr: "pipe" });
    try {
      const url = `http://127.0.0.1:${port}`;
      const deadline = Date.now() + 90_000;
      while (!(await fetch(`${url}/health`).then((x) => x.ok).catch(() => false))) {
        if (Date.now() > deadline || proc.exitCode !== null) throw new Error(await new Response(proc.stderr).text());
        await Bun.sleep(50);
      }
      const res = (await (await fetch(url, { method: "POST", body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "generate", params: { model: "quantized_7b-code", prompt: "def fib(n):", max_tokens: 4 } }) })).json()) as { result: { output_tokens: number } };
      expect(res.result.output_tokens).toBe(4);
      proc.kill("SIGINT");
      expect(await proc.exited).toBe(0);
      const log = await new Response(proc.stderr).text();
      expect(log.split("\n").filter((l) => l.includes(why)).length).toBe(1);
      expect(log).toMatch(/model quantized_7b-code loaded \(llama, q8, cpu\)/);
      // Imported once, at q8: no dequantized f32 graph was written.
      const converted = join(cache, ".atoma-node", "converted", "models--TheBloke--CodeLlama-7B-GGUF");
      const [commit] = readdirSync(converted);
      expect(readdirSync(join(converted, commit!))).toEqual(["q8"]);
      expect(readdirSync(join(converted, commit!, "q8", "onnx")).filter((f) => f.endsWith(".onnx"))).toEqual(["model_quantized.onnx"]);
    } finally {
      if (proc.exitCode === null) proc.kill("SIGKILL");
    }
  }, 120_000);

  test("generate --model quantized_7b pulls the GGML file and its tokenizer on first use, imports (exact Q4_0 → q4) and generates", async () => {
    const e = env();
    const g = await cli(["generate", "--model", "quantized_7b", "--dtype", "q4", "--prompt", "Once upon a time", "--max-tokens", "5", "--json"], e);
    expect(g.stderr).not.toMatch(/error/);
    expect(g.code).toBe(0);
    expect(JSON.parse(g.stdout)).toMatchObject({ input_tokens: 5, output_tokens: 5 });
    expect((await status(e)).quantized_7b).toBe("ready");
  });
});
