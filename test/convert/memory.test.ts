/**
 * Bounded memory: converting a ~350 MB BF16 checkpoint (written tensor by tensor, never held
 * whole) must peak well below its size, because the converter reads, converts and writes one
 * tensor at a time into external data files. The bound stated in docs/convert.md:
 * peak RSS ≤ 64 MiB (runtime) + 3 × the largest tensor in fp32 (here the 8000 × 1024 embedding and
 * classifier, 31 MiB each), independent of the checkpoint's size; also asserted < 50 % of it.
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Config } from "../support/hf-checkpoints.ts";
import { writeStreamingCheckpoint } from "../support/stream-checkpoint.ts";

const root = mkdtempSync(join(tmpdir(), "atoma-convert-rss-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const config: Config = {
  architectures: ["LlamaForCausalLM"], model_type: "llama", hidden_size: 1024, intermediate_size: 4096, num_hidden_layers: 10,
  num_attention_heads: 16, num_key_value_heads: 16, vocab_size: 8000, max_position_embeddings: 512, rms_norm_eps: 1e-5,
  rope_theta: 10000, tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 2, torch_dtype: "bfloat16",
};

test("converting a ~350 MB BF16 checkpoint peaks well below its size (f16 + q4 variants)", () => {
  const src = join(root, "hf");
  const size = writeStreamingCheckpoint(src, config);
  const out = join(root, "out");
  const r = Bun.spawnSync([process.execPath, resolve(import.meta.dir, "../support/convert-rss.ts"), src, out, "f16,q4"], { stdout: "pipe", stderr: "pipe" });
  expect(r.stderr.toString()).toBe("");
  expect(r.exitCode).toBe(0);
  const { peakRss, chunks } = JSON.parse(r.stdout.toString());
  console.log(`checkpoint ${(size / 2 ** 20).toFixed(0)} MiB BF16 → peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB (${((100 * peakRss) / size).toFixed(0)} % of the checkpoint)`);
  const largestFp32 = 4 * config.vocab_size * config.hidden_size;
  expect(peakRss).toBeLessThan(64 * 2 ** 20 + 3 * largestFp32);
  expect(peakRss).toBeLessThan(0.5 * size);
  // Weights live in external data files, the graphs stay small.
  expect(chunks).toEqual({ "model_fp16.onnx": 1, "model_q4.onnx": 1 });
  expect(statSync(join(out, "onnx/model_fp16.onnx")).size).toBeLessThan(1 << 20);
  expect(statSync(join(out, "onnx/model_fp16.onnx_data")).size).toBeGreaterThan(0.9 * size);
  const tjs = JSON.parse(readFileSync(join(out, "config.json"), "utf8"))["transformers.js_config"];
  expect(tjs).toEqual({ dtype: "fp16", use_external_data_format: { "model_fp16.onnx": 1, "model_q4.onnx": 1 } });
  expect(existsSync(join(out, "tokenizer.json"))).toBe(true);
}, 300_000);
