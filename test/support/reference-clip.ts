/**
 * Plain-TypeScript forward pass of transformers' CLIP text encoder, written from the architecture
 * definition (modeling_clip.py: CLIPTextEmbeddings, CLIPEncoderLayer, CLIPTextTransformer,
 * CLIPTextModelWithProjection) in float64, independently of the graph writer, for one sequence at
 * a time: token + position embeddings; per layer x += out_proj(attn(LN1(x))) with a causal mask,
 * x += fc2(act(fc1(LN2(x)))); final LayerNorm; pooled at the EOS position; text_projection.
 */
import type { NamedTensor } from "./safetensors-writer.ts";
import type { ClipConfig } from "./clip-checkpoint.ts";

export interface ClipReferenceOutput {
  /** hidden_states[0..L]: embeddings, then each layer's output (before final_layer_norm); [S][D]. */
  hiddenStates: number[][][];
  lastHiddenState: number[][];
  pooled: number[];
  /** text_projection(pooled), WithProjection only. */
  textEmbeds?: number[];
}

const ACT: Record<string, (x: number) => number> = {
  quick_gelu: (x) => x / (1 + Math.exp(-1.702 * x)),
  gelu: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  gelu_new: (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
};

/** erf by its Maclaurin series (about 1e-10 for |x| ≤ 4, where terms stay below 1e6; beyond, 1 − |erf| < 2e-8). */
function erf(x: number): number {
  if (Math.abs(x) > 4) return Math.sign(x);
  let sum = x, term = x;
  for (let n = 1; n < 200; n++) {
    term *= (-x * x) / n;
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-17) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

export function clipTextReference(c: ClipConfig, w: Map<string, NamedTensor>, ids: number[]): ClipReferenceOutput {
  const D = c.hidden_size, H = c.num_attention_heads, HD = D / H, I = c.intermediate_size, S = ids.length;
  const eps = c.layer_norm_eps ?? 1e-5;
  const act = ACT[c.hidden_act ?? "quick_gelu"]!;
  const t = (n: string) => {
    const x = w.get(n);
    if (!x) throw new Error(`reference: no tensor ${n}`);
    return x.data;
  };
  const linear = (x: number[], name: string, out: number, inF: number, bias = true): number[] => {
    const W = t(`${name}.weight`), b = bias ? t(`${name}.bias`) : undefined;
    return Array.from({ length: out }, (_, o) => {
      let s = b ? b[o]! : 0;
      for (let i = 0; i < inF; i++) s += W[o * inF + i]! * x[i]!;
      return s;
    });
  };
  const layerNorm = (x: number[], name: string): number[] => {
    const mean = x.reduce((a, b) => a + b, 0) / D;
    const v = x.reduce((a, b) => a + (b - mean) ** 2, 0) / D;
    const g = t(`${name}.weight`), b = t(`${name}.bias`);
    return x.map((xi, i) => ((xi - mean) / Math.sqrt(v + eps)) * g[i]! + b[i]!);
  };
  const tok = t("text_model.embeddings.token_embedding.weight"), pos = t("text_model.embeddings.position_embedding.weight");
  let h = ids.map((id, p) => Array.from({ length: D }, (_, k) => tok[id * D + k]! + pos[p * D + k]!));
  const hiddenStates = [h];
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `text_model.encoder.layers.${l}`;
    const x = h.map((r) => layerNorm(r, `${p}.layer_norm1`));
    const q = x.map((r) => linear(r, `${p}.self_attn.q_proj`, D, D));
    const k = x.map((r) => linear(r, `${p}.self_attn.k_proj`, D, D));
    const v = x.map((r) => linear(r, `${p}.self_attn.v_proj`, D, D));
    const attn = Array.from({ length: S }, () => new Array<number>(D).fill(0));
    for (let hd = 0; hd < H; hd++) {
      for (let i = 0; i < S; i++) {
        // causal: query i attends to keys 0..i
        const scores: number[] = [];
        for (let j = 0; j <= i; j++) {
          let s = 0;
          for (let d = 0; d < HD; d++) s += q[i]![hd * HD + d]! * k[j]![hd * HD + d]!;
          scores.push(s / Math.sqrt(HD));
        }
        const m = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let j = 0; j <= i; j++) for (let d = 0; d < HD; d++) attn[i]![hd * HD + d]! += (e[j]! / z) * v[j]![hd * HD + d]!;
      }
    }
    h = h.map((r, i) => {
      const o = linear(attn[i]!, `${p}.self_attn.out_proj`, D, D);
      return r.map((xv, d) => xv + o[d]!);
    });
    h = h.map((r) => {
      const y = layerNorm(r, `${p}.layer_norm2`);
      const f = linear(linear(y, `${p}.mlp.fc1`, I, D).map(act), `${p}.mlp.fc2`, D, I);
      return r.map((xv, d) => xv + f[d]!);
    });
    hiddenStates.push(h);
  }
  const last = h.map((r) => layerNorm(r, "text_model.final_layer_norm"));
  // transformers: eos_token_id 2 (configs from before PR #24773) → argmax(input_ids); else the
  // first position of eos_token_id.
  const eos = c.eos_token_id ?? 49407;
  const at = eos === 2 ? ids.indexOf(Math.max(...ids)) : ids.indexOf(eos);
  const pooled = last[at < 0 ? 0 : at]!; // no EOS at all: argmax of all zeros is 0
  const withProj = (c.architectures ?? []).includes("CLIPTextModelWithProjection");
  return {
    hiddenStates,
    lastHiddenState: last,
    pooled,
    ...(withProj ? { textEmbeds: linear(pooled, "text_projection", c.projection_dim, D, false) } : {}),
  };
}
