/**
 * The node's HTTP surface (Hono on Bun.serve): JSON-RPC 2.0 at `POST /` (and `/rpc`), the
 * mid-2024 compatibility body `{"request": {...}}` on `POST /` (spec §11), `GET /health`,
 * `POST /healthz`, `GET /metrics`, `GET /v1/jobs/<ticket>` (and `…/images/<k>.png` of an image
 * job). No request can stop the server (spec §13 #19): every handler error becomes an error response. Connection limits (idle and
 * body timeouts, requests in flight, `holdOpen` / `longLived` for long answers): connection.ts.
 */
import { Hono, type Context } from "hono";
import { readBody } from "./body.ts";
import { CLOSING, closeHeld, HTTP_DEFAULTS, holdOpen } from "./connection.ts";
import { parseJsonBody } from "./json-body.ts";
import { showValue } from "../log/show-value.ts";
import type { JobStore } from "../jobs/types.ts";
import type { ModelSlot } from "../jobs/scheduler.ts";
import { log } from "../log/logger.ts";
import type { NodeMetrics } from "../log/metrics.ts";
import { JsonRpcError, RPC, type RpcHandlers, handleRpc, makeHandlers } from "./rpc.ts";
import { parseObjectId } from "../chain/object-id.ts";
import { jobView } from "./views.ts";
import { tokenOk } from "./auth.ts";
import { Admission } from "./openai/admission.ts";
import type { OutputStreams } from "../jobs/output-streams.ts";
import type { EmbeddingSlot } from "./openai/embeddings.ts";
import { mountOpenAi } from "./openai/routes.ts";
import type { ImageSlot } from "./images/run.ts";
import type { ImageStore } from "./images/store.ts";

export interface ApiContext {
  models: ReadonlyMap<string, ModelSlot>;
  /** Absent in local mode before any store exists (the store is always present when running `startNode`). */
  store: JobStore | undefined;
  metrics: NodeMetrics;
  nodeInfo: () => Record<string, unknown>;
  /** Generation timeout for direct requests. */
  timeoutMs: number;
  token?: string;
  maxBodyBytes?: number;
  /** Embedding models, served only by POST /v1/embeddings. */
  embedders?: ReadonlyMap<string, EmbeddingSlot>;
  /** Image models: POST /v1/images/generations, JSON-RPC generate_image. */
  images?: ReadonlyMap<string, ImageSlot>;
  /** Where URL-answered images are kept (default bounds: images/store.ts). */
  imageStore?: ImageStore;
  /** Live output of on-chain jobs with should_stream_output (the scheduler fills it). */
  streams?: OutputStreams;
  /** Bound on receiving a request body (default HTTP_DEFAULTS.timeoutMs). */
  bodyTimeoutMs?: number;
  /** OpenAI routes' queue bound and per-key rate limit (default: Admission's defaults). */
  admission?: Admission;
  /** Refreshes gauges that need I/O (chain lag) before /metrics renders; errors are logged, not served. */
  beforeScrape?: () => Promise<void>;
}

