/**
 * `POST /v1/images/generations` for Stable Diffusion models, in OpenAI's shape: `model`, `prompt`,
 * `n` (1…16), `size` ("WxH", multiples of 8 up to the model's limit; absent or "auto" = the
 * model's default), `response_format` (`url`, OpenAI's default, or `b64_json`), plus the fields
 * diffusers-based OpenAI-compatible servers take: `negative_prompt`, `num_inference_steps` (alias
 * `steps`), `guidance_scale`, `seed`. The answer adds `seed` (absent → a random one, reported so
 * the image can be made again) and `truncated_tokens` (prompt tokens beyond CLIP's 77 that were
 * dropped, with a `warning` line when any were). Same admission as generations: the model's
 * bounded queue (429), then its lock at normal priority (chain jobs first).
 */
import type { Context } from "hono";
import { randomBytes } from "node:crypto";
import { EngineError } from "../../engine/types.ts";
import { showValue } from "../../log/show-value.ts";
import type { NodeMetrics } from "../../log/metrics.ts";
import { ImageParamError, toOperatorImageRequest, truncationNote, type ImageNames } from "../image-request.ts";
import { ImageAborted, runImage, type ImageSlot } from "../images/run.ts";
import type { ImageStore } from "../images/store.ts";
import type { Admission } from "./admission.ts";
import { OpenAiError, invalid, unsupported } from "./errors.ts";
import { ClientGone } from "./run.ts";
import { nowSeconds } from "./request.ts";

type Obj = Record<string, unknown>;
const given = (o: Obj, k: string) => o[k] !== undefined && o[k] !== null;

const NAMES: ImageNames = {
  prompt: "prompt",
  negativePrompt: "negative_prompt",
  width: "size",
  height: "size",
  steps: "num_inference_steps",
  guidance: "guidance_scale",
  samples: "n",
  strength: "strength",
  init: "image",
};

export interface ImagesContext {
  admission: Admission;
  metrics: NodeMetrics;
  timeoutMs: number;
  store: ImageStore;
}

function parseSize(o: Obj): { width?: number; height?: number } {
  if (!given(o, "size") || o.size === "auto") return {};
  const m = typeof o.size === "string" ? /^(\d{1,6})x(\d{1,6})$/.exec(o.size) : null;
  if (!m) throw invalid(`size: expected "WIDTHxHEIGHT" in pixels (e.g. "512x512") or "auto", got ${showValue(o.size)}`, "size");
  return { width: Number(m[1]), height: Number(m[2]) };
}

/** Signed 64-bit like the text routes; absent → random within 2^53, so the reported seed can be sent back as a JSON number. */
function seed(o: Obj): bigint {
  if (!given(o, "seed")) return randomBytes(8).readBigUInt64LE() >> 11n;
  if (!Number.isSafeInteger(o.seed)) throw invalid(`seed: expected an integer, got ${showValue(o.seed)}`, "seed");
  return BigInt.asUintN(64, BigInt(o.seed as number));
}

function steps(o: Obj): unknown {
  if (given(o, "num_inference_steps") && given(o, "steps") && o.steps !== o.num_inference_steps) {
    throw invalid(`steps (${showValue(o.steps)}) and num_inference_steps (${showValue(o.num_inference_steps)}) disagree; send one`, "num_inference_steps");
  }
  return given(o, "num_inference_steps") ? o.num_inference_steps : o.steps;
}

function refuseUnsupported(o: Obj): string {
  const format = o.response_format ?? "url";
  if (format !== "url" && format !== "b64_json") throw invalid(`response_format: expected "url" or "b64_json", got ${showValue(format)}`, "response_format");
  if (given(o, "output_format") && o.output_format !== "png") throw unsupported("output_format", `output_format ${showValue(o.output_format)} (PNG only)`);
  if (o.stream === true) throw unsupported("stream", "streamed image generation");
  return format;
}

export async function imageGenerations(c: Context, body: Obj, model: string, slot: ImageSlot, ctx: ImagesContext): Promise<Response> {
  const format = refuseUnsupported(body);
  const { width, height } = parseSize(body);
  const s = seed(body);
  let request;
  try {
    request = toOperatorImageRequest(
      { prompt: body.prompt, negativePrompt: body.negative_prompt, width, height, steps: steps(body), guidance: body.guidance_scale, samples: body.n, seed: s },
      NAMES,
      slot.engine.info,
    );
  } catch (e) {
    if (e instanceof ImageParamError) throw invalid(e.message, e.param);
    throw e;
  }
  const count = (outcome: string) => ctx.metrics.apiRequests.inc({ model, outcome });
  let leave: (busyMs?: number) => void;
  try {
    leave = ctx.admission.enter(model);
  } catch (e) {
    count("rejected");
    throw e;
  }
  let busy: number | undefined;
  try {
    const run = await runImage(slot, request, c.req.raw.signal, ctx.timeoutMs);
    busy = run.busyMs;
    const origin = new URL(c.req.url).origin;
    const data = run.output.images.map(({ png }) => (format === "b64_json" ? { b64_json: Buffer.from(png).toString("base64") } : { url: `${origin}/v1/images/${ctx.store.put(png)}.png` }));
    count("ok");
    ctx.metrics.generation.observe({ model }, run.busyMs / 1000);
    const t = run.output.truncated;
    const warning = truncationNote(t, NAMES);
    return c.json({
      created: nowSeconds(),
      data,
      seed: Number(s),
      truncated_tokens: { prompt: t.prompt, negative_prompt: t.uncond },
      ...(warning ? { warning } : {}),
    });
  } catch (e) {
    if (e instanceof ImageAborted) {
      count(e.why === "client" ? "cancelled" : "timeout");
      if (e.why === "client") throw new ClientGone(e.message);
      throw new OpenAiError(504, e.message, "server_error", null, "timeout");
    }
    count("error");
    // The engine's own limit checks (the request passed ours, so rarely reached).
    if (e instanceof EngineError) throw invalid(e.message);
    throw new OpenAiError(500, `image generation failed: ${(e as Error).message}`, "server_error");
  } finally {
    leave(busy);
  }
}

/** GET /v1/images/<id>.png: a kept image, or 404 once it is gone. */
export function servedImage(c: Context, store: ImageStore): Response {
  const file = c.req.param("file") ?? "";
  const m = /^([0-9a-f]{32})\.png$/.exec(file);
  const png = m ? store.get(m[1]!) : undefined;
  if (!png) {
    const o = store.opts;
    const e = new OpenAiError(404, `image ${showValue(file, 60)} not found: images are kept ${Math.round(o.ttlMs / 60_000)} min, at most ${o.maxImages} of them`, "invalid_request_error", null, "image_not_found");
    return c.json(e.body(), 404);
  }
  return c.body(png as Uint8Array<ArrayBuffer>, 200, { "content-type": "image/png", "cache-control": "private, max-age=3600" });
}
