/**
 * JSON-RPC `generate_image`: one Stable Diffusion request with the chain's parameter names
 * (`prompt`, `uncond_prompt`, `width`, `height`, `n_steps`, `guidance_scale`, `num_samples`,
 * `random_seed`, `img2img` as base64 PNG, `img2img_strength`), answered with the PNGs (base64) and
 * the commitment a chain job with these params would submit: BLAKE2b leaf and root over the last
 * image's raw pixels (commitment/image.ts, spec §8.1), for `num_sampled_nodes` leaves at
 * `sampled_node_index` (default 1 and 0). Direct inference: nothing is committed on chain.
 * Absent fields take the chain defaults; 0 steps, 0 images or a 0 size are refused (params error).
 */
import { toHex } from "@mysten/bcs";
import { commitImages, type ImageCommitLayout } from "../commitment/image.ts";
import { MAX_LEAVES } from "../commitment/merkle.ts";
import { EngineError } from "../engine/types.ts";
import { showValue } from "../log/show-value.ts";
import { parseU64 } from "../protocol/u64.ts";
import { ImageParamError, toOperatorImageRequest, truncationNote, type ImageNames } from "./image-request.ts";
import { ImageAborted, runImage, type ImageSlot } from "./images/run.ts";

type Obj = Record<string, unknown>;

const NAMES: ImageNames = {
  prompt: "params.prompt",
  negativePrompt: "params.uncond_prompt",
  width: "params.width",
  height: "params.height",
  steps: "params.n_steps",
  guidance: "params.guidance_scale",
  samples: "params.num_samples",
  strength: "params.img2img_strength",
  init: "params.img2img",
};

/** Thrown as JSON-RPC invalid params (-32602) or internal (-32603) by the caller. */
export class ImageRpcError extends Error {
  constructor(readonly kind: "params" | "internal", message: string) {
    super(message);
  }
}

function int(o: Obj, key: string, dflt: number, min: number, max: number): number {
  const v = o[key];
  if (v === undefined || v === null) return dflt;
  if (!Number.isSafeInteger(v) || (v as number) < min || (v as number) > max) throw new ImageRpcError("params", `params.${key}: expected an integer in ${min}..${max}, got ${showValue(v)}`);
  return v as number;
}

function chainInt(v: unknown): unknown {
  // u64 fields may arrive as decimal strings (as on chain, spec §3.2).
  return typeof v === "string" && /^\d{1,16}$/.test(v) ? Number(v) : v;
}

function init(o: Obj): Uint8Array | undefined {
  const v = o.img2img;
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) throw new ImageRpcError("params", `params.img2img: expected a base64 PNG, got ${showValue(v)}`);
  return Buffer.from(v, "base64");
}

export async function generateImage(images: ReadonlyMap<string, ImageSlot>, raw: unknown, signal: AbortSignal, timeoutMs: number): Promise<Obj> {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new ImageRpcError("params", "params: expected an object");
  const o = raw as Obj;
  const name = o.model ?? (images.size === 1 ? [...images.keys()][0] : undefined);
  const slot = typeof name === "string" ? images.get(name) : undefined;
  if (!slot) throw new ImageRpcError("params", `params.model: ${name === undefined ? "missing" : showValue(name, 60)}; image models hosted here: ${[...images.keys()].join(", ") || "none"}`);
  const seed = o.random_seed === undefined || o.random_seed === null ? 0n : parseU64(o.random_seed);
  if (seed === null) throw new ImageRpcError("params", `params.random_seed: expected a u64 (non-negative integer or decimal string), got ${showValue(o.random_seed)}`);
  const leaves = int(o, "num_sampled_nodes", 1, 1, MAX_LEAVES);
  const index = int(o, "sampled_node_index", 0, 0, leaves - 1);
  const layout = (o.commitment_layout ?? "pixels") as ImageCommitLayout;
  if (layout !== "pixels" && layout !== "pixels+size") throw new ImageRpcError("params", `params.commitment_layout: expected "pixels" or "pixels+size", got ${showValue(o.commitment_layout)}`);
  let request;
  try {
    request = toOperatorImageRequest(
      {
        prompt: o.prompt,
        negativePrompt: o.uncond_prompt,
        width: chainInt(o.width),
        height: chainInt(o.height),
        steps: chainInt(o.n_steps),
        guidance: o.guidance_scale,
        samples: chainInt(o.num_samples),
        seed,
        init: init(o),
        strength: o.img2img_strength,
      },
      NAMES,
      slot.engine.info,
    );
  } catch (e) {
    if (e instanceof ImageParamError) throw new ImageRpcError("params", e.message);
    throw e;
  }
  let run;
  try {
    run = await runImage(slot, request, signal, timeoutMs);
  } catch (e) {
    if (e instanceof ImageAborted) throw new ImageRpcError("internal", e.message);
    if (e instanceof EngineError) throw new ImageRpcError("params", e.message);
    throw new ImageRpcError("internal", `image generation failed: ${(e as Error).message}`);
  }
  const out = run.output;
  const c = commitImages(out.images, leaves, index, layout);
  const last = out.images.at(-1)!;
  const warning = truncationNote(out.truncated, NAMES);
  return {
    images: out.images.map((img) => ({ png_base64: Buffer.from(img.png).toString("base64"), width: img.width, height: img.height })),
    commitment: { root: toHex(c.root), leaf: toHex(c.leaf), num_sampled_nodes: leaves, sampled_node_index: index, layout, committed_bytes: layout === "pixels" ? last.rgb.length : last.rgb.length + 16 },
    random_seed: seed.toString(),
    steps: out.steps,
    truncated_tokens: { prompt: out.truncated.prompt, uncond_prompt: out.truncated.uncond },
    ...(warning ? { warning } : {}),
    total_ms: Math.round(run.busyMs * 100) / 100,
  };
}
