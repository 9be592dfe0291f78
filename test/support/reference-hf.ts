/**
 * Pure-TypeScript forward pass of the Llama-like Hugging Face architectures (llama, mistral,
 * qwen2, phi3, mixtral, qwen2_moe), used ONLY by tests as the reference for converted ONNX models.
 * Written from transformers' modeling_*.py / configuration_*.py (defaults included) over tensors
 * under their Hugging Face names — sharing no code with the converter. Float64 throughout, one
 * token at a time with an explicit KV cache; `forward(chunk)` mirrors one model call, which matters
 * only for longrope (it picks short or long factors per call from the call's last position).
 */
import type { Config } from "./hf-checkpoints.ts";
import type { NamedTensor } from "./safetensors-writer.ts";

/** configuration_*.py defaults for the keys our configs may omit. */
const DEFAULTS: Record<string, Config> = {
  llama: { rms_norm_eps: 1e-6, rope_theta: 10000, tie_word_embeddings: false, attention_bias: false, mlp_bias: false },
  mistral: { rms_norm_eps: 1e-6, rope_theta: 10000, tie_word_embeddings: false, sliding_window: 4096, num_key_value_heads: 8 },
  qwen2: { rms_norm_eps: 1e-6, rope_theta: 10000, tie_word_embeddings: false, use_sliding_window: false, sliding_window: 4096, max_window_layers: 28 },
  phi3: { rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: false, sliding_window: null, partial_rotary_factor: 1 },
  mixtral: { rms_norm_eps: 1e-5, rope_theta: 1e6, tie_word_embeddings: false, sliding_window: null, num_key_value_heads: 8, num_experts_per_tok: 2, num_local_experts: 8 },
  qwen2_moe: {
    rms_norm_eps: 1e-6, rope_theta: 10000, tie_word_embeddings: false, use_sliding_window: false, sliding_window: 4096, max_window_layers: 28,
    decoder_sparse_step: 1, num_experts_per_tok: 4, num_experts: 60, norm_topk_prob: false, mlp_only_layers: [],
  },
};

type Vec = Float64Array;

export class ReferenceHf {
  readonly c: Config;
  private keys: Vec[][] = [];
  private values: Vec[][] = [];
  private readonly D: number; private readonly H: number; private readonly KVH: number; private readonly HD: number;

  constructor(config: Config, private readonly t: Map<string, NamedTensor>) {
    this.c = { ...DEFAULTS[config.model_type], ...config };
    this.D = this.c.hidden_size; this.H = this.c.num_attention_heads;
    this.KVH = this.c.num_key_value_heads ?? this.H; this.HD = this.c.head_dim ?? this.D / this.H;
    this.reset();
  }

  reset(): void {
    this.keys = Array.from({ length: this.c.num_hidden_layers }, () => []);
    this.values = Array.from({ length: this.c.num_hidden_layers }, () => []);
  }

  get length(): number { return this.keys[0]!.length; }

  private w(name: string): Float32Array {
    const x = this.t.get(name);
    if (!x) throw new Error(`reference: no tensor ${name}`);
    return x.data;
  }

  /** nn.Linear: W [out, in] · x (+ b). */
  private lin(name: string, x: Vec, bias = false): Vec {
    const W = this.w(`${name}.weight`), n = x.length, rows = W.length / n;
    const out = new Float64Array(rows);
    for (let r = 0; r < rows; r++) { let s = 0; for (let k = 0; k < n; k++) s += W[r * n + k]! * x[k]!; out[r] = s; }
    if (bias) { const b = this.w(`${name}.bias`); for (let r = 0; r < rows; r++) out[r] += b[r]!; }
    return out;
  }

  private rms(name: string, x: Vec): Vec {
    let ss = 0; for (const v of x) ss += v * v;
    const inv = 1 / Math.sqrt(ss / x.length + this.c.rms_norm_eps), w = this.w(name);
    return x.map((v, i) => v * inv * w[i]!);
  }

