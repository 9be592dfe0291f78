/**
 * Graph writer for transformers' CLIP text encoders as diffusers pipelines use them:
 * `CLIPTextModel` (SD 1.5 / 2.x `text_encoder/`, SDXL `text_encoder/`) and
 * `CLIPTextModelWithProjection` (SDXL `text_encoder_2/`). The math follows modeling_clip.py:
 * token + learned position embeddings, pre-LayerNorm encoder layers with causal multi-head
 * self-attention (scores scaled by head_dim^-0.5, softmax in fp32) and fc1 → act → fc2 MLPs,
 * final_layer_norm, pooled = the final-normed state at the EOS position, text_embeds =
 * text_projection(pooled) without bias.
 *
 * Graph contract = the diffusers/optimum ONNX export: input `input_ids` [batch, sequence]
 * (int64); outputs `last_hidden_state`, `pooler_output` (CLIPTextModel) or `text_embeds`
 * (WithProjection), and `hidden_states.0` … `hidden_states.L` (embeddings, then each layer's
 * output before final_layer_norm), so SDXL can take the penultimate one (hidden_states[-2]).
 * Outputs are float32 in every variant, so the pipeline's contract does not change with precision.
 */
import type { GraphOps } from "../ops.ts";
import { ConvertError } from "../tensors.ts";
import { int, num, type HfConfig } from "../families/common.ts";

/** Smallest finite float32 (transformers fills masked scores with finfo(dtype).min). */
const MASK_VALUE = -3.4028234663852886e38;

export type ClipActivation = "quick_gelu" | "gelu" | "gelu_new" | "gelu_pytorch_tanh";
const ACTIVATIONS: readonly ClipActivation[] = ["quick_gelu", "gelu", "gelu_new", "gelu_pytorch_tanh"];

export interface ClipTextSpec {
  architecture: "CLIPTextModel" | "CLIPTextModelWithProjection";
  vocab: number;
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  maxPositions: number;
  eps: number;
  act: ClipActivation;
  /** text_projection output size (WithProjection only). */
  projection?: number;
  /**
   * Where the pooled state is taken: configs from before transformers PR #24773 carry
   * eos_token_id 2 (wrong), and transformers then takes argmax(input_ids) — the EOS token is the
   * highest id of CLIP's vocabulary; otherwise the first position holding eos_token_id.
   */
  pooling: { kind: "argmax" } | { kind: "eos"; id: number };
}

const ARCHS = ["CLIPTextModel", "CLIPTextModelWithProjection"] as const;

/** config.json → spec, with transformers' CLIPTextConfig defaults; every value checked. */
export function clipTextSpec(c: HfConfig, hasProjection?: boolean): ClipTextSpec {
  const archs = Array.isArray(c.architectures) ? (c.architectures as unknown[]) : [];
  let architecture = ARCHS.find((a) => archs.includes(a));
  if (!architecture) {
    if (archs.length) throw new ConvertError(`config.json: architectures ${JSON.stringify(archs)} is not a CLIP text encoder (expected ${ARCHS.join(" or ")})`);
    if (c.model_type !== undefined && c.model_type !== "clip_text_model") throw new ConvertError(`config.json: model_type "${String(c.model_type)}" is not a CLIP text encoder (expected clip_text_model)`);
    architecture = hasProjection ? "CLIPTextModelWithProjection" : "CLIPTextModel";
  }
  const act = c.hidden_act ?? "quick_gelu";
  if (!ACTIVATIONS.includes(act as ClipActivation)) throw new ConvertError(`config.json: hidden_act ${JSON.stringify(act)} is not supported for CLIP text encoders (expected ${ACTIVATIONS.join(", ")})`);
  const hidden = int(c, "hidden_size", 512);
  const heads = int(c, "num_attention_heads", 8);
  if (hidden % heads) throw new ConvertError(`config.json: hidden_size ${hidden} is not divisible by num_attention_heads ${heads}`);
  const eos = int(c, "eos_token_id", 49407, 0);
  return {
    architecture,
    vocab: int(c, "vocab_size", 49408),
    hidden,
    intermediate: int(c, "intermediate_size", 2048),
    layers: int(c, "num_hidden_layers", 12),
    heads,
    maxPositions: int(c, "max_position_embeddings", 77),
    eps: num(c, "layer_norm_eps", 1e-5),
    act: act as ClipActivation,
    ...(architecture === "CLIPTextModelWithProjection" ? { projection: int(c, "projection_dim", 512) } : {}),
    pooling: eos === 2 ? { kind: "argmax" } : { kind: "eos", id: eos },
  };
}

function activation(ops: GraphOps, x: string, act: ClipActivation): string {
  const { g } = ops;
  switch (act) {
    case "quick_gelu":
      // QuickGELUActivation: x · sigmoid(1.702 x)
      return g.op("Mul", [x, g.op("Sigmoid", [g.op("Mul", [x, g.float([1.702], [], ops.T)])])]);
    case "gelu":
      return ops.gelu(x);
    case "gelu_new":
    case "gelu_pytorch_tanh": {
      // 0.5 x (1 + tanh(sqrt(2/π) (x + 0.044715 x³))), in fp32
      const xf = ops.toF32(x);
      const cube = g.op("Mul", [g.op("Mul", [xf, xf]), xf]);
      const inner = g.op("Mul", [g.op("Add", [xf, g.op("Mul", [cube, g.float([0.044715], [])])]), g.float([Math.sqrt(2 / Math.PI)], [])]);
      return ops.toT(g.op("Mul", [g.op("Mul", [xf, g.float([0.5], [])]), g.op("Add", [g.op("Tanh", [inner]), g.float([1], [])])]));
    }
  }
}

