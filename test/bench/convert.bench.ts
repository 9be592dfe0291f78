/**
 * `bun run bench:convert [--hidden 2048] [--layers 12] [--vocab 32000] [--skip-decode]
 *                        [--tokens --rounds --threads --dtypes --families (of the decode part)]`
 *
 * Converts a generated BF16 Llama checkpoint (default ≈ 1.1 GB) once per dtype (f16, q4) in a
 * child process each and prints MB/s of checkpoint read and the child's peak RSS (VmHWM) as a
 * fraction of the checkpoint's size. No same-run baseline exists for a converter (optimum is Python),
 * so the figures are absolute and machine-dependent; the RSS ratio is the one that transfers.
 * Then, unless --skip-decode, decode tok/s of every family's converted random model against raw
 * transformers.js on the same file (test/bench/families.bench.ts at its defaults).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { writeStreamingCheckpoint } from "../support/stream-checkpoint.ts";
import { benchFamilies } from "./families.bench.ts";

/** Passed on to the per-family decode part (its shape options are its own: --hidden here is the 1 GB checkpoint's). */
const DECODE_OPTIONS = ["tokens", "rounds", "threads", "dtypes", "families"] as const;
const { values: a } = parseArgs({
  options: {
    hidden: { type: "string", default: "2048" }, layers: { type: "string", default: "12" }, vocab: { type: "string", default: "32000" },
    "skip-decode": { type: "boolean", default: false },
    tokens: { type: "string" }, rounds: { type: "string" }, threads: { type: "string" }, dtypes: { type: "string" }, families: { type: "string" },
  },
});
const D = Number(a.hidden), L = Number(a.layers), V = Number(a.vocab);
const root = mkdtempSync(join(tmpdir(), "atoma-bench-convert-"));
try {
  const config = {
    architectures: ["LlamaForCausalLM"], model_type: "llama", hidden_size: D, intermediate_size: Math.round((D * 8) / 3 / 64) * 64,
    num_hidden_layers: L, num_attention_heads: D / 64, num_key_value_heads: D / 128, vocab_size: V, max_position_embeddings: 2048,
    rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 2, torch_dtype: "bfloat16",
  };
  const size = writeStreamingCheckpoint(join(root, "hf"), config);
  console.log(`checkpoint: Llama hidden ${D}, ${L} layers, vocab ${V}: ${(size / 2 ** 20).toFixed(0)} MiB BF16`);
  for (const dtype of ["f16", "q4"]) {
    const out = join(root, `out-${dtype}`);
    const t0 = performance.now();
    const r = Bun.spawnSync([process.execPath, resolve(import.meta.dir, "../support/convert-rss.ts"), join(root, "hf"), out, dtype], { stdout: "pipe", stderr: "inherit" });
    const s = (performance.now() - t0) / 1000;
    if (r.exitCode !== 0) throw new Error(`conversion to ${dtype} failed`);
    const { peakRss } = JSON.parse(r.stdout.toString());
    console.log(`${dtype}: ${s.toFixed(1)} s, ${(size / 2 ** 20 / s).toFixed(0)} MB/s of checkpoint, peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB (${((100 * peakRss) / size).toFixed(0)} % of the checkpoint)`);
    rmSync(out, { recursive: true, force: true });
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
if (!a["skip-decode"]) await benchFamilies(DECODE_OPTIONS.flatMap((k) => (a[k] === undefined ? [] : [`--${k}`, String(a[k])])));