  /** inv_freq and attention scaling of the model's rotary embedding for a call ending at `seqLen` tokens. */
  private rope(seqLen: number): { inv: number[]; scale: number; dim: number } {
    const c = this.c, rs = c.rope_scaling ?? {};
    const dim = Math.floor(this.HD * (c.partial_rotary_factor ?? 1));
    const base = Array.from({ length: dim / 2 }, (_, i) => 1 / Math.pow(c.rope_theta, (2 * i) / dim));
    const type = rs.rope_type ?? rs.type ?? "default";
    if (type === "default") return { inv: base, scale: 1, dim };
    if (type === "linear") return { inv: base.map((f) => f / rs.factor), scale: 1, dim };
    if (type === "llama3") {
      const { factor, low_freq_factor: lo, high_freq_factor: hi, original_max_position_embeddings: om } = rs;
      return {
        inv: base.map((f) => {
          const wl = (2 * Math.PI) / f;
          if (wl < om / hi) return f;
          if (wl > om / lo) return f / factor;
          const s = (om / wl - lo) / (hi - lo);
          return (1 - s) * f / factor + s * f;
        }),
        scale: 1, dim,
      };
    }
    if (type === "longrope" || type === "su") {
      const om = c.original_max_position_embeddings;
      const ext: number[] = seqLen > om ? rs.long_factor : rs.short_factor;
      const factor = c.max_position_embeddings / om;
      const scale = factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(om));
      return { inv: base.map((f, i) => f / ext[i]!), scale, dim };
    }
    throw new Error(`reference: rope type ${type}`);
  }

  private window(l: number): number | null {
    const c = this.c;
    if (c.model_type === "qwen2" || c.model_type === "qwen2_moe") return c.use_sliding_window && l >= c.max_window_layers ? c.sliding_window : null;
    return c.sliding_window ?? null;
  }

  private mlp(p: string, x: Vec): Vec {
    const silu = (v: number) => v / (1 + Math.exp(-v));
    const c = this.c, t = c.model_type;
    const swiglu = (g: string, u: string, d: string) => {
      const gate = this.lin(g, x, c.mlp_bias), up = this.lin(u, x, c.mlp_bias);
      return this.lin(d, gate.map((v, i) => silu(v) * up[i]!), c.mlp_bias);
    };
    if (t === "phi3") {
      const gu = this.lin(`${p}.mlp.gate_up_proj`, x), I = gu.length / 2;
      const act = new Float64Array(I).map((_, i) => gu[I + i]! * silu(gu[i]!));
      return this.lin(`${p}.mlp.down_proj`, act);
    }
    const moe = (router: string, E: number, k: number, normalize: boolean, expert: (e: number) => Vec) => {
      const logits = this.lin(router, x), max = Math.max(...logits);
      const ex = logits.map((v) => Math.exp(v - max)), sum = ex.reduce((a, b) => a + b, 0);
      const probs = Array.from(ex, (v) => v / sum);
      // torch.topk order; equal probabilities resolve to the lower expert index.
      const top = probs.map((p, e) => [p, e] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, k);
      const norm = normalize ? top.reduce((a, [p]) => a + p, 0) : 1;
      const out = new Float64Array(this.D);
      for (const [pw, e] of top) { const y = expert(e); for (let i = 0; i < this.D; i++) out[i] += (pw / norm) * y[i]!; }
      return out;
    };
    if (t === "mixtral") {
      const q = `${p}.block_sparse_moe`;
      return moe(`${q}.gate`, c.num_local_experts, c.num_experts_per_tok, true, (e) => swiglu(`${q}.experts.${e}.w1`, `${q}.experts.${e}.w3`, `${q}.experts.${e}.w2`));
    }
    const l = Number(p.split(".")[2]);
    if (t === "qwen2_moe" && !c.mlp_only_layers.includes(l) && c.num_experts > 0 && (l + 1) % c.decoder_sparse_step === 0) {
      const q = `${p}.mlp`;
      const routed = moe(`${q}.gate`, c.num_experts, c.num_experts_per_tok, c.norm_topk_prob, (e) => swiglu(`${q}.experts.${e}.gate_proj`, `${q}.experts.${e}.up_proj`, `${q}.experts.${e}.down_proj`));
      const shared = swiglu(`${q}.shared_expert.gate_proj`, `${q}.shared_expert.up_proj`, `${q}.shared_expert.down_proj`);
      const g = 1 / (1 + Math.exp(-this.lin(`${q}.shared_expert_gate`, x)[0]!));
      return routed.map((v, i) => v + g * shared[i]!);
    }
    return swiglu(`${p}.mlp.gate_proj`, `${p}.mlp.up_proj`, `${p}.mlp.down_proj`);
  }

  private step(token: number, rope: { inv: number[]; scale: number; dim: number }): Vec {
    const c = this.c, { D, H, KVH, HD } = this, t = c.model_type, pos = this.length;
    const E = this.w("model.embed_tokens.weight");
    let x: Vec = Float64Array.from(E.subarray(token * D, (token + 1) * D));
    const qkvBias = t === "qwen2" || t === "qwen2_moe" || c.attention_bias === true;
    for (let l = 0; l < c.num_hidden_layers; l++) {
      const p = `model.layers.${l}`;
      const h = this.rms(`${p}.input_layernorm.weight`, x);
      let q: Vec, k: Vec, v: Vec;
      if (t === "phi3") {
        const qkv = this.lin(`${p}.self_attn.qkv_proj`, h);
        q = qkv.slice(0, H * HD); k = qkv.slice(H * HD, (H + KVH) * HD); v = qkv.slice((H + KVH) * HD);
      } else {
        q = this.lin(`${p}.self_attn.q_proj`, h, qkvBias); k = this.lin(`${p}.self_attn.k_proj`, h, qkvBias); v = this.lin(`${p}.self_attn.v_proj`, h, qkvBias);
      }
      // rotate_half on the first `dim` channels of each head: pairs (i, i + dim/2).
      for (const [vec, heads] of [[q, H], [k, KVH]] as const) {
        for (let hh = 0; hh < heads; hh++) {
          for (let i = 0; i < rope.dim / 2; i++) {
            const a = hh * HD + i, b = a + rope.dim / 2, ang = pos * rope.inv[i]!;
            const cs = Math.cos(ang) * rope.scale, sn = Math.sin(ang) * rope.scale, x0 = vec[a]!, x1 = vec[b]!;
            vec[a] = x0 * cs - x1 * sn; vec[b] = x1 * cs + x0 * sn;
          }
          // channels past `dim` keep their values (partial rotary)
        }
      }
      this.keys[l]!.push(k); this.values[l]!.push(v);
      const win = this.window(l), T = this.keys[l]!.length;
      const attn = new Float64Array(H * HD);
      for (let hq = 0; hq < H; hq++) {
        const kv = Math.floor(hq / (H / KVH));
        const idx: number[] = [];
        for (let j = 0; j < T; j++) if (win === null || pos - j < win) idx.push(j);
        const s = idx.map((j) => { let d = 0; for (let e = 0; e < HD; e++) d += q[hq * HD + e]! * this.keys[l]![j]![kv * HD + e]!; return d / Math.sqrt(HD); });
        const mx = Math.max(...s), ex = s.map((z) => Math.exp(z - mx)), sum = ex.reduce((a, b) => a + b, 0);
        idx.forEach((j, n) => { for (let e = 0; e < HD; e++) attn[hq * HD + e] += (ex[n]! / sum) * this.values[l]![j]![kv * HD + e]!; });
      }
      const o = this.lin(`${p}.self_attn.o_proj`, attn, t === "llama" && c.attention_bias === true);
      x = x.map((z, i) => z + o[i]!);
      const m = this.mlp(p, this.rms(`${p}.post_attention_layernorm.weight`, x));
      x = x.map((z, i) => z + m[i]!);
    }
    const head = c.tie_word_embeddings ? "model.embed_tokens" : "lm_head";
    return this.lin(head, this.rms("model.norm.weight", x));
  }

  /** One model call over `tokens` at the next positions; returns logits per token. */
  forward(tokens: number[]): Vec[] {
    const rope = this.rope(this.length + tokens.length);
    return tokens.map((tok) => this.step(tok, rope));
  }

  /** Greedy: the prompt in one call, then one call per token (as the engine decodes). */
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