/** Writes the whole encoder into `ops.g`. */
export function writeClipText(ops: GraphOps, s: ClipTextSpec): void {
  const { g, T } = ops;
  const D = s.hidden, H = s.heads, HD = D / H;
  const ids = g.input("input_ids", "int64", ["batch_size", "sequence_length"]);
  const seq = g.op("Slice", [g.op("Shape", [ids]), g.i64([1]), g.i64([2])]); // [1]
  const seqScalar = g.op("Squeeze", [seq, g.i64([0])]);

  const tok = g.op("Gather", [ops.tensor("text_model.embeddings.token_embedding.weight", [s.vocab, D]), ids], { axis: 0 });
  const posTable = ops.tensor("text_model.embeddings.position_embedding.weight", [s.maxPositions, D]);
  const pos = g.op("Slice", [posTable, g.i64([0]), seq, g.i64([0])]);
  let h = g.op("Add", [tok, pos]);

  // Causal additive mask [S, S] in fp32: key j visible to query i iff j ≤ i.
  const zero = g.i64([0], []), one = g.i64([1], []);
  const range = g.op("Range", [zero, seqScalar, one]);
  const allowed = g.op("LessOrEqual", [g.op("Unsqueeze", [range, g.i64([0])]), g.op("Unsqueeze", [range, g.i64([1])])]);
  const mask = g.op("Where", [allowed, g.float([0], []), g.float([MASK_VALUE], [])]);

  // Declared at the end in the export's order (optimum indexes outputs by position: [0] pooled
  // or last state, [-2] the penultimate hidden state).
  const declared: [string, (number | string)[]][] = [];
  const out = (x: string, name: string, dims: (number | string)[]) => {
    g.op(ops.half ? "Cast" : "Identity", [x], ops.half ? { to: 1 } : {}, { outputs: [name] });
    declared.push([name, dims]);
  };
  const hiddenDims = ["batch_size", "sequence_length", D];
  out(h, "hidden_states.0", hiddenDims);

  const heads = (x: string) => g.op("Transpose", [g.op("Reshape", [x, g.i64([0, 0, H, HD])])], { perm: [0, 2, 1, 3] });
  const scale = g.float([HD ** -0.5], [], T);
  for (let l = 0; l < s.layers; l++) {
    const p = `text_model.encoder.layers.${l}`;
    const x = ops.layerNorm(h, `${p}.layer_norm1`, D, s.eps);
    const proj = (n: string, v: string) => ops.linear(v, `${p}.self_attn.${n}.weight`, D, D, `${p}.self_attn.${n}.bias`);
    const q = heads(proj("q_proj", x));
    const kt = g.op("Transpose", [heads(proj("k_proj", x))], { perm: [0, 1, 3, 2] });
    const v = heads(proj("v_proj", x));
    const scores = g.op("Add", [ops.toF32(g.op("Mul", [g.op("MatMul", [q, kt]), scale])), mask]);
    const probs = ops.toT(g.op("Softmax", [scores], { axis: -1 }));
    const attn = g.op("Reshape", [g.op("Transpose", [g.op("MatMul", [probs, v])], { perm: [0, 2, 1, 3] }), g.i64([0, 0, D])]);
    h = g.op("Add", [h, proj("out_proj", attn)]);
    const y = ops.layerNorm(h, `${p}.layer_norm2`, D, s.eps);
    const fc1 = ops.linear(y, `${p}.mlp.fc1.weight`, s.intermediate, D, `${p}.mlp.fc1.bias`);
    const fc2 = ops.linear(activation(ops, fc1, s.act), `${p}.mlp.fc2.weight`, D, s.intermediate, `${p}.mlp.fc2.bias`);
    h = g.op("Add", [h, fc2]);
    out(h, `hidden_states.${l + 1}`, hiddenDims);
  }
  const last = ops.layerNorm(h, "text_model.final_layer_norm", D, s.eps);

  // Pooled state: row b at position idx[b] (first max of the ids, or first EOS).
  const ids32 = g.op("Cast", [ids], { to: 6 }); // int32: the argmax transformers exports
  const key = s.pooling.kind === "argmax" ? ids32 : g.op("Cast", [g.op("Equal", [ids, g.i64([s.pooling.id], [])])], { to: 6 });
  const idx = g.op("ArgMax", [key], { axis: -1, keepdims: 1, select_last_index: 0 }); // [B, 1] int64
  const pooled = g.op("GatherND", [last, idx], { batch_dims: 1 }); // [B, D]

  if (s.projection !== undefined) {
    const embeds = ops.linear(pooled, "text_projection.weight", s.projection, D);
    out(embeds, "text_embeds", ["batch_size", s.projection]);
    out(last, "last_hidden_state", hiddenDims);
  } else {
    out(last, "last_hidden_state", hiddenDims);
    out(pooled, "pooler_output", ["batch_size", D]);
  }
  const first = declared.filter(([n]) => !n.startsWith("hidden_states."));
  for (const [n, dims] of [...first, ...declared.filter((d) => !first.includes(d))]) g.output(n, "float32", dims);
}
