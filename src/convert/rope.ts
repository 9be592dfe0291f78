/**
 * Rotary-embedding frequencies from a Hugging Face config, as transformers' `ROPE_INIT_FUNCTIONS`
 * compute them: `default`, `linear`, `llama3` and `longrope` (alias `su`, Phi-3 128k). Types that
 * rescale with the running sequence length in ways a fixed graph cannot follow (`dynamic`, `yarn`,
 * …) are refused with a reason. The graph turns these into cos/sin from position ids at run time,
 * in fp32 like transformers (`inv_freq @ position_ids`).
 */
import { ConvertError } from "./tensors.ts";

export interface RopeSpec {
  /** Number of leading dims per head that rotate (head_dim · partial_rotary_factor). */
  rotaryDim: number;
  invFreq: Float32Array;
  /** longrope: frequencies used once the sequence passes `switchAbove` tokens. */
  invFreqLong?: Float32Array;
  switchAbove?: number;
  /** cos and sin are multiplied by this (longrope/yarn "attention factor"). */
  attentionFactor: number;
}

type Json = Record<string, unknown>;

/** `rope_parameters` (transformers ≥ 5) or `rope_scaling` + `rope_theta` (earlier configs). */
function ropeParams(config: Json): Json {
  const p = (config.rope_parameters ?? config.rope_scaling ?? {}) as Json;
  return typeof p === "object" && p !== null ? p : {};
}

export function ropeType(config: Json): string {
  const p = ropeParams(config);
  return String(p.rope_type ?? p.type ?? "default");
}

export const SUPPORTED_ROPE = ["default", "linear", "llama3", "longrope", "su"];

export function ropeSpec(config: Json, headDim: number, maxPositions: number): RopeSpec {
  const p = ropeParams(config);
  const type = ropeType(config);
  const theta = Number(p.rope_theta ?? config.rope_theta ?? 10000);
  const partial = Number(p.partial_rotary_factor ?? config.partial_rotary_factor ?? 1);
  const dim = Math.floor(headDim * partial);
  if (dim % 2 !== 0 || dim <= 0) throw new ConvertError(`config.json: rotary dimension ${dim} (head_dim ${headDim} × partial_rotary_factor ${partial}) must be even and positive`);
  const base = Array.from({ length: dim / 2 }, (_, i) => Math.pow(theta, (2 * i) / dim));
  const num = (k: string, v: unknown) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new ConvertError(`config.json: rope scaling "${type}" needs a positive ${k} (got ${JSON.stringify(v)})`);
    return n;
  };
  switch (type) {
    case "default":
      return { rotaryDim: dim, invFreq: Float32Array.from(base, (b) => 1 / b), attentionFactor: 1 };
    case "linear": {
      const factor = num("factor", p.factor);
      return { rotaryDim: dim, invFreq: Float32Array.from(base, (b) => 1 / b / factor), attentionFactor: 1 };
    }
    case "llama3": {
      const factor = num("factor", p.factor), low = num("low_freq_factor", p.low_freq_factor), high = num("high_freq_factor", p.high_freq_factor);
      const orig = num("original_max_position_embeddings", p.original_max_position_embeddings);
      const lowWavelen = orig / low, highWavelen = orig / high;
      const inv = base.map((b) => {
        const f = 1 / b, wavelen = (2 * Math.PI) / f;
        if (wavelen < highWavelen) return f;
        if (wavelen > lowWavelen) return f / factor;
        const smooth = (orig / wavelen - low) / (high - low);
        return (1 - smooth) * (f / factor) + smooth * f;
      });
      return { rotaryDim: dim, invFreq: Float32Array.from(inv), attentionFactor: 1 };
    }
    case "su":
    case "longrope": {
      const short = p.short_factor, long = p.long_factor;
      const list = (k: string, v: unknown): number[] => {
        if (!Array.isArray(v) || v.length !== dim / 2 || !v.every((x) => Number.isFinite(x))) {
          throw new ConvertError(`config.json: rope scaling "${type}" needs ${k} as ${dim / 2} numbers (got ${Array.isArray(v) ? `${v.length} entries` : JSON.stringify(v)})`);
        }
        return v as number[];
      };
      const s = list("short_factor", short), l = list("long_factor", long);
      const orig = num("original_max_position_embeddings", config.original_max_position_embeddings ?? p.original_max_position_embeddings);
      const factor = config.original_max_position_embeddings !== undefined ? maxPositions / orig : Number(p.factor ?? maxPositions / orig);
      const attentionFactor = p.attention_factor !== undefined && p.attention_factor !== null
        ? num("attention_factor", p.attention_factor)
        : factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(orig));
      return {
        rotaryDim: dim,
        invFreq: Float32Array.from(base, (b, i) => 1 / (s[i]! * b)),
        invFreqLong: Float32Array.from(base, (b, i) => 1 / (l[i]! * b)),
        switchAbove: orig,
        attentionFactor,
      };
    }
    default:
      throw new ConvertError(`config.json: rope scaling type "${type}" is not supported (supported: default, linear, llama3, longrope)`);
  }
}
