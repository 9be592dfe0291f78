/**
 * Mamba (`MambaForCausalLM`), after transformers' modeling_mamba.py (its sequential `slow_forward`,
 * which the CUDA kernels compute too): per layer RMSNorm → in_proj → (x, gate); x through a causal
 * depthwise conv1d (kernel conv_kernel) and SiLU; x_proj → (dt, B, C); dt = softplus(dt_proj(dt));
 * the selective scan state ← exp(A·dt)·state + dt·B·x, y = state·C + D·x; y · silu(gate) →
 * out_proj, added to the residual (fp32 when residual_in_fp32). Config layouts: mamba-config.ts.
 *
 * One graph serves prefill and decode: inputs `input_ids` [B, T], and per layer
 * `conv_state.{l}` [B, d_inner, conv − 1] (the last conv − 1 conv inputs, oldest first) and
 * `ssm_state.{l}` [B, d_inner, d_state] (fp32 in every variant, as transformers runs the scan);
 * and `num_logits_to_keep` (int64 scalar, lm-head.ts); outputs `logits` [B, N, vocab] (the last N
 * positions; all for 0) and `present.conv_state.{l}`, `present.ssm_state.{l}`. Zero
 * states start a sequence. The recurrence runs as an ONNX Scan over T inside the graph, so a prompt
 * costs one run whose projections are [T, ·] matrix products instead of T matrix-vector runs; the
 * scan body is elementwise per batch row, so rows never mix. The conv, softplus and scan run in
 * fp32 in fp16 variants. Quantised variants quantise in_proj, out_proj and the classifier (nearly
 * all weights); x_proj and dt_proj stay dense — they are small and feed exp(A·dt), where 4-bit
 * error would be amplified.
 */
import { GraphOps, VARIANTS, VARIANT_SPECS, type Variant } from "../ops.ts";
import { writeLmHead } from "../lm-head.ts";
import type { Family } from "./common.ts";
import { mambaSpec, type MambaSpec } from "./mamba-config.ts";

/** Largest Slice end (means "to the end of the axis"). */
const END = Number.MAX_SAFE_INTEGER;

/** The dense variant with the same float type (x_proj, dt_proj in quantised variants). */
function denseOps(ops: GraphOps): GraphOps {
  if (!ops.spec.bits) return ops;
  const v = VARIANTS.find((x) => !VARIANT_SPECS[x].bits && VARIANT_SPECS[x].float === ops.T) as Variant;
  return new GraphOps(ops.g, ops.w, v, ops.dry);
}

/** A weight kept in fp32 whatever the variant (A_log, D, conv bias). */
function f32(ops: GraphOps, name: string, shape: number[]): string {
  if (ops.dry) {
    ops.w.check(name, shape);
    return name;
  }
  return ops.g.initializer(name, ops.w.get(name, shape), shape);
}

/** conv1d.weight [DI, 1, K] as K fp32 tap vectors [DI] (tap k multiplies input t + k − (K − 1)). */
function convTaps(ops: GraphOps, name: string, DI: number, K: number): string[] {
  const ids = Array.from({ length: K }, (_, k) => `${name}.tap${k}`);
  if (ops.dry) {
    ops.w.check(name, [DI, 1, K]);
    return ids;
  }
  const w = ops.w.get(name, [DI, 1, K]);
  return ids.map((id, k) => ops.g.initializer(id, Float32Array.from({ length: DI }, (_, i) => w[i * K + k]!), [DI]));
}

/**
 * The selective scan over axis 1: state [B, DI, N] and per step dt, x [B, DI], B, C [B, N] → the
 * final state and y [B, T, DI]. `aNeg` (= −exp(A_log), [DI, N]) is read from the outer graph.
 */
function scan(ops: GraphOps, l: number, state: string, dt: string, x: string, b: string, c: string, aNeg: string): [string, string] {
  const g = ops.g, body = g.subgraph(`scan${l}_`);
  const sIn = body.input(body.fresh("state"), "float32", ["batch_size", "d_inner", "d_state"]);
  const dtT = body.input(body.fresh("dt"), "float32", ["batch_size", "d_inner"]);
  const xT = body.input(body.fresh("x"), "float32", ["batch_size", "d_inner"]);
  const bT = body.input(body.fresh("B"), "float32", ["batch_size", "d_state"]);
  const cT = body.input(body.fresh("C"), "float32", ["batch_size", "d_state"]);
  const dtU = body.op("Unsqueeze", [dtT, body.i64([2])]);
  const dA = body.op("Exp", [body.op("Mul", [aNeg, dtU])]);
  const dBu = body.op("Mul", [body.op("Mul", [dtU, body.op("Unsqueeze", [bT, body.i64([1])])]), body.op("Unsqueeze", [xT, body.i64([2])])]);
  const sOut = body.op("Add", [body.op("Mul", [dA, sIn]), dBu]);
  const y = body.op("ReduceSum", [body.op("Mul", [sOut, body.op("Unsqueeze", [cT, body.i64([1])])]), body.i64([2])], { keepdims: 0 });
  const sName = body.fresh("state_out"), yName = body.fresh("y");
  body.op("Identity", [sOut], {}, { outputs: [sName] });
  body.op("Identity", [y], {}, { outputs: [yName] });
  body.output(sName, "float32", ["batch_size", "d_inner", "d_state"]);
  body.output(yName, "float32", ["batch_size", "d_inner"]);
  const outs = [`present.ssm_state.${l}`, g.fresh("scan_y")];
  g.op("Scan", [state, dt, x, b, c], {
    num_scan_inputs: 4, scan_input_axes: [1, 1, 1, 1], scan_output_axes: [1], body: { graph: body.asGraph(`selective_scan_${l}`) },
  }, { outputs: outs });
  return [outs[0]!, outs[1]!];
}

