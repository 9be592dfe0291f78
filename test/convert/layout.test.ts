/**
 * The folder a conversion writes: external data split into transformers.js-named chunks that
 * transformers.js loads (same logits as one inline file), every dtype variant loading in
 * transformers.js, and interrupted conversions never leaving a usable-looking half model.
 */
import { afterAll, expect, test, setDefaultTimeout } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { AutoModelForCausalLM, env, Tensor } from "@huggingface/transformers";
import { convertCheckpoint, VARIANT_FILES, VARIANTS } from "../../src/convert/index.ts";
import { writeHfCheckpoint, type Config } from "../support/hf-checkpoints.ts";
import { maxAbsDiff, toFloat32 } from "../support/ort-llama.ts";

setDefaultTimeout(120_000);
env.allowRemoteModels = false;

const root = mkdtempSync(join(tmpdir(), "atoma-convert-layout-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const config: Config = {
  architectures: ["LlamaForCausalLM"], model_type: "llama", hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 300, max_position_embeddings: 64, rms_norm_eps: 1e-5,
  tie_word_embeddings: true, bos_token_id: 1, eos_token_id: 2, torch_dtype: "bfloat16",
};
const src = join(root, "hf");
writeHfCheckpoint(src, config, { dtype: "BF16", seed: 11 });
const ids = [1, 40, 77, 200, 9, 150];

async function logits(dir: string, dtype: string): Promise<Float32Array> {
  const lm = await AutoModelForCausalLM.from_pretrained(dir, { dtype: dtype as "fp32", device: "cpu" });
  try {
    const input_ids = new Tensor("int64", BigInt64Array.from(ids.map(BigInt)), [1, ids.length]);
    const attention_mask = new Tensor("int64", new BigInt64Array(ids.length).fill(1n), [1, ids.length]);
    const r = (await lm({ input_ids, attention_mask })) as { logits: { type: string; data: unknown } };
    return toFloat32(r.logits);
  } finally {
    await lm.dispose();
  }
}

test("external data in many chunks: transformers.js names and loads them; logits equal the inline file's", async () => {
  const inline = join(root, "inline"), chunked = join(root, "chunked");
  await convertCheckpoint({ src, out: inline, dtypes: ["fp32"] });
  const r = await convertCheckpoint({ src, out: chunked, dtypes: ["fp32", "q4"], externalAboveBytes: 0, maxChunkBytes: 24 * 1024 });
  expect(readdirSync(join(inline, "onnx"))).toEqual(["model.onnx"]);
  const files = readdirSync(join(chunked, "onnx"));
  const n = r.externalChunks["model.onnx"]!;
  expect(n).toBeGreaterThan(3);
  for (let i = 0; i < n; i++) {
    const f = `model.onnx_data${i ? `_${i}` : ""}`;
    expect(files).toContain(f);
    // A chunk exceeds the limit only when it holds a single tensor larger than the limit.
    expect(statSync(join(chunked, "onnx", f)).size).toBeLessThanOrEqual(Math.max(24 * 1024, 4 * 300 * 64));
  }
  const cfg = JSON.parse(readFileSync(join(chunked, "config.json"), "utf8"));
  expect(cfg["transformers.js_config"].use_external_data_format).toEqual(r.externalChunks);
  expect(cfg.model_type).toBe("llama");
  expect(cfg.rms_norm_eps).toBe(1e-5);
  expect(maxAbsDiff(await logits(chunked, "fp32"), await logits(inline, "fp32"))).toBe(0);
  await logits(chunked, "q4");
});

// Quantised variants' exact numerics are checked against the block-dequantised reference in
// test/engine/models/llama-onnx.test.ts (same writer); here: each file loads and runs.
test("--dtypes all: every variant file is written and transformers.js runs it (fp16 within 0.05 of fp32)", async () => {
  const out = join(root, "all");
  await convertCheckpoint({ src, out, dtypes: VARIANTS });
  expect(readdirSync(join(out, "onnx")).sort()).toEqual(VARIANTS.map((v) => VARIANT_FILES[v]).sort());
  const ref = await logits(out, "fp32");
  for (const v of VARIANTS.filter((v) => v !== "fp32")) {
    const got = await logits(out, v);
    expect(got.every(Number.isFinite)).toBe(true);
    console.log(`${v}: max |logit − fp32 logit| ${maxAbsDiff(got, ref).toExponential(2)}`);
    if (v === "fp16") expect(maxAbsDiff(got, ref)).toBeLessThan(0.05);
  }
});

test("a conversion killed midway leaves no model at --out; the next run cleans its leftovers and completes", async () => {
  const big: Config = { ...config, hidden_size: 512, intermediate_size: 2048, num_hidden_layers: 6, vocab_size: 4000 };
  const bigSrc = join(root, "big");
  writeHfCheckpoint(bigSrc, big, { dtype: "BF16", seed: 2 });
  const out = join(root, "killed", "model");
  mkdirSync(join(root, "killed"));
  const main = resolve(import.meta.dir, "../../src/cli/main.ts");
  const p = Bun.spawn([process.execPath, main, "models", "convert", bigSrc, "--out", out, "--dtypes", "f32,q4"], { stderr: "pipe", stdout: "ignore" });
  const reader = p.stderr.getReader();
  let seen = "";
  while (!seen.includes("tensors")) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += new TextDecoder().decode(value);
  }
  p.kill("SIGKILL");
  await p.exited;
  expect(existsSync(out)).toBe(false);
  expect(readdirSync(join(root, "killed")).some((f) => f.startsWith(".model.converting-"))).toBe(true);
  await convertCheckpoint({ src: bigSrc, out, dtypes: ["q4"] });
  expect(readdirSync(join(root, "killed"))).toEqual(["model"]);
  // 100 MB of fp32 weights: above the 64 MiB inline limit, so the weights sit in a side file.
  expect(readdirSync(join(out, "onnx")).sort()).toEqual(["model_q4.onnx", "model_q4.onnx_data"]);
});

test("tokenizer, chat template and generation files are copied verbatim (several EOS ids, as Llama 3 has)", async () => {
  const dir = join(root, "hf-chat");
  writeHfCheckpoint(dir, config, { dtype: "BF16", seed: 4 });
  const extra: Record<string, string> = {
    "generation_config.json": JSON.stringify({ bos_token_id: 1, eos_token_id: [2, 5], do_sample: true, temperature: 0.6 }),
    "chat_template.jinja": "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}",
    "special_tokens_map.json": JSON.stringify({ bos_token: "<s>", eos_token: "</s>" }),
  };
  for (const [f, text] of Object.entries(extra)) await Bun.write(join(dir, f), text);
  const out = join(root, "chat-out");
  await convertCheckpoint({ src: dir, out, dtypes: ["q4"] });
  for (const f of [...Object.keys(extra), "tokenizer.json", "tokenizer_config.json"]) {
    expect({ f, same: readFileSync(join(out, f)).equals(readFileSync(join(dir, f))) }).toEqual({ f, same: true });
  }
  expect(JSON.parse(readFileSync(join(out, "config.json"), "utf8"))["transformers.js_config"]).toEqual({ dtype: "q4" });
});
