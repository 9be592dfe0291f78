/**
 * The node's HTTP surface (Hono on Bun.serve): JSON-RPC 2.0 at `POST /` (and `/rpc`), the
 * mid-2024 compatibility body `{"request": {...}}` on `POST /` (spec §11), `GET /health`,
 * `POST /healthz`, `GET /metrics`, `GET /v1/jobs/<ticket>`. No request can stop the server
 * (spec §13 #19): every handler error becomes an error response.
 */
import { Hono, type Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { JobStore } from "../jobs/types.ts";
import type { ModelSlot } from "../jobs/scheduler.ts";
import { log } from "../log/logger.ts";
import type { NodeMetrics } from "./metrics.ts";
import { JsonRpcError, RPC, type RpcHandlers, handleRpc, makeHandlers } from "./rpc.ts";
import { parseObjectId } from "../chain/object-id.ts";
import { jobView } from "./views.ts";
import { tokenOk } from "./auth.ts";
import { Admission } from "./openai/admission.ts";
import type { OutputStreams } from "../jobs/output-streams.ts";
import { mountOpenAi } from "./openai/routes.ts";

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
  /** Live output of on-chain jobs with should_stream_output (the scheduler fills it). */
  streams?: OutputStreams;
  /** OpenAI routes' queue bound and per-key rate limit (default: Admission's defaults). */
  admission?: Admission;
  /** Refreshes gauges that need I/O (chain lag) before /metrics renders; errors are logged, not served. */
  beforeScrape?: () => Promise<void>;
}

export function createApi(ctx: ApiContext): Hono {
  const app = new Hono();
  const handlers: RpcHandlers = makeHandlers(ctx);
  const limit = ctx.maxBodyBytes ?? 2 * 1024 * 1024;

  app.onError((err, c) => {
    log.error(`http ${c.req.method} ${c.req.path}: ${err.message}`);
    return c.json({ jsonrpc: "2.0", id: null, error: { code: RPC.internal, message: "internal error" } }, 500);
  });
  app.notFound((c) => c.json({ error: `no route ${c.req.method} ${c.req.path}` }, 404));

  app.get("/health", (c) => c.json({ status: "ok" }));
  app.post("/healthz", (c) => c.json({ status: "ok" }));

  // The OpenAI routes check the same token themselves, answering in OpenAI's error shape.
  mountOpenAi(app, { models: ctx.models, metrics: ctx.metrics, timeoutMs: ctx.timeoutMs, token: ctx.token, maxBodyBytes: limit, admission: ctx.admission ?? new Admission(), store: ctx.store, streams: ctx.streams });

  // Everything below needs the bearer token when one is configured (health stays open for probes).
  app.use("*", async (c, next) => {
    if (ctx.token && !tokenOk(c.req.header("authorization"), ctx.token)) {
      ctx.metrics.rpcRequests.inc({ method: "*", outcome: "unauthorized" });
      return c.json({ jsonrpc: "2.0", id: null, error: { code: -32001, message: "unauthorized: missing or wrong bearer token" } }, 401);
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
    if (!ticket) return c.json({ error: `ticket id ${JSON.stringify(raw.slice(0, 80))} is not a hex object id (0x + up to 64 hex digits)` }, 400);
    const jobs = ctx.store.byTicket(ticket);
    if (jobs.length === 0) return c.json({ error: `no job for ticket ${ticket}` }, 404);
    return c.json({ ticket_id: jobs[0]!.ticketId, jobs: jobs.map(jobView) });
  });

  const tooLarge = (c: Context) =>
    c.json({ jsonrpc: "2.0", id: null, error: { code: RPC.invalidRequest, message: `request body exceeds ${limit} bytes` } }, 413);
  const rpcRoute = async (c: Context) => {
    let body: unknown;
    try {
      body = JSON.parse(await c.req.text());
    } catch {
      ctx.metrics.rpcRequests.inc({ method: "-", outcome: "parse_error" });
      return c.json({ jsonrpc: "2.0", id: null, error: { code: RPC.parse, message: "parse error: body is not valid JSON" } });
    }
    const signal = c.req.raw.signal;
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
  app.post("/", bodyLimit({ maxSize: limit, onError: tooLarge }), rpcRoute);
  app.post("/rpc", bodyLimit({ maxSize: limit, onError: tooLarge }), rpcRoute);
  return app;
}

export interface RunningServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export function serveApi(app: Hono, host: string, port: number): RunningServer {
  const server = Bun.serve({ hostname: host, port, fetch: app.fetch, idleTimeout: 0 });
  const shown = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shown}:${server.port}`,
    port: server.port ?? port,
    stop: async () => {
      await server.stop(true);
    },
  };
}
