/**
 * `POST /v1/embeddings` for embedding models (src/engine/embedding.ts: mean pooling, normalised).
 * `input` is a string or an array of strings (at most 256); `encoding_format` `float` or `base64`
 * (little-endian float32, what the official clients request by default); `dimensions` only as the
 * model's own. Admission as for generations: the model's bounded queue, then its lock.
 */
import type { Context } from "hono";
import type { EmbeddingEngine } from "../../engine/embedding.ts";
import { EngineError } from "../../engine/types.ts";
import type { Semaphore } from "../../jobs/semaphore.ts";
import type { Admission } from "./admission.ts";
import { OpenAiError, invalid } from "./errors.ts";
import { ClientGone } from "./run.ts";

export interface EmbeddingSlot {
  engine: EmbeddingEngine;
  lock: Semaphore;
}

const MAX_INPUTS = 256;

function inputs(o: Record<string, unknown>): string[] {
  const v = o.input;
  const list = typeof v === "string" ? [v] : v;
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_INPUTS || !list.every((s) => typeof s === "string" && s.length > 0)) {
    throw invalid(`input: expected a non-empty string or an array of 1…${MAX_INPUTS} non-empty strings (token-id inputs are not supported)`, "input");
  }
  return list as string[];
}

function base64(v: Float32Array): string {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64");
}

export async function embeddings(c: Context, body: Record<string, unknown>, model: string, slot: EmbeddingSlot, admission: Admission, timeoutMs: number): Promise<Response> {
  const texts = inputs(body);
  const format = body.encoding_format ?? "float";
  if (format !== "float" && format !== "base64") throw invalid(`encoding_format: expected "float" or "base64", got ${JSON.stringify(format)}`, "encoding_format");
  const dims = slot.engine.info.dimensions;
  if (body.dimensions !== undefined && body.dimensions !== null && body.dimensions !== dims) {
    throw invalid(`dimensions: this model's embeddings have ${dims} dimensions; other sizes are not supported`, "dimensions");
  }
  const signal = AbortSignal.any([c.req.raw.signal, AbortSignal.timeout(timeoutMs)]);
  const leave = admission.enter(model);
  const t0 = performance.now();
  try {
    try {
      await slot.lock.acquire("normal", signal);
    } catch {
      if (c.req.raw.signal.aborted) throw new ClientGone("client disconnected");
      throw new OpenAiError(504, `embedding timed out after ${timeoutMs} ms (request_timeout)`, "server_error", null, "timeout");
    }
    const data: unknown[] = [];
    let tokens = 0;
    try {
      for (const [index, text] of texts.entries()) {
        if (signal.aborted) throw new ClientGone("client disconnected");
        const r = await slot.engine.embed(text);
        tokens += r.tokens;
        data.push({ object: "embedding", index, embedding: format === "base64" ? base64(r.vector) : Array.from(r.vector) });
      }
    } catch (e) {
      if (e instanceof EngineError) throw invalid(`input: ${e.message}`, "input");
      throw e;
    } finally {
      slot.lock.release();
    }
    return c.json({ object: "list", data, model, usage: { prompt_tokens: tokens, total_tokens: tokens } });
  } finally {
    leave(performance.now() - t0);
  }
}
