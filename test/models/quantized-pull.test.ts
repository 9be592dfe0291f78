/**
 * The quantized_* seed rows end to end against the local hub (test/support/hub-server): every such
 * row is `pullable` in `models list`; `models pull quantized_7b-code` fetches the GGUF file and the
 * tokenizer repo and imports both (then the row is `ready`); `generate --model quantized_7b` pulls
 * the GGML ggjt file and its tokenizer on first use, imports and generates. The served files are
 * small random-weight models written by the tests with Llama-2's vocabulary (test/fixtures).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
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
import { ROOT } from "../node/harness.ts";

const MAIN = join(ROOT, "src", "cli", "main.ts");
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
function env(): Record<string, string | undefined> {
  const e: Record<string, string | undefined> = { ...process.env, HF_HOME: join(tmp, `home-${n++}`), HF_ENDPOINT: hub.url, ATOMA_LOG: "warn" };
  for (const k of ["HF_TOKEN", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_TOKEN_PATH"]) delete e[k];
  return e;
}

async function cli(args: string[], e: Record<string, string | undefined>) {
  const p = Bun.spawn([process.execPath, MAIN, ...args], { cwd: tmp, env: e, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { stdout, stderr, code };
}

const status = async (e: Record<string, string | undefined>) =>
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

  test("generate --model quantized_7b pulls the GGML file and its tokenizer on first use, imports (exact Q4_0 → q4) and generates", async () => {
    const e = env();
    const g = await cli(["generate", "--model", "quantized_7b", "--dtype", "q4", "--prompt", "Once upon a time", "--max-tokens", "5", "--json"], e);
    expect(g.stderr).not.toMatch(/error/);
    expect(g.code).toBe(0);
    expect(JSON.parse(g.stdout)).toMatchObject({ input_tokens: 5, output_tokens: 5 });
    expect((await status(e)).quantized_7b).toBe("ready");
  });
});
