/**
 * `atoma-node models import gguf|ggml` as a user runs it: the real tiny GGUF imports (exit 0,
 * summary with throughput on stderr) and `generate` runs on the result; broken files — truncated,
 * unknown tensor type, bad magic, metadata lying about sizes — print exactly one line and exit 2.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { quantizeRef, TYPE_IDS } from "../support/ggml-reference.ts";
import { llamaMetadata, llamaTokenizerMetadata } from "../support/gguf-llama.ts";
import { encodeGguf, type GgufTensor } from "../support/gguf-writer.ts";
import { randomLlama } from "../support/random-llama.ts";

const MAIN = resolve(import.meta.dir, "../../src/cli/main.ts");
const TINY = resolve(import.meta.dir, "../fixtures/llama-2-tiny-random.gguf");
const root = mkdtempSync(join(tmpdir(), "atoma-import-cli-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = Bun.spawn([process.execPath, MAIN, ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, ATOMA_LOG: "warn" } });
  const [stdout, stderr] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code: await p.exited, stdout, stderr };
}

async function failsWithOneLine(args: string[], re: RegExp): Promise<void> {
  const r = await cli(...args);
  expect(r.code).toBe(2);
  const lines = r.stderr.trim().split("\n");
  expect(lines.length).toBe(1);
  expect(lines[0]).toMatch(re);
}

const w = randomLlama({ hiddenSize: 32, intermediateSize: 64, numLayers: 1, numHeads: 2, numKvHeads: 2, headDim: 16, vocabSize: 300, tied: true }, 8);
function file(name: string, edit: (t: GgufTensor[]) => void = () => {}, meta: Record<string, unknown> = {}): string {
  const l = w.layers[0]!;
  const t = (n: string, data: Float32Array, dims: number[]): GgufTensor => {
    const type = dims.length === 1 ? "F32" : "Q8_0";
    return { name: n, dims, type: TYPE_IDS[type], bytes: quantizeRef(type, data).bytes };
  };
  const tensors = [
    t("token_embd.weight", w.embed, [32, 300]), t("blk.0.attn_norm.weight", l.attnNorm, [32]),
    t("blk.0.attn_q.weight", l.wq, [32, 32]), t("blk.0.attn_k.weight", l.wk, [32, 32]), t("blk.0.attn_v.weight", l.wv, [32, 32]),
    t("blk.0.attn_output.weight", l.wo, [32, 32]), t("blk.0.ffn_norm.weight", l.ffnNorm, [32]),
    t("blk.0.ffn_gate.weight", l.gate, [32, 64]), t("blk.0.ffn_up.weight", l.up, [32, 64]), t("blk.0.ffn_down.weight", l.down, [64, 32]),
    t("output_norm.weight", w.finalNorm, [32]),
  ];
  edit(tensors);
  const path = join(root, name);
  writeFileSync(path, encodeGguf({ ...llamaMetadata(w), ...llamaTokenizerMetadata(300), ...(meta as object) }, tensors));
  return path;
}

describe("models import gguf / ggml (CLI)", () => {
  test("the real tiny GGUF imports (default variant from its F16 tensors) and generate runs on it", async () => {
    const out = join(root, "tiny");
    const r = await cli("models", "import", "gguf", TINY, "--out", out);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/imported GGUF llama \(9 F16, 3 F32 tensors, 1\.0 MiB\) to .*tiny \(fp16\) in [\d.]+ s, [\d.]+ MiB\/s; tokenizer from .*llama-2-tiny-random\.gguf \(tokenizer\.ggml\.\* llama\)/);
    const g = await cli("generate", "--model", out, "--dtype", "f16", "--prompt", "Once upon a time", "--max-tokens", "6", "--json");
    expect(g.code).toBe(0);
    expect(JSON.parse(g.stdout)).toMatchObject({ input_tokens: 5, output_tokens: 6 });
    await failsWithOneLine(["models", "import", "gguf", TINY, "--out", out], /output .* already exists \(use --force to replace it\)/);
  });

  test("a well-formed test file imports (the corruptions below are its only difference)", async () => {
    const r = await cli("models", "import", "gguf", file("good.gguf"), "--out", join(root, "good"), "--dtypes", "q8,f32");
    expect(r.code).toBe(0);
    // 7 per block + the tied classifier (the Q8_0 embedding).
    expect(r.stderr).toMatch(/q8: 8 linear layers repacked exactly from the file's blocks/);
  });

  test("truncated, unknown tensor type, bad magic, metadata lying about sizes: one line, exit 2", async () => {
    const good = readFileSync(file("good2.gguf"));
    const trunc = join(root, "trunc.gguf");
    writeFileSync(trunc, good.subarray(0, good.byteLength - 1000));
    await failsWithOneLine(["models", "import", "gguf", trunc, "--out", join(root, "o1")], /^error: .*trunc\.gguf: tensor \S+: Q8_0 .* needs bytes .* \(truncated, or the shape is wrong\)$/);
    await failsWithOneLine(["models", "import", "gguf", file("type.gguf", (t) => { t[3]!.type = 77; }), "--out", join(root, "o2")], /^error: .*type\.gguf: tensor blk\.0\.attn_k\.weight: tensor type 77 is not a ggml type is not supported/);
    const magic = join(root, "magic.gguf");
    writeFileSync(magic, Buffer.concat([Buffer.from("GGUX"), good.subarray(4)]));
    await failsWithOneLine(["models", "import", "gguf", magic, "--out", join(root, "o3")], /^error: .*magic\.gguf: not a GGUF file \(expected the magic "GGUF" at byte 0, found "GGUX"\)$/);
    await failsWithOneLine(["models", "import", "gguf", file("lie.gguf", () => {}, { "llama.feed_forward_length": { t: "u32", v: 96 } }), "--out", join(root, "o4")],
      /^error: .*lie\.gguf: tensor blk\.0\.ffn_up\.weight is \[32, 64\] but the metadata implies \[32, 96\]/);
    await failsWithOneLine(["models", "import", "ggml", magic, "--tokenizer", root, "--out", join(root, "o5")], /^error: .*magic\.gguf: not a GGML ggjt file/);
    await failsWithOneLine(["models", "import", "ggml", magic, "--out", join(root, "o6")], /^error: missing --tokenizer <dir>/);
    await failsWithOneLine(["models", "import", "gguf", join(root, "nope.gguf"), "--out", join(root, "o7")], /^error: GGUF file not found: /);
    await failsWithOneLine(["models", "import", "gguf", TINY, "--out", join(root, "o8"), "--dtypes", "q3"], /^error: --dtypes: unknown dtype "q3"/);
  });
});
