/**
 * Bad input to `atoma-node models import llama2c`: every case prints one line on stderr naming the
 * problem and exits 2 — never a stack trace. Plus the --if-missing / --force contract.
 */
import { afterAll, beforeAll, expect, test, setDefaultTimeout } from "bun:test";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { STORIES260K } from "../../support/models.ts";

// ONNX sessions and subprocesses are slow on a loaded 2-core CI machine; bunfig's [test] timeout is not applied.
setDefaultTimeout(60_000);

const ROOT = resolve(import.meta.dir, "../../..");
let work: string;
const W = readFileSync(STORIES260K.weights);
const T = readFileSync(STORIES260K.tokenizer);

function cli(args: string[]) {
  const r = Bun.spawnSync([process.execPath, "src/cli/main.ts", "models", "import", "llama2c", ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

async function file(name: string, data: Uint8Array | string): Promise<string> {
  const p = join(work, name);
  await writeFile(p, data);
  return p;
}

/** Runs an import expected to fail; checks the one-line contract and returns the message. */
function failing(weights: string, tokenizer: string, out = join(work, "never")): string {
  const r = cli(["--weights", weights, "--tokenizer", tokenizer, "--out", out]);
  expect(r.code).toBe(2);
  expect(r.stdout).toBe("");
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toStartWith("error: ");
  expect(r.stderr).not.toMatch(/\n\s+at /);
  return lines[0]!;
}

beforeAll(async () => { work = await mkdtemp(join(tmpdir(), "atoma-import-errors-")); });
afterAll(() => rm(work, { recursive: true, force: true }));

test("missing arguments", () => {
  const r = cli(["--weights", STORIES260K.weights, "--out", join(work, "x")]);
  expect(r.code).toBe(2);
  expect(r.stderr.trim()).toBe("error: missing --tokenizer <path>");
});

test("missing and non-file inputs", async () => {
  expect(failing(join(work, "nope.bin"), STORIES260K.tokenizer)).toContain(`--weights file not found: ${join(work, "nope.bin")}`);
  expect(failing(STORIES260K.weights, join(work, "nope-tok.bin"))).toContain("--tokenizer file not found");
  await mkdir(join(work, "adir"));
  expect(failing(join(work, "adir"), STORIES260K.tokenizer)).toContain("--weights path is not a file");
});

test("truncated, too short and wrong-header model files", async () => {
  expect(failing(await file("trunc.bin", W.subarray(0, 100_000)), STORIES260K.tokenizer)).toMatch(/100000 bytes but its header needs 1056540 \(truncated/);
  expect(failing(await file("tiny.bin", W.subarray(0, 10)), STORIES260K.tokenizer)).toContain("too short for a llama2.c header");
  expect(failing(await file("text.bin", "this is not a model at all, just some text\n"), STORIES260K.tokenizer)).toContain("not a llama2.c model header");
  expect(failing(STORIES260K.tokenizer, STORIES260K.tokenizer)).toContain("not a llama2.c model header");
  const v1 = Buffer.from(W.subarray(0, 256));
  v1.writeUInt32LE(0x616b3432, 0);
  expect(failing(await file("v1.bin", v1), STORIES260K.tokenizer)).toContain("version-1/2 export");
  expect(failing(await file("extra.bin", Buffer.concat([W, Buffer.alloc(8)])), STORIES260K.tokenizer)).toContain("has trailing data");
});

test("tokenizer that does not match the model's vocabulary", async () => {
  const extra = Buffer.alloc(9);
  extra.writeFloatLE(-300, 0); extra.writeInt32LE(1, 4); extra.write("z", 8);
  expect(failing(STORIES260K.weights, await file("tok513.bin", Buffer.concat([T, extra])))).toContain("different vocabulary size than the model");
  expect(failing(STORIES260K.weights, await file("tok-trunc.bin", T.subarray(0, 3000)))).toMatch(/ends after \d+ tokens .* the model expects 512/);
  expect(failing(STORIES260K.weights, STORIES260K.weights)).toContain("stories260K.bin");
  expect(failing(STORIES260K.weights, await file("tok-bad.bin", Buffer.from([0, 0, 0, 0])))).toContain("max_token_length 0");
});

test("existing output: refused without flags, kept with --if-missing, replaced with --force", async () => {
  const out = join(work, "model");
  const args = ["--weights", STORIES260K.weights, "--tokenizer", STORIES260K.tokenizer, "--out", out];
  expect(cli(args).code).toBe(0);
  const again = cli(args);
  expect(again.code).toBe(2);
  expect(again.stderr.trim()).toBe(`error: output ${out} already exists (use --force to replace it, or --if-missing to keep it)`);
  const kept = cli([...args, "--if-missing"]);
  expect(kept.code).toBe(0);
  expect(kept.stderr).toContain("kept it");
  await writeFile(join(out, "marker"), "x");
  expect(cli([...args, "--force"]).code).toBe(0);
  expect(await Bun.file(join(out, "marker")).exists()).toBe(false);
  expect(await Bun.file(join(out, "onnx/model_q4.onnx")).exists()).toBe(true);
});

test("bad --dtypes", () => {
  const base = ["--weights", STORIES260K.weights, "--tokenizer", STORIES260K.tokenizer, "--out", join(work, "never")];
  const unknown = cli([...base, "--dtypes", "f32,int3"]);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr.trim()).toBe(`error: --dtypes: unknown dtype "int3"; expected a comma-separated list of f32, f16, q8, q4, q4f16 (or all)`);
  const bf16 = cli([...base, "--dtypes", "bf16"]);
  expect(bf16.code).toBe(2);
  expect(bf16.stderr).toContain("no bf16 compute path");
  expect(cli([...base, "--dtypes", ","]).stderr).toContain("--dtypes is empty");
});

test("unwritable output location", async () => {
  const blocker = await file("blocker", "x");
  expect(failing(STORIES260K.weights, STORIES260K.tokenizer, join(blocker, "sub", "model"))).toContain(`cannot write the model directory ${join(blocker, "sub", "model")}: ENOTDIR`);
});
