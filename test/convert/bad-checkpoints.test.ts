/**
 * `atoma-node models convert` on bad input: each case prints exactly one line on stderr naming the
 * file or tensor, exits 2, and leaves nothing at --out (nor a temporary folder beside it).
 */
import { afterAll, beforeAll, expect, test, setDefaultTimeout } from "bun:test";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { writeHfCheckpoint, randomParameters, type Config } from "../support/hf-checkpoints.ts";
import { safetensorsBytes } from "../support/safetensors-writer.ts";

setDefaultTimeout(60_000);
const ROOT = resolve(import.meta.dir, "../..");
let work: string, good: string;

const config: Config = {
  architectures: ["LlamaForCausalLM"], model_type: "llama", hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 270, max_position_embeddings: 64, rms_norm_eps: 1e-5,
  tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 2,
};

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "atoma-convert-bad-"));
  good = join(work, "good");
  writeHfCheckpoint(good, config, { dtype: "BF16", seed: 3 });
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function cli(args: string[]) {
  const r = Bun.spawnSync([process.execPath, "src/cli/main.ts", "models", "convert", ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** A copy of the good checkpoint, modified by `edit`. */
function variant(name: string, edit: (dir: string) => void): string {
  const dir = join(work, name);
  cpSync(good, dir, { recursive: true });
  edit(dir);
  return dir;
}

function failing(src: string, extra: string[] = []): string {
  const out = join(work, `out-${src.split("/").pop()}`);
  const r = cli([src, "--out", out, ...extra]);
  expect(r.stdout).toBe("");
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toStartWith("error: ");
  expect(r.code).toBe(2);
  expect(existsSync(out)).toBe(false);
  expect(readdirSync(work).filter((f) => f.includes("converting"))).toEqual([]);
  return lines[0]!;
}

test("the good checkpoint converts (control)", () => {
  const r = cli([good, "--out", join(work, "converted")]);
  expect(r.stderr).toContain("converted llama checkpoint");
  expect(r.code).toBe(0);
  expect(readdirSync(join(work, "converted", "onnx")).sort()).toEqual(["model_fp16.onnx", "model_q4.onnx"]);
  // A second run without --force refuses and keeps the first.
  expect(failing2([good, "--out", join(work, "converted")])).toContain("already exists");
});

function failing2(args: string[]): string {
  const r = cli(args);
  expect(r.code).toBe(2);
  return r.stderr.trim();
}

test("truncated safetensors file", () => {
  const dir = variant("truncated", (d) => truncateSync(join(d, "model.safetensors"), 20_000));
  expect(failing(dir)).toMatch(/model\.safetensors: tensor .+: data ends at byte \d+ but the file has 20000 bytes \(truncated\)/);
});

test("header lies about offsets", () => {
  const dir = variant("offsets", (d) => {
    const t = [...randomParameters(config, 3, "BF16").entries()];
    const bytes = safetensorsBytes(t, "BF16");
    const len = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len)));
    header["model.layers.1.self_attn.k_proj.weight"].data_offsets[1] -= 2;
    const h = new TextEncoder().encode(JSON.stringify(header));
    const out = new Uint8Array(8 + h.byteLength + bytes.byteLength - 8 - len);
    new DataView(out.buffer).setBigUint64(0, BigInt(h.byteLength), true);
    out.set(h, 8);
    out.set(bytes.subarray(8 + len), 8 + h.byteLength);
    writeFileSync(join(d, "model.safetensors"), out);
  });
  expect(failing(dir)).toContain("tensor model.layers.1.self_attn.k_proj.weight: data_offsets span 1022 bytes but BF16 [16, 32] needs 1024");
});

test("header names an unsupported dtype", () => {
  const dir = variant("dtype", (d) => {
    const buf = readFileSync(join(d, "model.safetensors"));
    const len = Number(buf.readBigUInt64LE(0));
    const header = buf.subarray(8, 8 + len).toString().replace('"dtype":"BF16"', '"dtype":"I8"  ');
    buf.write(header, 8);
    writeFileSync(join(d, "model.safetensors"), buf);
  });
  expect(failing(dir)).toMatch(/tensor model\.embed_tokens\.weight: dtype I8 is not supported \(expected F32, F16 or BF16\)/);
});

