// `atoma-node generate` as separate processes: determinism must hold across processes (and
// thread counts), stdout must carry only the text, and errors are one line with exit code 2.
import { beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ensureStories260k } from "../support/models.ts";

/** Model loads and child processes on a loaded 2-core machine: well above bun's 5 s default. */
const TIMEOUT = 60000;

const MAIN = resolve(import.meta.dir, "../../src/cli/main.ts");
let dir: string;
beforeAll(async () => {
  dir = await ensureStories260k();
}, TIMEOUT);

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  return cliIn(undefined, ...args);
}

async function cliIn(cwd: string | undefined, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn([process.execPath, MAIN, "generate", ...args], { cwd, stdout: "pipe", stderr: "pipe", env: { ...process.env, ATOMA_LOG: "warn" } });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out, err };
}

const base = () => ["--model", dir, "--prompt", "Once upon a time", "--max-tokens", "60"];

describe("atoma-node generate", () => {
  test("a relative model path (models/name, which looks like a hub id) is a directory of the working directory", async () => {
    const work = mkdtempSync(join(tmpdir(), "atoma-relmodel-"));
    try {
      mkdirSync(join(work, "models"));
      symlinkSync(dir, join(work, "models", "s"));
      const [rel, abs] = await Promise.all([
        cliIn(work, "--model", "models/s", "--prompt", "Once upon a time", "--max-tokens", "20"),
        cli("--model", dir, "--prompt", "Once upon a time", "--max-tokens", "20"),
      ]);
      expect(rel.err).toBe("");
      expect(rel.code).toBe(0);
      expect(rel.out).toBe(abs.out);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, TIMEOUT);

  test("same seed at temperature 0.8 prints identical text in separate processes (1 and 2 threads); another seed differs", async () => {
    const [a, b, c] = await Promise.all([
      cli(...base(), "--temperature", "0.8", "--seed", "42", "--threads", "1"),
      cli(...base(), "--temperature", "0.8", "--seed", "42", "--threads", "2"),
      cli(...base(), "--temperature", "0.8", "--seed", "43"),
    ]);
    for (const r of [a, b, c]) expect(r.code).toBe(0);
    expect(a.out.length).toBeGreaterThan(20);
    expect(b.out).toBe(a.out);
    expect(c.out).not.toBe(a.out);
  }, TIMEOUT);

  test("--stream prints the same bytes; --json prints one object with counts and timings", async () => {
    const args = [...base(), "--temperature", "0.7", "--top-k", "40", "--top-p", "0.9", "--repeat-penalty", "1.1", "--repeat-last-n", "32", "--seed", "0xffffffffffffffff"];
    const [plain, streamed, json] = await Promise.all([cli(...args), cli(...args, "--stream"), cli(...args, "--json")]);
    expect(streamed.out).toBe(plain.out);
    const obj = JSON.parse(json.out);
    expect(Object.keys(obj).sort()).toEqual(["finish_reason", "input_tokens", "output_tokens", "prompt_token_ids", "text", "time_to_first_token_ms", "token_ids", "tokens_per_second"]);
    expect(obj.text).toBe(plain.out);
    expect(obj.input_tokens).toBe(5);
    expect(obj.output_tokens).toBe(60);
    expect(obj.finish_reason).toBe("length");
    // Token by token: the prompt's ids are the tokenizer's (with BOS), the generated ids decode to the text.
    const { AutoTokenizer } = await import("@huggingface/transformers");
    const tok = await AutoTokenizer.from_pretrained(dir, { local_files_only: true });
    expect(obj.prompt_token_ids).toEqual(tok.encode("Once upon a time"));
    expect(obj.prompt_token_ids[0]).toBe(1);
    expect(obj.token_ids).toHaveLength(60);
    expect(tok.decode(obj.token_ids, { skip_special_tokens: true })).toBe(obj.text);
    expect(json.out.trim().split("\n").length).toBe(1);
  }, TIMEOUT);

  test("wasm (onnxruntime-web, 2 threads) gives the same text as cpu", async () => {
    const sampled = ["--temperature", "0.8", "--seed", "5"];
    const [cpu, wasm, cpuS, wasmS] = await Promise.all([
      cli(...base()),
      cli(...base(), "--device", "wasm"),
      cli(...base(), ...sampled),
      cli(...base(), ...sampled, "--device", "wasm", "--threads", "2"),
    ]);
    expect(wasm.code).toBe(0);
    expect(wasm.out).toBe(cpu.out);
    expect(cpu.out.startsWith(", there was a little girl")).toBe(true);
    // Tiny fp32 model: both runtimes' logits agree closely enough that even sampling matches.
    expect(wasmS.out).toBe(cpuS.out);
  }, TIMEOUT);

  test("--config resolves a model_type to its directory, device and dtype", async () => {
    const cfgDir = mkdtempSync(join(tmpdir(), "atoma-gen-cfg-"));
    const cfg = join(cfgDir, "node.toml");
    writeFileSync(
      cfg,
      `[inference]\ncache_dir = "${cfgDir}"\nflush_storage = false\njrpc_port = 3000\ntracing = false\n\n` +
        `[[inference.models]]\nmodel_id = "stories"\npath = "${dir}"\ndevice = "cpu"\ndevice_id = 0\ndtype = "q4"\nrevision = ""\nuse_flash_attention = false\n`,
    );
    try {
      const [viaConfig, direct, unknown] = await Promise.all([
        cli("--model", "stories", "--config", cfg, "--prompt", "Once upon a time", "--max-tokens", "20"),
        cli(...base().slice(0, 4), "--max-tokens", "20", "--dtype", "q4"),
        cli("--model", "nope", "--config", cfg, "--prompt", "x"),
      ]);
      expect(viaConfig.code).toBe(0);
      expect(viaConfig.out).toBe(direct.out);
      expect(unknown.code).toBe(2);
      expect(unknown.err).toContain("models: stories");
    } finally {
      rmSync(cfgDir, { recursive: true, force: true });
    }
  }, TIMEOUT);

  test("bad input: one line on stderr, exit 2, nothing on stdout", async () => {
    const cases: [string[], string][] = [
      [["--prompt", "x"], "missing --model"],
      [["--model", dir], "missing --prompt"],
      [["--model", "/no/such/model", "--prompt", "x"], "no such directory"],
      [[...base(), "--max-tokens", "0"], "--max-tokens"],
      [[...base(), "--top-p", "abc"], "--top-p"],
      [[...base(), "--seed", "-1"], "--seed"],
      [[...base(), "--dtype", "fp8"], 'unknown dtype "fp8"'],
      [[...base(), "--dtype", "q4f16"], "model_q4f16.onnx is missing"],
      [[...base(), "--device", "webgpu"], "available backends: cpu"],
      [["--model", dir, "--prompt", ""], "prompt is empty"],
    ];
    const results = await Promise.all(cases.map(([args]) => cli(...args)));
    results.forEach((r, i) => {
      const [, fragment] = cases[i]!;
      expect(r.code).toBe(2);
      expect(r.out).toBe("");
      const errLines = r.err.split("\n").filter((l) => l.startsWith("error:"));
      expect(errLines.length).toBe(1);
      expect(errLines[0]).toContain(fragment);
    });
  }, TIMEOUT);
});
