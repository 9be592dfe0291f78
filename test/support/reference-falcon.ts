/**
 * Pure-TypeScript Falcon forward pass (transformers' modeling_falcon.py / configuration_falcon.py,
 * defaults included), used ONLY by tests as the reference for converted Falcon models; shares no
 * code with the converter. Float64, one token at a time; the KV cache keeps one key/value per KV
 * group, which is what HF's broadcast of keys to all heads computes.
 */
import type { Config } from "./hf-checkpoints.ts";
import type { NamedTensor } from "./safetensors-writer.ts";

type Vec = Float64Array;

export class ReferenceFalcon {
  readonly c: Config;
  private keys: Vec[][][] = [];
  private values: Vec[][][] = [];
  private readonly D: number; private readonly H: number; private readonly HD: number; private readonly G: number;

  constructor(config: Config, private readonly t: Map<string, NamedTensor>) {
    const c: Config = { layer_norm_epsilon: 1e-5, multi_query: true, new_decoder_architecture: false, parallel_attn: true, bias: false, rope_theta: 10000, tie_word_embeddings: true, ...config };
    c.num_attention_heads ??= c.n_head; c.num_hidden_layers ??= c.n_layer;
    c.num_kv_heads ??= c.num_attention_heads;
    c.num_ln_in_parallel_attn ??= c.new_decoder_architecture ? 2 : null;
    this.c = c;
    this.D = c.hidden_size; this.H = c.num_attention_heads; this.HD = this.D / this.H;
    this.G = c.new_decoder_architecture ? c.num_kv_heads : c.multi_query ? 1 : this.H;
    this.reset();
  }

  reset(): void {
    this.keys = Array.from({ length: this.c.num_hidden_layers }, () => []);
    this.values = Array.from({ length: this.c.num_hidden_layers }, () => []);
  }

  private w(n: string): Float32Array {
    const x = this.t.get(n);
    if (!x) throw new Error(`reference: no tensor ${n}`);
    return x.data;
  }

  private lin(name: string, x: Vec): Vec {
    const W = this.w(`${name}.weight`), n = x.length, rows = W.length / n, out = new Float64Array(rows);
    for (let r = 0; r < rows; r++) { let s = 0; for (let k = 0; k < n; k++) s += W[r * n + k]! * x[k]!; out[r] = s; }
    if (this.c.bias) { const b = this.w(`${name}.bias`); for (let r = 0; r < rows; r++) out[r] += b[r]!; }
    return out;
  }

  private ln(name: string, x: Vec): Vec {
    const mean = x.reduce((a, b) => a + b, 0) / x.length;
    const variance = x.reduce((a, v) => a + (v - mean) ** 2, 0) / x.length;
    const inv = 1 / Math.sqrt(variance + this.c.layer_norm_epsilon), w = this.w(`${name}.weight`), b = this.w(`${name}.bias`);
    return x.map((v, i) => (v - mean) * inv * w[i]! + b[i]!);
  }

