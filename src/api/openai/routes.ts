/**
 * The OpenAI-compatible routes, mounted on the node's Hono app beside JSON-RPC:
 * `GET /v1/models`, `GET /v1/models/:id`, `POST /v1/chat/completions`, `POST /v1/completions`,
 * `POST /v1/embeddings` (embedding models, embeddings.ts), `POST /v1/images/generations` and
 * `GET /v1/images/<id>.png` (image models, images.ts),
 * and `GET /v1/jobs/<ticket>/stream` (live output of on-chain jobs, job-stream.ts).
 * Same bearer token as JSON-RPC (401 in OpenAI's shape), request bodies capped at the server's
 * body limit (413), admission control per model and per key (429 + Retry-After). Reference: docs/api.md.
 */
import { type Context, type Hono } from "hono";
import type { OutputStreams } from "../../jobs/output-streams.ts";
import { readBody } from "../body.ts";
import { parseJsonBody } from "../json-body.ts";
import { HTTP_DEFAULTS, holdOpen, longLived } from "../connection.ts";
import type { ModelSlot } from "../../jobs/scheduler.ts";
import type { JobStore } from "../../jobs/types.ts";
import { log } from "../../log/logger.ts";
import { VERSION } from "../../version.ts";
import { bearerToken, tokenOk } from "../auth.ts";
import type { NodeMetrics } from "../../log/metrics.ts";
import { Admission } from "./admission.ts";
import { chatChunks, chatCompletion, renderChat } from "./chat.ts";
import { hasOwnTemplate } from "./chat-template.ts";
import { completion, completionChunks } from "./completions.ts";
import { OpenAiError, errorResponse, invalid } from "./errors.ts";
import { body as asBody, modelName, parseMessages, parsePrompt, refuseCompletionExtras } from "./params.ts";
import { embeddings, type EmbeddingSlot } from "./embeddings.ts";
import { imageGenerations, servedImage } from "./images.ts";
import type { ImageSlot } from "../images/run.ts";
import { ImageStore } from "../images/store.ts";
import { jobStream } from "./job-stream.ts";
import { hostedModel, newId, nowSeconds, prepare, type Prepared } from "./request.ts";
import { ClientGone, runGeneration, type Piece } from "./run.ts";
import { sseResponse } from "./sse.ts";

export interface OpenAiContext {
  models: ReadonlyMap<string, ModelSlot>;
  metrics: NodeMetrics;
  timeoutMs: number;
  token?: string;
  maxBodyBytes: number;
  /** Bound on receiving a request body (connection.ts). */
  bodyTimeoutMs?: number;
  admission: Admission;
  store?: JobStore;
  /** Live output of on-chain jobs with should_stream_output. */
  streams?: OutputStreams;
  /** Embedding models (POST /v1/embeddings), by id; never serve chain jobs. */
  embedders?: ReadonlyMap<string, EmbeddingSlot>;
  /** Image models (POST /v1/images/generations), by id. */
  images?: ReadonlyMap<string, ImageSlot>;
  /** Where `response_format: "url"` images are kept (default: images/store.ts bounds). */
  imageStore?: ImageStore;
}

function fingerprint(slot: ModelSlot): string {
  const i = slot.engine.info;
  return `atoma-node-${VERSION}-${i.device}-${i.loadedDtype}`;
}

async function readJson(c: Context, ctx: OpenAiContext): Promise<Record<string, unknown>> {
  const ms = ctx.bodyTimeoutMs ?? HTTP_DEFAULTS.timeoutMs;
  const got = await readBody(c.req.raw, ctx.maxBodyBytes, ms);
  if (got.kind === "too_large") throw new OpenAiError(413, `request body exceeds ${ctx.maxBodyBytes} bytes`, "invalid_request_error", null, "request_too_large");
  if (got.kind === "timeout") throw new OpenAiError(408, `request body not received within ${ms} ms`, "invalid_request_error", null, "request_timeout");
  if (got.kind === "client") {
    log.debug(`http ${c.req.method} ${c.req.path}: body not received: ${got.reason}`);
    throw new ClientGone(got.reason);
  }
  // The body is in; generating may take longer than the idle bound.
  holdOpen(c);
  let raw: unknown;
  try {
    raw = parseJsonBody(got.text);
  } catch {
    throw invalid("request body is not valid JSON");
  }
  return asBody(raw);
}