test("missing tensor", () => {
  const t = randomParameters(config, 3, "BF16");
  t.delete("model.layers.1.mlp.up_proj.weight");
  const dir = join(work, "missing");
  writeHfCheckpoint(dir, config, { dtype: "BF16", tensors: t });
  expect(failing(dir)).toBe("error: checkpoint is missing tensor model.layers.1.mlp.up_proj.weight");
});

test("wrong shape", () => {
  const t = randomParameters(config, 3, "BF16");
  t.set("model.layers.0.self_attn.q_proj.weight", { shape: [16, 32], data: new Float32Array(512) });
  const dir = join(work, "shape");
  writeHfCheckpoint(dir, config, { dtype: "BF16", tensors: t });
  expect(failing(dir)).toBe("error: tensor model.layers.0.self_attn.q_proj.weight has shape [16, 32] but config.json implies [32, 32]");
});

test("unsupported architecture and bad config values", () => {
  const gpt2 = variant("gpt2", (d) => writeFileSync(join(d, "config.json"), JSON.stringify({ ...config, model_type: "gpt2" })));
  expect(failing(gpt2)).toMatch(/^error: model_type "gpt2" is not supported by the converter \(supported: llama/);
  const rope = variant("rope", (d) => writeFileSync(join(d, "config.json"), JSON.stringify({ ...config, rope_scaling: { rope_type: "dynamic", factor: 2 } })));
  expect(failing(rope)).toBe('error: config.json: rope scaling type "dynamic" is not supported (supported: default, linear, llama3, longrope)');
  const heads = variant("heads", (d) => writeFileSync(join(d, "config.json"), JSON.stringify({ ...config, num_key_value_heads: 3 })));
  expect(failing(heads)).toBe("error: config.json: num_attention_heads 4 is not a multiple of num_key_value_heads 3");
  const nojson = variant("nojson", (d) => writeFileSync(join(d, "config.json"), "{ not json"));
  expect(failing(nojson)).toMatch(/config\.json is not valid JSON$/);
});

test("sharded: index naming a missing shard, and a shard lacking a tensor the index places in it", () => {
  const t = randomParameters(config, 3, "BF16");
  const dir = join(work, "sharded");
  writeHfCheckpoint(dir, config, { dtype: "BF16", tensors: t, shards: 2 });
  rmSync(join(dir, "model.safetensors"), { force: true });
  const lost = variant("lost-shard", () => {});
  rmSync(lost, { recursive: true });
  cpSync(dir, lost, { recursive: true });
  unlinkSync(join(lost, "model-00002-of-00002.safetensors"));
  expect(failing(lost)).toMatch(/model\.safetensors\.index\.json names shard model-00002-of-00002\.safetensors, which is missing from /);
  const moved = join(work, "moved");
  cpSync(dir, moved, { recursive: true });
  const index = JSON.parse(readFileSync(join(moved, "model.safetensors.index.json"), "utf8"));
  index.weight_map["model.norm.weight"] = "model-00001-of-00002.safetensors";
  writeFileSync(join(moved, "model.safetensors.index.json"), JSON.stringify(index));
  expect(failing(moved)).toBe("error: model.safetensors.index.json places tensor model.norm.weight in model-00001-of-00002.safetensors, but that shard does not hold it");
});

test("no weights, no tokenizer, no folder, bad --dtypes, missing --out", () => {
  expect(failing(variant("noweights", (d) => unlinkSync(join(d, "model.safetensors"))))).toMatch(/has no model\.safetensors or model\.safetensors\.index\.json$/);
  expect(failing(variant("notok", (d) => unlinkSync(join(d, "tokenizer.json"))))).toMatch(/has no tokenizer\.json/);
  expect(failing(join(work, "nowhere"))).toMatch(/nowhere is not a directory/);
  expect(failing(good, ["--dtypes", "f16,int3"])).toBe('error: --dtypes: unknown dtype "int3"; expected a comma-separated list of f32, f16, q8, q4, q4f16 (or all)');
  mkdirSync(join(work, "x"), { recursive: true });
  expect(failing2([good])).toBe("error: missing --out <dir>");
});