  private step(token: number): Vec {
    const c = this.c, { D, H, HD, G } = this, pos = this.keys[0]!.length, n = H / G;
    const gelu = (v: number) => 0.5 * v * (1 + erf(v / Math.SQRT2));
    let x: Vec = Float64Array.from(this.w("transformer.word_embeddings.weight").subarray(token * D, (token + 1) * D));
    for (let l = 0; l < c.num_hidden_layers; l++) {
      const p = `transformer.h.${l}`;
      const two = c.new_decoder_architecture && c.num_ln_in_parallel_attn === 2;
      const aIn = this.ln(two ? `${p}.ln_attn` : `${p}.input_layernorm`, x);
      const qkv = this.lin(`${p}.self_attention.query_key_value`, aIn);
      // fused layout [G, n + 2, HD]: n queries, a key, a value per group
      const q: Vec[] = [], k: Vec[] = [], v: Vec[] = [];
      for (let gi = 0; gi < G; gi++) {
        const base = gi * (n + 2) * HD;
        for (let j = 0; j < n; j++) q.push(qkv.slice(base + j * HD, base + (j + 1) * HD));
        k.push(qkv.slice(base + n * HD, base + (n + 1) * HD));
        v.push(qkv.slice(base + (n + 1) * HD, base + (n + 2) * HD));
      }
      for (const vec of [...q, ...k]) {
        for (let i = 0; i < HD / 2; i++) {
          const ang = pos / Math.pow(c.rope_theta, (2 * i) / HD), cs = Math.cos(ang), sn = Math.sin(ang);
          const a = vec[i]!, b = vec[i + HD / 2]!;
          vec[i] = a * cs - b * sn; vec[i + HD / 2] = b * cs + a * sn;
        }
      }
      this.keys[l]!.push(k); this.values[l]!.push(v);
      const attn = new Float64Array(H * HD);
      for (let h = 0; h < H; h++) {
        const gi = Math.floor(h / n);
        const s = this.keys[l]!.map((kt) => { let d = 0; for (let e = 0; e < HD; e++) d += q[h]![e]! * kt[gi]![e]!; return d / Math.sqrt(HD); });
        const mx = Math.max(...s), ex = s.map((z) => Math.exp(z - mx)), sum = ex.reduce((a, b) => a + b, 0);
        this.values[l]!.forEach((vt, j) => { for (let e = 0; e < HD; e++) attn[h * HD + e] += (ex[j]! / sum) * vt[gi]![e]!; });
      }
      const attnOut = this.lin(`${p}.self_attention.dense`, attn);
      let residual = x, mIn: Vec;
      if (!c.new_decoder_architecture && !c.parallel_attn) {
        residual = x.map((z, i) => z + attnOut[i]!);
        mIn = this.ln(`${p}.post_attention_layernorm`, residual);
      } else {
        mIn = two ? this.ln(`${p}.ln_mlp`, x) : aIn;
      }
      const hidden = this.lin(`${p}.mlp.dense_h_to_4h`, mIn).map(gelu);
      const m = this.lin(`${p}.mlp.dense_4h_to_h`, hidden);
      const add = c.new_decoder_architecture || c.parallel_attn;
      x = residual.map((z, i) => z + m[i]! + (add ? attnOut[i]! : 0));
    }
    const f = this.ln("transformer.ln_f", x);
    const head = this.w(c.tie_word_embeddings ? "transformer.word_embeddings.weight" : "lm_head.weight");
    const V = head.length / D, out = new Float64Array(V);
    for (let r = 0; r < V; r++) { let s = 0; for (let k = 0; k < D; k++) s += head[r * D + k]! * f[k]!; out[r] = s; }
    return out;
  }

  forward(tokens: number[]): Vec[] {
    return tokens.map((t) => this.step(t));
  }

  greedy(prompt: number[], maxNew: number): number[] {
    this.reset();
    let last = this.forward(prompt).at(-1)!;
    const out: number[] = [];
    while (out.length < maxNew) {
      let best = 0;
      for (let i = 1; i < last.length; i++) if (last[i]! > last[best]!) best = i;
      out.push(best);
      last = this.forward([best])[0]!;
    }
    return out;
  }
}

/** erf to ~1e-15 (Abramowitz–Stegun is too coarse for a 1e-4 logit check): series / continued fraction. */
function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2.5) {
    let sum = ax, term = ax;
    for (let n = 1; n < 60; n++) { term *= (-ax * ax) / n; sum += term / (2 * n + 1); }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc continued fraction (Lentz) for large |x|
  let f = ax, C = ax, Dd = 0;
  for (let i = 1; i < 100; i++) {
    const a = i / 2;
    Dd = ax + a * Dd; Dd = Dd === 0 ? 1e-300 : 1 / Dd;
    C = ax + a / C; if (C === 0) C = 1e-300;
    f *= C * Dd;
  }
  return Math.sign(x) * (1 - Math.exp(-ax * ax) / (f * Math.sqrt(Math.PI)));
}
