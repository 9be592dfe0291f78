/**
 * Feed-forward blocks of the Llama-like families: the gated SiLU MLP `down(silu(gate(x)) · up(x))`
 * (separate or Phi-3's fused `gate_up_proj`, gate half first), and sparse mixtures of experts as in
 * transformers' Mixtral / Qwen2-MoE blocks: router logits → softmax in fp32 → top-k → (optionally)
 * renormalised weights, Qwen2-MoE adding a shared expert scaled by sigmoid(shared_expert_gate(x)).
 * Experts are evaluated densely for every token and weighted by a scattered [B, S, E] routing
 * matrix (zero for unrouted experts): exact, standard ops only, at E/k times the routed compute.
 */
import type { GraphOps } from "./ops.ts";

export interface GatedMlp {
  kind: "gated";
  /** Module path under the layer, e.g. `mlp`. */
  prefix: string;
  intermediate: number;
  /** Phi-3: one `gate_up_proj` [2·I, D]. */
  fused: boolean;
  /** Llama `mlp_bias`. */
  bias: boolean;
}

export interface MoeMlp {
  kind: "moe";
  /** Router weight name under the layer (`block_sparse_moe.gate` / `mlp.gate`). */
  router: string;
  experts: number;
  topK: number;
  normalize: boolean;
  /** Per expert: module paths of its gate, up and down projections under the layer. */
  expert: (e: number) => { gate: string; up: string; down: string };
  intermediate: number;
  shared?: { prefix: string; intermediate: number; gate: string };
}

export type MlpSpec = GatedMlp | MoeMlp;

function gated(ops: GraphOps, x: string, D: number, I: number, names: { gate: string; up: string; down: string }, bias = false): string {
  const b = (n: string) => (bias ? `${n}.bias` : undefined);
  const gate = ops.linear(x, `${names.gate}.weight`, I, D, b(names.gate));
  const up = ops.linear(x, `${names.up}.weight`, I, D, b(names.up));
  return ops.linear(ops.g.op("Mul", [ops.silu(gate), up]), `${names.down}.weight`, D, I, b(names.down));
}

export function feedForward(ops: GraphOps, x: string, layer: string, D: number, m: MlpSpec): string {
  const g = ops.g;
  if (m.kind === "gated") {
    const p = `${layer}.${m.prefix}`;
    if (!m.fused) return gated(ops, x, D, m.intermediate, { gate: `${p}.gate_proj`, up: `${p}.up_proj`, down: `${p}.down_proj` }, m.bias);
    const [gate, up] = ops.split(ops.linear(x, `${p}.gate_up_proj.weight`, 2 * m.intermediate, D), [m.intermediate, m.intermediate]) as [string, string];
    return ops.linear(g.op("Mul", [ops.silu(gate), up]), `${p}.down_proj.weight`, D, m.intermediate);
  }
  const E = m.experts;
  const probs = g.op("Softmax", [ops.toF32(ops.linear(x, `${layer}.${m.router}.weight`, E, D))], { axis: -1 });
  const top = [g.fresh("topk_values"), g.fresh("topk_indices")];
  g.op("TopK", [probs, g.i64([m.topK])], { axis: -1, largest: 1, sorted: 1 }, { outputs: top });
  let weights = top[0]!;
  if (m.normalize) weights = g.op("Div", [weights, g.op("ReduceSum", [weights, g.i64([-1])], { keepdims: 1 })]);
  const routing = ops.toT(g.op("ScatterElements", [g.op("Mul", [probs, g.float([0], [])]), top[1]!, weights], { axis: -1 }));
  let out: string | undefined;
  for (let e = 0; e < E; e++) {
    const n = m.expert(e);
    const y = gated(ops, x, D, m.intermediate, { gate: `${layer}.${n.gate}`, up: `${layer}.${n.up}`, down: `${layer}.${n.down}` });
    const w = g.op("Slice", [routing, g.i64([e]), g.i64([e + 1]), g.i64([-1])]);
    const term = g.op("Mul", [y, w]);
    out = out ? g.op("Add", [out, term]) : term;
  }
  if (m.shared) {
    const p = `${layer}.${m.shared.prefix}`;
    const y = gated(ops, x, D, m.shared.intermediate, { gate: `${p}.gate_proj`, up: `${p}.up_proj`, down: `${p}.down_proj` });
    const gate = g.op("Sigmoid", [ops.linear(x, `${layer}.${m.shared.gate}.weight`, 1, D)]);
    out = g.op("Add", [out!, g.op("Mul", [y, gate])]);
  }
  return out!;
}