function mixer(ops: GraphOps, s: MambaSpec, l: number, h: string): string {
  const g = ops.g, dense = denseOps(ops);
  const p = `backbone.layers.${l}.mixer`;
  const DI = s.inner, N = s.state, K = s.conv, R = s.dtRank;
  const b = (n: string) => (s.bias ? `${p}.${n}.bias` : undefined);
  const [xs, gate] = ops.split(ops.linear(h, `${p}.in_proj.weight`, 2 * DI, s.hidden, b("in_proj")), [DI, DI]) as [string, string];

  // Causal depthwise conv in [B, K−1+T, DI]: the carried inputs, then this run's.
  const convIn = g.input(`conv_state.${l}`, ops.T, ["batch_size", DI, K - 1]);
  const full = ops.toF32(g.op("Concat", [g.op("Transpose", [convIn], { perm: [0, 2, 1] }), xs], { axis: 1 }));
  g.op("Transpose", [g.op("Slice", [full, g.i64([-(K - 1)]), g.i64([END]), g.i64([1])])], { perm: [0, 2, 1] }, { outputs: [`present.conv_state.${l}_f32`] });
  g.op("Identity", [ops.toT(`present.conv_state.${l}_f32`)], {}, { outputs: [`present.conv_state.${l}`] });
  let conv: string | undefined;
  convTaps(ops, `${p}.conv1d.weight`, DI, K).forEach((w, k) => {
    const tap = g.op("Slice", [full, g.i64([k]), g.i64([k === K - 1 ? END : k - (K - 1)]), g.i64([1])]);
    const term = g.op("Mul", [tap, w]);
    conv = conv ? g.op("Add", [conv, term]) : term;
  });
  if (s.convBias) conv = g.op("Add", [conv!, f32(ops, `${p}.conv1d.bias`, [DI])]);
  const xc = ops.silu(conv!); // fp32 [B, T, DI]

  const [dtLow, bm, cm] = dense.split(dense.linear(ops.toT(xc), `${p}.x_proj.weight`, R + 2 * N, DI), [R, N, N]) as [string, string, string];
  const dt = g.op("Softplus", [ops.toF32(dense.linear(dtLow, `${p}.dt_proj.weight`, DI, R, `${p}.dt_proj.bias`))]);
  const aNeg = g.op("Neg", [g.op("Exp", [f32(ops, `${p}.A_log`, [DI, N])])]);
  const ssmIn = g.input(`ssm_state.${l}`, "float32", ["batch_size", DI, N]);
  const [, y] = scan(ops, l, ssmIn, dt, xc, ops.toF32(bm), ops.toF32(cm), aNeg);
  const withD = g.op("Add", [y, g.op("Mul", [xc, f32(ops, `${p}.D`, [DI])])]);
  const gated = g.op("Mul", [withD, ops.silu(ops.toF32(gate))]);
  return ops.linear(ops.toT(gated), `${p}.out_proj.weight`, s.hidden, DI, b("out_proj"));
}

function writeMamba(ops: GraphOps, s: MambaSpec): void {
  const g = ops.g;
  const ids = g.input("input_ids", "int64", ["batch_size", "sequence_length"]);
  // transformers' load hook renames mamba_ssm's `backbone.embedding.` to `backbone.embeddings.`.
  const embedName = !ops.w.has("backbone.embeddings.weight") && ops.w.has("backbone.embedding.weight") ? "backbone.embedding.weight" : "backbone.embeddings.weight";
  const embed = ops.tensor(embedName, [s.vocab, s.hidden]);
  // The residual stream: fp32 when residual_in_fp32 (transformers casts it up before each add).
  const wide = s.residualFp32;
  let x = g.op("Gather", [embed, ids], { axis: 0 });
  if (wide) x = ops.toF32(x);
  for (let l = 0; l < s.layers; l++) {
    const h = ops.rmsNorm(wide ? ops.toT(x) : x, `backbone.layers.${l}.norm.weight`, s.hidden, s.eps);
    const out = mixer(ops, s, l, h);
    x = g.op("Add", [x, wide ? ops.toF32(out) : out]);
  }
  const final = ops.rmsNorm(wide ? ops.toT(x) : x, "backbone.norm_f.weight", s.hidden, s.eps);
  writeLmHead(ops, final, { vocab: s.vocab, hidden: s.hidden, tied: s.tied ? { embed, name: embedName } : null });
  for (let l = 0; l < s.layers; l++) {
    g.output(`present.conv_state.${l}`, ops.T, ["batch_size", s.inner, s.conv - 1]);
    g.output(`present.ssm_state.${l}`, "float32", ["batch_size", s.inner, s.state]);
  }
}

export const mamba: Family = {
  modelType: "mamba",
  architectures: ["MambaForCausalLM"],
  plan(c) {
    const s = mambaSpec(c);
    return { modelType: "mamba", config: s.hfConfig, write: (ops) => writeMamba(ops, s) };
  },
};
