/**
 * Every family × every dtype variant: a small random checkpoint of each architecture converted with
 * `--dtypes all` loads in the node's engine at each precision and generates greedily, the same
 * tokens twice. Numerics per variant are checked against the block-dequantised / fp16-rounded
 * reference in test/engine/models/llama-onnx.test.ts (same per-variant ops); fp32 per family
 * against the independent references in the family tests.
 */
import { afterAll, expect, test, setDefaultTimeout } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { convertCheckpoint, VARIANTS } from "../../src/convert/index.ts";
import { loadTextEngine } from "../../src/engine/engine.ts";
import { DEFAULT_SAMPLING_PARAMS } from "../../src/engine/sampler.ts";
import { writeHfCheckpoint, type Config } from "../support/hf-checkpoints.ts";

setDefaultTimeout(120_000);
const root = mkdtempSync(join(tmpdir(), "atoma-convert-variants-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const common = { hidden_size: 64, intermediate_size: 128, num_attention_heads: 4, num_key_value_heads: 2, num_hidden_layers: 2, vocab_size: 300, max_position_embeddings: 64, bos_token_id: 1, eos_token_id: 2 };
const FAMILIES: Record<string, Config> = {
  llama: { model_type: "llama", ...common, rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 32 } },
  mistral: { model_type: "mistral", ...common, sliding_window: 4 },
  qwen2: { model_type: "qwen2", ...common, tie_word_embeddings: true },
  phi3: { model_type: "phi3", ...common, original_max_position_embeddings: 64, sliding_window: 7 },
  mixtral: { model_type: "mixtral", ...common, num_local_experts: 4, num_experts_per_tok: 2 },
  qwen2_moe: { model_type: "qwen2_moe", ...common, moe_intermediate_size: 32, shared_expert_intermediate_size: 64, num_experts: 4, num_experts_per_tok: 2 },
  falcon: { model_type: "falcon", hidden_size: 64, num_attention_heads: 4, num_hidden_layers: 2, vocab_size: 300, max_position_embeddings: 64, new_decoder_architecture: true, num_kv_heads: 2, multi_query: true, bos_token_id: 1, eos_token_id: 2 },
};
const ENGINE_DTYPE = { fp32: "f32", fp16: "f16", q8: "q8", q4: "q4", q4f16: "q4f16" } as const;

for (const [family, config] of Object.entries(FAMILIES)) {
  test(`${family}: every variant loads in the engine and generates`, async () => {
    writeHfCheckpoint(join(root, family), config, { dtype: "BF16", seed: 21 });
    const out = join(root, `${family}-onnx`);
    await convertCheckpoint({ src: join(root, family), out, dtypes: VARIANTS });
    const firstTokens: Record<string, number[]> = {};
    for (const v of VARIANTS) {
      const engine = await loadTextEngine({ id: family, dir: out, device: "cpu", dtype: ENGINE_DTYPE[v] });
      try {
        const r = await engine.generate({ prompt: "the cat", params: { ...DEFAULT_SAMPLING_PARAMS, maxTokens: 6, temperature: 0 } });
        expect(r.inputTokens).toBeGreaterThan(0);
        firstTokens[v] = r.tokens.slice(r.inputTokens);
        // Same model, params and seed ⇒ same tokens.
        const again = await engine.generate({ prompt: "the cat", params: { ...DEFAULT_SAMPLING_PARAMS, maxTokens: 6, temperature: 0 } });
        expect(again.tokens).toEqual(r.tokens);
      } finally {
        await engine.dispose();
      }
    }
    expect(Object.keys(firstTokens)).toEqual([...VARIANTS]);
  });
}
