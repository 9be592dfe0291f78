/**
 * Reading a Hugging Face config.json into a DecoderSpec. Defaults are those of each family's
 * transformers `Configuration*` class, passed in by the family module, so a config that omits a key
 * converts to what transformers would run. Every value is checked: a wrong one is a ConvertError
 * naming the key.
 */
import { fusedUnsupported, writeDecoder, type DecoderSpec } from "../decoder.ts";
import type { GraphOps } from "../ops.ts";
import type { MlpSpec } from "../mlp.ts";
import { ropeSpec } from "../rope.ts";
import { ConvertError } from "../tensors.ts";

export type HfConfig = Record<string, unknown>;

/** What a family makes of one config: the graph writer for any variant. */
export interface GraphPlan {
  modelType: string;
  /** Why this model has no fused graph form (ops.form "fused"), or null when it has; absent = it has none. */
  fusedUnsupported?: string | null;
  write(ops: GraphOps): void;
  /** The config.json to write beside the graph when it is not the source's (a mamba_ssm config → transformers' keys). */
  config?: HfConfig;
}

export interface Family {
  modelType: string;
  /** transformers class names this family converts (config.json `architectures`). */
  architectures: string[];
  /** Throws ConvertError with the precise reason when the config is not convertible. */
  plan(config: HfConfig): GraphPlan;
}

/** The plan of the Llama-like families: the shared decoder writer on their spec. */
export function decoderPlan(spec: DecoderSpec): GraphPlan {
  return { modelType: spec.modelType, fusedUnsupported: fusedUnsupported(spec), write: (ops) => writeDecoder(ops, spec) };
}

/** Integer key with the family default; null/absent → default. */
export function int(c: HfConfig, key: string, dflt?: number, min = 1): number {
  const v = c[key] ?? dflt;
  if (v === undefined) throw new ConvertError(`config.json has no "${key}"`);
  if (!Number.isInteger(v) || (v as number) < min) throw new ConvertError(`config.json: "${key}" is ${JSON.stringify(v)}, expected an integer ≥ ${min}`);
  return v as number;
}

export function num(c: HfConfig, key: string, dflt: number): number {
  const v = c[key] ?? dflt;
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) throw new ConvertError(`config.json: "${key}" is ${JSON.stringify(v)}, expected a positive number`);
  return v;
}

export function bool(c: HfConfig, key: string, dflt: boolean): boolean {
  const v = c[key] ?? dflt;
  if (typeof v !== "boolean") throw new ConvertError(`config.json: "${key}" is ${JSON.stringify(v)}, expected true or false`);
  return v;
}

export interface LlamaLikeDefaults {
  vocab: number;
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  /** undefined ⇒ num_attention_heads (multi-head attention). */
  kvHeads?: number;
  maxPositions: number;
  rmsEps: number;
  ropeTheta: number;
}

export interface LlamaLikeOptions {
  qkvBias?: boolean;
  oBias?: boolean;
  fusedQkv?: boolean;
  slidingWindow?: (layer: number) => number | null;
  mlp?: (layer: number, intermediate: number) => MlpSpec;
}

/** The fields Llama and its descendants share, with the activation check they all need. */
export function llamaLike(c: HfConfig, d: LlamaLikeDefaults, o: LlamaLikeOptions = {}): DecoderSpec {
  const act = c.hidden_act ?? c.hidden_activation ?? "silu";
  if (act !== "silu" && act !== "swish") throw new ConvertError(`config.json: hidden_act "${act}" is not supported for ${c.model_type} (expected silu)`);
  const hidden = int(c, "hidden_size", d.hidden);
  const heads = int(c, "num_attention_heads", d.heads);
  const kvHeads = int(c, "num_key_value_heads", d.kvHeads ?? heads);
  if (heads % kvHeads !== 0) throw new ConvertError(`config.json: num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`);
  const headDim = c.head_dim == null ? hidden / heads : int(c, "head_dim");
  if (!Number.isInteger(headDim)) throw new ConvertError(`config.json: hidden_size ${hidden} is not a multiple of num_attention_heads ${heads} and no head_dim is given`);
  const layers = int(c, "num_hidden_layers", d.layers);
  const maxPositions = int(c, "max_position_embeddings", d.maxPositions);
  const intermediate = int(c, "intermediate_size", d.intermediate);
  const mlp = o.mlp ?? ((): MlpSpec => ({ kind: "gated", prefix: "mlp", intermediate, fused: false, bias: false }));
  return {
    modelType: String(c.model_type),
    hidden, layers, heads, kvHeads, headDim,
    vocab: int(c, "vocab_size", d.vocab),
    maxPositions,
    rmsEps: num(c, "rms_norm_eps", d.rmsEps),
    rope: ropeSpec({ ...c, rope_theta: c.rope_theta ?? d.ropeTheta }, headDim, maxPositions),
    fusedQkv: o.fusedQkv ?? false,
    qkvBias: o.qkvBias ?? false,
    oBias: o.oBias ?? false,
    slidingWindow: Array.from({ length: layers }, (_, l) => o.slidingWindow?.(l) ?? null),
    tied: bool(c, "tie_word_embeddings", false),
    mlp: Array.from({ length: layers }, (_, l) => mlp(l, intermediate)),
  };
}

/** `sliding_window` as transformers reads it: null/absent = full attention. */
export function windowOf(c: HfConfig, dflt: number | null): number | null {
  const v = c.sliding_window === undefined ? dflt : c.sliding_window;
  if (v === null) return null;
  if (!Number.isInteger(v) || (v as number) < 1) throw new ConvertError(`config.json: "sliding_window" is ${JSON.stringify(v)}, expected a positive integer or null`);
  return v as number;
}