/** Every error becomes OpenAI's error body; nothing reaches the client after it left. */
function failure(c: Context, e: unknown): Response {
  if (e instanceof OpenAiError) return errorResponse(c, e);
  if (e instanceof ClientGone) return new Response(null, { status: 499 }); // nobody is listening
  log.error(`http ${c.req.method} ${c.req.path}: ${(e as Error).message}`);
  return errorResponse(c, new OpenAiError(500, "internal error", "server_error"));
}

export function mountOpenAi(app: Hono, ctx: OpenAiContext): void {
  const guard = async (c: Context, next: () => Promise<void>) => {
    if (ctx.token && !tokenOk(c.req.header("authorization"), ctx.token)) {
      return errorResponse(c, new OpenAiError(401, "missing or wrong bearer token (Authorization: Bearer <jrpc_token>)", "invalid_request_error", null, "invalid_api_key"));
    }
    try {
      ctx.admission.charge(bearerToken(c.req.header("authorization")));
    } catch (e) {
      return errorResponse(c, e as OpenAiError);
    }
    await next();
  };

  const modelEntry = (id: string, slot: ModelSlot) => ({
    id,
    object: "model",
    created: 0,
    owned_by: "atoma-node",
    type: "text",
    context_length: slot.engine.info.contextLength,
    chat_template: hasOwnTemplate(slot.engine.tokenizer) ? "model" : "fallback",
  });
  const embedEntry = (id: string, slot: EmbeddingSlot) => ({ id, object: "model", created: 0, owned_by: "atoma-node", type: "embedding", context_length: slot.engine.info.contextLength, dimensions: slot.engine.info.dimensions });
  const embedders = ctx.embedders ?? new Map<string, EmbeddingSlot>();
  const images = ctx.images ?? new Map<string, ImageSlot>();
  const imageStore = ctx.imageStore ?? new ImageStore();
  const imageEntry = (id: string, slot: ImageSlot) => {
    const i = slot.engine.info;
    return { id, object: "model", created: 0, owned_by: "atoma-node", type: "image", default_size: `${i.defaultSize}x${i.defaultSize}`, max_size: i.maxSize };
  };
  /** Which route serves `model` when it is not a text model (for a 400 that says where to go). */
  const otherKind = (model: string) => (embedders.has(model) ? "an embedding model: use POST /v1/embeddings" : images.has(model) ? "an image model: use POST /v1/images/generations" : null);
  app.get("/v1/models", guard, (c) =>
    c.json({
      object: "list",
      data: [...[...ctx.models].map(([id, s]) => modelEntry(id, s)), ...[...embedders].map(([id, s]) => embedEntry(id, s)), ...[...images].map(([id, s]) => imageEntry(id, s))],
    }),
  );
  app.get("/v1/models/:id{.+}", guard, (c) => {
    const id = c.req.param("id") ?? "";
    try {
      const e = embedders.get(id);
      const im = images.get(id);
      return c.json(e ? embedEntry(id, e) : im ? imageEntry(id, im) : modelEntry(id, hostedModel(ctx.models, id)));
    } catch (e) {
      return errorResponse(c, e as OpenAiError);
    }
  });

  const handle = (kind: "chat" | "completion") => async (c: Context) => {
    try {
      const body = await readJson(c, ctx);
      const model = modelName(body);
      const other = otherKind(model);
      if (other) throw invalid(`model ${model} is ${other}`, "model", "wrong_model_type");
      const slot = hostedModel(ctx.models, model);
      let prep: Prepared;
      if (kind === "chat") prep = prepare(slot, model, body, kind, renderChat(slot.engine.tokenizer, parseMessages(body)), "messages");
      else {
        refuseCompletionExtras(body);
        prep = prepare(slot, model, body, kind, parsePrompt(body), "prompt");
      }
      return await respond(c, ctx, kind, model, prep);
    } catch (e) {
      return failure(c, e);
    }
  };
  app.post("/v1/embeddings", guard, async (c) => {
    try {
      const body = await readJson(c, ctx);
      const model = modelName(body);
      const slot = embedders.get(model);
      if (!slot) {
        if (ctx.models.has(model) || images.has(model)) throw invalid(`model ${model} is ${images.has(model) ? "an image" : "a text generation"} model, not an embedding model`, "model", "wrong_model_type");
        hostedModel(ctx.models, model);
      }
      return await embeddings(c, body, model, slot!, ctx.admission, ctx.timeoutMs);
    } catch (e) {
      return failure(c, e);
    }
  });
  app.post("/v1/images/generations", guard, async (c) => {
    try {
      const body = await readJson(c, ctx);
      const model = modelName(body);
      const slot = images.get(model);
      if (!slot) {
        if (ctx.models.has(model) || embedders.has(model)) throw invalid(`model ${model} is ${embedders.has(model) ? "an embedding" : "a text generation"} model, not an image model`, "model", "wrong_model_type");
        hostedModel(images, model);
      }
      return await imageGenerations(c, body, model, slot!, { admission: ctx.admission, metrics: ctx.metrics, timeoutMs: ctx.timeoutMs, store: imageStore });
    } catch (e) {
      return failure(c, e);
    }
  });
  // The 128-bit id is the capability (images/store.ts): no token, no rate charge.
  app.get("/v1/images/:file", (c) => servedImage(c, imageStore));
  // Server-sent events: exempt from the idle bound (connection.ts).
  app.get("/v1/jobs/:ticket/stream", guard, longLived, (c) => jobStream(c, ctx.store, ctx.streams));
  app.post("/v1/chat/completions", guard, handle("chat"));
  app.post("/v1/completions", guard, handle("completion"));
}

