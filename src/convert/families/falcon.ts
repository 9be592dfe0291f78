/**
 * Falcon (`FalconForCausalLM`), after transformers' modeling_falcon.py: LayerNorm with bias, one
 * fused `query_key_value` projection, rotary attention, GELU MLP (`dense_h_to_4h` → `dense_4h_to_h`),
 * biases everywhere when `bias`, and three attention layouts of the fused projection, read here as
 * [groups, per-group heads + 2, head_dim] (n queries, then one key, one value per group):
 *   new_decoder_architecture (40B/180B): groups = num_kv_heads;
 *   multi_query (7B): one group (num_heads queries, then the single key and value);
 *   neither: groups = num_heads, one query each (interleaved q, k, v per head).
 * Layers: parallel attention and MLP from the same input (`parallel_attn`, with `ln_attn`/`ln_mlp`
 * when num_ln_in_parallel_attn = 2, which new_decoder_architecture implies), or sequential with
 * `post_attention_layernorm`. ALiBi (falcon-rw) is refused. Defaults: transformers' FalconConfig
 * (multi_query and parallel_attn true, tied embeddings). When config.json says `multi_query: true`,
 * transformers.js names the cache `key_value`, so the graph uses the fused-cache layout then.
 */
import { Attention } from "../attention.ts";
import { writeLmHead } from "../lm-head.ts";
import type { GraphOps } from "../ops.ts";
import { ropeSpec } from "../rope.ts";
import { ConvertError } from "../tensors.ts";
import { bool, int, num, type Family } from "./common.ts";

export const falcon: Family = {
  modelType: "falcon",
  architectures: ["FalconForCausalLM"],
  plan(c) {
    if (bool(c, "alibi", false)) throw new ConvertError("config.json: Falcon with alibi = true (falcon-rw) is not supported; only rotary Falcon models convert");
    const act = c.activation ?? "gelu";
    if (act !== "gelu") throw new ConvertError(`config.json: Falcon activation "${act}" is not supported (expected gelu)`);
    const D = int(c, "hidden_size", 4544);
    const H = int({ num_attention_heads: c.num_attention_heads ?? c.n_head }, "num_attention_heads", 71);
    const layers = int({ num_hidden_layers: c.num_hidden_layers ?? c.n_layer }, "num_hidden_layers", 32);
    const vocab = int(c, "vocab_size", 65024), maxPositions = int(c, "max_position_embeddings", 2048);
    const eps = num(c, "layer_norm_epsilon", 1e-5), bias = bool(c, "bias", false);
    const newArch = bool(c, "new_decoder_architecture", false), multiQuery = bool(c, "multi_query", true);
    const parallel = bool(c, "parallel_attn", true), tied = bool(c, "tie_word_embeddings", true);
    const ffn = c.ffn_hidden_size == null ? 4 * D : int(c, "ffn_hidden_size");
    const lns = c.num_ln_in_parallel_attn == null ? (newArch ? 2 : 1) : int(c, "num_ln_in_parallel_attn");
    if (D % H !== 0) throw new ConvertError(`config.json: hidden_size ${D} is not a multiple of num_attention_heads ${H}`);
    if (newArch && !parallel) throw new ConvertError("config.json: Falcon with new_decoder_architecture and parallel_attn = false is not a layout transformers can run");
    if (!newArch && parallel && lns === 2) throw new ConvertError("config.json: Falcon num_ln_in_parallel_attn = 2 needs new_decoder_architecture");
    const HD = D / H;
    const groups = newArch ? int({ num_kv_heads: c.num_kv_heads ?? H }, "num_kv_heads") : multiQuery ? 1 : H;
    if (H % groups !== 0) throw new ConvertError(`config.json: num_attention_heads ${H} is not a multiple of num_kv_heads ${groups}`);
    const rope = ropeSpec(c, HD, maxPositions);
    const perGroup = H / groups;

    const write = (ops: GraphOps) => {
      const g = ops.g;
      const attention = new Attention(ops, { layers, heads: H, kvHeads: groups, headDim: HD, rope, fusedCache: c.multi_query === true });
      const b = (name: string) => (bias ? `${name}.bias` : undefined);
      const embed = ops.tensor("transformer.word_embeddings.weight", [vocab, D]);
      let x = g.op("Gather", [embed, attention.inputIds], { axis: 0 });
      for (let l = 0; l < layers; l++) {
        const p = `transformer.h.${l}`;
        const twoLns = parallel && lns === 2;
        const attnIn = ops.layerNorm(x, twoLns ? `${p}.ln_attn` : `${p}.input_layernorm`, D, eps);
        const qkvName = `${p}.self_attention.query_key_value`;
        const fused = ops.linear(attnIn, `${qkvName}.weight`, (H + 2 * groups) * HD, D, b(qkvName));
        const grouped = g.op("Reshape", [fused, g.i64([0, 0, groups, perGroup + 2, HD])]);
        const take = (from: number, to: number, heads: number) =>
          g.op("Reshape", [g.op("Slice", [grouped, g.i64([from]), g.i64([to]), g.i64([3])]), g.i64([0, 0, heads * HD])]);
        const merged = attention.attend(l, take(0, perGroup, H), take(perGroup, perGroup + 1, groups), take(perGroup + 1, perGroup + 2, groups), null);
        const dense = `${p}.self_attention.dense`;
        const attnOut = ops.linear(merged, `${dense}.weight`, D, D, b(dense));
        let residual = x, mlpIn: string;
        if (parallel) {
          mlpIn = twoLns ? ops.layerNorm(x, `${p}.ln_mlp`, D, eps) : attnIn;
        } else {
          residual = g.op("Add", [x, attnOut]);
          mlpIn = ops.layerNorm(residual, `${p}.post_attention_layernorm`, D, eps);
        }
        const up = `${p}.mlp.dense_h_to_4h`, down = `${p}.mlp.dense_4h_to_h`;
        let mlpOut = ops.linear(ops.gelu(ops.linear(mlpIn, `${up}.weight`, ffn, D, b(up))), `${down}.weight`, D, ffn, b(down));
        if (parallel) mlpOut = g.op("Add", [mlpOut, attnOut]);
        x = g.op("Add", [residual, mlpOut]);
      }
      const final = ops.layerNorm(x, "transformer.ln_f", D, eps);
      writeLmHead(ops, final, { vocab, hidden: D, tied: tied ? { embed, name: "transformer.word_embeddings.weight" } : null });
      attention.outputs();
    };
    return { modelType: "falcon", fusedUnsupported: "Falcon (LayerNorm with bias, parallel attention) has only the standard graph form", write };
  },
};
