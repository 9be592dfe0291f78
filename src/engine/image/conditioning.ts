/**
 * What the UNet is conditioned on, per pipeline kind, as diffusers builds it.
 *
 * SD 1.x/2.x: text_encoder's last_hidden_state; with guidance the batch is [uncond, cond].
 *
 * SDXL (StableDiffusionXLPipeline.encode_prompt, clip_skip unset): each prompt goes through both
 * tokenizers/encoders; encoder_hidden_states = the penultimate hidden states
 * (hidden_states[-2]) of text_encoder ‖ text_encoder_2 on the channel axis; text_embeds = the
 * pooled projection of text_encoder_2; time_ids = original_size ‖ crops_coords_top_left ‖
 * target_size = [H, W, 0, 0, H, W] (defaults: the output size, no crop). With guidance and an
 * empty negative prompt, when model_index.json has force_zeros_for_empty_prompt (diffusers'
 * default for SDXL), the negative states and pooled embeds are zeros instead of an encoding of "".
 */
import type { ClipTokenizer } from "./clip-tokenizer.ts";
import type { DiffusionComponents, FloatTensor, UnetConditioning } from "./components.ts";

export interface TextConditioning {
  unet: UnetConditioning;
  truncated: { prompt: number; uncond: number };
}

export interface SdxlText {
  tokenizer2: ClipTokenizer;
  forceZerosForEmptyPrompt: boolean;
}

/** diffusers' _get_add_time_ids with the defaults: original_size = target_size = (H, W), crop (0, 0). */
export function sdxlTimeIds(height: number, width: number): number[] {
  return [height, width, 0, 0, height, width];
}

/** Rows [B, S, D1] and [B, S, D2] → [B, S, D1 + D2]. */
function concatLast(a: FloatTensor, b: FloatTensor): FloatTensor {
  const [B, S, D1] = a.dims as [number, number, number];
  const D2 = b.dims[2]!;
  if (b.dims[0] !== B || b.dims[1] !== S) throw new Error(`text encoders disagree on shape: [${a.dims}] vs [${b.dims}]`);
  const out = new Float32Array(B * S * (D1 + D2));
  for (let r = 0; r < B * S; r++) {
    out.set(a.data.subarray(r * D1, (r + 1) * D1), r * (D1 + D2));
    out.set(b.data.subarray(r * D2, (r + 1) * D2), r * (D1 + D2) + D1);
  }
  return { data: out, dims: [B, S, D1 + D2] };
}

/** Rows of `x` [B, …] with zero rows prepended: the zeroed negative half of a guided batch. */
function withZeroRows(x: FloatTensor): FloatTensor {
  const data = new Float32Array(2 * x.data.length);
  data.set(x.data, x.data.length);
  return { data, dims: [2 * x.dims[0]!, ...x.dims.slice(1)] };
}

export async function textConditioning(
  parts: DiffusionComponents,
  tokenizer: ClipTokenizer,
  sdxl: SdxlText | undefined,
  req: { prompt: string; uncondPrompt: string; width: number; height: number },
  guided: boolean,
): Promise<TextConditioning> {
  const cond = tokenizer.encode(req.prompt);
  const uncond = tokenizer.encode(req.uncondPrompt);
  if (!sdxl) {
    const { hidden } = await parts.encodeText(guided ? [uncond.ids, cond.ids] : [cond.ids]);
    return { unet: { hidden }, truncated: { prompt: cond.truncated, uncond: uncond.truncated } };
  }
  const cond2 = sdxl.tokenizer2.encode(req.prompt);
  const uncond2 = sdxl.tokenizer2.encode(req.uncondPrompt);
  const zeroNegative = guided && sdxl.forceZerosForEmptyPrompt && req.uncondPrompt === "";
  const both = guided && !zeroNegative;
  const e1 = await parts.encodeText(both ? [uncond.ids, cond.ids] : [cond.ids], 1, "penultimate");
  const e2 = await parts.encodeText(both ? [uncond2.ids, cond2.ids] : [cond2.ids], 2, "penultimate");
  if (!e2.pooled) throw new Error("text_encoder_2 exports no text_embeds");
  let hidden = concatLast(e1.hidden, e2.hidden);
  let pooled = e2.pooled;
  if (zeroNegative) {
    hidden = withZeroRows(hidden);
    pooled = withZeroRows(pooled);
  }
  const rows = guided ? 2 : 1;
  const ids = sdxlTimeIds(req.height, req.width);
  const timeIds = { data: Float32Array.from({ length: rows * ids.length }, (_, i) => ids[i % ids.length]!), dims: [rows, ids.length] };
  // Both tokenizers truncate the same text; report the larger drop.
  return {
    unet: { hidden, textEmbeds: pooled, timeIds },
    truncated: { prompt: Math.max(cond.truncated, cond2.truncated), uncond: Math.max(uncond.truncated, uncond2.truncated) },
  };
}
