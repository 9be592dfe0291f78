/**
 * Pure-TypeScript Mamba forward pass, written from the architecture (the Mamba paper's selective
 * SSM and transformers' modeling_mamba.py / configuration_mamba.py, defaults included), used ONLY
 * by tests as the reference for converted Mamba models; shares no code with the converter. Float64,
 * one token at a time, carrying per layer the last conv_kernel inputs of the causal conv and the
 * [d_inner, d_state] SSM state — the recurrent form, independent of how the graph sequences it.
 * Reads transformers' tensor names (HF-layout checkpoints).
 */
import type { Config } from "./hf-checkpoints.ts";
import type { NamedTensor } from "./safetensors-writer.ts";

type Vec = Float64Array;

export class ReferenceMamba {
  readonly c: Config;
  private readonly D: number; private readonly DI: number; private readonly N: number; private readonly K: number; private readonly R: number;
  /** Per layer: the last K conv inputs [K][DI], oldest first. */
  private conv: Vec[][] = [];
  /** Per layer: [DI · N] state. */
  private ssm: Vec[] = [];

  constructor(config: Config, private readonly t: Map<string, NamedTensor>) {
    const c: Config = { state_size: 16, conv_kernel: 4, expand: 2, layer_norm_epsilon: 1e-5, use_bias: true, use_conv_bias: true, tie_word_embeddings: true, time_step_rank: "auto", ...config };
    this.c = c;
    this.D = c.hidden_size; this.DI = c.intermediate_size ?? c.expand * this.D; this.N = c.state_size; this.K = c.conv_kernel;
    this.R = c.time_step_rank === "auto" ? Math.ceil(this.D / 16) : c.time_step_rank;
    this.reset();
  }

  reset(): void {
    this.conv = Array.from({ length: this.c.num_hidden_layers }, () => Array.from({ length: this.K }, () => new Float64Array(this.DI)));
    this.ssm = Array.from({ length: this.c.num_hidden_layers }, () => new Float64Array(this.DI * this.N));
  }

  private w(n: string): Float32Array {
    const x = this.t.get(n);
    if (!x) throw new Error(`reference: no tensor ${n}`);
    return x.data;
  }

  private lin(name: string, x: Vec, bias: boolean): Vec {
    const W = this.w(`${name}.weight`), n = x.length, rows = W.length / n, out = new Float64Array(rows);
    for (let r = 0; r < rows; r++) { let s = 0; for (let k = 0; k < n; k++) s += W[r * n + k]! * x[k]!; out[r] = s; }
    if (bias) { const b = this.w(`${name}.bias`); for (let r = 0; r < rows; r++) out[r] += b[r]!; }
    return out;
  }

  private rms(name: string, x: Vec): Vec {
    const ms = x.reduce((a, v) => a + v * v, 0) / x.length;
    const inv = 1 / Math.sqrt(ms + this.c.layer_norm_epsilon), w = this.w(name);
    return x.map((v, i) => v * inv * w[i]!);
  }

  private step(token: number): Vec {
    const c = this.c, { D, DI, N, K, R } = this;
    const silu = (v: number) => v / (1 + Math.exp(-v));
    const softplus = (v: number) => (v > 20 ? v : Math.log1p(Math.exp(v)));
    let x: Vec = Float64Array.from(this.w("backbone.embeddings.weight").subarray(token * D, (token + 1) * D));
    for (let l = 0; l < c.num_hidden_layers; l++) {
      const p = `backbone.layers.${l}.mixer`;
      const proj = this.lin(`${p}.in_proj`, this.rms(`backbone.layers.${l}.norm.weight`, x), c.use_bias);
      const u = proj.subarray(0, DI), gate = proj.subarray(DI);
      // Causal depthwise conv: roll the window, newest input last.
      const win = this.conv[l]!;
      win.shift();
      win.push(Float64Array.from(u));
      const cw = this.w(`${p}.conv1d.weight`), cb = c.use_conv_bias ? this.w(`${p}.conv1d.bias`) : undefined;
      const xc = new Float64Array(DI);
      for (let i = 0; i < DI; i++) {
        let s = cb ? cb[i]! : 0;
        for (let k = 0; k < K; k++) s += win[k]![i]! * cw[i * K + k]!;
        xc[i] = silu(s);
      }
      const sp = this.lin(`${p}.x_proj`, xc, false);
      const dt = this.lin(`${p}.dt_proj`, sp.subarray(0, R), true).map(softplus);
      const B = sp.subarray(R, R + N), C = sp.subarray(R + N, R + 2 * N);
      const A = this.w(`${p}.A_log`), Dw = this.w(`${p}.D`), st = this.ssm[l]!;
      const y = new Float64Array(DI);
      for (let i = 0; i < DI; i++) {
        let s = 0;
        for (let n = 0; n < N; n++) {
          const a = -Math.exp(A[i * N + n]!);
          st[i * N + n] = Math.exp(a * dt[i]!) * st[i * N + n]! + dt[i]! * B[n]! * xc[i]!;
          s += st[i * N + n]! * C[n]!;
        }
        y[i] = (s + xc[i]! * Dw[i]!) * silu(gate[i]!);
      }
      const out = this.lin(`${p}.out_proj`, y, c.use_bias);
      x = x.map((v, i) => v + out[i]!);
    }
    const h = this.rms("backbone.norm_f.weight", x);
    const head = c.tie_word_embeddings ? "backbone.embeddings" : "lm_head";
    const W = this.w(`${head}.weight`), V = W.length / D, logits = new Float64Array(V);
    for (let v = 0; v < V; v++) { let s = 0; for (let k = 0; k < D; k++) s += W[v * D + k]! * h[k]!; logits[v] = s; }
    return logits;
  }

  /** Logits at every position of `ids`, continuing from the current state. */
  forward(ids: number[]): Vec[] {
    return ids.map((t) => this.step(t));
  }

  /** Greedy continuation from a fresh state (first maximum on ties). */
  greedy(ids: number[], n: number): number[] {
    this.reset();
    let last = this.forward(ids).at(-1)!;
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let v = 1; v < last.length; v++) if (last[v]! > last[best]!) best = v;
      out.push(best);
      last = this.step(best);
    }
    return out;
  }
}