export function createApi(ctx: ApiContext): Hono {
  const app = new Hono();
  const handlers: RpcHandlers = makeHandlers(ctx);
  const limit = ctx.maxBodyBytes ?? 2 * 1024 * 1024;
  const bodyTimeoutMs = ctx.bodyTimeoutMs ?? HTTP_DEFAULTS.timeoutMs;

  app.use("*", closeHeld);
  app.onError((err, c) => {
    // A client that left mid-request caused this, not the node: debug, not error.
    if (c.req.raw.signal.aborted) log.debug(`http ${c.req.method} ${c.req.path}: client gone: ${err.message}`);
    else log.error(`http ${c.req.method} ${c.req.path}: ${err.message}`);
    return c.json({ jsonrpc: "2.0", id: null, error: { code: RPC.internal, message: "internal error" } }, 500);
  });
  app.notFound((c) => c.json({ error: `no route ${c.req.method} ${c.req.path}` }, 404));

  app.get("/health", (c) => c.json({ status: "ok" }));
  app.post("/healthz", (c) => c.json({ status: "ok" }));

  // The OpenAI routes check the same token themselves, answering in OpenAI's error shape.
  mountOpenAi(app, { models: ctx.models, metrics: ctx.metrics, timeoutMs: ctx.timeoutMs, token: ctx.token, maxBodyBytes: limit, bodyTimeoutMs, admission: ctx.admission ?? new Admission(), store: ctx.store, streams: ctx.streams, embedders: ctx.embedders, images: ctx.images, imageStore: ctx.imageStore });

  // Everything below needs the bearer token when one is configured (health stays open for probes).
  app.use("*", async (c, next) => {
    if (ctx.token && !tokenOk(c.req.header("authorization"), ctx.token)) {
      ctx.metrics.rpcRequests.inc({ method: "*", outcome: "unauthorized" });
      // Closed at once: an unauthenticated client never gets to hold a socket with a stalled body.
      return c.json({ jsonrpc: "2.0", id: null, error: { code: -32001, message: "unauthorized: missing or wrong bearer token" } }, 401, CLOSING);
    }
    await next();
  });

  app.get("/metrics", async (c) => {
    if (ctx.beforeScrape) {
      await ctx.beforeScrape().catch((e: Error) => log.debug(`metrics refresh: ${e.message}`));
    }
    if (ctx.store) for (const [state, n] of Object.entries(ctx.store.countByState())) ctx.metrics.jobs.set({ state }, n);
    return c.text(ctx.metrics.render(), 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
  });

  app.get("/v1/jobs/:ticket", (c) => {
    if (!ctx.store) return c.json({ error: "no job store" }, 404);
    const raw = c.req.param("ticket");
    const ticket = parseObjectId(raw);
    if (!ticket) return c.json({ error: `ticket id ${showValue(raw, 80)} is not a hex object id (0x + up to 64 hex digits)` }, 400);
    const jobs = ctx.store.byTicket(ticket);
    if (jobs.length === 0) return c.json({ error: `no job for ticket ${ticket}` }, 404);
    return c.json({ ticket_id: jobs[0]!.ticketId, jobs: jobs.map(jobView) });
  });

  // The stored PNGs of an image job (the job view lists their sizes): `<k>.png` is image k of
  // num_samples (the last one is the committed one); `?leaf_index=` picks among this node's leaves.
  app.get("/v1/jobs/:ticket/images/:file", (c) => {
    if (!ctx.store) return c.json({ error: "no job store" }, 404);
    const ticket = parseObjectId(c.req.param("ticket"));
    const k = /^(\d{1,4})\.png$/.exec(c.req.param("file"));
    if (!ticket || !k) return c.json({ error: "expected /v1/jobs/<ticket>/images/<k>.png" }, 400);
    const leaf = c.req.query("leaf_index");
    const job = ctx.store.byTicket(ticket).find((j) => j.images !== null && (leaf === undefined || String(j.leafIndex) === leaf));
    const img = job ? ctx.store.images(job.id)[Number(k[1])] : undefined;
    if (!img && job?.imagesPrunedAtMs != null && Number(k[1]) < job.images!.length) {
      return c.json({ error: `image ${k[1]} of ticket ${ticket} was deleted at ${new Date(job.imagesPrunedAtMs).toISOString()} by the image retention rule ([node] image_retention_hours)` }, 410);
    }
    if (!img) return c.json({ error: `no image ${k[1]} for ticket ${ticket}${leaf === undefined ? "" : ` leaf ${showValue(leaf, 20)}`}` }, 404);
    return c.body(img.png as Uint8Array<ArrayBuffer>, 200, { "content-type": "image/png" });
  });

  const tooLarge = (c: Context) =>
    c.json({ jsonrpc: "2.0", id: null, error: { code: RPC.invalidRequest, message: `request body exceeds ${limit} bytes` } }, 413, CLOSING);
  const rpcRoute = async (c: Context) => {
    let body: unknown;
    const got = await readBody(c.req.raw, limit, bodyTimeoutMs);
    if (got.kind === "too_large") return tooLarge(c);
    if (got.kind === "client") {
      // The client went away mid-body or sent a broken chunk: its fault, logged for debugging only.
      log.debug(`http ${c.req.method} ${c.req.path}: body not received: ${got.reason}`);
      return c.body(null, 400, CLOSING);
    }
    if (got.kind === "timeout") {
      log.debug(`http ${c.req.method} ${c.req.path}: body not received within ${bodyTimeoutMs} ms; connection closed`);
      return c.json({ jsonrpc: "2.0", id: null, error: { code: RPC.invalidRequest, message: `request body not received within ${bodyTimeoutMs} ms` } }, 408, CLOSING);
    }
    try {
      body = parseJsonBody(got.text);
    } catch {
      ctx.metrics.rpcRequests.inc({ method: "-", outcome: "parse_error" });
      return c.json({ jsonrpc: "2.0", id: null, error: { code: RPC.parse, message: "parse error: body is not valid JSON" } });
    }
    const signal = c.req.raw.signal;
    // A generation may run far past the idle bound (request_timeout): the body is in, so hold on.
    if (generates(body)) holdOpen(c);
    // Compatibility shape (spec §11): `{"request": {...}}`, other top-level keys ignored.
    if (body !== null && typeof body === "object" && !Array.isArray(body) && "request" in body && !("method" in body)) {
      try {
        const result = await handlers.compat((body as { request: unknown }).request, signal);
        ctx.metrics.rpcRequests.inc({ method: "compat", outcome: "ok" });
        return c.json({ result });
      } catch (e) {
        const err = e instanceof JsonRpcError ? e : new JsonRpcError(RPC.internal, (e as Error).message);
        ctx.metrics.rpcRequests.inc({ method: "compat", outcome: "error" });
        return c.json({ jsonrpc: "2.0", id: null, error: { code: err.code, message: err.message } });
      }
    }
    const out = await handleRpc(body, handlers, ctx.metrics, signal);
    return out === null ? c.body(null, 204) : c.json(out);
  };
  app.post("/", rpcRoute);
  app.post("/rpc", rpcRoute);
  return app;
}

/** Whether a JSON-RPC body (single, batch or the compatibility shape) asks for a generation. */
function generates(body: unknown): boolean {
  const one = (r: unknown) => r !== null && typeof r === "object" && (["generate", "generate_image"].includes((r as { method?: unknown }).method as string) || ("request" in r && !("method" in r)));
  return Array.isArray(body) ? body.some(one) : one(body);
}

export interface RunningServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export interface ServeOptions {
  /** Idle bound per connection (rounded up to whole seconds, 1..255; Bun's unit). */
  timeoutMs?: number;
  maxConnections?: number;
}

export function serveApi(app: Hono, host: string, port: number, opts: ServeOptions = {}): RunningServer {
  const idleTimeout = Math.min(255, Math.max(1, Math.ceil((opts.timeoutMs ?? HTTP_DEFAULTS.timeoutMs) / 1000)));
  const maxConnections = opts.maxConnections ?? HTTP_DEFAULTS.maxConnections;
  const server = Bun.serve({
    hostname: host,
    port,
    idleTimeout,
    fetch: (req, srv) => {
      // `pendingRequests` includes this one and every request still sending its body.
      if (srv.pendingRequests > maxConnections) {
        log.debug(`http: ${srv.pendingRequests} requests in flight (http_max_connections ${maxConnections}); refused`);
        return new Response(JSON.stringify({ error: `server busy: more than ${maxConnections} requests in flight` }), {
          status: 503,
          headers: { "content-type": "application/json", "retry-after": "1", ...CLOSING },
        });
      }
      return app.fetch(req, srv);
    },
    // Bun reports socket-level failures here (a client reset, a malformed chunk).
    error: (e) => {
      log.debug(`http: ${e.message}`);
      return new Response(null, { status: 400, headers: CLOSING });
    },
  });
  const shown = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shown}:${server.port}`,
    port: server.port ?? port,
    stop: async () => {
      await server.stop(true);
    },
  };
}
