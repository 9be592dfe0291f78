/**
 * Mamba's config.json in either of the two layouts the hub carries, read into one spec:
 *  - transformers' MambaConfig (`model_type: "mamba"`, the `state-spaces/mamba-*-hf` repos):
 *    hidden_size, num_hidden_layers, state_size, conv_kernel, expand, time_step_rank, use_bias,
 *    use_conv_bias, residual_in_fp32, layer_norm_epsilon, with configuration_mamba.py's defaults;
 *  - the original mamba_ssm MambaConfig (the `state-spaces/mamba-*` repos: no model_type; d_model,
 *    n_layer, vocab_size rounded up to pad_vocab_size_multiple, ssm_cfg), with mamba_ssm's
 *    defaults — notably no in/out projection bias, where transformers defaults to one.
 * Mamba-2 layers, LayerNorm instead of RMSNorm, and hybrid MLP/attention layers are refused by name.
 */
import { ConvertError } from "../tensors.ts";
import { bool, int, num, type HfConfig } from "./common.ts";

export interface MambaSpec {
  vocab: number;
  hidden: number;
  layers: number;
  /** d_inner = intermediate_size = expand · hidden. */
  inner: number;
  state: number;
  conv: number;
  dtRank: number;
  eps: number;
  bias: boolean;
  convBias: boolean;
  residualFp32: boolean;
  tied: boolean;
  /** The config written beside the converted graph (transformers' layout, model_type mamba). */
  hfConfig: HfConfig;
}

/** A mamba_ssm config.json: no model_type, but d_model and n_layer. */
export function isMambaSsmConfig(c: HfConfig): boolean {
  return c.model_type === undefined && c.d_model !== undefined && c.n_layer !== undefined;
}

function rank(v: unknown, hidden: number, key: string): number {
  if (v === undefined || v === null || v === "auto") return Math.ceil(hidden / 16);
  return int({ [key]: v }, key);
}

export function mambaSpec(c: HfConfig): MambaSpec {
  const act = c.hidden_act ?? "silu";
  if (act !== "silu" && act !== "swish") throw new ConvertError(`config.json: hidden_act "${act}" is not supported for mamba (expected silu)`);
  let s: Omit<MambaSpec, "hfConfig">;
  if (isMambaSsmConfig(c)) {
    const ssm = (c.ssm_cfg ?? {}) as HfConfig;
    if (typeof ssm !== "object" || ssm === null || Array.isArray(ssm)) throw new ConvertError(`config.json: "ssm_cfg" must be an object`);
    if (ssm.layer !== undefined && ssm.layer !== "Mamba1") throw new ConvertError(`config.json: ssm_cfg.layer "${ssm.layer}" is not supported (only Mamba1 layers convert)`);
    if (c.rms_norm === false) throw new ConvertError(`config.json: rms_norm = false (LayerNorm) is not supported for mamba; transformers' Mamba uses RMSNorm`);
    if ((c.d_intermediate ?? 0) !== 0 || (Array.isArray(c.attn_layer_idx) && c.attn_layer_idx.length > 0)) throw new ConvertError(`config.json: hybrid Mamba models (d_intermediate, attn_layer_idx) are not supported`);
    const hidden = int(c, "d_model");
    const pad = int(c, "pad_vocab_size_multiple", 8);
    let vocab = int(c, "vocab_size", 50277);
    if (vocab % pad !== 0) vocab += pad - (vocab % pad);
    const expand = int(ssm, "expand", 2);
    s = {
      vocab, hidden,
      layers: int(c, "n_layer"),
      inner: expand * hidden,
      state: int(ssm, "d_state", 16),
      conv: int(ssm, "d_conv", 4),
      dtRank: rank(ssm.dt_rank, hidden, "ssm_cfg.dt_rank"),
      eps: num(c, "norm_epsilon", 1e-5),
      bias: bool(ssm, "bias", false),
      convBias: bool(ssm, "conv_bias", true),
      residualFp32: bool(c, "residual_in_fp32", true),
      tied: bool(c, "tie_embeddings", true),
    };
  } else {
    const hidden = int(c, "hidden_size", 768);
    const expand = int(c, "expand", 2);
    s = {
      vocab: int(c, "vocab_size", 50280),
      hidden,
      layers: int(c, "num_hidden_layers", 32),
      // configuration_mamba.py derives it, but a saved intermediate_size is what the weights have.
      inner: int(c, "intermediate_size", expand * hidden),
      state: int(c, "state_size", 16),
      conv: int(c, "conv_kernel", 4),
      dtRank: rank(c.time_step_rank, hidden, "time_step_rank"),
      eps: num(c, "layer_norm_epsilon", 1e-5),
      bias: bool(c, "use_bias", true),
      convBias: bool(c, "use_conv_bias", true),
      residualFp32: bool(c, "residual_in_fp32", true),
      tied: bool(c, "tie_word_embeddings", true),
    };
  }
  // The graph carries the last conv − 1 inputs as state; a kernel of 1 has none to carry.
  if (s.conv < 2) throw new ConvertError(`config.json: conv_kernel ${s.conv} is not supported for mamba (expected ≥ 2)`);
  const hfConfig: HfConfig = isMambaSsmConfig(c)
    ? {
      architectures: ["MambaForCausalLM"], model_type: "mamba", vocab_size: s.vocab, hidden_size: s.hidden,
      num_hidden_layers: s.layers, intermediate_size: s.inner, expand: s.inner / s.hidden, state_size: s.state,
      conv_kernel: s.conv, time_step_rank: s.dtRank, layer_norm_epsilon: s.eps, use_bias: s.bias,
      use_conv_bias: s.convBias, residual_in_fp32: s.residualFp32, tie_word_embeddings: s.tied, hidden_act: "silu",
      bos_token_id: c.bos_token_id ?? 0, eos_token_id: c.eos_token_id ?? 0, pad_token_id: c.pad_token_id ?? 0,
    }
    : c;
  return { ...s, hfConfig };
}