function outcome(e: unknown): string {
  if (e instanceof ClientGone) return "cancelled";
  if (e instanceof OpenAiError) return e.status === 429 ? "rejected" : e.status === 504 ? "timeout" : "error";
  return "error";
}

async function respond(c: Context, ctx: OpenAiContext, kind: "chat" | "completion", model: string, prep: Prepared): Promise<Response> {
  const { slot, sampling } = prep;
  const meta = { id: newId(kind === "chat" ? "chatcmpl" : "cmpl"), created: nowSeconds(), model, fingerprint: fingerprint(slot) };
  const tokenizer = slot.engine.tokenizer;
  const asked = sampling.logprobs !== undefined;
  const count = (o: string) => ctx.metrics.apiRequests.inc({ model, outcome: o });
  // Queue place first: a full queue is a 429 the client can act on, before any stream starts.
  let leave: (busyMs?: number) => void;
  try {
    leave = ctx.admission.enter(model);
  } catch (e) {
    count(outcome(e));
    throw e;
  }
  const input = (signal: AbortSignal) => ({
    slot,
    model,
    request: prep.request,
    stop: sampling.stop,
    leave,
    metrics: ctx.metrics,
    timeoutMs: ctx.timeoutMs,
    signal,
  });
  if (!sampling.stream) {
    try {
      const r = await runGeneration(input(c.req.raw.signal));
      count("ok");
      return c.json(kind === "chat" ? chatCompletion(meta, r, tokenizer, asked) : completion(meta, r, tokenizer, asked));
    } catch (e) {
      count(outcome(e));
      throw e;
    } finally {
      leave();
    }
  }
  const chunks = kind === "chat" ? chatChunks(meta, tokenizer, asked, sampling.includeUsage) : completionChunks(meta, tokenizer, asked, sampling.includeUsage);
  return sseResponse(c.req.raw.signal, async (send, signal) => {
    try {
      if ("role" in chunks) send(chunks.role());
      const r = await runGeneration(input(signal), (p: Piece) => send(chunks.piece(p)));
      send(chunks.finish(r));
      if (sampling.includeUsage) send(chunks.usage(r));
      count("ok");
    } catch (e) {
      count(outcome(e));
      throw e;
    } finally {
      leave();
    }
  });
}
